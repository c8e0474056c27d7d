"""Cadences across daylight-saving changes, intervals, and their invariants."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from gridvault.schedule.config import parse_cadence

BRUSSELS = "Europe/Brussels"


def ticks(text: str, start: datetime, end: datetime, tz: str = BRUSSELS) -> list[datetime]:
    cadence = parse_cadence(text, tz)
    found: list[datetime] = []
    moment = start
    while (moment := cadence.next_after(moment)) < end:
        found.append(moment)
    return found


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_daily_time_follows_the_local_clock_across_dst() -> None:
    spring = ticks("20 13", z("2025-03-28T00:00Z"), z("2025-04-01T00:00Z"))
    assert spring == [
        z("2025-03-28T12:20Z"),  # 13:20 CET
        z("2025-03-29T12:20Z"),
        z("2025-03-30T11:20Z"),  # 13:20 CEST
        z("2025-03-31T11:20Z"),
    ]
    autumn = ticks("20 13", z("2025-10-25T00:00Z"), z("2025-10-28T00:00Z"))
    assert autumn == [z("2025-10-25T11:20Z"), z("2025-10-26T12:20Z"), z("2025-10-27T12:20Z")]


def test_a_time_in_the_skipped_or_repeated_hour() -> None:
    # 02:30 does not exist on 30 March 2025: it runs an hour later by the clock (03:30 CEST).
    assert ticks("30 2", z("2025-03-29T12:00Z"), z("2025-03-31T12:00Z")) == [
        z("2025-03-30T01:30Z"),
        z("2025-03-31T00:30Z"),
    ]
    # 02:30 happens twice on 26 October 2025: a daily job runs once, at the first one.
    assert ticks("30 2", z("2025-10-25T12:00Z"), z("2025-10-27T12:00Z")) == [
        z("2025-10-26T00:30Z"),
        z("2025-10-27T01:30Z"),
    ]


def test_every_quarter_hour_has_no_hole_and_no_double_across_dst() -> None:
    for day in ("2025-03-30", "2025-10-26"):
        start = z(f"{day}T00:00Z") - timedelta(seconds=1)
        found = ticks("*/15 *", start, z(f"{day}T04:00Z"))
        steps = {later - earlier for earlier, later in itertools.pairwise(found)}
        assert steps == {timedelta(minutes=15)}, day
        assert len(found) == 16


def test_intervals_are_aligned_to_the_epoch() -> None:
    cadence = parse_cadence("15m", BRUSSELS)
    assert cadence.next_after(z("2025-01-01T10:07:30Z")) == z("2025-01-01T10:15Z")
    assert cadence.next_after(z("2025-01-01T10:15Z")) == z("2025-01-01T10:30Z")
    assert cadence.previous(z("2025-01-01T10:15Z")) == z("2025-01-01T10:15Z")
    hourly = parse_cadence("1h", BRUSSELS)
    assert hourly.previous(z("2025-10-26T01:59Z")) == z("2025-10-26T01:00Z")


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(2024, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(2027, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    text=st.sampled_from(["*/15 *", "5,20,35,50 *", "20 13,14,16", "30 2", "0 0", "45m", "1h"]),
)
def test_next_and_previous_bracket_every_moment(moment: datetime, text: str) -> None:
    cadence = parse_cadence(text, BRUSSELS)
    following = cadence.next_after(moment)
    before = cadence.previous(moment)
    assert before <= moment < following
    assert cadence.previous(following) == following
    assert cadence.next_after(before) == following  # no tick in between
    assert following - moment <= timedelta(days=1, hours=1)
