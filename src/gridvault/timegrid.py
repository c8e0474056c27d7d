"""Resolutions and time grids, DST-correct.

ENTSO-E resolutions are ISO 8601 durations from ``PT4S`` to ``P1Y``. Sub-daily ones are
fixed lengths of time and step in UTC. Calendar ones (``P1D``, ``P7D``, ``P1M``, ``P3M``,
``P1Y``) step in the *area's local wall-clock time*: a ``P1D`` interval in Europe/Berlin is
23 hours on the last Sunday of March and 25 hours on the last Sunday of October.

All datetimes here are timezone-aware; UTC goes in and comes out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gridvault.errors import InputError

_ISO_DURATION = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


@dataclass(frozen=True, slots=True)
class Resolution:
    """A step of a time grid: calendar months and days plus fixed seconds."""

    months: int = 0
    days: int = 0
    seconds: int = 0

    @property
    def is_calendar(self) -> bool:
        """True when the step depends on the local calendar (days, weeks, months, years)."""
        return self.months > 0 or self.days > 0

    @property
    def nominal(self) -> timedelta:
        """An approximate length, for ordering and sanity checks only (1 month = 30 days)."""
        return timedelta(days=self.months * 30 + self.days, seconds=self.seconds)

    @property
    def iso(self) -> str:
        """The canonical ISO 8601 spelling (``PT15M``, ``PT60M`` for an hour, ``P1D``)."""
        if self.months and not self.days and not self.seconds:
            return f"P{self.months // 12}Y" if self.months % 12 == 0 else f"P{self.months}M"
        if self.days and not self.months and not self.seconds:
            return f"P{self.days}D"
        if self.seconds and not self.months and not self.days:
            if self.seconds % 60 == 0:
                return f"PT{self.seconds // 60}M"
            return f"PT{self.seconds}S"
        return f"P{self.months}M{self.days}DT{self.seconds}S"

    def __str__(self) -> str:
        return self.iso


@lru_cache(maxsize=256)
def parse_resolution(text: str) -> Resolution:
    """Parse an ISO 8601 duration such as ``PT15M``, ``PT60M``, ``P1D``, ``P7D``, ``P1Y``.

    >>> parse_resolution("PT60M").seconds
    3600
    >>> parse_resolution("P1Y").months
    12
    """
    match = _ISO_DURATION.match(text.strip().upper())
    if not match or text.strip().upper() in ("P", "PT"):
        raise InputError(f"not an ISO 8601 duration: {text!r}")
    parts = {k: int(v) if v else 0 for k, v in match.groupdict().items()}
    resolution = Resolution(
        months=parts["years"] * 12 + parts["months"],
        days=parts["weeks"] * 7 + parts["days"],
        seconds=parts["hours"] * 3600 + parts["minutes"] * 60 + parts["seconds"],
    )
    if resolution == Resolution():
        raise InputError(f"zero-length resolution: {text!r}")
    return resolution


#: A local calendar interval measured in UTC is up to this much shorter or longer than its
#: days (an hour at a DST change; two leave room for a double change).
_DST_TOLERANCE = 2 * 3600


@lru_cache(maxsize=64)
def _month_span_days(months: int) -> tuple[int, int]:
    """The fewest and most days ``months`` consecutive calendar months span."""
    spans = [
        (_add_months(first, months) - first).days
        for year in range(2000, 2004)  # a leap year and three common ones
        for month in range(1, 13)
        for first in (datetime(year, month, 1, tzinfo=UTC),)
    ]
    return min(spans), max(spans)


def length_bounds(resolution: Resolution) -> tuple[int, int]:
    """The shortest and longest an interval of ``resolution`` lasts, in seconds.

    Fixed resolutions have one length. A calendar step's length varies with the months it
    spans (28-31 days) and, measured in UTC, across a DST change (a ``P1D`` is 23-25 hours;
    the bounds allow two).

    >>> length_bounds(parse_resolution("PT15M"))
    (900, 900)
    >>> [h // 3600 for h in length_bounds(parse_resolution("P1D"))]
    [22, 26]
    """
    if not resolution.is_calendar:
        return resolution.seconds, resolution.seconds
    fewest, most = _month_span_days(resolution.months) if resolution.months else (0, 0)
    base = resolution.days * 86_400 + resolution.seconds
    return base + fewest * 86_400 - _DST_TOLERANCE, base + most * 86_400 + _DST_TOLERANCE


def interval_bounds_us(text: str | None) -> tuple[int, int] | None:
    """:func:`length_bounds` of a resolution's text in microseconds; None when there is no
    text or it is not a resolution."""
    if not text:
        return None
    try:
        low, high = length_bounds(parse_resolution(text))
    except InputError:
        return None
    return low * 1_000_000, high * 1_000_000


#: The calendar resolutions an interval's length is matched against, shortest first (their
#: lengths do not overlap).
CALENDAR_STEPS = (
    Resolution(days=1),
    Resolution(days=7),
    Resolution(months=1),
    Resolution(months=3),
    Resolution(months=12),
)


def resolution_of_length(seconds: float) -> Resolution:
    """The resolution of an interval that lasts ``seconds``: a calendar step whose lengths
    include it (``P1D`` for 23-25 hours, ``P1M`` for 28-31 days …), else its fixed length
    (whole seconds, at least one).

    >>> [resolution_of_length(s).iso for s in (900, 3600, 25 * 3600, 29 * 86400)]
    ['PT15M', 'PT60M', 'P1D', 'P1M']
    """
    for step in CALENDAR_STEPS:
        low, high = length_bounds(step)
        if low <= seconds <= high:
            return step
    return Resolution(seconds=max(1, round(seconds)))


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """An IANA time zone, with a clear error for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        raise InputError(f"unknown time zone: {name[:80]!r}") from None


def _add_months(local: datetime, months: int) -> datetime:
    month_index = local.month - 1 + months
    year = local.year + month_index // 12
    month = month_index % 12 + 1
    # Grid anchors are month starts in practice; clamp the day for safety (31 Jan + 1 month).
    day = min(local.day, _days_in_month(year, month))
    return local.replace(year=year, month=month, day=day)


def _days_in_month(year: int, month: int) -> int:
    nxt = datetime(year + (month == 12), month % 12 + 1, 1)  # noqa: DTZ001 - calendar arithmetic only
    return (nxt - timedelta(days=1)).day


def _wall_to_utc(wall: datetime, tz: ZoneInfo) -> datetime:
    """Interpret a naive wall-clock time in ``tz``; a non-existent time moves forward."""
    aware = wall.replace(tzinfo=tz)
    # Round-trip detects the spring-forward gap: 02:30 on a 23-hour day does not exist.
    back = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if back != wall:
        aware = wall.replace(tzinfo=tz, fold=1)
    return aware.astimezone(UTC)


def step(
    start: datetime, resolution: Resolution, count: int, tz: str | ZoneInfo = "UTC"
) -> datetime:
    """``start`` advanced by ``count`` steps of ``resolution`` (calendar steps in ``tz``)."""
    if not resolution.is_calendar:
        return start + timedelta(seconds=resolution.seconds * count)
    tzinfo = zone(tz) if isinstance(tz, str) else tz
    wall = start.astimezone(tzinfo).replace(tzinfo=None)
    if resolution.months:
        wall = _add_months(wall, resolution.months * count)
    if resolution.days:
        wall = wall + timedelta(days=resolution.days * count)
    if resolution.seconds:
        wall = wall + timedelta(seconds=resolution.seconds * count)
    return _wall_to_utc(wall, tzinfo)


def floor(moment: datetime, resolution: Resolution, tz: str | ZoneInfo = "UTC") -> datetime:
    """The start of the grid interval containing ``moment``.

    Fixed resolutions are aligned to the Unix epoch in UTC (an hour grid is whole UTC hours,
    which are whole local hours in every European zone). Calendar resolutions are aligned to
    local midnight, local Monday (weeks), the first of the month, the first of January.
    """
    moment = moment.astimezone(UTC)
    if not resolution.is_calendar:
        epoch_seconds = int(moment.timestamp())
        return datetime.fromtimestamp(epoch_seconds - epoch_seconds % resolution.seconds, UTC)
    tzinfo = zone(tz) if isinstance(tz, str) else tz
    local = moment.astimezone(tzinfo).replace(tzinfo=None)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if resolution.months:
        if resolution.months % 12 == 0:
            day = day.replace(month=1, day=1)
        else:
            month0 = (day.month - 1) // resolution.months * resolution.months
            day = day.replace(month=month0 + 1, day=1)
    elif resolution.days % 7 == 0:
        day = day - timedelta(days=day.weekday())
    return _wall_to_utc(day, tzinfo)


def grid(
    start: datetime, end: datetime, resolution: Resolution, tz: str | ZoneInfo = "UTC"
) -> Iterator[tuple[datetime, datetime]]:
    """The intervals ``[s, e)`` of the grid that start in ``[floor(start), end)``.

    Interval starts are aligned with :func:`floor`; the first interval may begin before
    ``start`` when ``start`` is not on the grid.
    """
    if end <= start:
        return
    current = floor(start, resolution, tz)
    anchor = current
    index = 0
    while current < end:
        index += 1
        nxt = step(anchor, resolution, index, tz)
        yield current, nxt
        current = nxt


def utc(moment: datetime) -> datetime:
    """Normalise an aware datetime to UTC; refuse naive ones (their meaning is unknown here)."""
    if moment.tzinfo is None:
        raise InputError(f"naive datetime {moment.isoformat()} where an aware one is required")
    return moment.astimezone(UTC)


_PLUS_AS_SPACE = re.compile(
    r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?) (\d{2}(?::?\d{2})?)$"
)
#: The earliest time a user may ask for (electricity market data starts decades later).
EARLIEST = datetime(1800, 1, 1, tzinfo=UTC)


