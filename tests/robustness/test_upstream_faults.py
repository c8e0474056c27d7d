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

from gridvault.emulator import Emulator, FaultSpec, running_emulator
from gridvault.emulator.limits import FaultDice
from gridvault.pipeline.backfill import plan_backfill, work_plan
from gridvault.pipeline.collect import plan_collect, run_collect
from gridvault.pipeline.coverage import dataset_coverage
from gridvault.robustness.reconcile import Reconciliation, Values, reconcile, reference_values
from gridvault.robustness.upstream import (
    CONFIG,
    FAULTS,
    LOAD,
    PRICES,
    RETRY,
    collect_jobs,
    limiter,
    run_and_reconcile,
    settings_for,
)
from gridvault.store import Store
from gridvault.store.collection_state import window_outcomes
from gridvault.store.duckdb_store import DuckDBStore

pytestmark = pytest.mark.usefixtures("fresh_logging")


@pytest.fixture(scope="module")
def reference() -> Values:
    """What a fault-free emulator serves for the whole range, computed once."""
    return reference_values(CONFIG, collect_jobs())


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
    assert coverage.missing_by_kind()["failed"] == 365 * 24 - (100 * 24 - 1)  # DST days
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
