"""Synthetic ENTSO-E documents for any area and window of the catalog's value datasets.

Every document is well formed, has the root, namespace, header and TimeSeries fields of
its real family (see :mod:`gridvault.emulator.series`), an ``mRID`` starting with
``SYNTHETIC-`` and ``revisionNumber`` equal to the configured revision. Values come from
:mod:`gridvault.emulator.profiles` (deterministic per area/series/instant/revision).

Time coverage, as the real API does it:

* Day-based items (energy prices, net positions, scheduled exchanges, day-ahead NTC,
  contracted reserves) cover whole *local* days of the area that overlap the window; the
  period starts at local midnight in UTC, so 23- and 25-hour DST days have 92/100 quarter
  hours (23/25 hours).
* Other sub-daily items cover the requested window rounded out to the resolution.
* Calendar resolutions (``P1D``, ``P7D``, ``P1Y``) cover whole local days, ISO weeks or
  years, one TimeSeries per series with one Period.
* Actual and balancing items stop at "now" (floored to the resolution): no future actuals;
  a window entirely in the future gets the no-data acknowledgement.
* ``gaps`` drops whole local days (a hash of area, dataset and day): a series is split into
  one TimeSeries per contiguous run of days, like ENTSO-E splits series at real gaps.

TimeSeries per document: prices, net positions, scheduled exchanges and contracted reserves
carry one TimeSeries per delivery day (and per auction sequence / contract type), as the
real API does, so a one-year price request has 365 of them and needs offset paging. Other
items carry one TimeSeries per series and contiguous run.

Day-ahead prices are ``PT60M`` for delivery days before 2025-10-01 and ``PT15M`` from then on
(SDAC 15-minute MTU go-live), switching at the area's local midnight; areas outside SDAC
(CH, GB, the Western Balkans, …) stay ``PT60M``.

Paging: items with ``page_size`` count TimeSeries (across the ZIP for zipped items). More
than one page without ``offset`` → :class:`TooManyInstances` (the server answers 400 with
ENTSO-E's "The number of instances (N) exceeds the allowed maximum (M)" text); with
``offset=k`` the page holds TimeSeries ``[k, k+page)``; an offset past the end → no data.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from gridvault.emulator import profiles
from gridvault.emulator.query import ApiRequest
from gridvault.emulator.responses import XML_TYPE, ZIP_TYPE, item_name
from gridvault.emulator.series import Series, family, series_for
from gridvault.entsoe.areas import Area
from gridvault.entsoe.catalog import ACTUAL, BALANCING, Dataset
from gridvault.timegrid import Resolution, floor, grid, parse_resolution, step, zone

SDAC_15MIN_FROM = date(2025, 10, 1)
# Bidding zones with an ENTSO-E price but outside SDAC: they keep hourly day-ahead prices.
_NOT_SDAC = frozenset({"CH", "GB", "RS", "ME", "MK", "AL", "BA", "XK", "UA", "MD", "TR", "GE"})
_DAY_BASED = frozenset(
    {
        "day_ahead_prices",
        "intraday_auction_prices",
        "net_positions",
        "scheduled_exchanges",
        "ntc_day_ahead",
        "contracted_reserves",
    }
)
_TS_PER_DAY = _DAY_BASED - {"ntc_day_ahead"}
_DAY = Resolution(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TooManyInstances(Exception):
    """The result has more TimeSeries (or documents) than one page and no offset was sent."""

    def __init__(self, count: int, allowed: int) -> None:
        self.count = count
        self.allowed = allowed
        super().__init__(f"{count} instances, {allowed} allowed")


@dataclass(frozen=True)
class Payload:
    """A document ready to send, with what the served log needs to know about it."""

    body: bytes
    content_type: str
    filename: str
    timeseries: int
    points: int


@dataclass(frozen=True)
class _Piece:
    """Part of one local day with data: [start, end) in UTC and the day's local facts."""

    start: datetime
    end: datetime
    day_start: datetime
    local_date: date
    resolution: str