def parse_time(text: str, tz: str = "UTC") -> datetime:
    """Parse a user-supplied time: with ``Z`` or an offset it is exact; naive means ``tz`` local.

    Accepts ``2024-01-01``, ``2024-01-01T06:00``, ``2024-01-01 06:00:00+01:00``, ``…Z``.
    """
    raw = text.strip()
    # A URL's query decodes "+" as a space: "…T06:00 01:00" can only mean "…T06:00+01:00".
    raw = _PLUS_AS_SPACE.sub(r"\1+\2", raw)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError(
            f"cannot read {text!r} as a time; use e.g. 2024-01-31, 2024-01-31T06:00 or 2024-01-31T05:00Z"
        ) from None
    try:
        moment = _wall_to_utc(parsed, zone(tz)) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01 east of UTC, 9999-12-31 west of it: no such instant
        raise InputError(f"{text!r} is out of the range of times") from None
    if moment < EARLIEST:
        # Look-backs and calendar steps from there would run past the first datetime.
        raise InputError(f"{text!r} is before {EARLIEST.year}: earlier than any data")
    return moment


def rfc3339(moment: datetime) -> str:
    """``2024-01-01T00:00:00Z`` for a UTC instant (seconds precision unless finer is needed)."""
    moment = moment.astimezone(UTC)
    text = f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%S")  # %Y is not padded
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"
