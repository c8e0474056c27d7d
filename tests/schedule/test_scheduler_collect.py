"""Scheduled runs against the ENTSO-E emulator on both engines: downtime is caught up (the
gap is fetched), a failed run's windows are fetched again by the next one, revisions are
re-fetched and the superseded values kept."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyarrow.compute as pc
import pytest

from gridvault.emulator import Emulator, EmulatorConfig, running_emulator
from gridvault.schedule.config import ScheduleConfig, parse_schedule
from gridvault.schedule.scheduler import JobRun, ManualClock, Scheduler
from gridvault.settings import Settings
from gridvault.sources.entsoe_client import RetryPolicy
from gridvault.store import Store
from gridvault.store.collection_state import schedule_states, statuses

TOKEN = "schedule-test-token-91"  # noqa: S105 - the emulator token
FAST = RetryPolicy(attempts=2, backoff_base=0.001, backoff_cap=0.005, min_ban=0.01)
SCHEDULE = parse_schedule(
    """
[[job]]
name = "load"
dataset = "load_actual"
areas = ["NL"]
cadence = "*/15 *"
lag = "PT1H"
revision_window = "PT2H"
"""
)


# Earlier in-process CLI runs may leave logging on a closed stream (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("fresh_logging")


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running_emulator(EmulatorConfig(token=TOKEN, synthetic=True, rate_limit=10_000)) as emu:
        yield emu


def settings(emu: Emulator, token: str = TOKEN) -> Settings:
    return Settings(
        entsoe_token=token,
        entsoe_base_url=emu.base_url,
        redis_url=None,
        database_url="duckdb:///unused.duckdb",
    )


def run_at(
    emu: Emulator,
    store: Store,
    moment: datetime,
    token: str = TOKEN,
    *,
    schedule: ScheduleConfig = SCHEDULE,
) -> list[JobRun]:
    scheduler = Scheduler(
        settings(emu, token), store, schedule, clock=ManualClock(moment), retry=FAST
    )
    return asyncio.run(scheduler.run_once())


def test_downtime_and_a_failed_run_are_caught_up(store: Store, emulator: Emulator) -> None:
    # The emulator serves actual data up to the real now: play three days in the past.
    t0 = (datetime.now(UTC) - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    (first,) = run_at(emulator, store, t0)
    assert first.outcome == "ok"
    assert first.ranges == {"NL": (t0 - timedelta(hours=2), t0)}
    assert first.inserted == 8
    assert run_at(emulator, store, t0 + timedelta(minutes=5)) == []  # not due yet

    # A day later the token is refused: the run fails and its window is a recorded gap.
    (failed,) = run_at(emulator, store, t0 + timedelta(days=1), token="wrong-token-00")  # noqa: S106
    assert failed.outcome == "failed"
    assert failed.failed_windows == 1
    assert "401" in (failed.error or "") or "token" in (failed.error or "").lower()

    # Another day later (nothing ran in between): one run fills everything since the end of
    # the first one (minus the publication lag), failed window and downtime alike.
    (caught_up,) = run_at(emulator, store, t0 + timedelta(days=2))
    assert caught_up.outcome == "ok"
    assert caught_up.ranges == {"NL": (t0 - timedelta(hours=1), t0 + timedelta(days=2))}
    (series,) = store.find_series(dataset="load_actual", area="NL")
    stored = store.read([series.series_id], t0 - timedelta(hours=2), t0 + timedelta(days=2))
    assert stored.num_rows == 4 * (2 + 48)  # every quarter hour, no gap
    coverage = store.coverage(series.series_id, t0 - timedelta(hours=2), t0 + timedelta(days=2))
    assert coverage.missing == 0

    state = schedule_states(store)["load"]
    assert state.runs == 3
    assert state.last_outcome == "ok"
    assert state.last_started_at == t0 + timedelta(days=2)
    (status,) = statuses(store, dataset="load_actual")
    assert status.failures == 1
    assert status.points_inserted == 200
    assert status.status_codes.get("401") == 1


def test_each_run_refetches_the_revision_window(store: Store, emulator: Emulator) -> None:
    daily = parse_schedule(
        '[[job]]\nname = "load"\ndataset = "load_actual"\nareas = ["NL"]\n'
        'cadence = "*/15 *"\nrevision_window = "P1D"\n'
    )
    t0 = (datetime.now(UTC) - timedelta(hours=6)).replace(minute=0, second=0, microsecond=0)
    run_at(emulator, store, t0, schedule=daily)
    (series,) = store.find_series(dataset="load_actual", area="NL")
    start = t0 - timedelta(days=1)
    before = store.read([series.series_id], start, t0)
    assert before.num_rows == 96
    known = datetime.now(UTC)
    emulator.config.revision = 2  # ENTSO-E revises about one value in ten
    (second,) = run_at(emulator, store, t0 + timedelta(minutes=15), schedule=daily)
    assert second.ranges["NL"] == (start, t0 + timedelta(minutes=15))  # the trailing day again
    assert (second.inserted, second.updated + second.unchanged) == (1, 96)
    after = store.read([series.series_id], start, t0)
    revised = pc.not_equal(before["value"], after["value"])
    changed = pc.sum(revised).as_py()
    assert 0 < changed == second.updated < 30
    # What was known before the revision is still there, as of then and in the history.
    as_of = store.read([series.series_id], start, t0, as_of=known)
    assert as_of["value"].to_pylist() == before["value"].to_pylist()
    moved = pc.index(revised, True).as_py()
    history = store.history(series.series_id, before["interval_start"][moved].as_py())
    assert [row[0] for row in history] == [before["value"][moved].as_py()]
    (status,) = statuses(store, dataset="load_actual")
    assert status.points_updated == changed
