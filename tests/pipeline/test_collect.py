"""`collect` end to end: the real client against the ENTSO-E emulator over loopback, into
both store engines. Rate limit, bans, retries, paging, ZIP, acknowledgements, every fault
kind, bad input before any request, and the token kept out of logs, errors and archive."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog

from gridvault.demo import ENTSOE_DIR
from gridvault.emulator import Emulator, EmulatorConfig, FaultSpec, running_emulator
from gridvault.errors import ConfigError, InputError
from gridvault.pipeline.collect import (
    CollectReport,
    WindowJob,
    build_client,
    collect_window,
    plan_collect,
    run_collect,
)
from gridvault.settings import Settings
from gridvault.sources.entsoe_client import RetryPolicy
from gridvault.sources.ratelimit import LocalRateLimiter, RateLimiter, RedisRateLimiter
from gridvault.store import Store
from gridvault.store.collection_state import statuses, window_outcomes

TOKEN = "collect-test-token-42"  # noqa: S105 - the emulator token, checked for leaks
FAST = RetryPolicy(attempts=6, backoff_base=0.001, backoff_cap=0.005, min_ban=0.01)
NL_PRICES = ENTSOE_DIR / "A44_day_ahead_prices_NL_2024-09-02_PT60M.xml"


# Earlier in-process CLI runs may leave logging on a closed stream (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("fresh_logging")


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running_emulator(EmulatorConfig(token=TOKEN, synthetic=True, rate_limit=10_000)) as emu:
        yield emu


def settings_for(emu: Emulator, token: str | None = TOKEN) -> Settings:
    return Settings(
        entsoe_token=token,
        entsoe_base_url=emu.base_url,
        redis_url=None,
        database_url="duckdb:///unused.duckdb",
    )


def collect(  # noqa: PLR0917 - dataset, areas, start, end read like the CLI
    emu: Emulator,
    store: Store,
    dataset: str,
    areas: list[str],
    start: str,
    end: str,
    *,
    limiter: RateLimiter | None = None,
    retry: RetryPolicy = FAST,
    concurrency: int = 4,
    **plan_options: Any,
) -> CollectReport:
    plan = plan_collect(dataset, areas, start, end, **plan_options)
    return asyncio.run(
        run_collect(
            settings_for(emu),
            store,
            plan,
            concurrency=concurrency,
            limiter=limiter or LocalRateLimiter(1000, window_seconds=1.0),
            retry=retry,
        )
    )


def stored_values(store: Store, dataset: str) -> int:
    with store.session() as db:
        rows = db.fetchall(
            "SELECT count(*) FROM observations o JOIN series s ON s.series_id = o.series_id "
            "WHERE s.dataset = ?",
            (dataset,),
        )
    return int(rows[0][0])


def test_replayed_recording_is_stored_with_the_recorded_values(store: Store) -> None:
    config = EmulatorConfig(token=TOKEN, data_dir=ENTSOE_DIR, synthetic=False)
    with running_emulator(config) as emu:
        report = collect(emu, store, "day_ahead_prices", ["NL"], "2024-09-02", "2024-09-03")
        served = emu.served()
    assert report.ok
    assert report.requests == 1
    assert [(r.outcome, r.params["offset"]) for r in served] == [("data", "0")]
    assert report.per_dataset["day_ahead_prices"].inserted == 24
    (series,) = store.find_series(dataset="day_ahead_prices", area="NL")
    day = datetime(2024, 9, 1, 22, tzinfo=UTC)
    table = store.read([series.series_id], day, day + timedelta(days=1))
    values = dict(zip(table["interval_start"].to_pylist(), table["value"].to_pylist(), strict=True))
    assert len(values) == 24
    # Positions 1, 2 and 24 of the recorded file.
    assert values[day] == 91.24
    assert values[day + timedelta(hours=1)] == 94.77
    assert values[day + timedelta(hours=23)] == 104.0
    (record,) = store.archive_records(dataset="day_ahead_prices")
    assert record.parse_outcome == "ok"
    assert record.http_status == 200
    assert store.payload(record.sha256) == NL_PRICES.read_bytes()
    assert record.request["url"].startswith(emu.base_url)
    assert record.request["params"]["periodStart"] == "202409012200"
    assert "securityToken" not in repr(record.request)


def test_paging_multiple_areas_and_idempotent_rerun(store: Store, emulator: Emulator) -> None:
    report = collect(emulator, store, "day_ahead_prices", ["NL", "BE"], "2024-01-01", "2025-01-01")
    assert report.ok
    assert report.windows == 2
    offsets = Counter(r.params["offset"] for r in emulator.served())
    assert offsets == {"0": 2, "100": 2, "200": 2, "300": 2}  # 366 daily TimeSeries each
    assert report.requests == 8
    hours = 366 * 24
    assert report.per_dataset["day_ahead_prices"].inserted == 2 * hours
    assert stored_values(store, "day_ahead_prices") == 2 * hours
    again = collect(emulator, store, "day_ahead_prices", ["NL", "BE"], "2024-01-01", "2025-01-01")
    counts = again.per_dataset["day_ahead_prices"]
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 0, 2 * hours)


def test_zip_outages_are_paged_and_stored(store: Store, emulator: Emulator) -> None:
    report = collect(
        emulator, store, "outages_generation_units", ["NL"], "2024-01-01", "2025-01-01"
    )
    assert report.ok
    served = emulator.served()
    assert [r.params["offset"] for r in served] == ["0", "200"]
    assert all(r.outcome == "data" for r in served)
    assert report.outages.inserted > 200
    archived = store.archive_records(dataset="outages_generation_units")
    assert len(archived) == 2
    assert all(a.content_type == "application/zip" for a in archived)


def test_border_pairs_go_from_out_to_in_domain(store: Store, emulator: Emulator) -> None:
    report = collect(
        emulator, store, "physical_flows", ["DE_LU>NL", "NL>DE_LU"], "2024-09-02", "2024-09-03"
    )
    assert report.ok
    pairs = {(r.params["out_Domain"], r.params["in_Domain"]) for r in emulator.served()}
    assert pairs == {
        ("10Y1001A1001A82H", "10YNL----------L"),
        ("10YNL----------L", "10Y1001A1001A82H"),
    }
    assert report.per_dataset["physical_flows"].inserted > 0


def test_no_matching_data_is_an_empty_window(store: Store) -> None:
    with running_emulator(EmulatorConfig(token=TOKEN, synthetic=False)) as emu:
        report = collect(emu, store, "load_actual", ["NL", "FR"], "2024-09-02", "2024-09-03")
        outcomes = [r.outcome for r in emu.served()]
    assert report.ok
    assert report.empty_windows == 2
    assert outcomes == ["no_data", "no_data"]
    assert [a.parse_outcome for a in store.archive_records()] == ["no_data", "no_data"]
    windows = window_outcomes(store, dataset="load_actual")
    assert [(w.area, w.outcome) for w in windows] == [("FR", "no_data"), ("NL", "no_data")]


def test_refusal_acknowledgement_fails_the_window_with_entsoe_text(
    store: Store, emulator: Emulator
) -> None:
    report = collect(
        emulator,
        store,
        "load_actual",
        ["NL"],
        "2024-09-02",
        "2024-09-03",
        extra={"processType": "A99"},
    )
    assert not report.ok
    (failure,) = report.failures
    assert failure.kind == "permanent"
    assert "check you request against dependency tables" in failure.reason
    assert failure.area == "NL"
    assert failure.window_start == datetime(2024, 9, 1, 22, tzinfo=UTC)
    (record,) = store.archive_records()
    assert record.http_status == 400
    assert record.parse_outcome == "error"
    assert "dependency tables" in (record.parse_error or "")
    assert report.requests == 1  # a refusal is not retried
    (window,) = window_outcomes(store, dataset="load_actual")
    assert (window.outcome, window.http_status) == ("failed", 400)
    assert "dependency tables" in (window.last_error or "")
    (status,) = statuses(store, dataset="load_actual")
    assert (status.failures, status.status_codes) == (1, {"400": 1})


def test_every_fault_kind_retried_or_recorded_and_a_rerun_fills_the_gaps(
    store: Store, emulator: Emulator
) -> None:
    emulator.config.faults = FaultSpec(
        error_5xx=0.15, reset=0.1, burst_429=0.05, truncate=0.15, malformed=0.1, seed=11
    )
    args = ("generation_actual_per_unit", ["NL"], "2024-03-01", "2024-03-21")
    report = collect(emulator, store, *args, concurrency=1)
    outcomes = Counter(r.outcome for r in emulator.served())
    for kind in ("5xx", "reset", "429", "truncate", "malformed"):
        assert outcomes[f"fault:{kind}"] > 0, f"seed did not draw {kind}: {outcomes}"
    assert report.windows == 20
    # A broken connection (reset, early EOF) or a 5xx is retried; a 429 is a (short) ban;
    # a complete but unreadable 200 body is quarantined and fails its window.
    assert {f.kind for f in report.failures} == {"parse"}
    quarantined = store.archive_records(outcome="quarantined")
    assert len(quarantined) == len(report.failures)
    malformed = outcomes["fault:malformed"]
    truncated_documents = len(report.failures) - malformed
    assert 0 <= truncated_documents <= outcomes["fault:truncate"]
    early_eof = outcomes["fault:truncate"] - truncated_documents
    assert report.retries == outcomes["fault:5xx"] + outcomes["fault:reset"] + early_eof
    assert report.bans == outcomes["fault:429"]
    assert all("quarantined" in f.reason for f in report.failures)
    kept = stored_values(store, "generation_actual_per_unit")
    assert kept > 0

    emulator.config.faults = FaultSpec()
    again = collect(emulator, store, *args)
    assert again.ok
    counts = again.per_dataset["generation_actual_per_unit"]
    assert counts.unchanged == kept  # the windows that succeeded stayed stored
    recorded = window_outcomes(store, dataset="generation_actual_per_unit")
    assert len(recorded) == 20
    assert {w.outcome for w in recorded} == {"data"}
    assert sum(w.attempts for w in recorded) == 40
    assert counts.inserted == stored_values(store, "generation_actual_per_unit") - kept
    assert counts.inserted > 0


def test_retries_exhausted_is_a_retryable_failure(store: Store, emulator: Emulator) -> None:
    emulator.config.faults = FaultSpec(error_5xx=1.0)
    policy = RetryPolicy(attempts=3, backoff_base=0.001, backoff_cap=0.002)
    report = collect(
        emulator, store, "load_actual", ["NL"], "2024-09-02", "2024-09-03", retry=policy
    )
    (failure,) = report.failures
    assert failure.kind == "retryable"
    assert "gave up after 3 attempts" in failure.reason
    assert report.requests == 3


def test_ban_pauses_all_requests_until_its_end_then_resumes(store: Store) -> None:
    config = EmulatorConfig(token=TOKEN, synthetic=True, rate_limit=5, ban_seconds=1.0)
    with running_emulator(config) as emu:
        report = collect(
            emu, store, "generation_actual_per_unit", ["NL"], "2024-03-01", "2024-03-09"
        )
        served = emu.served()
    assert report.ok
    assert report.windows == 8
    banned = [r for r in served if r.outcome == "banned"]
    assert banned
    assert report.bans == len(banned)
    first_ban = min(r.at for r in banned)
    # Nothing is sent during the ban but what was already on its way.
    during = [r for r in served if first_ban < r.at < first_ban + timedelta(seconds=0.9)]
    assert all(r.outcome == "banned" for r in during)
    assert len(during) < 4
    assert sum(1 for r in served if r.outcome == "data") == 8


def test_requests_stay_within_the_limit_on_the_wire(store: Store, emulator: Emulator) -> None:
    limiter = LocalRateLimiter(20, window_seconds=1.0, safety=0.05)
    began = time.monotonic()
    report = collect(
        emulator,
        store,
        "generation_actual_per_unit",
        ["NL"],
        "2024-03-01",
        "2024-03-31",
        limiter=limiter,
        concurrency=8,
    )
    assert report.ok
    stamps = sorted(r.at for r in emulator.served())
    assert len(stamps) == 30
    for index in range(len(stamps) - 20):
        assert stamps[index + 20] - stamps[index] >= timedelta(seconds=0.98)
    assert time.monotonic() - began >= 29 * limiter.interval - 0.05


@pytest.mark.redis
def test_ban_is_shared_through_redis_by_two_clients(redis_url: str, tmp_path: Any) -> None:
    from gridvault.store.duckdb_store import DuckDBStore

    config = EmulatorConfig(token=TOKEN, synthetic=True, rate_limit=3, ban_seconds=1.0)
    with running_emulator(config) as emu, DuckDBStore(tmp_path / "r.duckdb") as store:
        settings = settings_for(emu)
        plan_a = plan_collect("generation_actual_per_unit", ["NL"], "2024-03-01", "2024-03-04")
        plan_b = plan_collect("generation_actual_per_unit", ["BE"], "2024-03-01", "2024-03-04")

        async def two_workers() -> list[CollectReport]:
            limiters = [
                RedisRateLimiter(redis_url, 1000, namespace="shared", window_seconds=1.0)
                for _ in range(2)
            ]
            try:
                return list(
                    await asyncio.gather(
                        *(
                            run_collect(settings, store, plan, limiter=limiter, retry=FAST)
                            for plan, limiter in zip((plan_a, plan_b), limiters, strict=True)
                        )
                    )
                )
            finally:
                for limiter in limiters:
                    await limiter.aclose()

        reports = asyncio.run(two_workers())
        served = emu.served()
    assert all(r.ok for r in reports)
    banned = [r for r in served if r.outcome == "banned"]
    assert banned
    first_ban = min(r.at for r in banned)
    # After the first 429 neither worker sends more than what was already in flight.
    during = [r for r in served if first_ban < r.at < first_ban + timedelta(seconds=0.9)]
    assert all(r.outcome == "banned" for r in during)
    assert sum(1 for r in served if r.outcome == "data") == 6


def test_token_never_in_logs_errors_or_archive(
    store: Store, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    emulator.config.faults = FaultSpec(error_5xx=0.3, malformed=0.2, seed=3)
    with structlog.testing.capture_logs() as events:
        report = collect(
            emulator, store, "generation_actual_per_unit", ["NL"], "2024-03-01", "2024-03-08"
        )
    assert any(e["event"] == "entsoe request failed, retrying" for e in events)
    assert report.failures  # malformed bodies were met
    text = repr(events) + "\n".join(r.getMessage() for r in caplog.records) + repr(report)
    assert TOKEN not in text
    with store.session() as db:
        archived = db.fetchall("SELECT request, parse_error FROM archive")
    assert archived
    assert TOKEN not in repr(archived)
    assert "securityToken" not in repr(archived)


def test_wrong_token_is_a_permanent_failure_without_echo(store: Store, emulator: Emulator) -> None:
    plan = plan_collect("load_actual", ["NL"], "2024-09-02", "2024-09-03")
    wrong = "wrong-token-xyz-123"
    report = asyncio.run(
        run_collect(
            settings_for(emulator, token=wrong),
            store,
            plan,
            limiter=LocalRateLimiter(1000, window_seconds=1.0),
            retry=FAST,
        )
    )
    (failure,) = report.failures
    assert failure.kind == "permanent"
    assert "token was refused" in failure.reason
    assert wrong not in repr(report)
    assert [r.outcome for r in emulator.served()] == ["unauthorized"]


def test_collect_window_is_reusable_alone(store: Store, emulator: Emulator) -> None:
    day = datetime(2024, 9, 1, 22, tzinfo=UTC)
    job = WindowJob.create("load_actual", "nl", None, day, day + timedelta(days=1))

    async def one() -> Any:
        limiter = LocalRateLimiter(1000, window_seconds=1.0)
        async with build_client(settings_for(emulator), limiter, retry=FAST) as client:
            return await collect_window(client, store, job)

    result = asyncio.run(one())
    assert result.ok
    assert result.responses == 1
    assert result.values == 96
    assert len(result.archive_ids) == 1
    assert str(job) == "load_actual NL 2024-09-01T22:00:00Z/2024-09-02T22:00:00Z"


def test_window_job_checks_its_input() -> None:
    day = datetime(2024, 9, 1, 22, tzinfo=UTC)
    with pytest.raises(InputError, match="longer than one"):
        WindowJob.create("generation_actual_per_unit", "NL", None, day, day + timedelta(days=2))
    with pytest.raises(InputError, match="FROM>TO"):
        WindowJob.create("physical_flows", "NL", None, day, day + timedelta(days=1))
    with pytest.raises(InputError, match="single area"):
        WindowJob.create("load_actual", "NL", "BE", day, day + timedelta(days=1))
    with pytest.raises(InputError, match="token comes from the settings"):
        plan_collect(
            "load_actual", ["NL"], "2024-01-01", "2024-01-02", extra={"securityToken": "x"}
        )


# -- bad input: refused before any request ----------------------------------------------------


NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("dataset", "areas", "start", "end", "message"),
    [
        ("day_ahead_price", ["NL"], "2024-01-01", "2024-01-02", "did you mean day_ahead_prices"),
        ("load_actual", ["NLX"], "2024-01-01", "2024-01-02", "unknown area"),
        ("load_actual", ["NL"], "2024-01-02", "2024-01-01", "not after"),
        ("load_actual", ["NL"], "2024-07-01", "2024-07-02", "does not exist yet"),
        ("physical_flows", ["NL"], "2024-01-01", "2024-01-02", "FROM>TO"),
        ("physical_flows", ["NL>NL"], "2024-01-01", "2024-01-02", "two different areas"),
        ("load_actual", ["NL>BE"], "2024-01-01", "2024-01-02", "single areas"),
        ("load_actual", [","], "2024-01-01", "2024-01-02", "at least one area"),
        ("load_actual", ["NL"], "yesterday", "2024-01-02", "cannot read"),
        ("load_actual", ["NL"], "2024-01-01", "2024-01-02", None),
    ],
)
def test_bad_input_is_refused_while_planning(
    dataset: str, areas: list[str], start: str, end: str, message: str | None
) -> None:
    if message is None:
        plan = plan_collect(dataset, areas, start, end, now=NOW)
        assert len(plan.jobs) == 1
        return
    with pytest.raises(InputError, match=message):
        plan_collect(dataset, areas, start, end, now=NOW)


def test_future_end_of_actuals_is_cut_and_forecasts_are_not() -> None:
    plan = plan_collect("load_actual", ["NL"], "2024-05-31", "2024-06-30", now=NOW)
    assert plan.jobs[-1].window.end == NOW
    assert plan.notes
    ahead = plan_collect("load_forecast_day_ahead", ["NL"], "2024-06-02", "2024-06-03", now=NOW)
    assert not ahead.notes
    assert ahead.jobs[0].window.start > NOW


def test_naive_times_are_each_areas_local_time() -> None:
    plan = plan_collect("load_actual", ["NL", "GB", "FI"], "2024-01-01", "2024-01-02", now=NOW)
    starts = {job.area.area: job.window.start.hour for job in plan.jobs}
    assert starts == {"NL": 23, "GB": 0, "FI": 22}


def test_missing_token_refused_for_the_real_endpoint_only() -> None:
    from gridvault.pipeline.collect import check_token

    with pytest.raises(ConfigError, match="GRIDVAULT_ENTSOE_TOKEN"):
        check_token(Settings(entsoe_token=None, entsoe_base_url="https://web-api.tp.entsoe.eu/api"))
    check_token(Settings(entsoe_token=None, entsoe_base_url="http://127.0.0.1:9/api"))


def test_missing_token_fails_before_any_request(tmp_path: Any) -> None:
    from gridvault.store.duckdb_store import DuckDBStore

    with running_emulator(EmulatorConfig(token=TOKEN, synthetic=True)) as emu:
        settings = Settings(
            entsoe_token=None,
            entsoe_base_url=emu.base_url.replace("127.0.0.1", "localhost.invalid"),
        )
        plan = plan_collect("load_actual", ["NL"], "2024-09-02", "2024-09-03")
        with DuckDBStore(tmp_path / "t.duckdb") as store, pytest.raises(ConfigError):
            asyncio.run(run_collect(settings, store, plan))
        assert emu.served() == []
