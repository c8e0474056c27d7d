"""Process faults: `gridvault collect` and `gridvault backfill` killed with SIGKILL at random
points (several seeds) and run again store everything exactly once; a PostgreSQL restart and
a Redis restart during ingest and while the API serves: the service recovers by itself, loses
and duplicates nothing, and while a server is down the API answers 503 with a message (or,
for Redis, degrades without it), never hangs and never fails with a 500.

Restarts use private servers (:mod:`gridvault.robustness.servers`), never the shared ones.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis

from gridvault.api import ApiOptions
from gridvault.api.testing import SAMPLE_START, run_api, seed_sample
from gridvault.emulator import (
    Emulator,
    EmulatorConfig,
    FaultSpec,
    ServedRecord,
    running_emulator,
)
from gridvault.pipeline.backfill import BackfillReport, Backoff, plan_backfill, work_plan
from gridvault.pipeline.collect import WindowJob, plan_collect, run_collect
from gridvault.robustness.kills import run_with_kills
from gridvault.robustness.reconcile import Values, reconcile, reference_values
from gridvault.robustness.servers import PrivatePostgres, PrivateRedis
from gridvault.services import Services
from gridvault.settings import Settings
from gridvault.sources.entsoe_client import RetryPolicy
from gridvault.store import Store, open_store

pytestmark = pytest.mark.usefixtures("fresh_logging")

TOKEN = "process-faults-token"  # noqa: S105 - the emulator's token
# A little latency per answer: the work lasts long enough to be interrupted in the middle.
CONFIG = EmulatorConfig(
    token=TOKEN, synthetic=True, rate_limit=100_000, faults=FaultSpec(latency=0.02)
)
LOAD = ("load_actual", ["NL", "BE"], "2023-01-01", "2023-04-01", "P1M")  # 6 windows
WINDOWS = 6
RETRY = RetryPolicy(attempts=3, backoff_base=0.01, backoff_cap=0.05, min_ban=0.01)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running_emulator(replace(CONFIG)) as emu:
        yield emu


@pytest.fixture(scope="module")
def reference() -> Values:
    return reference_values(CONFIG, jobs())


def jobs() -> list[WindowJob]:
    dataset, areas, start, end, window = LOAD
    return list(plan_collect(dataset, areas, start, end, max_window=window).jobs)


def child_env(database_url: str, emulator: Emulator, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRIDVAULT_", "ENTSOE_"))}
    env.update(
        GRIDVAULT_DATABASE_URL=database_url,
        GRIDVAULT_ENTSOE_BASE_URL=emulator.base_url,
        GRIDVAULT_ENTSOE_TOKEN=TOKEN,
        GRIDVAULT_ENTSOE_RATE_LIMIT="10000",
        GRIDVAULT_LOG_LEVEL="WARNING",
        GRIDVAULT_LOG_FORMAT="json",
    )
    env.update(extra)
    return env


def cli(*args: str) -> list[str]:
    dataset, areas, start, end, window = LOAD
    return [
        sys.executable,
        "-m",
        "gridvault.cli.main",
        *args,
        dataset,
        "--area",
        ",".join(areas),
        "--start",
        start,
        "--end",
        end,
        "--window",
        window,
    ]


def assert_exactly_once(store: Store, served: list[ServedRecord], reference: Values) -> None:
    """The last run's windows are all stored with the fault-free values, nothing twice."""
    result = reconcile(store, jobs(), served, reference)
    assert result.ok, result.summary() + "\n" + "\n".join(result.problems)
    assert result.stored == WINDOWS


@pytest.mark.parametrize("seed", [21, 22])
def test_collect_killed_at_random_points_then_run_again_stores_everything_once(
    tmp_path: Path, emulator: Emulator, reference: Values, seed: int
) -> None:
    url = f"duckdb:///{tmp_path / 'collect.duckdb'}"
    with (tmp_path / "out.txt").open("w") as output:
        killed = run_with_kills(
            cli("collect", "--concurrency", "3"),
            env=child_env(url, emulator),
            served=lambda: len(emulator.served()),
            rng=random.Random(seed),
            kills=2,
            most_requests=5,
            output=output,
        )
    assert killed.returncode == 0, (tmp_path / "out.txt").read_text()
    assert killed.kills >= 1
    # The final run's own answers: collect fetches every window again (idempotent upserts).
    with open_store(url) as store:
        assert_exactly_once(store, emulator.served()[-WINDOWS:], reference)


