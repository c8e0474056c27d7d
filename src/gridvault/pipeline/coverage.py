"""Coverage of a dataset: per series, which expected intervals are stored and why others are not.

The expected grid of a series is stepped from a *resolution schedule*, because resolutions
change: day-ahead prices of SDAC bidding zones are hourly for delivery days before
2025-10-01 and quarter-hourly from that local midnight on (the 15-minute MTU go-live);
other series switched on their own dates. The schedule comes from

1. the catalog rule for SDAC day-ahead prices (:func:`resolution_rule`), else
2. the interval lengths stored for the series, run by run (:func:`derive_schedule`), else
3. the series' last known resolution, else the dataset's typical one (a series with no
   data at all: everything is missing).

Calendar resolutions step in the area's local calendar (a ``P1D`` day is 23 or 25 hours on
DST days); sub-daily ones in UTC, which are whole local hours everywhere in Europe.

Every missing interval is then classified from the collection state (the latest outcome of
each fetched window, :func:`~gridvault.store.collection_state.window_outcomes`):

* ``no_data`` — a window covering it was answered "no matching data";
* ``absent`` — a window covering it was fetched with data, but not for this interval
  (the upstream has a hole there);
* ``failed`` — every fetch of a window covering it failed;
* ``never_fetched`` — no window covering it was ever requested.

The first two are *upstream* gaps: fetching again will not fill them unless the upstream
publishes late, so a backfill skips them unless asked (``--refetch-empty``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from gridvault.coverage import expected_grid
from gridvault.entsoe.catalog import Dataset, get_dataset
from gridvault.errors import InputError
from gridvault.pipeline.collect import ACTUAL_KINDS, AreaSpec, parse_areas
from gridvault.pipeline.series_map import SOURCE
from gridvault.store import Series, Store
from gridvault.store.collection_state import WindowOutcome, window_outcomes
from gridvault.timegrid import (
    CALENDAR_STEPS,
    Resolution,
    length_bounds,
    parse_resolution,
    parse_time,
    resolution_of_length,
    rfc3339,
    utc,
    zone,
)

#: Longer ranges are refused: nothing is published before 2014, and a plan that long is a typo.
MAX_RANGE_YEARS = 30
GAP_KINDS = ("never_fetched", "failed", "no_data", "absent")
UPSTREAM_KINDS = frozenset({"no_data", "absent"})
GAP_TEXT = {
    "never_fetched": "never fetched",
    "failed": "fetch failed",
    "no_data": 'upstream has no data (answered "no matching data")',
    "absent": "upstream has no data (not in its answer)",
}
# Day-ahead prices: 15-minute MTU from this local delivery day on, in SDAC bidding zones.
SDAC_15MIN_FROM = date(2025, 10, 1)
# Bidding zones with an ENTSO-E day-ahead price but outside SDAC: they stay hourly.
NOT_SDAC = frozenset({"CH", "GB", "RS", "ME", "MK", "AL", "BA", "XK", "UA", "MD", "TR", "GE"})

Schedule = tuple[tuple[datetime | None, Resolution], ...]
_US = 1_000_000
_DAY_US = 86_400 * _US
# Shorter runs of one interval length do not make a schedule change (an odd hourly value
# in a quarter-hour series is a glitch, not a new resolution).
_MIN_RUN_INTERVALS = 8
# Calendar classes of interval lengths in µs (DST makes days 23-25 h, months 28-31 days).
_CALENDAR = tuple(
    (low * _US, high * _US, step) for step in CALENDAR_STEPS for low, high in (length_bounds(step),)
)


@dataclass(frozen=True, slots=True)
class AreaRange:
    """One area (pair) and its range in UTC; ``end`` is cut at now for actual data."""

    spec: AreaSpec
    start: datetime
    end: datetime
    requested_end: datetime


@dataclass(frozen=True, slots=True)
class ClassifiedGap:
    """A run of consecutive missing expected intervals with one cause."""

    start: datetime
    end: datetime
    intervals: int
    kind: str

    def to_json(self) -> dict[str, Any]:
        return {
            "start": rfc3339(self.start),
            "end": rfc3339(self.end),
            "intervals": self.intervals,
            "kind": self.kind,
        }


@dataclass
class SeriesCoverage:
    """Coverage of one series (``series_id`` None: nothing stored yet for this area)."""

    dataset: str
    area: str
    area_to: str | None
    series_id: int | None
    dimensions: dict[str, str]
    schedule: Schedule
    start: datetime
    end: datetime
    expected: int
    present: int
    gaps: list[ClassifiedGap] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return self.expected - self.present

    @property
    def completeness(self) -> float:
        return 1.0 if self.expected == 0 else self.present / self.expected

    @property
    def label(self) -> str:
        return f"{self.area}>{self.area_to}" if self.area_to else self.area

    def missing_by_kind(self) -> dict[str, int]:
        counts = dict.fromkeys(GAP_KINDS, 0)
        for gap in self.gaps:
            counts[gap.kind] += gap.intervals
        return counts

    def describe_schedule(self) -> str:
        parts = [self.schedule[0][1].iso] if self.schedule else []
        for valid_from, resolution in self.schedule[1:]:
            parts.append(f"{resolution.iso} from {rfc3339(valid_from) if valid_from else '?'}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "series_id": self.series_id,
            "area": self.area,
            "area_to": self.area_to,
            "dimensions": self.dimensions,
            "resolution": [
                {"from": rfc3339(valid_from) if valid_from else None, "resolution": res.iso}
                for valid_from, res in self.schedule
            ],
            "start": rfc3339(self.start),
            "end": rfc3339(self.end),
            "expected": self.expected,
            "present": self.present,
            "missing": self.missing,
            "missing_by_kind": self.missing_by_kind(),
            "completeness": round(self.completeness, 6),
            "gaps": [gap.to_json() for gap in self.gaps],
        }


@dataclass
class CoverageReport:
    """Coverage of a dataset over areas and a range."""

    dataset: str
    ranges: list[AreaRange]
    series: list[SeriesCoverage]
    notes: list[str] = field(default_factory=list)

    @property
    def expected(self) -> int:
        return sum(item.expected for item in self.series)

    @property
    def present(self) -> int:
        return sum(item.present for item in self.series)

    @property
    def missing(self) -> int:
        return self.expected - self.present

    @property
    def completeness(self) -> float:
        return 1.0 if self.expected == 0 else self.present / self.expected

    def missing_by_kind(self) -> dict[str, int]:
        counts = dict.fromkeys(GAP_KINDS, 0)
        for item in self.series:
            for kind, count in item.missing_by_kind().items():
                counts[kind] += count
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "areas": [
                {
                    "area": r.spec.label,
                    "start": rfc3339(r.start),
                    "end": rfc3339(r.end),
                }
                for r in self.ranges
            ],
            "expected": self.expected,
            "present": self.present,
            "missing": self.missing,
            "missing_by_kind": self.missing_by_kind(),
            "completeness": round(self.completeness, 6),
            "series": [item.to_json() for item in self.series],
            "notes": self.notes,
        }


# -- input ------------------------------------------------------------------------------------


def check_range(start: datetime, end: datetime) -> None:
    """Refuse an empty or reversed range, and one longer than :data:`MAX_RANGE_YEARS`."""
    if end <= start:
        raise InputError(f"end {rfc3339(end)} is not after start {rfc3339(start)}")
    years = (end - start).days / 365.25
    if years > MAX_RANGE_YEARS:
        raise InputError(
            f"{rfc3339(start)}..{rfc3339(end)} spans {years:.0f} years; gridvault plans at "
            f"most {MAX_RANGE_YEARS} years at once (ENTSO-E publishes from 2015 on): "
            "check the dates, or split the range"
        )


def _moment(value: str | datetime, tz: str) -> datetime:
    return parse_time(value, tz) if isinstance(value, str) else utc(value)


def resolve_ranges(
    dataset: Dataset,
    areas: Sequence[str],
    start: str | datetime,
    end: str | datetime,
    *,
    now: datetime | None = None,
) -> tuple[list[AreaRange], list[str]]:
    """Each area's range in UTC (naive times are the area's wall clock), checked; for
    actual and balancing data cut at the current minute. Returns the ranges and notes."""
    specs = parse_areas(dataset, areas)
    moment = utc(now) if now else datetime.now(UTC)
    cutoff = moment.replace(second=0, microsecond=0)
    ranges: list[AreaRange] = []
    notes: list[str] = []
    for spec in specs:
        first, last = _moment(start, spec.tz), _moment(end, spec.tz)
        check_range(first, last)
        cut = last
        if dataset.kind in ACTUAL_KINDS:
            if first >= cutoff:
                raise InputError(
                    f"{dataset.name} holds {dataset.kind} data, which does not exist yet for a "
                    f"range starting {rfc3339(first)} (now is {rfc3339(moment)})"
                )
            if last > cutoff:
                notes.append(f"{spec.label}: {dataset.kind} data exists only up to now")
                cut = cutoff
        ranges.append(AreaRange(spec, first, cut, last))
    return ranges, notes


# -- resolution schedules ---------------------------------------------------------------------


def resolution_rule(dataset: Dataset, area: str, dimensions: dict[str, str]) -> Schedule | None:
    """The catalog's knowledge of a series' resolution over time, when there is some.

    SDAC day-ahead prices (auction sequence 1) are ``PT60M`` for delivery days before
    2025-10-01 and ``PT15M`` from that day's local midnight on; outside SDAC ``PT60M``.
    """
    if dataset.name != "day_ahead_prices" or dimensions.get("sequence", "1") != "1":
        return None
    hourly = Resolution(seconds=3600)
    if area in NOT_SDAC:
        return ((None, hourly),)
    from gridvault.entsoe.areas import lookup_area  # noqa: PLC0415 - registry only when needed

    tz = zone(lookup_area(area).tz)
    local_midnight = datetime.combine(SDAC_15MIN_FROM, datetime.min.time(), tzinfo=tz)
    return ((None, hourly), (local_midnight.astimezone(UTC), Resolution(seconds=900)))


def _classify_lengths(lengths_us: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """A code per interval length: the length itself for fixed ones, -1-k for calendar class k."""
    codes = lengths_us.copy()
    for index, (low, high, _resolution) in enumerate(_CALENDAR):
        codes[(lengths_us >= low) & (lengths_us <= high)] = -1 - index
    return codes


def _resolution_of(code: int) -> Resolution:
    return _CALENDAR[-1 - code][2] if code < 0 else resolution_of_length(code / _US)


def derive_schedule(
    starts_us: npt.NDArray[np.int64], ends_us: npt.NDArray[np.int64]
) -> Schedule | None:
    """The resolution schedule the stored intervals show (sorted by start), or None if none.

    Consecutive intervals of one length (class, for calendar lengths) form runs; a run
    shorter than a few intervals *and* than a day joins the run before it, so glitches do
    not switch the schedule. Each remaining change starts a new schedule entry at its first
    interval; the first entry holds from the beginning.
    """
    if starts_us.size == 0:
        return None
    codes = _classify_lengths(ends_us - starts_us)
    boundaries = np.flatnonzero(np.diff(codes) != 0) + 1
    run_starts = np.concatenate(([0], boundaries))
    run_ends = np.concatenate((boundaries, [codes.size]))
    entries: list[tuple[int, int]] = []  # (start index, code)
    for first, stop in zip(run_starts.tolist(), run_ends.tolist(), strict=True):
        code = int(codes[first])
        span = int(ends_us[stop - 1] - starts_us[first])
        short = (stop - first) < _MIN_RUN_INTERVALS and span < _DAY_US
        if entries and (short or entries[-1][1] == code):
            continue
        entries.append((first, code))
    schedule: list[tuple[datetime | None, Resolution]] = []
    for number, (first, code) in enumerate(entries):
        valid_from = None if number == 0 else _from_us(int(starts_us[first]))
        schedule.append((valid_from, _resolution_of(code)))
    return tuple(schedule)


def _from_us(value: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)


def _to_us(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * _US + delta.microseconds


def schedule_for(
    dataset: Dataset,
    area: str,
    dimensions: dict[str, str],
    *,
    series_resolution: str | None,
    starts_us: npt.NDArray[np.int64],
    ends_us: npt.NDArray[np.int64],
) -> Schedule:
    """The schedule of one series: catalog rule, else stored data, else its resolution."""
    rule = resolution_rule(dataset, area, dimensions)
    if rule is not None:
        return rule
    derived = derive_schedule(starts_us, ends_us)
    if derived is not None:
        return derived
    return ((None, parse_resolution(series_resolution or dataset.resolution)),)


# -- gap classification -----------------------------------------------------------------------

_RANK = {"failed": 1, "no_data": 2, "data": 3}
_RANK_KIND = {0: "never_fetched", 1: "failed", 2: "no_data", 3: "absent"}


def _union(
    windows: Iterable[tuple[int, int]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    merged: list[list[int]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    starts = np.array([m[0] for m in merged], dtype=np.int64)
    ends = np.array([m[1] for m in merged], dtype=np.int64)
    return starts, ends


def classify(
    moments_us: npt.NDArray[np.int64], windows: Sequence[WindowOutcome]
) -> npt.NDArray[np.int8]:
    """A rank per moment (0 never fetched, 1 failed, 2 no data, 3 absent from data): the
    best outcome among the fetched windows that contain it."""
    ranks = np.zeros(moments_us.size, dtype=np.int8)
    if moments_us.size == 0 or not windows:
        return ranks
    for outcome, rank in _RANK.items():
        chosen = [
            (_to_us(w.window_start), _to_us(w.window_end)) for w in windows if w.outcome == outcome
        ]
        if not chosen:
            continue
        starts, ends = _union(chosen)
        index = np.searchsorted(starts, moments_us, side="right") - 1
        inside = (index >= 0) & (ends[np.maximum(index, 0)] > moments_us)
        ranks[inside] = np.maximum(ranks[inside], rank)
    return ranks


def _classified_gaps(
    exp_starts: npt.NDArray[np.int64],
    exp_ends: npt.NDArray[np.int64],
    covered: npt.NDArray[np.bool_],
    windows: Sequence[WindowOutcome],
) -> list[ClassifiedGap]:
    missing = np.flatnonzero(~covered)
    if missing.size == 0:
        return []
    ranks = classify(exp_starts[missing], windows)
    breaks = np.flatnonzero((np.diff(missing) != 1) | (np.diff(ranks) != 0)) + 1
    gaps = []
    for run, run_ranks in zip(np.split(missing, breaks), np.split(ranks, breaks), strict=True):
        gaps.append(
            ClassifiedGap(
                start=_from_us(int(exp_starts[run[0]])),
                end=_from_us(int(exp_ends[run[-1]])),
                intervals=int(run.size),
                kind=_RANK_KIND[int(run_ranks[0])],
            )
        )
    return gaps


def _covered_mask(
    exp_starts: npt.NDArray[np.int64],
    present_starts: npt.NDArray[np.int64],
    present_ends: npt.NDArray[np.int64],
) -> npt.NDArray[np.bool_]:
    """Per expected interval: does a stored interval contain its start (the rule of
    :func:`gridvault.coverage.compute_coverage`, as a mask)."""
    covered = np.zeros(exp_starts.size, dtype=bool)
    if present_starts.size == 0 or exp_starts.size == 0:
        return covered
    index = np.searchsorted(present_starts, exp_starts, side="right") - 1
    valid = index >= 0
    covered[valid] = present_ends[index[valid]] > exp_starts[valid]
    return covered


# -- the store side ---------------------------------------------------------------------------


def _series_of(store: Store, dataset: Dataset, spec: AreaSpec) -> list[Series]:
    found = store.find_series(source=SOURCE, dataset=dataset.name, area=spec.area)
    if dataset.border:
        return [s for s in found if s.dimensions.get("area_to") == spec.area_to]
    return found


def _intervals(
    store: Store, series_ids: Sequence[int], start: datetime, end: datetime, lookback: timedelta
) -> dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """Stored non-null intervals overlapping ``[start, end)`` per series, sorted by start."""
    if not series_ids:
        return {}
    marks = ", ".join("?" for _ in series_ids)
    with store.session() as db:
        table = db.fetch_arrow(
            "SELECT series_id, interval_start, interval_end FROM observations WHERE "
            f"series_id IN ({marks}) AND interval_start >= ? AND interval_start < ? "
            "AND interval_end > ? AND value IS NOT NULL ORDER BY series_id, interval_start",
            [*series_ids, start - lookback, end, start],
        )
    ids = table["series_id"].to_numpy().astype(np.int64)
    starts = table["interval_start"].cast("int64").to_numpy().astype(np.int64)
    ends = table["interval_end"].cast("int64").to_numpy().astype(np.int64)
    result: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = {}
    if ids.size == 0:
        return result
    bounds = np.flatnonzero(np.diff(ids) != 0) + 1
    for chunk in np.split(np.arange(ids.size), bounds):
        result[int(ids[chunk[0]])] = (starts[chunk], ends[chunk])
    return result


def series_coverage(
    dataset: Dataset,
    area_range: AreaRange,
    series: Series | None,
    intervals: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    windows: Sequence[WindowOutcome],
) -> SeriesCoverage:
    """Coverage of one series (or of an area with nothing stored) over its area's range."""
    spec = area_range.spec
    dimensions = dict(series.dimensions) if series else {}
    if series is None and dataset.name == "day_ahead_prices":
        dimensions = {"sequence": "1"}
    present_starts, present_ends = intervals
    schedule = schedule_for(
        dataset,
        spec.area,
        dimensions,
        series_resolution=series.resolution if series else None,
        starts_us=present_starts,
        ends_us=present_ends,
    )
    result = SeriesCoverage(
        dataset=dataset.name,
        area=spec.area,
        area_to=spec.area_to,
        series_id=series.series_id if series else None,
        dimensions=dimensions,
        schedule=schedule,
        start=area_range.start,
        end=area_range.end,
        expected=0,
        present=0,
    )
    if area_range.end <= area_range.start:
        return result
    exp_starts, exp_ends = expected_grid(area_range.start, area_range.end, schedule, spec.tz)
    covered = _covered_mask(exp_starts, present_starts, present_ends)
    result.expected, result.present = int(exp_starts.size), int(covered.sum())
    result.gaps = _classified_gaps(exp_starts, exp_ends, covered, windows)
    return result


