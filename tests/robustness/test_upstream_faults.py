"""Upstream faults against the emulator: collection and backfill end with every window stored
(with exactly the fault-free values) or recorded as failed with its reason, nothing stored
twice, and the request counts agree with the emulator's served log. Each fault kind alone
and all of them mixed, at several seeds; acknowledgements in odd places."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from gridvault.emulator import Emulator, EmulatorConfig, FaultSpec, running_emulator
from gridvault.emulator.limits import FaultDice
from gridvault.pipeline.backfill import Backoff, plan_backfill, work_plan
from gridvault.pipeline.collect import WindowJob, plan_collect, run_collect
from gridvault.pipeline.coverage import dataset_coverage
from gridvault.robustness.reconcile import Reconciliation, Values, reconcile, reference_values
from gridvault.settings import Settings
from gridvault.sources.entsoe_client import RetryPolicy
from gridvault.sources.ratelimit import LocalRateLimiter
from gridvault.store import Store
from gridvault.store.collection_state import window_outcomes
from gridvault.store.duckdb_store import DuckDBStore

pytestmark = pytest.mark.usefixtures("fresh_logging")

TOKEN = "faults-test-token"  # noqa: S105 - the emulator's token
# Few tries and tiny pauses: some windows run out of retries (and must then be recorded as
# failed), the others get through; a read timeout well under the emulator's stall.
RETRY = RetryPolicy(attempts=3, backoff_base=0.001, backoff_cap=0.005, min_ban=0.01, max_bans=2)
BACKOFF = Backoff(base=0.02, cap=0.05)
TIMEOUT = 1.0
CONFIG = EmulatorConfig(token=TOKEN, synthetic=True, rate_limit=100_000, ban_seconds=0.2)

# Quarter-hourly load in monthly windows for two areas, and a year of day-ahead prices (one
# TimeSeries per day: four offset pages), collected; the backfill then fills what failed.
LOAD = ("load_actual", ("NL", "BE"), "2024-01-01", "2024-04-01", "P1M")
PRICES = ("day_ahead_prices", ("NL",), "2023-01-01", "2024-01-01", None)
FAULTS = {
    "5xx": FaultSpec(error_5xx=0.3),
    "stall": FaultSpec(stall=0.15, stall_seconds=3 * TIMEOUT),
    "reset": FaultSpec(reset=0.3),
    "truncate": FaultSpec(truncate=0.25),
    "malformed": FaultSpec(malformed=0.2),
    "429": FaultSpec(burst_429=0.3),
    "ack": FaultSpec(ack=0.2),
    "mix": FaultSpec(
        error_5xx=0.1, reset=0.08, truncate=0.08, malformed=0.06, burst_429=0.08, ack=0.05
    ),
}


def collect_jobs() -> list[WindowJob]:
    jobs: list[WindowJob] = []
    for dataset, areas, start, end, window in (LOAD, PRICES):
        jobs.extend(plan_collect(dataset, list(areas), start, end, max_window=window).jobs)
    return jobs


@pytest.fixture(scope="module")
def reference() -> Values:
    """What a fault-free emulator serves for the whole range, computed once."""
    return reference_values(CONFIG, collect_jobs())


def settings_for(emulator: Emulator) -> Settings:
    return Settings(
        entsoe_token=TOKEN,
        entsoe_base_url=emulator.base_url,
        entsoe_timeout=TIMEOUT,
        redis_url=None,
        database_url="duckdb:///unused.duckdb",
    )


def limiter() -> LocalRateLimiter:
    return LocalRateLimiter(100_000, window_seconds=1.0)


def run_and_reconcile(
    store: Store, spec: FaultSpec, reference: Values
) -> tuple[Reconciliation, Reconciliation]:
    """Collect with faults, reconcile; backfill the gaps with the same faults, reconcile."""
    with running_emulator(replace(CONFIG, faults=spec)) as emulator:
        settings = settings_for(emulator)
        jobs = collect_jobs()
        sent = 0
        for dataset, areas, start, end, window in (LOAD, PRICES):
            plan = plan_collect(dataset, list(areas), start, end, max_window=window)
            report = asyncio.run(
                run_collect(settings, store, plan, limiter=limiter(), retry=RETRY, concurrency=4)
            )
            sent += report.requests
        collected = reconcile(store, jobs, emulator.served(), reference, requests_sent=sent)
        emulator.reset_log()
        chunks: list[WindowJob] = []
        plan_ids: list[str] = []
        sent = 0
        for dataset, areas, start, end, window in (LOAD, PRICES):
            backfill = plan_backfill(store, dataset, list(areas), start, end, window=window)
            if backfill.record is None:
                continue
            plan_ids.append(backfill.record.plan_id)
            chunks.extend(
                WindowJob.create(c.dataset, c.area, c.area_to, c.window_start, c.window_end)
                for c in backfill.chunks
            )
            worked = asyncio.run(
                work_plan(
                    settings,
                    store,
                    backfill.record.plan_id,
                    workers=3,
                    backoff=BACKOFF,
                    retry=RETRY,
                    limiter=limiter(),
                    poll_seconds=0.05,
                )
            )
            sent += worked.requests
        backfilled = reconcile(
            store, chunks, emulator.served(), reference, requests_sent=sent, plan_ids=plan_ids
        )
    return collected, backfilled


def check(result: Reconciliation, kind: str) -> None:
    assert result.ok, f"{result.summary()}\n" + "\n".join(result.problems)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("kind", list(FAULTS))
def test_every_window_is_stored_or_recorded_as_failed(
    kind: str, seed: int, tmp_path: object, reference: Values
) -> None:
    spec = replace(FAULTS[kind], seed=seed)
    with DuckDBStore(f"{tmp_path}/store.duckdb") as store:
        collected, backfilled = run_and_reconcile(store, spec, reference)
        check(collected, kind)
        check(backfilled, kind)
        # The faults really happened.
        met = collected.faults + backfilled.faults
        assert met[kind] > 0 if kind != "mix" else len(met) >= 3, met
        assert collected.windows == 7
        assert collected.stored + collected.failed == 7
        # Whatever the backfill could not fetch is failed with its reason in the ledger;
        # everything else is covered.
        for dataset, areas, start, end, _window in (LOAD, PRICES):
            coverage = dataset_coverage(store, dataset, list(areas), start, end)
            failed = [
                w for w in window_outcomes(store, dataset=dataset, outcome="failed") if w.last_error
            ]
            assert coverage.missing == 0 or failed, (kind, dataset)


@pytest.mark.postgres
@pytest.mark.parametrize("seed", [3, 4])
def test_mixed_faults_on_postgres(pg_url: str, seed: int, reference: Values) -> None:
    from gridvault.store.postgres_store import PostgresStore

    with PostgresStore(pg_url, pool_size=4) as store:
        collected, backfilled = run_and_reconcile(
            store, replace(FAULTS["mix"], seed=seed), reference
        )
    check(collected, "mix")
    check(backfilled, "mix")
    assert len(collected.faults) >= 3


def utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running_emulator(replace(CONFIG)) as emu:
        yield emu


def test_a_full_last_page_then_a_no_data_ack_on_the_next_is_complete(
    store: Store, emulator: Emulator
) -> None:
    # Exactly 100 delivery days: page 1 is full (100 TimeSeries), so the client asks for
    # page 2, which ENTSO-E answers with the "no matching data" acknowledgement.
    plan = plan_collect("day_ahead_prices", ["NL"], "2023-01-01", "2023-04-11")
    report = asyncio.run(
        run_collect(settings_for(emulator), store, plan, limiter=limiter(), retry=RETRY)
    )
    assert report.ok
    assert [(r.params.get("offset"), r.outcome) for r in emulator.served()] == [
        ("0", "data"),
        ("100", "no_data"),
    ]
    result = reconcile(
        store,
        list(plan.jobs),
        emulator.served(),
        reference_values(CONFIG, list(plan.jobs)),
        requests_sent=report.requests,
    )
    check(result, "no-data on page 2")
    assert result.stored == 1
    (outcome,) = window_outcomes(store, dataset="day_ahead_prices")
    assert (outcome.outcome, outcome.points) == ("data", 100 * 24 - 1)  # one 23-hour day


def seed_for(spec: FaultSpec, kinds: list[str | None]) -> FaultSpec:
    """``spec`` with the first seed whose first requests meet exactly ``kinds``."""
    for seed in range(10_000):
        dice, seeded = FaultDice(), replace(spec, seed=seed)
        if [dice.draw(seeded).kind for _ in kinds] == kinds:
            return seeded
    raise AssertionError(f"no seed gives {kinds}")


def test_an_error_ack_on_page_two_fails_the_window_keeping_page_one(
    store: Store, emulator: Emulator
) -> None:
    emulator.config.faults = seed_for(FaultSpec(ack=0.5), [None, "ack"])
    plan = plan_collect("day_ahead_prices", ["NL"], "2023-01-01", "2024-01-01")
    report = asyncio.run(
        run_collect(settings_for(emulator), store, plan, limiter=limiter(), retry=RETRY)
    )
    assert [(r.params.get("offset"), r.outcome) for r in emulator.served()] == [
        ("0", "data"),
        ("100", "fault:ack"),
    ]
    (failure,) = report.failures
    assert "Unexpected error occurred while processing the request" in failure.reason
    result = reconcile(
        store,
        list(plan.jobs),
        emulator.served(),
        reference_values(CONFIG, list(plan.jobs)),
        requests_sent=report.requests,
    )
    check(result, "error ack on page 2")
    assert (result.stored, result.failed) == (0, 1)
    # The first page's hundred days stay stored; a backfill fetches the window again.
    coverage = dataset_coverage(store, "day_ahead_prices", ["NL"], "2023-01-01", "2024-01-01")
    assert coverage.missing_by_kind()["failed"] == (365 - 100) * 24
    emulator.config.faults = FaultSpec()
    backfill = plan_backfill(store, "day_ahead_prices", ["NL"], "2023-01-01", "2024-01-01")
    assert backfill.record is not None
    asyncio.run(
        work_plan(
            settings_for(emulator),
            store,
            backfill.record.plan_id,
            retry=RETRY,
            limiter=limiter(),
            poll_seconds=0.05,
        )
    )
    after = dataset_coverage(store, "day_ahead_prices", ["NL"], "2023-01-01", "2024-01-01")
    assert after.missing == 0


def test_an_error_ack_inside_a_zip_fails_the_window_with_its_reason(
    store: Store, emulator: Emulator
) -> None:
    emulator.config.faults = FaultSpec(ack=1.0)
    plan = plan_collect("outages_generation_units", ["NL"], "2024-01-01", "2024-02-01")
    settings = settings_for(emulator)
    report = asyncio.run(run_collect(settings, store, plan, limiter=limiter(), retry=RETRY))
    (failure,) = report.failures
    assert "Unexpected error occurred while processing the request" in failure.reason
    (outcome,) = window_outcomes(store, dataset="outages_generation_units")
    assert outcome.outcome == "failed"
    assert outcome.last_error == failure.reason
    served = emulator.served()
    assert [r.outcome for r in served] == ["fault:ack"]
    # Nothing of the refused answer was stored, though the ZIP held documents beside the ack.
    assert read_outages(store).num_rows == 0
    # Without the fault the same window is stored.
    emulator.config.faults = FaultSpec()
    again = asyncio.run(run_collect(settings, store, plan, limiter=limiter(), retry=RETRY))
    assert again.ok
    assert read_outages(store).num_rows > 0


def read_outages(store: Store) -> pa.Table:
    return store.read_outages(
        start=utc(2023, 1, 1), end=utc(2025, 1, 1), dataset="outages_generation_units"
    )