@dataclass(frozen=True)
class _Plan:
    """One TimeSeries to render: a series over contiguous pieces (one Period)."""

    series: Series
    pieces: tuple[_Piece, ...]


def generate(request: ApiRequest, *, revision: int, gaps: float, now: datetime) -> Payload | None:
    """The synthetic answer to a valid value-dataset request, or None for "no data"."""
    dataset = request.dataset
    tz = request.area.tz
    resolution = parse_resolution(dataset.resolution)
    span = _span(request, resolution, now)
    if span is None:
        return None
    span_start, span_end = span
    series = series_for(dataset, request.area, request.area_to)
    if resolution.is_calendar:
        plans = [
            _Plan(
                s,
                (_Piece(span_start, span_end, span_start, span_start.date(), dataset.resolution),),
            )
            for s in series
        ]
    else:
        pieces = _pieces(request, span_start, span_end, gaps)
        plans = _plans(dataset, series, pieces)
    if not plans:
        return None
    page = _page(dataset, plans, request.offset)
    if page is None:
        return None
    area_seed = profiles.seed_of(request.area.eic, request.area_to.eic if request.area_to else "")
    rendered = _render_page(page, tz, area_seed, revision)
    points = sum(count for _, count in rendered)
    document = _document(request, span_start, span_end, revision, [text for text, _ in rendered])
    stamp = f"{_compact(span_start)}-{_compact(span_end)}"
    if dataset.zipped:
        member = f"001-{item_name(dataset)}_{stamp}.xml"
        body = zip_members([(member, document)])
        return Payload(body, ZIP_TYPE, f"{item_name(dataset)}_{stamp}.zip", len(page), points)
    return Payload(document, XML_TYPE, f"{item_name(dataset)}_{stamp}.xml", len(page), points)


def zip_members(members: list[tuple[str, bytes]]) -> bytes:
    """A deflated ZIP of ``(name, bytes)`` members with fixed timestamps (reproducible)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, content in members:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def synthetic_mrid(*parts: object) -> str:
    """``SYNTHETIC-`` plus a stable hash of what the document answers."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=10).hexdigest()
    return f"SYNTHETIC-{digest}"


def is_clipped_at_now(dataset: Dataset) -> bool:
    """Actuals and balancing data do not exist for the future."""
    return dataset.kind in (ACTUAL, BALANCING)


# --------------------------------------------------------------------------------------
# Layout


def _span(
    request: ApiRequest, resolution: Resolution, now: datetime
) -> tuple[datetime, datetime] | None:
    dataset = request.dataset
    tz = request.area.tz
    if dataset.name in _DAY_BASED:
        start = floor(request.start, _DAY, tz)
        end = _ceil(request.end, _DAY, tz)
    else:
        start = floor(request.start, resolution, tz)
        end = _ceil(request.end, resolution, tz)
    if is_clipped_at_now(dataset):
        end = min(end, floor(now, resolution, tz))
    if end <= start:
        return None
    return start, end


def _ceil(moment: datetime, resolution: Resolution, tz: str) -> datetime:
    start = floor(moment, resolution, tz)
    return start if start == moment else step(start, resolution, 1, tz)


def _pieces(
    request: ApiRequest, span_start: datetime, span_end: datetime, gaps: float
) -> list[_Piece]:
    dataset = request.dataset
    tz = request.area.tz
    tzinfo = zone(tz)
    gap_seed = profiles.seed_of("gap", dataset.name, request.area.eic)
    pieces: list[_Piece] = []
    for day_start, day_end in grid(span_start, span_end, _DAY, tz):
        start, end = max(day_start, span_start), min(day_end, span_end)
        if end <= start:
            continue
        local_date = day_start.astimezone(tzinfo).date()
        if gaps > 0 and profiles.unit(gap_seed, local_date.toordinal()) < gaps:
            continue
        pieces.append(
            _Piece(
                start, end, day_start, local_date, _resolution(dataset, request.area, local_date)
            )
        )
    return pieces


