"""The scheduler on a manual clock: due-ness and catch-up, no overlapping runs (in process
and across processes), jitter bounds, graceful stop, and what each run fetches."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gridvault.pipeline.collect import AreaSpec
from gridvault.schedule.config import JobConfig, ScheduleConfig, parse_schedule
from gridvault.schedule.scheduler import (
    JobRun,
    ManualClock,
    Scheduler,
    claim_run,
    collection_range,
    first_due,
)
from gridvault.settings import Settings
from gridvault.store import Store
from gridvault.store.collection_state import (
    ScheduleState,
    WindowOutcome,
    schedule_finished,
    schedule_started,
    schedule_states,
)
from gridvault.store.duckdb_store import DuckDBStore

T = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)  # a quarter-hour tick
SETTINGS = Settings(
    entsoe_token="unused-token",  # noqa: S106 - nothing is requested with it
    entsoe_base_url="http://127.0.0.1:9/api",
    redis_url=None,
    database_url="duckdb:///unused.duckdb",
)


def schedule(jitter: float = 0) -> ScheduleConfig:
    return parse_schedule(
        f"""
[[job]]
name = "load"
dataset = "load_actual"
areas = ["NL"]
cadence = "15m"
lag = "PT1H"
revision_window = "P3D"
jitter = {jitter}
"""
    )


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[Store]:
    with DuckDBStore(tmp_path / "s.duckdb") as opened:
        yield opened


class Recorder:
    """A runner that records calls and blocks until released."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.calls: list[tuple[datetime, datetime | None]] = []
        self.release = asyncio.Event()

    async def __call__(self, job: JobConfig, due: datetime | None) -> JobRun:
        self.calls.append((self.clock.now(), due))
        await self.release.wait()
        return JobRun(job.name, job.dataset, self.clock.now(), due, outcome="ok")


def test_a_tick_during_a_run_is_skipped_not_stacked(duck: Store) -> None:
    async def scenario() -> None:
        clock = ManualClock(T)
        runner = Recorder(clock)
        scheduler = Scheduler(SETTINGS, duck, schedule(), clock=clock, runner=runner)
        await scheduler.start()
        assert scheduler.alive()
        await clock.settle()
        assert runner.calls == [(T, T)]  # never ran: due at once
        await clock.advance(timedelta(minutes=15))
        await clock.advance(timedelta(minutes=15))
        assert len(runner.calls) == 1  # still running: two ticks skipped
        assert scheduler.skipped_ticks["load"] == 2
        runner.release.set()
        await clock.settle()
        await clock.advance(timedelta(minutes=15))
        assert runner.calls[1] == (T + timedelta(minutes=45), T + timedelta(minutes=45))
        await clock.advance(timedelta(hours=1))
        assert len(runner.calls) == 6  # one run per tick once nothing is running
        await scheduler.stop()
        assert not scheduler.alive()

    asyncio.run(scenario())


def test_jitter_delays_each_run_within_bounds(duck: Store) -> None:
    sched = Scheduler(SETTINGS, duck, schedule(jitter=120), rng=random.Random(3))
    delays = [sched.jitter_delay(sched.schedule.jobs[0]) for _ in range(2000)]
    assert all(0 <= d <= 120 for d in delays)
    assert min(delays) < 5
    assert max(delays) > 115
    assert Scheduler(SETTINGS, duck, schedule(jitter=0)).jitter_delay(schedule().jobs[0]) == 0

    async def scenario() -> None:
        clock = ManualClock(T)
        runner = Recorder(clock)
        runner.release.set()
        expected = random.Random(11).uniform(0, 120)
        scheduler = Scheduler(
            SETTINGS,
            duck,
            schedule(jitter=120),
            clock=clock,
            runner=runner,
            rng=random.Random(11),
        )
        await scheduler.start()
        await clock.advance(timedelta(seconds=expected - 1))
        assert runner.calls == []
        await clock.advance(timedelta(seconds=2))
        assert len(runner.calls) == 1
        started, due = runner.calls[0]
        assert due == T
        assert started == T + timedelta(seconds=expected)
        await scheduler.stop()

    asyncio.run(scenario())


