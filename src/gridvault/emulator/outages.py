"""Synthetic unavailability (outage) documents: events, not time series.

Outage events of an area exist independently of any request: each 7-day bucket since the
epoch holds a few events (a hash of dataset, area(s) and bucket), each with a start, a
length of one hour to 30 days, a unit, an available capacity, planned (A53) or forced (A54),
and about one in ten cancelled (``docStatus`` A09). A request gets the events overlapping
its window, ordered by start, so offset pages are stable across requests.

Shapes copied from the bundled real A80/A78 ZIPs and the A76 XML: one
``Unavailability_MarketDocument`` (``outagedocument:3:0``) per event, ``process.processType``
A26, ``unavailability_Time_Period.timeInterval``, TimeSeries with ``start_DateAndOrTime`` /
``end_DateAndOrTime`` pairs, an ``Available_Period`` with one ``PT60M`` Point (curve A03, so
it holds to the end of the Period) and a ``Reason`` (A95). Zipped items put one document per
member named ``NNN-NNN-<KIND>_<start>-<end>.xml`` and page by 200 documents; A76
(consumption units, not zipped) answers one document with one TimeSeries per event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gridvault.emulator import profiles
from gridvault.emulator.query import ApiRequest
from gridvault.emulator.responses import XML_TYPE, ZIP_TYPE, item_name
from gridvault.emulator.synthetic import Payload, TooManyInstances, synthetic_mrid, zip_members

_BUCKET = timedelta(days=7)
_LONGEST = timedelta(days=30)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EVENTS_PER_WEEK = {"A80": 5, "A77": 3, "A78": 2, "A79": 2, "A76": 2}
_KINDS = {
    "A80": "OF_GENERATION_UNITS",
    "A77": "OF_PRODUCTION_UNITS",
    "A78": "IN_TRANSMISSION_GRID",
    "A79": "OF_OFFSHORE_GRID",
    "A76": "OF_CONSUMPTION_UNITS",
}
_REASONS = ("Maintenance", "Overhaul", "Grid works", "Failure", "Fuel supply")
_PSR = ("B14", "B04", "B05", "B02", "B11", "B10")


@dataclass(frozen=True)
class Event:
    """One synthetic outage."""

    seed: int
    start: datetime
    end: datetime
    planned: bool
    cancelled: bool
    unit: int
    available: float
    nominal: float
    reason: str


def events(request: ApiRequest) -> list[Event]:
    """Every event of the request's dataset and area(s) overlapping its window, by start."""
    dataset = request.dataset
    key = (dataset.document_type, request.area.eic, request.area_to.eic if request.area_to else "")
    per_week = _EVENTS_PER_WEEK.get(dataset.document_type, 2)
    first = int((request.start - _LONGEST - _EPOCH) / _BUCKET)
    last = int((request.end - _EPOCH) / _BUCKET)
    found: list[Event] = []
    for bucket in range(first, last + 1):
        bucket_seed = profiles.seed_of(*key, bucket)
        count = int(per_week * (0.5 + profiles.unit(bucket_seed)))
        for index in range(count):
            event = _event(profiles.seed_of(*key, bucket, index), _EPOCH + bucket * _BUCKET)
            if event.start < request.end and event.end > request.start:
                found.append(event)
    found.sort(key=lambda event: (event.start, event.seed))
    return found


def _event(seed: int, bucket_start: datetime) -> Event:
    def draw(tick: int) -> float:
        return profiles.unit(seed, tick)

    start = bucket_start + timedelta(hours=int(draw(1) * 7 * 24))
    length = timedelta(hours=1 + int(draw(2) ** 3 * (_LONGEST.total_seconds() / 3600 - 1)))
    nominal = float(100 + int(draw(5) * 900))
    available = 0.0 if draw(6) < 0.5 else round(nominal * draw(7) * 0.8)
    return Event(
        seed=seed,
        start=start,
        end=start + length,
        planned=draw(3) < 0.7,
        cancelled=draw(4) < 0.1,
        unit=int(draw(8) * 6),
        available=available,
        nominal=nominal,
        reason=_REASONS[int(draw(9) * len(_REASONS))],
    )


def generate(request: ApiRequest, *, revision: int) -> Payload | None:
    """The synthetic answer to a valid outage request, or None for "no data"."""
    dataset = request.dataset
    found = events(request)
    if not found:
        return None
    offset = 0
    size = dataset.page_size
    if size is not None:
        if request.offset is None and len(found) > size:
            raise TooManyInstances(len(found), size)
        offset = request.offset or 0
        if offset >= len(found):
            return None
        found = found[offset : offset + size]
    stamp = f"{_compact(request.start)}-{_compact(request.end)}"
    if not dataset.zipped:
        series = "".join(
            _timeseries(request, event, number) for number, event in enumerate(found, 1)
        )
        body = _document(
            request, revision, start=request.start, end=request.end, event=None, timeseries=series
        )
        return Payload(body, XML_TYPE, f"{item_name(dataset)}_{stamp}.xml", len(found), len(found))
    members: list[tuple[str, bytes]] = []
    for number, event in enumerate(found, offset + 1):
        kind = ("PLANNED_UNAVAIL_" if event.planned else "CHANGES_IN_ACTUAL_AVAIL_") + _KINDS[
            dataset.document_type
        ]
        name = f"{number:03d}-{number:03d}-{kind}_{_compact(event.start)}-{_compact(event.end)}.xml"
        body = _document(
            request,
            revision,
            start=event.start,
            end=event.end,
            event=event,
            timeseries=_timeseries(request, event, 1),
        )
        members.append((name, body))
    return Payload(
        zip_members(members), ZIP_TYPE, f"{item_name(dataset)}_{stamp}.zip", len(found), len(found)
    )