@pytest.mark.postgres
@pytest.mark.parametrize("seed", [31])
def test_backfill_on_postgres_killed_at_random_points_then_run_again_finishes_once(
    pg_url: str, tmp_path: Path, emulator: Emulator, reference: Values, seed: int
) -> None:
    with (tmp_path / "out.txt").open("w") as output:
        killed = run_with_kills(
            cli("backfill", "--workers", "3"),
            env=child_env(pg_url, emulator),
            served=lambda: len(emulator.served()),
            rng=random.Random(seed),
            kills=2,
            most_requests=5,
            output=output,
        )
    assert killed.returncode == 0, (tmp_path / "out.txt").read_text()
    assert killed.kills >= 1
    with open_store(pg_url) as store:
        plan = plan_backfill(store, *LOAD[:4], window=LOAD[4])
        (done,) = {c.state for c in store.jobs()}
        assert done == "done"
        assert plan.record is None  # nothing left to plan: every window is covered
        # Every window was fetched by the plan; compare the store with the fault-free answers.
        result = reconcile(store, jobs(), [], reference)
        assert result.duplicates == 0
        assert result.lost == 0, result.problems


def backfill_in_thread(
    settings: Settings, store: Store, plan_id: str, on_chunk: Callable[..., None]
) -> tuple[threading.Thread, list[Any]]:
    """Work a plan in a thread (its own event loop); the report or the error lands in the
    returned list."""
    outcome: list[Any] = []

    def work() -> None:
        try:
            outcome.append(
                asyncio.run(
                    work_plan(
                        settings,
                        store,
                        plan_id,
                        workers=3,
                        retry=RETRY,
                        backoff=Backoff(base=0.1, cap=0.5),
                        poll_seconds=0.05,
                        on_chunk=on_chunk,
                        store_patience=30.0,
                    )
                )
            )
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=work, name="backfill")
    thread.start()
    return thread, outcome


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def settings_for(emulator: Emulator, database_url: str, **extra: Any) -> Settings:
    return Settings(
        entsoe_token=TOKEN,
        entsoe_base_url=emulator.base_url,
        entsoe_rate_limit=10_000,
        database_url=database_url,
        database_timeout=2.0,
        **extra,
    )


def finished_backfill(thread: threading.Thread, outcome: list[Any]) -> BackfillReport:
    thread.join(timeout=120)
    assert not thread.is_alive(), "the backfill did not finish"
    (report,) = outcome
    assert isinstance(report, BackfillReport), f"the backfill stopped: {report!r}"
    return report


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_postgres_restart_during_a_backfill_loses_and_duplicates_nothing(
    postgres_server: PrivatePostgres,
    private_pg_url: str,
    emulator: Emulator,
    reference: Values,
    mode: str,
) -> None:
    settings = settings_for(emulator, private_pg_url, redis_url=None)
    with open_store(private_pg_url, timeout=2.0) as store:
        plan = plan_backfill(store, *LOAD[:4], window=LOAD[4])
        assert plan.record is not None
        done: list[str] = []
        emulator.reset_log()
        thread, outcome = backfill_in_thread(
            settings, store, plan.record.plan_id, lambda _j, _r, state: done.append(state)
        )
        wait_for(lambda: len(done) >= 2, 60, "two chunks")
        postgres_server.restart(mode)  # mid-ingest: chunks are in flight
        report = finished_backfill(thread, outcome)
        assert report.ok, report.failed_jobs
        assert report.counts["done"] == WINDOWS
        result = reconcile(store, jobs(), [], reference, plan_ids=[plan.record.plan_id])
        assert (result.stored, result.lost, result.duplicates) == (WINDOWS, 0, 0), result.problems


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_postgres_restart_during_collection_loses_nothing(
    postgres_server: PrivatePostgres,
    private_pg_url: str,
    emulator: Emulator,
    reference: Values,
    mode: str,
) -> None:
    settings = settings_for(emulator, private_pg_url, redis_url=None)
    dataset, areas, start, end, window = LOAD
    plan = plan_collect(dataset, areas, start, end, max_window=window)
    with open_store(private_pg_url, timeout=2.0) as store:
        archived = store.archive_records

        def restart_midway() -> None:
            wait_for(lambda: len(archived(limit=10)) >= 1, 60, "a first window stored")
            postgres_server.restart(mode)  # windows are being ingested

        helper = threading.Thread(target=restart_midway)
        helper.start()
        report = asyncio.run(run_collect(settings, store, plan, retry=RETRY, concurrency=3))
        helper.join(timeout=60)
        assert report.ok, report.failures
        result = reconcile(
            store, jobs(), emulator.served(), reference, requests_sent=report.requests
        )
        assert result.ok, result.problems
        assert result.stored == WINDOWS