def test_stop_during_jitter_starts_nothing_and_stop_cancels_after_grace(duck: Store) -> None:
    async def scenario() -> None:
        clock = ManualClock(T)
        runner = Recorder(clock)
        scheduler = Scheduler(
            SETTINGS, duck, schedule(jitter=600), clock=clock, runner=runner, stop_grace=0.05
        )
        await scheduler.start()
        await clock.settle()
        await scheduler.stop()
        assert runner.calls == []
        blocked = Scheduler(SETTINGS, duck, schedule(), clock=clock, runner=runner, stop_grace=0.05)
        await blocked.start()
        await clock.settle()
        assert len(runner.calls) == 1  # blocks until released, which never happens
        await asyncio.wait_for(blocked.stop(), timeout=5)
        assert not blocked.alive()

    asyncio.run(scenario())


def test_missed_ticks_coalesce_into_one_catch_up_run(duck: Store) -> None:
    job = schedule().jobs[0]
    assert first_due(job, None, T) == T
    ran = ScheduleState("load", T - timedelta(days=2), T - timedelta(days=2), "ok", None, 5)
    assert first_due(job, ran, T + timedelta(minutes=7)) == T + timedelta(minutes=7)
    recent = ScheduleState("load", T + timedelta(seconds=30), None, None, None, 6)
    assert first_due(job, recent, T + timedelta(minutes=7)) == T + timedelta(minutes=15)

    async def scenario() -> None:
        schedule_started(duck, "load", at=T - timedelta(days=2))
        schedule_finished(duck, "load", "ok", at=T - timedelta(days=2))
        clock = ManualClock(T + timedelta(minutes=7))
        runner = Recorder(clock)
        runner.release.set()
        scheduler = Scheduler(SETTINGS, duck, schedule(), clock=clock, runner=runner)
        await scheduler.start()
        await clock.settle()
        assert len(runner.calls) == 1  # 192 missed ticks, one run
        assert scheduler.next_due["load"] == T + timedelta(minutes=15)
        await scheduler.stop()

    asyncio.run(scenario())


def test_a_run_held_by_another_process_blocks_until_it_finishes_or_goes_stale(
    store: Store,
) -> None:
    first = claim_run(store, "load", T, timedelta(hours=6))
    assert first.claimed
    assert first.previous_start is None
    second = claim_run(store, "load", T + timedelta(minutes=15), timedelta(hours=6))
    assert not second.claimed
    assert second.running_since == T
    schedule_finished(store, "load", "ok", at=T + timedelta(minutes=20))
    third = claim_run(store, "load", T + timedelta(minutes=30), timedelta(hours=6))
    assert third.claimed
    assert third.previous_start == T
    # That run died without finishing: after stale_after its claim no longer blocks.
    assert not claim_run(store, "load", T + timedelta(hours=5), timedelta(hours=6)).claimed
    assert claim_run(store, "load", T + timedelta(hours=7), timedelta(hours=6)).claimed
    state = schedule_states(store)["load"]
    assert state.runs == 3
    assert state.last_started_at == T + timedelta(hours=7)

    # The scheduler reports such a run as skipped and records nothing for it.
    async def scenario() -> JobRun:
        scheduler = Scheduler(
            SETTINGS, store, schedule(), clock=ManualClock(T + timedelta(hours=8))
        )
        (run,) = await scheduler.run_once(["load"])
        return run

    run = asyncio.run(scenario())
    assert run.outcome == "skipped"
    assert run.ok
    assert "has not finished" in (run.error or "")
    assert schedule_states(store)["load"].runs == 3


def outcome(
    start: datetime, end: datetime, ok: bool = True, area: str = "NL", area_to: str | None = None
) -> WindowOutcome:
    return WindowOutcome(
        "load_actual",
        area,
        area_to,
        start,
        end,
        "data" if ok else "failed",
        1,
        200 if ok else 503,
        None,
        1,
        end,
        end if ok else None,
    )


