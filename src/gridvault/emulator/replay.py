"""Replay recorded ENTSO-E responses: the exact bytes for a request they answer.

Every ``*.xml`` and ``*.zip`` in the data directory is indexed once by what a request would
have to ask to get it (acknowledgements and unreadable files are skipped):

* the dataset, found with :func:`gridvault.entsoe.catalog.identify` from the document's
  type, process, business and contract codes and first resolution (a ZIP by its members);
  a request matches when it resolves to the same dataset (and, where the document states a
  process type other than outages' A26, the same ``processType``: FCR is not aFRR);
* the domains: a border request needs its ``in_Domain`` and ``out_Domain`` among the
  document's in/out domains, a one-area request its EIC among all domain EICs;
* time: the document's ``period.timeInterval`` (``time_Period``, ``unavailability_Time_Period``;
  a ZIP: the union of its members) must overlap the requested window. When synthetic data is
  on as well, a recording must *cover* the window to win, so a one-year request is not
  answered with the one recorded day.

Several matches: the largest overlap wins (then the file name). A request with an
``offset`` beyond the first page gets no data (every recording fits in one page).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

from lxml import etree

from gridvault.emulator.query import ApiRequest
from gridvault.emulator.responses import XML_TYPE, ZIP_TYPE
from gridvault.entsoe.catalog import identify

_INTERVAL_TAGS = (
    "period.timeInterval",
    "time_Period.timeInterval",
    "unavailability_Time_Period.timeInterval",
)
_OUTAGE_PROCESS = "A26"


@dataclass(frozen=True)
class Recording:
    """One recorded response file and what it answers."""

    path: Path
    body: bytes
    content_type: str
    dataset: str
    process_type: str | None
    in_domains: frozenset[str]
    out_domains: frozenset[str]
    all_domains: frozenset[str]
    start: datetime
    end: datetime
    timeseries: int
    points: int


@dataclass(frozen=True)
class _Facts:
    document_type: str
    process_type: str | None
    business_type: str | None
    contract_type: str | None
    resolution: str | None
    in_domains: frozenset[str]
    out_domains: frozenset[str]
    all_domains: frozenset[str]
    start: datetime
    end: datetime


class ReplayIndex:
    """The recordings of one directory, looked up by request."""

    def __init__(self, recordings: list[Recording]) -> None:
        self.recordings = recordings

    @classmethod
    def load(cls, directory: Path) -> ReplayIndex:
        """Index every readable recorded document in ``directory`` (not recursive)."""
        recordings = []
        for path in sorted(directory.iterdir()):
            if path.suffix.lower() in (".xml", ".zip") and path.is_file():
                recording = _read(path)
                if recording is not None:
                    recordings.append(recording)
        return cls(recordings)

    def find(self, request: ApiRequest, *, must_cover: bool) -> Recording | None:
        """The recording that answers ``request`` best, or None."""
        best: tuple[float, str] | None = None
        found: Recording | None = None
        for recording in self.recordings:
            if not _matches(recording, request, must_cover=must_cover):
                continue
            overlap = (
                min(recording.end, request.end) - max(recording.start, request.start)
            ).total_seconds()
            rank = (overlap, str(recording.path.name))
            if best is None or rank[0] > best[0]:
                best, found = rank, recording
        return found


def _matches(recording: Recording, request: ApiRequest, *, must_cover: bool) -> bool:
    if recording.dataset != request.dataset.name:
        return False
    if (
        request.process_type is not None
        and recording.process_type not in (None, _OUTAGE_PROCESS)
        and recording.process_type != request.process_type
    ):
        return False
    if request.area_to is not None:
        if (
            request.area_to.eic not in recording.in_domains
            or request.area.eic not in recording.out_domains
        ):
            return False
    elif request.area.eic not in recording.all_domains:
        return False
    if must_cover:
        return recording.start <= request.start and request.end <= recording.end
    return recording.start < request.end and request.start < recording.end


def _read(path: Path) -> Recording | None:
    body = path.read_bytes()
    try:
        if body.startswith(b"PK"):
            with zipfile.ZipFile(BytesIO(body)) as archive:
                members = [archive.read(name) for name in archive.namelist()]
            content_type = ZIP_TYPE
        else:
            members = [body]
            content_type = XML_TYPE
        facts = [_facts(member) for member in members]
    except (zipfile.BadZipFile, etree.XMLSyntaxError, ValueError):
        return None
    usable = [fact for fact in facts if fact is not None]
    if not usable:
        return None
    first = usable[0]
    dataset = identify(
        first.document_type,
        first.process_type,
        first.business_type,
        first.contract_type,
        resolution=first.resolution,
    )
    if dataset is None:
        return None
    return Recording(
        path=path,
        body=body,
        content_type=content_type,
        dataset=dataset.name,
        process_type=first.process_type,
        in_domains=frozenset().union(*(f.in_domains for f in usable)),
        out_domains=frozenset().union(*(f.out_domains for f in usable)),
        all_domains=frozenset().union(*(f.all_domains for f in usable)),
        start=min(f.start for f in usable),
        end=max(f.end for f in usable),
        timeseries=sum(member.count(b"<TimeSeries>") for member in members),
        points=sum(member.count(b"<Point>") for member in members),
    )


def _facts(document: bytes) -> _Facts | None:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(document, parser)
    if etree.QName(root).localname == "Acknowledgement_MarketDocument":
        return None
    values: dict[str, str] = {}
    in_domains: set[str] = set()
    out_domains: set[str] = set()
    all_domains: set[str] = set()
    start = end = None
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        name = etree.QName(element).localname
        text = (element.text or "").strip()
        if name.endswith("Domain.mRID"):
            all_domains.add(text)
            if name.startswith("in_"):
                in_domains.add(text)
            elif name.startswith("out_"):
                out_domains.add(text)
        elif name in _INTERVAL_TAGS and start is None:
            start = _instant(element, "start")
            end = _instant(element, "end")
        elif name in (
            "type",
            "process.processType",
            "businessType",
            "resolution",
        ) or name.startswith("contract_MarketAgreement."):
            values.setdefault("contract" if name.startswith("contract_") else name, text)
    if "type" not in values or start is None or end is None:
        return None
    return _Facts(
        document_type=values["type"],
        process_type=values.get("process.processType"),
        business_type=values.get("businessType"),
        contract_type=values.get("contract"),
        resolution=values.get("resolution"),
        in_domains=frozenset(in_domains),
        out_domains=frozenset(out_domains),
        all_domains=frozenset(all_domains),
        start=start,
        end=end,
    )


def _instant(interval: etree._Element, child: str) -> datetime | None:
    for element in interval:
        if isinstance(element.tag, str) and etree.QName(element).localname == child:
            text = (element.text or "").strip().replace("Z", "+00:00")
            return datetime.fromisoformat(text).astimezone(UTC)
    return None
