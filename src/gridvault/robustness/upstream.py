"""The upstream-fault scenario shared by the suite and ``bench/robustness``: collect, then
backfill what failed, against an emulator injecting one kind of fault (or a mix), and
reconcile each phase (:mod:`~.reconcile`).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from gridvault.emulator import Emulator, EmulatorConfig, FaultSpec, running_emulator
from gridvault.pipeline.backfill import Backoff, plan_backfill, work_plan
from gridvault.pipeline.collect import WindowJob, plan_collect, run_collect
from gridvault.robustness.reconcile import Reconciliation, Values, reconcile
from gridvault.settings import Settings
from gridvault.sources.entsoe_client import RetryPolicy
from gridvault.sources.ratelimit import LocalRateLimiter
from gridvault.store import Store

TOKEN = "faults-test-token"  # noqa: S105 - the emulator's token

# Few tries and tiny pauses: some windows run out of retries (and must then be recorded as
# failed), the others get through; a read timeout well under the emulator's stall.
RETRY = RetryPolicy(attempts=3, backoff_base=0.001, backoff_cap=0.005, min_ban=0.01, max_bans=2)
BACKOFF = Backoff(base=0.02, cap=0.05)
TIMEOUT = 2.0
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


def settings_for(emulator: Emulator, timeout: float = 60.0) -> Settings:
    return Settings(
        entsoe_token=TOKEN,
        entsoe_base_url=emulator.base_url,
        entsoe_timeout=timeout,
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
        # A short read timeout only where the emulator stalls: a busy machine must not make
        # an ordinary answer time out.
        settings = settings_for(emulator, TIMEOUT if spec.stall else 60.0)
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


__all__ = [
    "CONFIG",
    "FAULTS",
    "LOAD",
    "PRICES",
    "RETRY",
    "TIMEOUT",
    "collect_jobs",
    "limiter",
    "run_and_reconcile",
    "settings_for",
]