def test_what_one_run_fetches() -> None:
    job = schedule().jobs[0]  # lag 1 h, revision window 3 days, catch-up 31 days
    nl = AreaSpec("NL")
    now = T + timedelta(minutes=7)
    # First run: the revision window.
    assert collection_range(job, nl, [], now, ran_before=False) == (
        T - timedelta(days=3),
        now,
    )
    # Nothing recorded within 31 days but it ran before: catch up as far as allowed.
    start, _ = collection_range(job, nl, [], now, ran_before=True) or (None, None)
    assert start == (now - timedelta(days=31)).replace(minute=0)
    # Collected up to 5 days ago: continue from there, minus the lag.
    old = [outcome(T - timedelta(days=6), T - timedelta(days=5))]
    assert collection_range(job, nl, old, now, ran_before=True) == (
        T - timedelta(days=5, hours=1),
        now,
    )
    # A failed window in the middle is a gap: fetched again from its start.
    holes = [
        outcome(T - timedelta(days=6), T - timedelta(days=5)),
        outcome(T - timedelta(days=5), T - timedelta(days=4), ok=False),
        outcome(T - timedelta(days=4), T),
    ]
    assert collection_range(job, nl, holes, now, ran_before=True) == (
        T - timedelta(days=5, hours=1),
        now,
    )
    # Everything recent collected: only the revision window again.
    fine = [outcome(T - timedelta(days=6), T)]
    assert collection_range(job, nl, fine, now, ran_before=True) == (T - timedelta(days=3), now)
    # Other areas' windows do not count.
    other = [outcome(T - timedelta(days=6), T, area="BE")]
    assert collection_range(job, nl, other, now, ran_before=True) == (
        (now - timedelta(days=31)).replace(minute=0),
        now,
    )


def test_forecasts_reach_ahead_and_borders_match_their_pair() -> None:
    prices = parse_schedule(
        '[[job]]\nname = "p"\ndataset = "day_ahead_prices"\nareas = ["NL"]\n'
        'cadence = "20 13"\nhorizon = "P2D"\nrevision_window = "P1D"\n'
    ).jobs[0]
    now = datetime(2025, 1, 6, 12, 20, 31, tzinfo=UTC)
    assert collection_range(prices, AreaSpec("NL"), [], now, ran_before=False) == (
        datetime(2025, 1, 5, 12, 0, tzinfo=UTC),
        datetime(2025, 1, 8, 12, 20, tzinfo=UTC),  # to the minute
    )
    flows = parse_schedule(
        '[[job]]\nname = "f"\ndataset = "physical_flows"\nareas = ["DE_LU>NL"]\n'
        'cadence = "1h"\nrevision_window = "P1D"\n'
    ).jobs[0]
    pair = AreaSpec("DE_LU", "NL")
    windows = [
        outcome(T - timedelta(days=9), T - timedelta(days=2), area="DE_LU", area_to="NL"),
        outcome(T - timedelta(days=9), T, area="DE_LU", area_to="FR"),
    ]
    assert collection_range(flows, pair, windows, T, ran_before=True) == (
        T - timedelta(days=2),
        T,
    )


def test_the_scheduler_is_a_background_service_of_the_api(duck: Store) -> None:
    from gridvault.api.state import BackgroundService, service_name

    scheduler = Scheduler(SETTINGS, duck, schedule())
    assert isinstance(scheduler, BackgroundService)
    assert service_name(scheduler) == "scheduler"
    assert not scheduler.alive()


def test_run_until_stops_on_request_and_reports_a_dead_loop(duck: Store) -> None:
    async def scenario() -> tuple[bool, bool]:
        clock = ManualClock(T)
        runner = Recorder(clock)
        runner.release.set()
        stop = asyncio.Event()
        scheduler = Scheduler(SETTINGS, duck, schedule(), clock=clock, runner=runner)
        task = asyncio.create_task(scheduler.run_until(stop))
        while not scheduler.alive():  # start() reads the store in a thread
            await asyncio.sleep(0.01)
        await clock.advance(timedelta(minutes=30))
        stop.set()
        clean = await task
        assert len(runner.calls) == 3

        class BrokenClock(ManualClock):
            async def sleep(self, seconds: float) -> None:
                raise RuntimeError(f"clock broke sleeping {seconds} s")

        broken = Scheduler(SETTINGS, duck, schedule(), clock=BrokenClock(T), runner=runner)
        died = not await asyncio.wait_for(broken.run_until(asyncio.Event()), timeout=5)
        return clean, died

    clean, died = asyncio.run(scenario())
    assert clean
    assert died