def _resolution(dataset: Dataset, area: Area, local_date: date) -> str:
    if dataset.name == "day_ahead_prices":
        if area.code in _NOT_SDAC or local_date < SDAC_15MIN_FROM:
            return "PT60M"
        return "PT15M"
    return dataset.resolution


def _plans(dataset: Dataset, series: tuple[Series, ...], pieces: list[_Piece]) -> list[_Plan]:
    if dataset.name in _TS_PER_DAY:
        return [_Plan(s, (piece,)) for piece in pieces for s in series]
    runs: list[list[_Piece]] = []
    for piece in pieces:
        if runs and runs[-1][-1].end == piece.start:
            runs[-1].append(piece)
        else:
            runs.append([piece])
    return [_Plan(s, tuple(run)) for s in series for run in runs]


def _page(dataset: Dataset, plans: list[_Plan], offset: int | None) -> list[_Plan] | None:
    size = dataset.page_size
    if size is None:
        return plans
    if offset is None:
        if len(plans) > size:
            raise TooManyInstances(len(plans), size)
        return plans
    if offset >= len(plans):
        return None
    return plans[offset : offset + size]


# --------------------------------------------------------------------------------------
# Rendering


def _render_page(
    page: list[_Plan], tz: str, area_seed: int, revision: int
) -> list[tuple[str, int]]:
    """Each plan's TimeSeries text and Point count. The values and Point texts of all plans
    of one series are made in one vectorised step (a page of prices is 100 one-day plans)."""
    by_series: dict[Series, list[int]] = {}
    for number, plan in enumerate(page):
        by_series.setdefault(plan.series, []).append(number)
    points: list[list[str]] = [[] for _ in page]
    counts = [0] * len(page)
    for series, numbers in by_series.items():
        plans = [page[number] for number in numbers]
        texts, plan_counts = _series_points(series, plans, tz, area_seed, revision)
        for number, text, count in zip(numbers, texts, plan_counts, strict=True):
            points[number].append(text)
            counts[number] = count
    return [
        (_render_series(index, plan, points[index - 1]), counts[index - 1])
        for index, plan in enumerate(page, 1)
    ]


def _render_series(index: int, plan: _Plan, points: list[str]) -> str:
    series = plan.series
    first, last = plan.pieces[0], plan.pieces[-1]
    return "".join(
        [
            f"<TimeSeries>\n<mRID>{index}</mRID>\n{series.fields}\n<curveType>A01</curveType>\n"
            f"{series.trailer}",
            f"<Period>\n<timeInterval>\n<start>{_iso(first.start)}</start>\n"
            f"<end>{_iso(last.end)}</end>\n</timeInterval>\n<resolution>{first.resolution}"
            "</resolution>\n",
            *points,
            "</Period>\n</TimeSeries>\n",
        ]
    )


def _series_points(
    series: Series, plans: list[_Plan], tz: str, area_seed: int, revision: int
) -> tuple[list[str], list[int]]:
    """The Point lines of each plan of one series (positions from 1 in each plan)."""
    series_seed = profiles.seed_of(series.key)
    columns: list[list[npt.NDArray[np.float64]]] = [[] for _ in series.measures]
    plan_counts: list[int] = []
    if _is_calendar(plans[0]):  # a few values per plan: one by one
        for plan in plans:
            parsed = parse_resolution(plan.pieces[0].resolution)
            per_measure = _calendar_values(
                series,
                plan.pieces[0],
                parsed,
                tz,
                area_seed=area_seed,
                series_seed=series_seed,
                revision=revision,
            )
            for column, values in zip(columns, per_measure, strict=True):
                column.append(values)
            plan_counts.append(len(per_measure[0]))
        return _point_lines(series, [np.concatenate(c) for c in columns], plan_counts), plan_counts
    # Sub-daily: every piece of every plan in one step per run of one resolution (a page
    # may hold the 15-minute switch of day-ahead prices).
    pieces = [piece for plan in plans for piece in plan.pieces]
    for run in _runs_by_resolution(pieces):
        per_measure = _piece_values(
            series,
            run,
            parse_resolution(run[0].resolution).seconds,
            area_seed=area_seed,
            series_seed=series_seed,
            revision=revision,
        )
        for column, values in zip(columns, per_measure, strict=True):
            column.append(values)
    for plan in plans:
        seconds = parse_resolution(plan.pieces[0].resolution).seconds
        plan_counts.append(sum(_count(piece, seconds) for piece in plan.pieces))
    merged = [np.concatenate(column) for column in columns]
    return _point_lines(series, merged, plan_counts), plan_counts


