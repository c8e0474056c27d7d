"""Resampling buckets and aggregations shared by both store adapters.

Sub-daily buckets (``15min`` … ``12h``) are fixed lengths aligned to the Unix epoch in UTC:
for whole-hour offsets, as every European zone has, an hourly bucket is also a whole local
hour. Daily and longer buckets (``1d``, ``1w``, ``1mo``, ``1q``, ``1y``) follow the
*local calendar* of the requested time zone, so a day bucket across the autumn DST change
is 25 hours long and a week starts on local Monday midnight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gridvault.errors import InputError
from gridvault.timegrid import Resolution

AGGREGATIONS = ("mean", "min", "max", "sum", "first", "last", "ohlc", "count")

_CALENDAR = {
    "1d": ("day", "1 day"),
    "1w": ("week", "7 days"),
    "1mo": ("month", "1 month"),
    "1q": ("quarter", "3 months"),
    "1y": ("year", "1 year"),
}
_CALENDAR_RESOLUTIONS = {
    "day": "P1D",
    "week": "P7D",
    "month": "P1M",
    "quarter": "P3M",
    "year": "P1Y",
}
_FIXED = re.compile(r"^(\d+)(s|sec|min|m|h)$")
_UNIT_SECONDS = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}


@dataclass(frozen=True, slots=True)
class Bucket:
    """A resampling bucket: either ``seconds`` (fixed) or a calendar ``unit`` + ``step``."""

    name: str
    seconds: int | None = None
    unit: str | None = None
    step: str | None = None

    @property
    def is_calendar(self) -> bool:
        return self.unit is not None

    @property
    def resolution(self) -> str:
        """The bucket as an ISO 8601 resolution, as series name theirs (``PT60M``, ``P1D``)."""
        if self.seconds is not None:
            return Resolution(seconds=self.seconds).iso
        return _CALENDAR_RESOLUTIONS[self.unit or "day"]


def parse_bucket(text: str) -> Bucket:
    """``15min``, ``30min``, ``1h`` … ``12h``, ``1d``, ``1w``, ``1mo``, ``1q``, ``1y``."""
    name = text.strip().lower()
    aliases = {
        "day": "1d",
        "week": "1w",
        "month": "1mo",
        "quarter": "1q",
        "year": "1y",
        "hour": "1h",
        "1month": "1mo",
        "1m": "1mo",
    }
    name = aliases.get(name, name)
    if name in _CALENDAR:
        unit, step = _CALENDAR[name]
        return Bucket(name=name, unit=unit, step=step)
    match = _FIXED.match(name)
    if match:
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        if seconds > 0 and 86400 % seconds == 0 and seconds >= 60:
            return Bucket(name=name, seconds=seconds)
    raise InputError(
        f"unknown resample bucket {text!r}; use one of 15min, 30min, 1h, 2h, 3h, 4h, 6h, 12h, "
        "1d, 1w, 1mo, 1q, 1y"
    )


def check_aggregation(agg: str) -> str:
    name = agg.strip().lower()
    if name not in AGGREGATIONS:
        raise InputError(f"unknown aggregation {agg!r}; use one of {', '.join(AGGREGATIONS)}")
    return name
