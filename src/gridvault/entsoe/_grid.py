"""The time grid of one ENTSO-E Period: where each position starts and ends.

Fixed resolutions (``PT4S``…``PT60M``) are durations and step in UTC, computed as
``start + k·step`` in microseconds. Calendar resolutions (``P1D``, ``P7D``, ``P1M``, ``P3M``,
``P1Y``) step in the wall-clock time of the series' area: a ``P1D`` step is 23 hours on the
day of the spring DST change and 25 on the autumn one, a ``P7D`` week is 167 or 169 hours.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from gridvault.entsoe._xml import DocumentError, iso, micros_of, to_datetime
from gridvault.errors import InputError
from gridvault.timegrid import Resolution, parse_resolution, step, zone

#: Most steps one Period may span (a year of PT1M is 527,040; a day of PT4S 21,600).
MAX_PERIOD_STEPS = 2_000_000

# A UTC offset change closer than this to a boundary sends it to timegrid.step().
_NEAR = timedelta(hours=26)
_NAIVE_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 - wall-clock arithmetic only


@lru_cache(maxsize=256)
def resolution_of(text: str) -> Resolution:
    """The parsed ``<resolution>``; any ISO 8601 duration, not a fixed list."""
    try:
        return parse_resolution(text)
    except InputError:
        raise DocumentError(f"unknown resolution {text!r}") from None


class StepRun(NamedTuple):
    """``rows`` fixed steps from ``begin`` (µs); each ends ``step`` later or at ``end``."""

    begin: int
    step: int
    rows: int
    end: int


#: The times of consecutive rows: a StepRun, or (starts, ends) as int64 µs arrays.
Times = StepRun | tuple[np.ndarray, np.ndarray]


def expand_runs(runs: Sequence[StepRun]) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends (int64 µs) of the rows of ``runs``, in order, with a fixed number of
    numpy calls however many runs there are."""
    if len(runs) == 1:
        begin, stride, count, end = runs[0]
        starts = np.arange(begin, begin + count * stride, stride, dtype=np.int64)
        return starts, np.minimum(starts + stride, end)
    begins, strides, counts, ends = (
        np.array(column, dtype=np.int64) for column in zip(*runs, strict=True)
    )
    step_of_row = np.repeat(strides, counts)
    first_row = np.cumsum(counts) - counts
    offsets = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(first_row, counts)
    starts = np.repeat(begins, counts) + offsets * step_of_row
    return starts, np.minimum(starts + step_of_row, np.repeat(ends, counts))


@dataclass
class Grid:
    """The steps of one Period: ``bounds`` for calendar resolutions, else start + k·step."""

    start: int
    end: int
    step: int  # microseconds; 0 for calendar resolutions
    steps: int
    bounds: list[int] | None
    resolution: str
    _bounds_array: np.ndarray | None = field(default=None, init=False, repr=False)

    def slot_start(self, index: int) -> int:
        return self.bounds[index] if self.bounds is not None else self.start + index * self.step

    def slot_end(self, index: int) -> int:
        if self.bounds is not None:
            return self.bounds[index + 1]
        return min(self.start + (index + 1) * self.step, self.end)

    def run(self, first: int, count: int) -> Times:
        """The times of ``count`` consecutive steps from 0-based step ``first``: a
        :class:`StepRun` for fixed resolutions (expanded in C when the table is built, no
        Python int per row), the boundary slices for calendar ones."""
        if self.bounds is not None:
            bounds = self._calendar()
            return bounds[first : first + count], bounds[first + 1 : first + count + 1]
        # A step longer than the Period (one step, ending at the Period end) is clamped to
        # the Period's length, so the int64 arithmetic never overflows.
        stride = min(self.step, self.end - self.start)
        return StepRun(self.start + first * stride, stride, count, self.end)

    def slots(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Starts and ends (int64 µs) of the given 1-based positions (all within the grid)."""
        index = positions - 1
        if self.bounds is not None:
            bounds = self._calendar()
            return bounds[index], bounds[index + 1]
        stride = min(self.step, self.end - self.start)
        starts = index * stride
        starts += self.start
        ends = np.minimum(starts + stride, self.end)
        return starts, ends

    def _calendar(self) -> np.ndarray:
        if self._bounds_array is None:
            self._bounds_array = np.array(self.bounds, dtype=np.int64)
        return self._bounds_array


def period_grid(
    start: int, end: int, resolution_text: str, tz: str, grids: dict[tuple[Any, ...], Grid]
) -> Grid:
    """The grid of a Period; memoised per call (the TimeSeries of a document share Periods)."""
    key = (start, end, resolution_text, tz)
    grid = grids.get(key)
    if grid is None:
        grid = grids[key] = _new_grid(start, end, resolution_text, tz)
    return grid


def _new_grid(start: int, end: int, resolution_text: str, tz: str) -> Grid:
    if end <= start:
        raise DocumentError(f"Period ends ({iso(end)}) before it starts ({iso(start)})")
    resolution = resolution_of(resolution_text)
    if not resolution.is_calendar:
        step_us = resolution.seconds * 1_000_000
        steps = -(-(end - start) // step_us)
        if steps > MAX_PERIOD_STEPS:
            raise DocumentError(
                f"Period {iso(start)}/{iso(end)} has too many {resolution_text} steps"
            )
        return Grid(start, end, step_us, steps, None, resolution_text)
    steps, bounds = calendar_bounds(start, end, resolution, tz)
    return Grid(start, end, 0, steps, bounds, resolution_text)


def calendar_bounds(start: int, end: int, resolution: Resolution, tz: str) -> tuple[int, list[int]]:
    """Step boundaries of a calendar resolution, in the wall-clock time of ``tz``.

    Days, weeks, months and years are wall-clock steps in the area's zone: a ``P1D`` step
    over the spring DST change is 23 hours, over the autumn one 25 hours. Away from a UTC
    offset change (the same offset a day before and after) the boundary is the wall time
    minus that offset; near one, :func:`gridvault.timegrid.step` resolves the gap or the
    repeated hour, so both always agree.
    """
    tzinfo = zone(tz)
    anchor = to_datetime(start)
    wall = anchor.astimezone(tzinfo).replace(tzinfo=None)
    offset_of = tzinfo.utcoffset
    bounds = [start]
    index = 0
    while bounds[-1] < end:
        index += 1
        if index > MAX_PERIOD_STEPS // 100:
            raise DocumentError(f"Period {iso(start)}/{iso(end)} has too many steps")
        local = _add_calendar(wall, resolution, index)
        offset = offset_of(local)
        if offset is not None and offset_of(local - _NEAR) == offset == offset_of(local + _NEAR):
            delta = local - _NAIVE_EPOCH - offset
            micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        else:
            micros = micros_of(step(anchor, resolution, index, tzinfo))
        bounds.append(min(micros, end))
    return len(bounds) - 1, bounds


def _add_calendar(wall: datetime, resolution: Resolution, count: int) -> datetime:
    """``wall`` plus ``count`` calendar steps (months clamp the day: 31 Jan + 1M = 29 Feb)."""
    if resolution.months:
        month_index = wall.month - 1 + resolution.months * count
        year, month = wall.year + month_index // 12, month_index % 12 + 1
        last_day = monthrange(year, month)[1]
        wall = wall.replace(year=year, month=month, day=min(wall.day, last_day))
    return wall + timedelta(days=resolution.days * count, seconds=resolution.seconds * count)