def dataset_coverage(
    store: Store,
    dataset_name: str,
    areas: Sequence[str],
    start: str | datetime,
    end: str | datetime,
    *,
    now: datetime | None = None,
) -> CoverageReport:
    """Coverage of every stored series of a dataset in the given areas (and a placeholder,
    all missing, for an area with nothing stored), with classified gaps."""
    dataset = get_dataset(dataset_name)
    if dataset.outage:
        raise InputError(
            f"{dataset.name} holds outage events, not time series: coverage counts the "
            "intervals of time series (a backfill of it plans the windows never fetched)"
        )
    ranges, notes = resolve_ranges(dataset, areas, start, end, now=now)
    report = CoverageReport(dataset.name, ranges, [], notes)
    for area_range in ranges:
        report.series.extend(area_coverage(store, dataset, area_range))
    return report


def area_coverage(store: Store, dataset: Dataset, area_range: AreaRange) -> list[SeriesCoverage]:
    """Coverage of one area's (pair's) series."""
    spec = area_range.spec
    stored = _series_of(store, dataset, spec)
    windows = [
        w
        for w in window_outcomes(
            store,
            dataset=dataset.name,
            areas=[spec.area],
            start=area_range.start,
            end=area_range.end,
        )
        if (w.area_to or None) == spec.area_to
    ]
    # Look back one interval of the longest plausible length, so a value that began before
    # the range (a year, a week) counts for the expected intervals it covers.
    longest = max(
        [parse_resolution(dataset.resolution).nominal]
        + [parse_resolution(s.resolution).nominal for s in stored if s.resolution],
    )
    lookback = max(longest, timedelta(days=1)) + timedelta(days=7)
    found = _intervals(
        store, [s.series_id for s in stored], area_range.start, area_range.end, lookback
    )
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    if not stored:
        return [series_coverage(dataset, area_range, None, empty, windows)]
    return [
        series_coverage(dataset, area_range, item, found.get(item.series_id, empty), windows)
        for item in stored
    ]


