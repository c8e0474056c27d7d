"""Request-window planning: split ``[start, end)`` into windows one request may cover.

ENTSO-E refuses a request whose ``periodStart``..``periodEnd`` is longer than the item's
limit (one year for most, one day for per-unit generation, 100 days for the balancing
state; :attr:`gridvault.entsoe.catalog.Dataset.window_limit`).

Windows are anchored at ``start`` and as long as the limit allows, so a range needs the
fewest requests (a local-time year 2023 is *one* request, not a stub hour plus a year as
UTC-year boundaries would make it). Calendar limits step in **UTC**: ``P1D`` windows are
24 hours even across a DST change (a 25-hour local day would exceed a one-day limit) and
``P1Y`` windows end on the same UTC wall time a year later (365 or 366 days). The last
window is cut at ``end``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gridvault.errors import InputError
from gridvault.timegrid import Resolution, parse_resolution, rfc3339, step, utc

MAX_WINDOWS = 100_000


@dataclass(frozen=True, order=True, slots=True)
class TimeWindow:
    """One request window ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def __str__(self) -> str:
        return f"{rfc3339(self.start)}/{rfc3339(self.end)}"


def plan_windows(
    start: datetime,
    end: datetime,
    limit: str | Resolution,
    *,
    max_window: str | Resolution | None = None,
) -> list[TimeWindow]:
    """The request windows covering ``[start, end)``, each at most ``limit`` long.

    ``max_window`` makes windows shorter than the dataset's limit (smaller chunks: a failure
    costs less, a backfill job stays short); it cannot make them longer.

    >>> from datetime import UTC, datetime
    >>> [str(w) for w in plan_windows(datetime(2024, 1, 1, tzinfo=UTC),
    ...                               datetime(2024, 1, 3, 12, tzinfo=UTC), "P1D")]
    ['2024-01-01T00:00:00Z/2024-01-02T00:00:00Z', '2024-01-02T00:00:00Z/2024-01-03T00:00:00Z', '2024-01-03T00:00:00Z/2024-01-03T12:00:00Z']
    """
    start, end = utc(start), utc(end)
    if end <= start:
        raise InputError(f"end {rfc3339(end)} is not after start {rfc3339(start)}")
    size = parse_resolution(limit) if isinstance(limit, str) else limit
    if max_window is not None:
        smaller = parse_resolution(max_window) if isinstance(max_window, str) else max_window
        if smaller.nominal < size.nominal:
            size = smaller
    windows: list[TimeWindow] = []
    current = start
    index = 0
    while current < end:
        index += 1
        # Step from the anchor (not from the previous end) so month-end days do not drift.
        nxt = min(step(start, size, index, "UTC"), end)
        windows.append(TimeWindow(current, nxt))
        current = nxt
        if len(windows) > MAX_WINDOWS:
            raise InputError(
                f"{rfc3339(start)}..{rfc3339(end)} needs more than {MAX_WINDOWS:,} requests "
                f"of {size.iso}; ask for a shorter range"
            )
    return windows
