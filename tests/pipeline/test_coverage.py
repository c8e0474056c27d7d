"""Coverage of stored series: exact expected counts across DST and the 15-minute switch of
day-ahead prices (synthetic emulator data collected into both engines), resolution schedules
derived from stored intervals, and missing intervals classified as never fetched, fetch
failed, or upstream "no data" / not in the upstream's answer."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridvault.coverage import compute_coverage, expected_grid
from gridvault.emulator import Emulator, EmulatorConfig, running_emulator
from gridvault.entsoe.catalog import get_dataset
from gridvault.errors import InputError
from gridvault.pipeline.collect import plan_collect, run_collect
from gridvault.pipeline.coverage import (
    _covered_mask,
    check_range,
    dataset_coverage,
    derive_schedule,
    resolution_rule,
)
from gridvault.settings import Settings
from gridvault.sources.entsoe_client import RetryPolicy
from gridvault.sources.ratelimit import LocalRateLimiter
from gridvault.store import Store
from gridvault.timegrid import (
    Resolution,
    grid,
    length_bounds,
    parse_resolution,
    resolution_of_length,
)

TOKEN = "coverage-test-token"  # noqa: S105 - the emulator token
FAST = RetryPolicy(attempts=1, backoff_base=0.001, backoff_cap=0.002)
H = 3_600_000_000  # one hour in µs
Q = H // 4


# Earlier in-process CLI runs may leave logging on a closed stream (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("fresh_logging")


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running_emulator(EmulatorConfig(token=TOKEN, synthetic=True, rate_limit=100_000)) as emu:
        yield emu


def collect(  # noqa: PLR0917 - reads like the CLI
    emu: Emulator, store: Store, dataset: str, areas: list[str], start: str, end: str
) -> None:
    settings = Settings(
        entsoe_token=TOKEN,
        entsoe_base_url=emu.base_url,
        redis_url=None,
        database_url="duckdb:///unused.duckdb",
    )
    plan = plan_collect(dataset, areas, start, end)
    asyncio.run(
        run_collect(
            settings,
            store,
            plan,
            concurrency=4,
            limiter=LocalRateLimiter(10_000, window_seconds=1.0),
            retry=FAST,
        )
    )


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2025-03-29", "2025-04-01", 24 + 23 + 24),  # spring forward: a 23-hour day
        ("2024-10-26", "2024-10-29", 24 + 25 + 24),  # fall back: a 25-hour day
        ("2025-09-30", "2025-10-02", 24 + 96),  # the switch to 15-minute MTU
        ("2025-10-25", "2025-10-28", 96 + 100 + 96),  # a 25-hour day of quarter hours
        ("2025-09-29T12:00", "2025-10-01T06:00", 12 + 24 + 24),  # mid-day edges, local time
    ],
)
def test_day_ahead_prices_exact_counts_across_dst_and_the_switch(
    store: Store, emulator: Emulator, start: str, end: str, expected: int
) -> None:
    day = timedelta(days=1)
    first = (datetime.fromisoformat(start) - day).date().isoformat()
    last = (datetime.fromisoformat(end) + day).date().isoformat()
    collect(emulator, store, "day_ahead_prices", ["NL"], first, last)
    report = dataset_coverage(store, "day_ahead_prices", ["NL"], start, end)
    (series,) = report.series
    assert (series.expected, series.present, series.missing) == (expected, expected, 0)
    assert report.completeness == 1.0
    assert series.gaps == []
    assert [(f, r.iso) for f, r in series.schedule] == [
        (None, "PT60M"),
        (datetime(2025, 9, 30, 22, tzinfo=UTC), "PT15M"),
    ]


def test_load_quarter_hours_across_dst_and_a_calendar_series(
    store: Store, emulator: Emulator
) -> None:
    collect(emulator, store, "load_actual", ["NL"], "2024-10-26", "2024-10-29")
    report = dataset_coverage(store, "load_actual", ["NL"], "2024-10-26", "2024-10-29")
    assert (report.expected, report.present) == (96 + 100 + 96, 96 + 100 + 96)
    assert report.series[0].describe_schedule() == "PT15M"
    # A daily series: 23-, 24- and 25-hour local days are one interval each.
    collect(emulator, store, "load_forecast_week_ahead", ["NL"], "2024-03-25", "2024-04-08")
    weekly = dataset_coverage(store, "load_forecast_week_ahead", ["NL"], "2024-03-25", "2024-04-08")
    assert {s.describe_schedule() for s in weekly.series} == {"P1D"}
    assert all((s.expected, s.present) == (14, 14) for s in weekly.series)


def test_gaps_are_classified_by_what_the_upstream_said(store: Store, emulator: Emulator) -> None:
    # 2 Sep: fetched with data. 3 Sep: "no matching data". 4 Sep: fetch failed (bad token).
    # 5-11 Sep: fetched, some days missing from the answer. 12 Sep: never fetched.
    collect(emulator, store, "day_ahead_prices", ["NL"], "2024-09-02", "2024-09-03")
    emulator.config.synthetic = False
    collect(emulator, store, "day_ahead_prices", ["NL"], "2024-09-03", "2024-09-04")
    emulator.config.synthetic = True
    emulator.config.token = "another-token"  # noqa: S105
    collect(emulator, store, "day_ahead_prices", ["NL"], "2024-09-04", "2024-09-05")
    emulator.config.token = TOKEN
    emulator.config.gaps = 0.5
    collect(emulator, store, "day_ahead_prices", ["NL"], "2024-09-05", "2024-09-12")
    report = dataset_coverage(store, "day_ahead_prices", ["NL"], "2024-09-02", "2024-09-13")
    (series,) = report.series
    kinds = [(g.start.day, g.intervals, g.kind) for g in series.gaps]
    assert kinds[:2] == [(2, 24, "no_data"), (3, 24, "failed")]  # local 3 Sep = 2 Sep 22:00Z
    assert kinds[-1] == (11, 24, "never_fetched")
    absent = kinds[2:-1]
    assert absent
    assert all(kind == "absent" and 4 <= day <= 10 for day, _, kind in absent)
    absent_days = sum(count for _, count, _ in absent) // 24
    assert (series.expected, series.present) == (11 * 24, (1 + 7 - absent_days) * 24)
    assert report.missing_by_kind() == {
        "never_fetched": 24,
        "failed": 24,
        "no_data": 24,
        "absent": absent_days * 24,
    }
    payload = report.to_json()
    assert payload["completeness"] == round(series.present / series.expected, 6)
    assert payload["series"][0]["gaps"][1] == {
        "start": "2024-09-03T22:00:00Z",
        "end": "2024-09-04T22:00:00Z",
        "intervals": 24,
        "kind": "failed",
    }


def test_an_area_with_nothing_stored_is_all_missing_at_the_catalog_resolution(
    store: Store,
) -> None:
    report = dataset_coverage(store, "day_ahead_prices", ["BE", "CH"], "2025-09-30", "2025-10-02")
    be, ch = report.series
    assert (be.series_id, be.expected, be.present) == (None, 24 + 96, 0)
    assert [(g.intervals, g.kind) for g in be.gaps] == [(120, "never_fetched")]
    assert ch.expected == 48  # outside SDAC: hourly after the switch too
    assert report.completeness == 0.0
    load = dataset_coverage(store, "load_actual", ["NL"], "2024-01-01", "2024-01-02")
    assert load.series[0].expected == 96


def test_schedule_derived_from_stored_interval_lengths() -> None:
    hours = np.arange(0, 48 * H, H, dtype=np.int64)
    quarters = np.arange(48 * H, 72 * H, Q, dtype=np.int64)
    starts = np.concatenate([hours, quarters])
    ends = np.concatenate([hours + H, quarters + Q])
    schedule = derive_schedule(starts, ends)
    assert schedule is not None
    assert [(f, r.iso) for f, r in schedule] == [
        (None, "PT60M"),
        (datetime(1970, 1, 3, tzinfo=UTC), "PT15M"),
    ]
    # A single odd interval is a glitch, not a change of resolution.
    glitch_ends = ends.copy()
    glitch_ends[60] = starts[60] + 2 * H
    assert [r.iso for _, r in derive_schedule(starts, glitch_ends) or ()] == ["PT60M", "PT15M"]
    # Local days of 23, 24 and 25 hours are one daily resolution.
    day_starts = np.array([0, 23 * H, 47 * H], dtype=np.int64)
    day_ends = np.array([23 * H, 47 * H, 72 * H], dtype=np.int64)
    assert [r.iso for _, r in derive_schedule(day_starts, day_ends) or ()] == ["P1D"]
    assert derive_schedule(np.zeros(0, np.int64), np.zeros(0, np.int64)) is None


@given(
    resolution=st.sampled_from(["PT15M", "PT30M", "PT60M", "P1D", "P7D", "P1M", "P3M", "P1Y"]),
    tz=st.sampled_from(["UTC", "Europe/Berlin", "Europe/Helsinki", "America/St_Johns"]),
    minutes=st.integers(min_value=0, max_value=70 * 365 * 1440),
)
@settings(deadline=None, max_examples=60)
def test_every_interval_of_a_grid_is_told_its_resolution_by_its_length(
    resolution: str, tz: str, minutes: int
) -> None:
    # Local days of 23-25 h, months of 28-31 days, leap years: the length names the step.
    step = parse_resolution(resolution)
    begin = datetime(1990, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    end = begin + (timedelta(days=800) if step.is_calendar else timedelta(days=3))
    for first, stop in itertools.islice(grid(begin, end, step, tz), 400):
        seconds = (stop - first).total_seconds()
        assert resolution_of_length(seconds) == step, (first, stop)
        low, high = length_bounds(step)
        assert low <= seconds <= high


def test_catalog_rule_only_for_sdac_sequence_one() -> None:
    prices = get_dataset("day_ahead_prices")
    rule = resolution_rule(prices, "DE_LU", {"sequence": "1"})
    assert rule is not None
    assert rule[1] == (datetime(2025, 9, 30, 22, tzinfo=UTC), Resolution(seconds=900))
    assert resolution_rule(prices, "DE_LU", {"sequence": "2"}) is None
    assert resolution_rule(prices, "GB", {}) == ((None, Resolution(seconds=3600)),)
    assert resolution_rule(get_dataset("load_actual"), "NL", {}) is None


@settings(max_examples=60, deadline=None)
@given(
    present=st.lists(st.tuples(st.integers(0, 200), st.sampled_from([1, 4, 8])), max_size=60),
    quarter_hours=st.booleans(),
)
def test_covered_mask_agrees_with_the_shared_coverage_rule(
    present: list[tuple[int, int]], quarter_hours: bool
) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    resolution = Resolution(seconds=900 if quarter_hours else 3600)
    exp_starts, exp_ends = expected_grid(start, start + timedelta(hours=50), [(None, resolution)])
    unique = sorted(dict(present).items())
    p_starts = np.array([start_q * Q for start_q, _ in unique], dtype=np.int64)
    p_starts += int(start.timestamp()) * 1_000_000
    p_ends = p_starts + np.array([length * Q for _, length in unique], dtype=np.int64)
    mask = _covered_mask(exp_starts, p_starts, p_ends)
    shared = compute_coverage(exp_starts, exp_ends, p_starts, p_ends)
    assert (int(mask.size), int(mask.sum())) == (shared.expected, shared.present)


def test_ranges_too_long_or_reversed_are_refused(store: Store) -> None:
    with pytest.raises(InputError, match="spans 100 years; gridvault plans at most 30"):
        dataset_coverage(store, "day_ahead_prices", ["NL"], "1925-01-01", "2025-01-01")
    with pytest.raises(InputError, match="not after"):
        check_range(datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC))
    with pytest.raises(InputError, match="outage events, not time series"):
        dataset_coverage(store, "outages_generation_units", ["NL"], "2024-01-01", "2024-02-01")
    with pytest.raises(InputError, match="does not exist yet"):
        dataset_coverage(store, "load_actual", ["NL"], "2999-01-01", "2999-01-02")