def needed_spans(
    items: Sequence[SeriesCoverage], *, refetch_empty: bool = False
) -> list[tuple[datetime, datetime]]:
    """The union of the gaps worth fetching: never fetched and failed ones, and with
    ``refetch_empty`` the upstream ones too; sorted and merged."""
    wanted = set(GAP_KINDS) if refetch_empty else set(GAP_KINDS) - UPSTREAM_KINDS
    spans = sorted((g.start, g.end) for item in items for g in item.gaps if g.kind in wanted)
    merged: list[tuple[datetime, datetime]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def unfetched_spans(
    area_range: AreaRange, windows: Sequence[WindowOutcome], *, refetch_empty: bool = False
) -> list[tuple[datetime, datetime]]:
    """For event datasets (outages): the parts of the range no successful fetch covered
    (with ``refetch_empty``, also those answered "no data")."""
    good = {"data"} if refetch_empty else {"data", "no_data"}
    done = sorted(
        (max(w.window_start, area_range.start), min(w.window_end, area_range.end))
        for w in windows
        if w.outcome in good and w.window_end > area_range.start and w.window_start < area_range.end
    )
    spans: list[tuple[datetime, datetime]] = []
    cursor = area_range.start
    for start, end in done:
        if start > cursor:
            spans.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < area_range.end:
        spans.append((cursor, area_range.end))
    return spans


__all__ = [
    "GAP_KINDS",
    "GAP_TEXT",
    "MAX_RANGE_YEARS",
    "UPSTREAM_KINDS",
    "AreaRange",
    "ClassifiedGap",
    "CoverageReport",
    "SeriesCoverage",
    "area_coverage",
    "check_range",
    "classify",
    "dataset_coverage",
    "derive_schedule",
    "needed_spans",
    "resolution_rule",
    "resolve_ranges",
    "schedule_for",
    "series_coverage",
    "unfetched_spans",
]