def _is_calendar(plan: _Plan) -> bool:
    return parse_resolution(plan.pieces[0].resolution).is_calendar


def _count(piece: _Piece, seconds: int) -> int:
    return int((piece.end - piece.start).total_seconds()) // seconds


def _runs_by_resolution(pieces: list[_Piece]) -> list[list[_Piece]]:
    runs: list[list[_Piece]] = []
    for piece in pieces:
        if runs and runs[-1][-1].resolution == piece.resolution:
            runs[-1].append(piece)
        else:
            runs.append([piece])
    return runs


def _piece_values(
    series: Series,
    pieces: Sequence[_Piece],
    seconds: int,
    *,
    area_seed: int,
    series_seed: int,
    revision: int,
) -> list[npt.NDArray[np.float64]]:
    """Values of consecutive sub-daily pieces, per measure, all days in one step."""
    ticks_parts, hours_parts, counts = [], [], []
    for piece in pieces:
        first = int((piece.start - _EPOCH).total_seconds())
        count = _count(piece, seconds)
        ticks = np.arange(first, first + count * seconds, seconds, dtype=np.int64)
        day_start = int((piece.day_start - _EPOCH).total_seconds())
        ticks_parts.append(ticks)
        hours_parts.append((ticks - day_start).astype(np.float64) / 3600.0)
        counts.append(count)
    ticks = np.concatenate(ticks_parts)
    hours = np.concatenate(hours_parts)
    days = profiles.Days.of([profiles.Day.of(piece.local_date) for piece in pieces], counts)
    return [
        profiles.values(
            measure.profile,
            measure.scale,
            area_seed=area_seed,
            series_seed=series_seed + number,
            ticks=ticks,
            hours=hours,
            day=days,
            revision=revision,
        )
        for number, measure in enumerate(series.measures)
    ]


def _calendar_values(
    series: Series,
    piece: _Piece,
    resolution: Resolution,
    tz: str,
    *,
    area_seed: int,
    series_seed: int,
    revision: int,
) -> list[npt.NDArray[np.float64]]:
    tzinfo = zone(tz)
    columns: list[list[float]] = [[] for _ in series.measures]
    for interval_start, _ in grid(piece.start, piece.end, resolution, tz):
        local_date = interval_start.astimezone(tzinfo).date()
        ticks = np.array([int((interval_start - _EPOCH).total_seconds())], dtype=np.int64)
        hours = np.array([12.0])
        for number, measure in enumerate(series.measures):
            value = profiles.values(
                measure.profile,
                measure.scale,
                area_seed=area_seed,
                series_seed=series_seed + number,
                ticks=ticks,
                hours=hours,
                day=profiles.Day.of(local_date),
                revision=revision,
            )
            columns[number].append(float(value[0]))
    return [np.array(column, dtype=np.float64) for column in columns]


