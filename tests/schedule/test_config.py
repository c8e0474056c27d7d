"""Schedule files: the shipped default, every kind of mistake reported with file and line,
durations and cron fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gridvault.errors import ConfigError
from gridvault.schedule.config import (
    CronCadence,
    IntervalCadence,
    ScheduleError,
    format_duration,
    load_schedule,
    parse_cadence,
    parse_duration,
    parse_schedule,
)

VALID = """\
[defaults]
jitter = 30

[[job]]
name = "prices"
dataset = "Day-Ahead_Prices"
areas = ["de_lu", "10YNL----------L"]
cadence = "20 13,14"
horizon = "P2D"
revision_window = "P1D"

[[job]]
name = "flows"
dataset = "physical_flows"
areas = ["DE_LU>NL", "NL > DE_LU"]
cadence = "15m"
lag = "1h"
revision_window = "P3D"
jitter = 0
enabled = false
"""


def test_a_valid_file_is_normalised(tmp_path: Path) -> None:
    path = tmp_path / "schedule.toml"
    path.write_text(VALID, encoding="utf-8")
    schedule = load_schedule(path)
    assert schedule.source == str(path)
    prices, flows = schedule.jobs
    assert prices.dataset == "day_ahead_prices"
    assert prices.areas == ("DE_LU", "NL")
    assert prices.jitter == 30  # from [defaults]
    assert prices.horizon == timedelta(days=2)
    assert prices.lookback == timedelta(days=1)
    assert isinstance(prices.schedule, CronCadence)
    assert prices.schedule.hours == (13, 14)
    assert flows.areas == ("DE_LU>NL", "NL>DE_LU")
    assert flows.jitter == 0  # a job's own value wins
    assert isinstance(flows.schedule, IntervalCadence)
    assert [job.name for job in schedule.enabled] == ["prices"]
    assert schedule.job("flows") is flows
    with pytest.raises(ConfigError, match="did you mean prices"):
        schedule.job("price")


def test_the_default_schedule_covers_the_main_datasets() -> None:
    schedule = load_schedule()
    datasets = {job.dataset for job in schedule.enabled}
    assert {
        "day_ahead_prices",
        "load_actual",
        "generation_actual_per_type",
        "load_forecast_day_ahead",
        "wind_solar_forecast_day_ahead",
        "outages_generation_units",
    } <= datasets
    for job in schedule.enabled:
        assert set(job.areas) == {"DE_LU", "FR", "NL", "ES", "PL"}
        assert job.timezone == "Europe/Brussels"
        assert 0 < job.jitter <= 300
    load = schedule.job("load_actual")
    assert load.lag == timedelta(hours=1)
    assert load.revision_window == timedelta(days=3)
    ticks = [load.schedule.next_after(datetime(2025, 1, 1, 0, m, tzinfo=UTC)) for m in range(60)]
    assert {tick.minute for tick in ticks} == {5, 20, 35, 50}


def problems_of(text: str) -> list[str]:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(text, source="s.toml")
    assert caught.value.exit_code == 2
    return caught.value.problems


def test_semantic_mistakes_are_reported_together_with_lines() -> None:
    text = """\
[defaults]
jiter = 5

[[job]]
name = "a"
dataset = "lod_actual"
areas = ["NL"]
cadence = "15 13"

[[job]]
name = "b"
dataset = "load_actual"
areas = ["NX", "DE_LU"]
cadence = "61 *"
revison_window = "P3D"

[[job]]
name = "c"
dataset = "day_ahead_prices"
areas = ["NL"]
cadence = "15m"
horizon = "P1M"

