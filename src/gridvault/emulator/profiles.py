"""Deterministic, plausible values for synthetic documents.

A value depends only on the area, the series, the instant and the revision, never on the
request window, so overlapping requests agree and a re-fetch gives the same numbers. Shapes
follow the local clock of the area: load has a morning and an evening peak and is lower at
weekends; prices follow load with occasional negative midday hours; solar is zero at night
and follows the season; wind wanders over days.

Revisions: every instant has a "last revised" number. With ``revision`` r, an instant takes
revision k (2 ≤ k ≤ r) when a hash of (series, instant, k) falls in the lowest tenth, the
highest such k wins, and its noise is drawn with that k. So bumping the revision changes
about one value in ten, and the others stay bit-identical.

Noise is a vectorised SplitMix64 hash of (seed, instant), not a stateful RNG.
"""

from __future__ import annotations

import hashlib
from dataclasses import astuple, dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_REVISED_SHARE = 0.1


def seed_of(*parts: object) -> int:
    """A stable 63-bit seed from any printable parts (``hash()`` is salted per process)."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def uniform(seed: int, ticks: Ints) -> Floats:
    """One uniform number in [0, 1) per tick, a pure function of (seed, tick)."""
    x = ticks.astype(np.uint64) + np.full(ticks.shape, seed, dtype=np.uint64)
    x = x * _GOLDEN
    x ^= x >> np.uint64(30)
    x = x * _MIX1
    x ^= x >> np.uint64(27)
    x = x * _MIX2
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def unit(seed: int, tick: int = 0) -> float:
    """One uniform number in [0, 1) for a scalar tick."""
    return float(uniform(seed, np.array([tick], dtype=np.int64))[0])


def revised_noise(seed: int, ticks: Ints, revision: int) -> Floats:
    """Uniform noise per tick in which about 10 % of ticks change per revision step."""
    effective = np.ones(ticks.shape, dtype=np.int64)
    for number in range(2, revision + 1):
        chosen = uniform(seed + 7919 * number, ticks) < _REVISED_SHARE
        effective[chosen] = number
    return uniform(seed, ticks * 64 + effective)


@dataclass(frozen=True)
class Day:
    """The local calendar facts of one day that shapes depend on."""

    weekday: int
    day_of_year: int
    index: int  # days since 0001-01-01: drives day-to-day weather and price regimes

    @classmethod
    def of(cls, local_date: date) -> Day:
        """The facts of a local date."""
        return cls(local_date.weekday(), local_date.timetuple().tm_yday, local_date.toordinal())


@dataclass(frozen=True)
class Days:
    """The facts of :class:`Day`, one per value: shapes of many days in one vectorised step."""

    weekday: Ints
    day_of_year: Ints
    index: Ints

    @classmethod
    def of(cls, days: list[Day], counts: list[int]) -> Days:
        """``counts[i]`` values on ``days[i]``, in order."""
        repeats = np.asarray(counts, dtype=np.int64)

        def column(values: list[int]) -> Ints:
            return np.repeat(np.asarray(values, dtype=np.int64), repeats)

        return cls(
            column([d.weekday for d in days]),
            column([d.day_of_year for d in days]),
            column([d.index for d in days]),
        )


def shape(profile: str, area_seed: int, hours: Floats, day: Day | Days) -> Floats:
    """The smooth part of a value: ``hours`` since local midnight of ``day`` (one day for all
    values, or one per value).

    ``area_seed`` sets the size of the area (a small zone has small numbers).
    """
    days = day if isinstance(day, Days) else Days(*(np.array([v]) for v in astuple(day)))
    size = 0.2 + 2.8 * unit(area_seed, 1)
    season = np.cos(2 * np.pi * (days.day_of_year - 15) / 365.25)
    weekend = days.weekday >= 5
    day_u = uniform(area_seed + 17, days.index)
    result: Floats
    if profile in ("load", "generation"):
        peaks = 0.16 * _bump(hours, 8.5, 2.5) + 0.2 * _bump(hours, 18.5, 2.5)
        level = (0.78 + peaks - 0.1 * _bump(hours, 3.5, 2.5)) * np.where(weekend, 0.86, 1.0)
        factor = 0.92 if profile == "generation" else 1.0
        result = 10_000.0 * size * factor * (1 + 0.1 * season) * level
    elif profile == "price":
        peaks = 45 * _bump(hours, 8.5, 2.0) + 60 * _bump(hours, 19.0, 2.0)
        regime = 40 + 80 * day_u + 25 * season - np.where(weekend, 18, 0)
        result = regime + peaks
        # Sunny low-demand days push midday prices below zero (DE, NL, ES since 2023).
        sunny = (day_u < 0.08) & (days.day_of_year >= 90) & (days.day_of_year < 270)
        dip = _bump(hours, 13.0, 2.2) * (result + 10 + 60 * day_u)
        result = np.where(sunny, result - dip, result)
    elif profile == "solar":
        daylength = 12 - 4 * season
        angle = np.clip((hours - (12 - daylength / 2)) / daylength, 0.0, 1.0)
        result = 3_000.0 * size * (0.35 + 0.65 * day_u) * np.sin(np.pi * angle) ** 1.5
    elif profile in ("wind_onshore", "wind_offshore"):
        capacity = (4_000.0 if profile == "wind_onshore" else 1_500.0) * size
        phase = uniform(area_seed + len(profile), days.index // 3)
        wave = 0.4 + 0.3 * np.sin(2 * np.pi * (hours / 72 + phase)) + 0.2 * (day_u - 0.5)
        result = capacity * np.clip(wave + 0.1 * season, 0.02, 0.98)
    elif profile == "imbalance_price":
        result = 60 + 50 * day_u + 30 * np.sin(2 * np.pi * hours / 24)
    elif profile == "reserve_price":
        result = np.broadcast_to(3.0 + 15 * day_u, hours.shape)
    elif profile == "signed":
        result = 300.0 * size * np.sin(2 * np.pi * (hours / 6 + day_u))
    elif profile == "flow":
        result = 600.0 * size * (1 + 0.5 * np.sin(2 * np.pi * (hours - 6) / 24) + 0.3 * day_u)
    elif profile == "hydro":
        result = np.broadcast_to(2_000_000.0 * size * (1.0 - 0.35 * season), hours.shape)
    else:  # flat: capacities, nuclear, per-unit output, NTC
        result = np.broadcast_to(1_000.0 * size * (0.9 + 0.2 * day_u), hours.shape)
    return np.array(result, dtype=np.float64)


def _bump(hours: Floats, centre: float, width: float) -> Floats:
    return np.asarray(np.exp(-(((hours - centre) / width) ** 2)), dtype=np.float64)


#: Relative noise per profile (fraction of the value), and whether values may go negative.
NOISE: dict[str, float] = {
    "load": 0.03,
    "generation": 0.04,
    "price": 0.08,
    "solar": 0.05,
    "wind_onshore": 0.06,
    "wind_offshore": 0.06,
    "imbalance_price": 0.6,
    "reserve_price": 0.2,
    "signed": 0.8,
    "flow": 0.1,
    "hydro": 0.01,
    "flat": 0.02,
}
SIGNED = frozenset({"price", "imbalance_price", "signed"})


def values(
    profile: str,
    scale: float,
    *,
    area_seed: int,
    series_seed: int,
    ticks: Ints,
    hours: Floats,
    day: Day | Days,
    revision: int,
) -> Floats:
    """Final values: the shape times ``scale`` plus revision-aware noise, rounded to 0.01."""
    smooth = shape(profile, area_seed, hours, day) * scale
    amplitude = NOISE.get(profile, 0.02)
    if amplitude:
        noise = revised_noise(series_seed, ticks, revision) - 0.5
        # Prices may sit near zero and still move; quantities move in proportion (so solar
        # stays exactly zero at night).
        floor = 20.0 * scale if profile in SIGNED else 0.0
        smooth = smooth + amplitude * 2 * noise * np.maximum(np.abs(smooth), floor)
    if profile not in SIGNED:
        smooth = np.maximum(smooth, 0.0)
    result: Floats = np.round(smooth, 2)
    return result