def _point_lines(
    series: Series, columns: list[npt.NDArray[np.float64]], plan_counts: list[int]
) -> list[str]:
    """Per plan, its ``<Point>`` lines (each ending in a newline), made by Arrow's string
    kernels for all plans at once: ``f"{value:.2f}"`` text, positions 1..n per plan."""
    if not plan_counts or sum(plan_counts) == 0:
        return ["" for _ in plan_counts]
    counts = np.asarray(plan_counts, dtype=np.int64)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    positions = pc.cast(pa.array(np.arange(counts.sum(), dtype=np.int64) - starts + 1), pa.string())
    parts: list[pa.Array | str] = ["<Point><position>", positions, "</position>"]
    for measure, values in zip(series.measures, columns, strict=True):
        element = measure.element
        parts += [f"<{element}>", _fixed2(values), f"</{element}>"]
    if series.category:
        category = np.where(columns[0] >= 0, "A04", "A05")
        parts += ["<imbalance_Price.category>", pa.array(category), "</imbalance_Price.category>"]
    parts.append("</Point>\n")
    lines = pc.binary_join_element_wise(*parts, "")
    # The joined lines lie back to back in the array's data buffer: slice it per plan.
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset :]
    data = lines.buffers()[2].to_pybytes()
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return [
        data[offsets[bounds[i]] : offsets[bounds[i + 1]]].decode() for i in range(len(plan_counts))
    ]


def _fixed2(values: npt.NDArray[np.float64]) -> pa.Array:
    """``f"{v:.2f}"`` for values already rounded to cents, in C: sign, whole part, two digits
    (``-0.0`` keeps its sign, as Python prints it)."""
    cents = np.rint(np.abs(values) * 100).astype(np.int64)
    whole = pc.cast(pa.array(cents // 100), pa.string())
    fraction = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0")
    sign = pa.array(np.where(np.signbit(values), "-", ""))
    return pc.binary_join_element_wise(sign, whole, ".", fraction, "")


def _document(
    request: ApiRequest,
    span_start: datetime,
    span_end: datetime,
    revision: int,
    timeseries: list[str],
) -> bytes:
    dataset = request.dataset
    fam = family(dataset)
    mrid = synthetic_mrid(
        dataset.name, *request.eics, _iso(span_start), _iso(span_end), revision, request.offset
    )
    header = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<{fam.root} xmlns="{fam.namespace}">',
        f"<mRID>{mrid}</mRID>",
        f"<revisionNumber>{revision}</revisionNumber>",
        f"<type>{dataset.document_type}</type>",
    ]
    if fam.process_in_header:
        process = request.process_type or dataset.process_type or "A16"
        header.append(f"<process.processType>{process}</process.processType>")
    header += [
        '<sender_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450</sender_MarketParticipant.mRID>',
        "<sender_MarketParticipant.marketRole.type>A32</sender_MarketParticipant.marketRole.type>",
        '<receiver_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450</receiver_MarketParticipant.mRID>',
        "<receiver_MarketParticipant.marketRole.type>A33</receiver_MarketParticipant.marketRole.type>",
        f"<createdDateTime>{_iso_seconds(_created(dataset, span_start, span_end, revision))}</createdDateTime>",
    ]
    if fam.area_in_header:
        header.append(f'<area_Domain.mRID codingScheme="A01">{request.area.eic}</area_Domain.mRID>')
    header.append(
        f"<{fam.interval_tag}>\n<start>{_iso(span_start)}</start>\n<end>{_iso(span_end)}</end>\n</{fam.interval_tag}>"
    )
    return ("\n".join(header) + "\n" + "".join(timeseries) + f"</{fam.root}>\n").encode()


def _created(dataset: Dataset, span_start: datetime, span_end: datetime, revision: int) -> datetime:
    """A deterministic creation time: forecasts and auction results are published the day
    before the period (``publish_time`` for as-of queries); each revision one hour later."""
    later = timedelta(hours=revision - 1)
    if dataset.forecast:
        return span_start - timedelta(hours=12) + later
    return span_end + later


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _iso_seconds(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _compact(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M")