[[job]]
name = "a"
dataset = "physical_flows"
areas = ["NL"]
cadence = "1 2 3"
"""
    problems = problems_of(text)
    assert problems == [
        "s.toml:2: [defaults] 'jiter' is not a job setting; did you mean 'jitter'?",
        "s.toml:6: job 'a': dataset: unknown dataset 'lod_actual'; did you mean load_actual?",
        "s.toml:13: job 'b': areas: unknown area 'NX'",
        "s.toml:14: job 'b': cadence: minute field '61': values must lie in 0..59",
        "s.toml:15: job 'b': unknown key 'revison_window'; did you mean 'revision_window'?",
        "s.toml:22: job 'c': horizon: 'P1M': months and years have no fixed length; use days, "
        "e.g. P31D or P365D",
        "s.toml:25: job 'a': the name is already used on line 5",
        "s.toml:27: job 'a': areas: physical_flows is a flow between two areas: give FROM>TO "
        "pairs such as DE_LU>NL, got 'NL'",
        "s.toml:28: job 'a': cadence: '1 2 3': give 'MINUTE HOUR' cron fields (e.g. '15 13' or "
        "'*/15 *') or an interval such as '15m' or '1h'",
    ]


def test_a_corrupted_file_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[[job]]\nname = "x"\ndataset = \n', encoding="utf-8")
    with pytest.raises(ScheduleError) as caught:
        load_schedule(path)
    message = str(caught.value)
    assert f"{path}:3:11: not valid TOML: Invalid value" in message
    path.write_bytes(b'[[job]]\nname = "\xff"\n')
    with pytest.raises(ScheduleError, match=r"broken.toml:2: not UTF-8 text"):
        load_schedule(path)
    with pytest.raises(ScheduleError, match="cannot read"):
        load_schedule(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "s.toml: no jobs; add at least one [[job]] table"),
        ('[job]\nname = "x"\n', "s.toml:1: write each job as a [[job]] table"),
        ("jobs = 1\n[[job]]\n", "s.toml:1: unknown top-level key 'jobs'"),
        ('[[job]]\nname = "a b"\n', "s.toml:2: job 'a b': name: name 'a b'"),
        ('[[job]]\nname = "x"\n', "s.toml:1: job 'x': missing key 'dataset'"),
    ],
)
def test_structural_mistakes(text: str, expected: str) -> None:
    assert any(problem.startswith(expected) for problem in problems_of(text)), problems_of(text)


def test_actual_data_needs_a_look_back_and_tokens_stay_out() -> None:
    base = '[[job]]\nname = "x"\ndataset = "load_actual"\nareas = ["NL"]\ncadence = "15m"\n'
    assert "give a revision_window or lag" in problems_of(base)[0]
    parse_schedule(base + 'lag = "PT1H"\n')
    token = base + 'lag = "1h"\nparams = { securityToken = "abc" }\n'
    assert "never from the schedule" in problems_of(token)[0]
    catch_up = base + 'revision_window = "P3D"\nmax_catch_up = "P1D"\n'
    assert "max_catch_up: must be at least" in problems_of(catch_up)[0]
    assert "unknown time zone" in problems_of(base + 'lag = "1h"\ntimezone = "Mars/Base"\n')[0]
    assert "less than or equal to 3600" in problems_of(base + 'lag = "1h"\njitter = 7200\n')[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P3D", timedelta(days=3)),
        ("PT1H", timedelta(hours=1)),
        ("pt15m", timedelta(minutes=15)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("P2W", timedelta(weeks=2)),
        ("PT0S", timedelta(0)),
        ("0", timedelta(0)),
        ("15m", timedelta(minutes=15)),
        ("90 s", timedelta(seconds=90)),
        ("3d", timedelta(days=3)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["P", "PT", "P1M", "P1Y", "3 days", "-1h", "P1DT"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|fixed length"):
        parse_duration(text)


def test_cron_fields() -> None:
    cadence = parse_cadence("*/20 0-6/3", "UTC")
    assert isinstance(cadence, CronCadence)
    assert cadence.minutes == (0, 20, 40)
    assert cadence.hours == (0, 3, 6)
    assert parse_cadence("5,35 *", "UTC").minutes == (5, 35)  # type: ignore[union-attr]
    for bad in ("x *", "5 24", "*/0 *", "5-1 *", "30s", "1-x *"):
        with pytest.raises(ValueError, match=r"field|minute"):
            parse_cadence(bad, "UTC")


@pytest.mark.parametrize("text", ["P3D", "PT1H", "P1DT12H", "PT15M", "PT0S", "PT1H30M5S"])
def test_durations_round_trip(text: str) -> None:
    assert format_duration(parse_duration(text)) == text
