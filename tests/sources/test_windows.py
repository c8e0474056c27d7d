"""Request-window planning by the dataset's limit."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridvault.errors import InputError
from gridvault.sources.windows import TimeWindow, plan_windows
from gridvault.timegrid import parse_time, rfc3339


def test_a_local_year_is_one_request() -> None:
    start, end = (
        parse_time("2023-01-01", "Europe/Amsterdam"),
        parse_time("2024-01-01", "Europe/Amsterdam"),
    )
    assert plan_windows(start, end, "P1Y") == [TimeWindow(start, end)]


def test_years_step_on_the_same_utc_wall_time_and_the_last_is_cut() -> None:
    start = datetime(2022, 12, 31, 23, tzinfo=UTC)
    end = datetime(2025, 3, 1, tzinfo=UTC)
    windows = plan_windows(start, end, "P1Y")
    assert [w.start for w in windows] == [
        start,
        datetime(2023, 12, 31, 23, tzinfo=UTC),
        datetime(2024, 12, 31, 23, tzinfo=UTC),
    ]
    assert windows[-1].end == end
    assert windows[1].end - windows[1].start == timedelta(days=366)  # 2024 is a leap year


def test_days_are_24_hours_across_dst() -> None:
    start = parse_time("2024-10-26", "Europe/Berlin")
    end = parse_time("2024-10-29", "Europe/Berlin")  # contains the 25-hour local day
    windows = plan_windows(start, end, "P1D")
    assert all(w.end - w.start <= timedelta(hours=24) for w in windows)
    assert windows[0].start == start
    assert windows[-1].end == end
    assert len(windows) == 4  # 73 hours: three full days and one hour


def test_max_window_only_shortens() -> None:
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
    assert len(plan_windows(start, end, "P1Y", max_window="P1M")) == 2
    assert len(plan_windows(start, end, "P1D", max_window="P1M")) == 60
    assert str(plan_windows(start, end, "P1Y")[0]) == "2024-01-01T00:00:00Z/2024-03-01T00:00:00Z"


def test_month_ends_do_not_drift() -> None:
    start = datetime(2024, 1, 31, tzinfo=UTC)
    windows = plan_windows(start, datetime(2024, 5, 31, tzinfo=UTC), "P1M")
    assert [w.end.day for w in windows] == [29, 31, 30, 31]


def test_bad_ranges() -> None:
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(InputError, match="not after"):
        plan_windows(moment, moment, "P1D")
    with pytest.raises(InputError, match="naive"):
        plan_windows(datetime(2024, 1, 1), datetime(2024, 1, 2), "P1D")  # noqa: DTZ001
    with pytest.raises(InputError, match="more than"):
        plan_windows(moment, moment + timedelta(days=400), "PT1M")


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2030, 1, 1)),  # noqa: DTZ001 - naive bounds, made UTC below
    hours=st.integers(min_value=1, max_value=3 * 366 * 24),
    limit=st.sampled_from(["P1D", "P100D", "P1Y", "P1M", "PT6H"]),
)
def test_windows_tile_the_range_within_the_limit(start: datetime, hours: int, limit: str) -> None:
    begin = start.replace(tzinfo=UTC)
    end = begin + timedelta(hours=hours)
    windows = plan_windows(begin, end, limit)
    assert windows[0].start == begin
    assert windows[-1].end == end
    longest = {"P1D": 1, "P100D": 100, "P1Y": 366, "P1M": 31, "PT6H": 0.25}[limit]
    for previous, current in itertools.pairwise(windows):
        assert previous.end == current.start
    assert all(timedelta(0) < w.end - w.start <= timedelta(days=longest) for w in windows)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0001-01-01", "out of the range of times"),  # Paris: before the first datetime in UTC
        ("0001-01-01T00:00+14:00", "out of the range of times"),
        ("9999-12-31T23:59-12:00", "out of the range of times"),
        ("1799-12-31T23:59Z", "before 1800"),
    ],
)
def test_times_out_of_range_are_refused_not_overflowed(text: str, message: str) -> None:
    """Year 1 overflowed in the UTC conversion or a later look-back (a 500 in the API, a
    traceback in the CLI)."""
    with pytest.raises(InputError, match=message):
        parse_time(text, "Europe/Paris")
    assert parse_time("9999-12-31T23:59Z") == datetime(9999, 12, 31, 23, 59, tzinfo=UTC)


def test_rfc3339_pads_early_years() -> None:
    assert rfc3339(datetime(1800, 1, 2, 3, 4, 5, tzinfo=UTC)) == "1800-01-02T03:04:05Z"
    assert rfc3339(datetime(900, 1, 1, tzinfo=UTC)) == "0900-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-31T06:00 01:00", datetime(2024, 1, 31, 5, tzinfo=UTC)),
        ("2024-01-31T06:00:00 0100", datetime(2024, 1, 31, 5, tzinfo=UTC)),
        ("2024-01-31 06:00:00.5 05:30", datetime(2024, 1, 31, 0, 30, 0, 500_000, tzinfo=UTC)),
        ("2024-01-31 06:00", datetime(2024, 1, 31, 5, tzinfo=UTC)),  # Paris wall time
    ],
)
def test_an_offset_whose_plus_a_url_turned_into_a_space_is_read(
    text: str, expected: datetime
) -> None:
    """``?start=2024-01-31T06:00+01:00`` unescaped arrives as ``…T06:00 01:00``."""
    assert parse_time(text, "Europe/Paris") == expected


@pytest.mark.parametrize("text", ["2024-01-31T06:00 1", "06:00 01:00", "2024-01-31 01:00 01:00 x"])
def test_only_a_date_and_time_followed_by_an_offset_is_repaired(text: str) -> None:
    with pytest.raises(InputError, match="cannot read"):
        parse_time(text)
