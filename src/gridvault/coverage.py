"""Coverage: which expected intervals of a series are present, which are missing.

Pure functions over a time grid and the stored intervals, shared by the store, the CLI and
the API. The expected grid comes from the series' resolution — possibly a schedule of
resolutions, e.g. day-ahead prices at PT60M until 2025-10-01 and PT15M after — stepped in
the area's local calendar for daily and longer resolutions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from gridvault.timegrid import Resolution, floor, grid

_US = 1_000_000


@dataclass(frozen=True, slots=True)
class Gap:
    """A run of consecutive missing expected intervals ``[start, end)``."""

    start: datetime
    end: datetime
    intervals: int


@dataclass(frozen=True, slots=True)
class Coverage:
    """Expected / present / missing counts and the gaps of one series over a range."""

    expected: int
    present: int
    gaps: list[Gap] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return self.expected - self.present

    @property
    def completeness(self) -> float:
        return 1.0 if self.expected == 0 else self.present / self.expected


def _to_us(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * _US + delta.microseconds


def _from_us(value: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(value))


def expected_grid(
    start: datetime,
    end: datetime,
    schedule: Sequence[tuple[datetime | None, Resolution]],
    tz: str = "UTC",
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Starts and ends (µs since epoch) of the expected intervals starting in ``[start, end)``.

    ``schedule`` is a list of ``(valid_from, resolution)``, ordered; ``valid_from=None``
    means "from the beginning". Intervals that would start before ``start`` are left out.
    """
    starts: list[npt.NDArray[np.int64]] = []
    ends: list[npt.NDArray[np.int64]] = []
    for index, (valid_from, resolution) in enumerate(schedule):
        seg_start = max(start, valid_from) if valid_from else start
        next_from = schedule[index + 1][0] if index + 1 < len(schedule) else None
        seg_end = min(end, next_from) if next_from else end
        if seg_end <= seg_start:
            continue
        if not resolution.is_calendar:
            step_us = resolution.seconds * _US
            first = _to_us(floor(seg_start, resolution))
            if first < _to_us(seg_start):
                first += step_us
            s = np.arange(first, _to_us(seg_end), step_us, dtype=np.int64)
            starts.append(s)
            ends.append(s + step_us)
        else:
            pairs = [
                (_to_us(a), _to_us(b))
                for a, b in grid(seg_start, seg_end, resolution, tz)
                if a >= seg_start
            ]
            starts.append(np.array([p[0] for p in pairs], dtype=np.int64))
            ends.append(np.array([p[1] for p in pairs], dtype=np.int64))
    if not starts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(starts), np.concatenate(ends)


def compute_coverage(
    expected_starts: npt.NDArray[np.int64],
    expected_ends: npt.NDArray[np.int64],
    present_starts: npt.NDArray[np.int64],
    present_ends: npt.NDArray[np.int64],
) -> Coverage:
    """Which expected intervals are covered by a stored interval.

    An expected interval counts as present when a stored interval contains its start — so
    hourly data covers a 15-minute grid and the switch of resolution needs no special case.
    """
    if expected_starts.size == 0:
        return Coverage(expected=0, present=0)
    order = np.argsort(present_starts, kind="stable")
    p_start = present_starts[order]
    p_end = present_ends[order]
    idx = np.searchsorted(p_start, expected_starts, side="right") - 1
    covered = np.zeros(expected_starts.size, dtype=bool)
    valid = idx >= 0
    covered[valid] = p_end[idx[valid]] > expected_starts[valid]
    gaps: list[Gap] = []
    missing_idx = np.flatnonzero(~covered)
    if missing_idx.size:
        # Split the missing positions into runs of consecutive grid positions.
        breaks = np.flatnonzero(np.diff(missing_idx) != 1) + 1
        for run in np.split(missing_idx, breaks):
            gaps.append(
                Gap(
                    start=_from_us(int(expected_starts[run[0]])),
                    end=_from_us(int(expected_ends[run[-1]])),
                    intervals=int(run.size),
                )
            )
    return Coverage(expected=int(expected_starts.size), present=int(covered.sum()), gaps=gaps)