def test_a_redis_restart_during_collection_loses_nothing(
    redis_server: PrivateRedis, tmp_path: Path, emulator: Emulator, reference: Values
) -> None:
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    settings = settings_for(emulator, url, redis_url=redis_server.url)
    dataset, areas, start, end, window = LOAD
    plan = plan_collect(dataset, areas, start, end, max_window=window)
    restarted = threading.Event()

    def restart_midway() -> None:
        wait_for(lambda: len(emulator.served()) >= 2, 60, "two requests")
        redis_server.restart()  # the shared rate limiter's state is gone
        restarted.set()

    helper = threading.Thread(target=restart_midway)
    helper.start()
    with open_store(url) as store:
        report = asyncio.run(run_collect(settings, store, plan, retry=RETRY, concurrency=2))
        helper.join(timeout=60)
        assert restarted.is_set()
        assert report.ok, report.failures
        result = reconcile(
            store, jobs(), emulator.served(), reference, requests_sent=report.requests
        )
        assert result.ok, result.problems
        assert result.stored == WINDOWS


def data_request(api: Any) -> Any:
    return api.reader.get(
        "/v1/datasets/day_ahead_prices/data",
        params={"area": "DE_LU", "start": SAMPLE_START.isoformat(), "end": "2024-01-04T00:00Z"},
        timeout=30,
    )


def test_the_api_answers_503_while_postgres_is_down_and_recovers_by_itself(
    postgres_server: PrivatePostgres, private_pg_url: str
) -> None:
    settings = Settings(database_url=private_pg_url, redis_url=None, database_timeout=3.0)
    with Services(settings) as services:
        seed_sample(services.store)
        with run_api(services, options=ApiOptions(rate_limit=1_000_000)) as api:
            before = data_request(api)
            assert before.status_code == 200
            postgres_server.stop()
            try:
                for path in ("/v1/datasets/day_ahead_prices/data", "/v1/updates", "/health/ready"):
                    started = time.monotonic()
                    if path.endswith("/data"):
                        down = data_request(api)
                    else:
                        down = api.reader.get(path, timeout=30)
                    waited = time.monotonic() - started
                    assert down.status_code == 503, (path, down.text)
                    assert waited < 10, f"{path} took {waited:.1f} s"  # not a hang
                    if path != "/health/ready":
                        assert "the store is unavailable" in down.json()["detail"]
            finally:
                postgres_server.start()
            # No manual step: the next requests are served again, with the same data.
            wait_for(lambda: data_request(api).status_code == 200, 30, "the API to recover")
            after = data_request(api)
            assert after.json() == before.json()
            postgres_server.restart()  # a restart between two requests is not even seen
            assert data_request(api).status_code == 200


@pytest.mark.parametrize("dataset", ["day_ahead_prices"])
def test_the_api_keeps_serving_while_redis_restarts(
    redis_server: PrivateRedis, tmp_path: Path, dataset: str
) -> None:
    settings = Settings(
        database_url=f"duckdb:///{tmp_path / 'api.duckdb'}", redis_url=redis_server.url
    )
    with Services(settings) as services:
        seed_sample(services.store)
        with run_api(services, options=ApiOptions(rate_limit=1_000_000)) as api:
            before = data_request(api)
            assert before.status_code == 200
            cache = redis.Redis.from_url(redis_server.url)
            assert cache.keys("gridvault:cache:*")  # the answer was cached in Redis
            redis_server.stop()
            started = time.monotonic()
            down = data_request(api)
            assert (down.status_code, down.json()) == (200, before.json())
            assert time.monotonic() - started < 10
            ready = api.reader.get("/health/ready", timeout=30)
            assert ready.status_code == 503
            redis_server.start()
            again = data_request(api)
            assert (again.status_code, again.json()) == (200, before.json())
            # Rate limits and cache use the new server without a restart of the API.
            wait_for(lambda: bool(cache.keys("gridvault:ratelimit:*")), 10, "rate limits in Redis")
            assert api.reader.get("/health/ready", timeout=30).status_code == 200