def _document(
    request: ApiRequest,
    revision: int,
    *,
    start: datetime,
    end: datetime,
    event: Event | None,
    timeseries: str,
) -> bytes:
    dataset = request.dataset
    mrid = synthetic_mrid(
        dataset.name, *request.eics, event.seed if event else _iso(start), revision
    )
    created = (event.start if event else start) - timedelta(days=2) + timedelta(hours=revision - 1)
    status = (
        "<docStatus>\n<value>A09</value>\n</docStatus>\n"
        if event is not None and event.cancelled
        else ""
    )
    reason = event.reason if event is not None else " "
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Unavailability_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-6:outagedocument:3:0">\n'
        f"<mRID>{mrid}</mRID>\n<revisionNumber>{revision}</revisionNumber>\n"
        f"<type>{dataset.document_type}</type>\n<process.processType>A26</process.processType>\n"
        f"<createdDateTime>{created.strftime('%Y-%m-%dT%H:%M:%SZ')}</createdDateTime>\n"
        '<sender_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450</sender_MarketParticipant.mRID>\n'
        "<sender_MarketParticipant.marketRole.type>A32</sender_MarketParticipant.marketRole.type>\n"
        '<receiver_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450</receiver_MarketParticipant.mRID>\n'
        "<receiver_MarketParticipant.marketRole.type>A33</receiver_MarketParticipant.marketRole.type>\n"
        "<unavailability_Time_Period.timeInterval>\n"
        f"<start>{_iso(start)}</start>\n<end>{_iso(end)}</end>\n"
        "</unavailability_Time_Period.timeInterval>\n"
        f"{status}{timeseries}"
        f"<Reason>\n<code>A95</code>\n<text>{reason}</text>\n</Reason>\n"
        "</Unavailability_MarketDocument>\n"
    ).encode()


def _timeseries(request: ApiRequest, event: Event, number: int) -> str:
    document_type = request.dataset.document_type
    area = request.area
    if request.area_to is not None:
        domains = (
            f'<in_Domain.mRID codingScheme="A01">{request.area_to.eic}</in_Domain.mRID>\n'
            f'<out_Domain.mRID codingScheme="A01">{area.eic}</out_Domain.mRID>\n'
        )
    else:
        domains = (
            f'<biddingZone_Domain.mRID codingScheme="A01">{area.eic}</biddingZone_Domain.mRID>\n'
        )
    return (
        f"<TimeSeries>\n<mRID>{number}</mRID>\n"
        f"<businessType>{'A53' if event.planned else 'A54'}</businessType>\n{domains}"
        f"<start_DateAndOrTime.date>{event.start:%Y-%m-%d}</start_DateAndOrTime.date>\n"
        f"<start_DateAndOrTime.time>{event.start:%H:%M:%S}Z</start_DateAndOrTime.time>\n"
        f"<end_DateAndOrTime.date>{event.end:%Y-%m-%d}</end_DateAndOrTime.date>\n"
        f"<end_DateAndOrTime.time>{event.end:%H:%M:%S}Z</end_DateAndOrTime.time>\n"
        "<quantity_Measure_Unit.name>MAW</quantity_Measure_Unit.name>\n<curveType>A03</curveType>\n"
        f"{_resource(document_type, area.code, area.eic, event)}"
        "<Available_Period>\n<timeInterval>\n"
        f"<start>{_iso(event.start)}</start>\n<end>{_iso(event.end)}</end>\n</timeInterval>\n"
        "<resolution>PT60M</resolution>\n"
        f"<Point>\n<position>1</position>\n<quantity>{event.available:g}</quantity>\n</Point>\n"
        "</Available_Period>\n</TimeSeries>\n"
    )


def _resource(document_type: str, area_code: str, area_eic: str, event: Event) -> str:
    if document_type == "A76":
        return ""
    unit_eic = f"48W{profiles.seed_of(area_eic, document_type, event.unit) % 10**13:013d}"
    name = f"SYNTHETIC {area_code} {event.unit + 1}"
    if document_type in ("A78", "A79"):
        psr = "B21" if document_type == "A78" else "B22"
        return (
            f'<Asset_RegisteredResource>\n<mRID codingScheme="A01">{unit_eic}</mRID>\n'
            f"<name>{name}</name>\n<asset_PSRType.psrType>{psr}</asset_PSRType.psrType>\n"
            f"<location.name>{area_code}</location.name>\n</Asset_RegisteredResource>\n"
        )
    prefix = "production_RegisteredResource"
    text = (
        f'<{prefix}.mRID codingScheme="A01">{unit_eic}</{prefix}.mRID>\n'
        f"<{prefix}.name>{name}</{prefix}.name>\n"
        f"<{prefix}.location.name>{area_code}</{prefix}.location.name>\n"
        f"<{prefix}.pSRType.psrType>{_PSR[event.unit]}</{prefix}.pSRType.psrType>\n"
    )
    if document_type == "A80":
        text += (
            f'<{prefix}.pSRType.powerSystemResources.mRID codingScheme="A01">{unit_eic[:-1]}G'
            f"</{prefix}.pSRType.powerSystemResources.mRID>\n"
            f"<{prefix}.pSRType.powerSystemResources.name>{name} G</{prefix}.pSRType.powerSystemResources.name>\n"
        )
    return text + (
        f'<{prefix}.pSRType.powerSystemResources.nominalP unit="MAW">{event.nominal:g}'
        f"</{prefix}.pSRType.powerSystemResources.nominalP>\n"
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _compact(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M")
