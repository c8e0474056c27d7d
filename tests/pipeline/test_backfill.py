"""Backfill on both engines against the emulator: only missing windows are planned, the same
request resumes the same plan, overlapping plans are refused, failed chunks are retried with
backoff and kept with their reason, leases of dead or vanished workers are taken over, and a
database that goes away stops the run with a clear error from which a re-run resumes."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import uvloop

from gridvault.emulator import Emulator, EmulatorConfig, FaultSpec, running_emulator
from gridvault.entsoe.catalog import get_dataset
from gridvault.errors import InputError
from gridvault.pipeline.backfill import (
    BackfillReport,
    BackfillStoreError,
    Backoff,
    PlanConflictError,
    chunk_spans,
    is_dead_owner,
    new_owner,
    plan_backfill,
    work_plan,
)
from gridvault.pipeline.collect import plan_collect, run_collect
from gridvault.pipeline.coverage import dataset_coverage
from gridvault.settings import Settings
from gridvault.sources.entsoe_client import RetryPolicy
from gridvault.sources.ratelimit import LocalRateLimiter
from gridvault.sources.windows import TimeWindow
from gridvault.store import Store
from gridvault.store import plans as ledger
from gridvault.store.postgres_store import PostgresStore

TOKEN = "backfill-test-token"  # noqa: S105 - the emulator token
FAST = RetryPolicy(attempts=1, backoff_base=0.001, backoff_cap=0.002, min_ban=0.01)
QUICK = Backoff(base=0.05, cap=0.2)
ADMIN_URL = os.environ.get(
    "GRIDVAULT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


# Earlier in-process CLI runs may leave logging on a closed stream (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("fresh_logging")


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running_emulator(EmulatorConfig(token=TOKEN, synthetic=True, rate_limit=100_000)) as emu:
        yield emu


def settings_for(emu: Emulator) -> Settings:
    return Settings(
        entsoe_token=TOKEN,
        entsoe_base_url=emu.base_url,
        redis_url=None,
        database_url="duckdb:///unused.duckdb",
    )


def work(emu: Emulator, store: Store, plan_id: str, **options: object) -> BackfillReport:
    kwargs: dict[str, object] = {
        "workers": 3,
        "backoff": QUICK,
        "retry": FAST,
        "limiter": LocalRateLimiter(10_000, window_seconds=1.0),
        "poll_seconds": 0.05,
    }
    kwargs.update(options)
    return asyncio.run(work_plan(settings_for(emu), store, plan_id, **kwargs))  # type: ignore[arg-type]


def duplicates(store: Store) -> int:
    with store.session() as db:
        rows, keys = db.fetchall(
            "SELECT count(*), count(DISTINCT (series_id, interval_start)) FROM observations"
        )[0]
    return int(rows) - int(keys)


def test_only_missing_windows_are_planned_then_nothing(store: Store, emulator: Emulator) -> None:
    settings = settings_for(emulator)
    emulator.config.gaps = 0.1
    stored = plan_collect("load_actual", ["NL"], "2024-03-01", "2024-06-01")
    asyncio.run(
        run_collect(settings, store, stored, limiter=LocalRateLimiter(10_000, window_seconds=1))
    )
    plan = plan_backfill(store, "load_actual", ["NL", "BE"], "2024-01-01", "2025-01-01")
    assert plan.record is not None
    windows = [(c.area, c.window_start, c.window_end) for c in plan.chunks]
    # NL: January-February and June-December only; BE: the whole year.
    assert windows == [
        ("NL", utc(2023, 12, 31, 23), utc(2024, 2, 29, 23)),
        ("NL", utc(2024, 5, 31, 22), utc(2024, 12, 31, 23)),
        ("BE", utc(2023, 12, 31, 23), utc(2024, 12, 31, 23)),
    ]
    assert plan.missing["absent"] > 0  # upstream gaps of March-May: not planned
    emulator.reset_log()
    report = work(emulator, store, plan.record.plan_id)
    assert report.ok
    assert (report.done, report.counts["done"], report.requests) == (3, 3, 3)
    after = dataset_coverage(store, "load_actual", ["NL", "BE"], "2024-01-01", "2025-01-01")
    assert after.missing_by_kind()["never_fetched"] == 0
    assert after.missing == after.missing_by_kind()["absent"]  # only the upstream's gaps
    again = plan_backfill(store, "load_actual", ["NL", "BE"], "2024-01-01", "2025-01-01")
    assert (again.record, again.chunks, again.resumed) == (None, [], False)
    # Asked to, the upstream gaps are fetched again, close ones sharing a request.
    refetch = plan_backfill(
        store, "load_actual", ["NL", "BE"], "2024-01-01", "2025-01-01", refetch_empty=True
    )
    gaps = sum(len(item.gaps) for item in after.series)
    assert 2 <= len(refetch.chunks) < gaps / 2
    assert duplicates(store) == 0


def test_the_same_request_resumes_its_plan(store: Store) -> None:
    first = plan_backfill(store, "day_ahead_prices", ["NL"], "2024-01-01", "2025-01-01")
    second = plan_backfill(store, "day_ahead_prices", ["nl"], "2024-01-01", "2025-01-01")
    assert first.plan_id is not None
    assert (second.plan_id, second.resumed, second.chunks) == (first.plan_id, True, [])
    assert store.job_counts(first.plan_id)["pending"] == 1
    other = plan_backfill(store, "day_ahead_prices", ["BE"], "2024-01-01", "2025-01-01")
    assert other.plan_id not in (None, first.plan_id)
    dry = plan_backfill(store, "day_ahead_prices", ["FR"], "2024-01-01", "2025-01-01", dry_run=True)
    assert (dry.record, len(dry.chunks)) == (None, 1)
    assert (
        ledger.overlapping_active(
            store,
            dataset="day_ahead_prices",
            ranges=[("FR", None, utc(2024, 1, 1), utc(2025, 1, 1))],
        )
        == {}
    )


def test_an_overlapping_plan_is_refused_naming_the_active_one(store: Store) -> None:
    first = plan_backfill(store, "load_actual", ["NL"], "2024-01-01", "2025-01-01")
    assert first.plan_id is not None
    with pytest.raises(PlanConflictError) as refused:
        plan_backfill(store, "load_actual", ["BE", "NL"], "2024-06-01", "2025-06-01")
    message = str(refused.value)
    assert first.plan_id in message
    assert f"gridvault backfill --plan {first.plan_id}" in message
    assert f"gridvault jobs cancel {first.plan_id}" in message
    # Another area or another dataset does not collide.
    assert plan_backfill(store, "load_actual", ["BE"], "2024-06-01", "2025-06-01").record
    assert plan_backfill(store, "day_ahead_prices", ["NL"], "2024-06-01", "2025-01-01").record
    assert ledger.cancel_plan(store, first.plan_id, "cancelled") == 1
    assert plan_backfill(store, "load_actual", ["NL"], "2024-06-01", "2025-06-01").record


def test_a_hundred_years_is_refused(store: Store) -> None:
    with pytest.raises(InputError, match="spans 100 years; gridvault plans at most 30 years"):
        plan_backfill(store, "day_ahead_prices", ["NL"], "1925-01-01", "2025-01-01")
    assert store.jobs() == []


def test_failed_chunks_are_retried_with_backoff_and_kept_with_their_reason(
    store: Store, emulator: Emulator
) -> None:
    emulator.config.faults = FaultSpec(error_5xx=1.0)
    plan = plan_backfill(
        store, "load_actual", ["NL"], "2024-01-01", "2024-03-01", window="P1M", max_attempts=3
    )
    assert plan.plan_id is not None
    report = work(emulator, store, plan.plan_id, workers=1)
    assert not report.ok
    assert (report.done, report.retried, len(report.failed_jobs)) == (0, 4, 2)
    for job in report.failed_jobs:
        assert (job.state, job.attempts, job.max_attempts) == ("failed", 3, 3)
        assert job.last_error is not None
        assert job.last_error.startswith("[retryable] HTTP 5")
    # Each chunk was tried again only after its backoff: >= base * 2**(n-1) * (1 - jitter).
    times: dict[str, list[datetime]] = defaultdict(list)
    for record in emulator.served():
        times[record.params["periodStart"]].append(record.at)
    assert sorted(len(t) for t in times.values()) == [3, 3]
    for stamps in times.values():
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
        assert gaps[0] >= QUICK.base * 0.5 * 0.9
        assert gaps[1] >= QUICK.base * 2 * 0.5 * 0.9
    # The upstream recovers; the same request resumes the plan and retries the failed chunks.
    emulator.config.faults = FaultSpec()
    again = plan_backfill(
        store, "load_actual", ["NL"], "2024-01-01", "2024-03-01", window="P1M", max_attempts=3
    )
    assert (again.plan_id, again.resumed, again.retried) == (plan.plan_id, True, 2)
    finished = work(emulator, store, plan.plan_id)
    assert finished.ok
    assert finished.counts["done"] == 2


def test_a_permanent_failure_is_not_retried(store: Store, emulator: Emulator) -> None:
    emulator.config.token = "another-token"  # noqa: S105
    plan = plan_backfill(store, "load_actual", ["NL"], "2024-01-01", "2024-02-01")
    assert plan.plan_id is not None
    report = work(emulator, store, plan.plan_id)
    (job,) = report.failed_jobs
    assert job.attempts == 1
    assert job.last_error is not None
    assert job.last_error.startswith("[permanent] HTTP 401")
    assert len(emulator.served()) == 1


def test_an_expired_lease_is_taken_over(store: Store, emulator: Emulator) -> None:
    plan = plan_backfill(store, "load_actual", ["NL"], "2024-01-01", "2024-04-01", window="P1M")
    assert plan.plan_id is not None
    # PostgreSQL: a worker on another machine. DuckDB (where any other process is dead, the
    # file having one process): an owner that names no process.
    ghost = "elsewhere:4242:x" if store.backend == "postgres" else "ghost-worker"
    assert not is_dead_owner(ghost, store.backend)
    (held,) = store.claim_jobs(ghost, limit=1, lease_seconds=0.5, plan_id=plan.plan_id)
    report = work(emulator, store, plan.plan_id)
    assert report.ok
    assert report.taken_over == 0
    assert report.elapsed >= 0.3  # waited for the lease to run out
    (job,) = store.jobs(job_ids=[held.job_id])
    assert job.result is not None
    assert job.result["owner"] == report.owner
    assert job.attempts == 2
    assert not store.complete_job(held.job_id, ghost, {})  # the late ghost cannot finish it


def test_a_dead_local_worker_is_taken_over_at_once(store: Store, emulator: Emulator) -> None:
    plan = plan_backfill(store, "load_actual", ["NL"], "2024-01-01", "2024-03-01", window="P1M")
    assert plan.plan_id is not None
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = new_owner().split(":")
    dead[1] = child.stdout.strip()
    owner = ":".join(dead)
    assert is_dead_owner(owner, store.backend)
    assert not is_dead_owner(new_owner(), store.backend)  # this very process
    store.claim_jobs(owner, limit=2, lease_seconds=600, plan_id=plan.plan_id)
    report = work(emulator, store, plan.plan_id)
    assert (report.ok, report.taken_over, report.done) == (True, 2, 2)
    assert report.elapsed < 30


def test_chunks_pack_small_gaps_within_the_request_limit() -> None:
    load, prices = get_dataset("load_actual"), get_dataset("day_ahead_prices")
    day = timedelta(days=1)
    spans = [
        (utc(2024, 1, 1) + i * 10 * day, utc(2024, 1, 1) + (i * 10 + 1) * day) for i in range(40)
    ]
    packed = chunk_spans(spans, load)
    assert [(w.start, w.end) for w in packed] == [
        (utc(2024, 1, 1), utc(2024, 12, 27)),  # 37 gaps within one year of the first
        (utc(2025, 1, 5), utc(2025, 1, 26)),
    ]
    # Paged: only holes of at most a day are bridged (a hole costs pages there).
    assert len(chunk_spans(spans, prices)) == 40
    close = [(utc(2024, 1, 1), utc(2024, 1, 2)), (utc(2024, 1, 3), utc(2024, 1, 4))]
    assert chunk_spans(close, prices) == [TimeWindow(utc(2024, 1, 1), utc(2024, 1, 4))]
    assert len(chunk_spans([(utc(2015, 1, 1), utc(2025, 1, 1))], load)) == 10
    assert len(chunk_spans([(utc(2024, 1, 1), utc(2025, 1, 1))], load, "P1M")) == 12


@pytest.mark.postgres
def test_a_database_that_goes_away_stops_the_run_which_resumes_later(
    pg_url: str, emulator: Emulator
) -> None:
    name = pg_url.rsplit("/", 1)[1]
    admin = psycopg.connect(ADMIN_URL, autocommit=True)
    store = PostgresStore(pg_url, pool_size=4, pool_timeout=1.0)  # a vanished database: 1 s
    try:
        plan = plan_backfill(
            store, "load_actual", ["NL", "BE"], "2023-01-01", "2024-01-01", window="P1M"
        )
        assert plan.plan_id is not None
        finished = [0]

        def pull_the_plug(_job: object, _result: object, state: str) -> None:
            finished[0] += state == "done"
            if finished[0] == 5:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    [name],
                )

        with pytest.raises(BackfillStoreError) as stopped:
            # A short lease: the resumed run below is this same process, so the chunks the
            # stopped run held are not provably dead and are taken over when the lease ends.
            work(
                emulator,
                store,
                plan.plan_id,
                on_chunk=pull_the_plug,
                store_patience=0.5,
                lease_seconds=2.0,
            )
        message = str(stopped.value)
        assert "the store stopped answering" in message
        assert "Nothing is lost" in message
        assert f"gridvault backfill --plan {plan.plan_id}" in message
    finally:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        store.close()
    with PostgresStore(pg_url, pool_size=4) as back:
        resumed = plan_backfill(
            back, "load_actual", ["NL", "BE"], "2023-01-01", "2024-01-01", window="P1M"
        )
        assert (resumed.plan_id, resumed.resumed) == (plan.plan_id, True)
        report = work(emulator, back, plan.plan_id)
        assert report.ok
        assert report.counts["done"] == 24
        assert 5 <= report.done_before < 24
        assert duplicates(back) == 0
        coverage = dataset_coverage(back, "load_actual", ["NL", "BE"], "2023-01-01", "2024-01-01")
        assert coverage.completeness == 1.0
    admin.close()


def test_a_chunk_whose_claim_answer_was_lost_is_taken_back_before_its_lease_ends(
    store: Store, emulator: Emulator
) -> None:
    plan = plan_backfill(store, "load_actual", ["NL"], "2024-01-01", "2024-03-01", window="P1M")
    assert plan.plan_id is not None
    owner = new_owner()
    # The claim committed but its answer never reached the worker (the connection dropped
    # after the commit): the chunk is leased to this very run, which does not know it.
    (orphan,) = store.claim_jobs(owner, limit=1, lease_seconds=600, plan_id=plan.plan_id)
    report = asyncio.run(
        asyncio.wait_for(
            work_plan(
                settings_for(emulator),
                store,
                plan.plan_id,
                owner=owner,
                workers=2,
                retry=FAST,
                backoff=QUICK,
                limiter=LocalRateLimiter(10_000, window_seconds=1.0),
                poll_seconds=0.05,
            ),
            timeout=60,  # the lease would hold it for ten minutes
        )
    )
    assert report.ok
    assert report.counts["done"] == 2
    (job,) = store.jobs(job_ids=[orphan.job_id])
    assert (job.state, job.attempts) == ("done", 2)


def ends_when_stopped(emu: Emulator, store: Store, plan_id: str, after: float) -> bool:
    """Work ``plan_id`` on uvicorn's loop (uvloop) and stop the loop ``after`` seconds, as a
    shutdown does (every task left is cancelled); whether it ended within 10 s."""

    async def stopped() -> None:
        asyncio.get_running_loop().create_task(
            work_plan(
                settings_for(emu),
                store,
                plan_id,
                workers=4,  # one works the chunk, three wait for it
                retry=FAST,
                limiter=LocalRateLimiter(10_000, window_seconds=1.0),
                lease_seconds=0.5,
            )
        )
        await asyncio.sleep(after)  # returning cancels every task left

    finished = threading.Event()

    def run() -> None:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(stopped())
        finished.set()

    threading.Thread(target=run, daemon=True).start()
    return finished.wait(10)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # anyio's
def test_a_run_stopped_at_any_moment_ends_at_once(store: Store, emulator: Emulator) -> None:
    """A server shutting down (or Ctrl-C) cancels every task of its loop at once: workers
    and what they wait on. The run must end promptly at whatever moment that comes, and
    what it leaves is worked by the next run. Workers without a chunk wait for the others'
    chunks to finish; they used to wait on an ``asyncio.Condition`` through ``wait_for``,
    and under that mass cancellation (each worker cancelled twice: by the loop and by the
    run) Python 3.11 could leave the condition's lock held: the loop never finished
    closing, and the API server's shutdown hung."""
    slow = EmulatorConfig(
        token=TOKEN, synthetic=True, rate_limit=100_000, faults=FaultSpec(latency=0.25)
    )
    plans: list[str] = []
    with running_emulator(slow) as upstream:
        for attempt in range(16):
            day = utc(2024, 1, 1) + timedelta(days=2 * attempt)
            plan = plan_backfill(store, "load_actual", ["NL"], day, day + timedelta(days=2))
            assert plan.plan_id is not None
            assert len(plan.chunks) == 1
            plans.append(plan.plan_id)
            after = 0.02 * (attempt % 8)
            assert ends_when_stopped(upstream, store, plan.plan_id, after), (
                f"a run stopped after {after} s did not end"
            )
    for plan_id in plans:  # nothing is lost: the next run works what a stopped one left
        assert work(emulator, store, plan_id).ok
        assert store.job_counts(plan_id)["done"] == 1
