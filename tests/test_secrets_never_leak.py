"""One realistic session with a known ENTSO-E token and known API keys, then a grep of
everything it left behind for those secrets (raw and URL-encoded): they must be nowhere.

The session, on DuckDB and PostgreSQL, with debug logging on (structlog JSON and console,
the HTTP libraries' own loggers too) and the shared rate limiter in Redis:

* ``gridvault collect`` against the emulator with every fault (5xx, 429 bans, cut and
  malformed bodies, dropped connections), with a wrong token (401), and with a base URL that
  carries the token itself; a request that times out; ``collect``/``status``/``jobs``/
  ``coverage``/``config`` output and the errors they print;
* the REST API with admin, read, wrong, revoked and misplaced keys, a key created through
  it, a collection started through it, and its ``/metrics``;

What is searched: every line logged, stdout and stderr of every CLI run (except the one line
of ``keys create`` that shows the new key), exception texts, every text column of every
table (archive request metadata and parse errors, job ledger, collection state, …), every
archived payload, the Redis keys and values, and the ``/metrics`` text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx2
import pytest
import redis

from gridvault.api import ApiOptions
from gridvault.api.testing import run_api
from gridvault.emulator import EmulatorConfig, FaultSpec, running_emulator
from gridvault.pipeline.collect import WindowJob, collect_window, plan_collect, run_collect
from gridvault.services import Services
from gridvault.settings import Settings
from gridvault.sources.entsoe_client import EntsoeClient, EntsoeRequestError, RetryPolicy
from gridvault.sources.ratelimit import LocalRateLimiter
from gridvault.store import Store, open_store
from gridvault.store.api_keys import create_key, revoke_key
from probes import run_cli, text_columns

# Characters that URL-encoding changes, so an encoded copy is a different string to find.
TOKEN = "Leak-Probe/Token+42=secret&x"  # noqa: S105
WRONG_TOKEN = "Wrong-Probe/Token+7=nope"  # noqa: S105
FAST = RetryPolicy(attempts=3, backoff_base=0.001, backoff_cap=0.005, min_ban=0.01, max_ban_wait=5)
FAULTS = FaultSpec(error_5xx=0.2, burst_429=0.1, truncate=0.1, malformed=0.1, reset=0.1, seed=11)


def forms(secret: str) -> set[str]:
    """The ways a secret could be written down: as is, URL-encoded, form-encoded."""
    return {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)}


def archived_payloads(store: Store) -> str:
    return "\n".join(
        store.payload(record.sha256).decode("utf-8", "replace")
        for record in store.archive_records(limit=100_000)
    )


def redis_dump(url: str) -> str:
    """Every key of the Redis database with its value, whatever its type."""
    client = redis.Redis.from_url(url, decode_responses=True)
    readers: dict[str, Callable[[str], Any]] = {
        "string": client.get,
        "hash": client.hgetall,
        "zset": lambda key: client.zrange(key, 0, -1, withscores=True),
        "list": lambda key: client.lrange(key, 0, -1),
        "set": client.smembers,
    }
    lines = []
    try:
        for key in client.scan_iter():
            kind = str(client.type(key))
            value = readers[kind](key) if kind in readers else None
            lines.append(f"{key!r} {kind} {value!r}")
    finally:
        client.close()
    return "\n".join(lines)


def cli(capsys: pytest.CaptureFixture[str], seen: list[tuple[str, str]], *args: str) -> int:
    """Run the CLI in this process; its stdout and stderr are kept for the grep."""
    code, out, err = run_cli(capsys, *args)
    seen.append((f"gridvault {' '.join(args)}: stdout", out))
    seen.append((f"gridvault {' '.join(args)}: stderr", err))
    return code


def session_settings(database_url: str, redis_url: str, base_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        entsoe_token=TOKEN,
        entsoe_base_url=base_url,
        entsoe_rate_limit=10_000,
        log_level="DEBUG",
        log_format="json",
    )


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, cli_store: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"duckdb:///{cli_store}"


@pytest.fixture
def debug_http_loggers() -> Iterator[None]:
    """The HTTP libraries' own debug lines (request URLs, headers) on, as a user debugging
    a connection problem would turn them on."""
    names = ("httpx2", "httpcore2", "httpx", "httpcore", "uvicorn", "uvicorn.access")
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _loud_http_loggers() -> None:
    for name in ("httpx2", "httpcore2", "httpx", "httpcore", "uvicorn", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.DEBUG)


@pytest.mark.redis
@pytest.mark.usefixtures("debug_http_loggers")
def test_no_secret_is_left_anywhere(
    database_url: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    use_emulator: Callable[[str, str], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: list[tuple[str, str]] = []
    monkeypatch.setenv("GRIDVAULT_DATABASE_URL", database_url)
    monkeypatch.setenv("GRIDVAULT_REDIS_URL", redis_url)
    monkeypatch.setenv("GRIDVAULT_LOG_LEVEL", "DEBUG")
    # The CLI retries with its real back-off (seconds): it meets only faults that need none
    # (malformed bodies, quarantined); every fault kind comes below, with short back-offs.
    quick = FaultSpec(malformed=0.4, seed=5)
    config = EmulatorConfig(token=TOKEN, synthetic=True, rate_limit=100_000, faults=quick)
    with running_emulator(config) as emulator:
        use_emulator(emulator.base_url, TOKEN)
        week = ("--start", "2024-03-01", "--end", "2024-03-04")  # three windows a day long
        # -- collection: faults, then a wrong token, in JSON and console logs ------------------
        for log_format in ("json", "console"):
            monkeypatch.setenv("GRIDVAULT_LOG_FORMAT", log_format)
            cli(capsys, seen, "collect", "generation_actual_per_unit", "--area", "NL", *week)
            if log_format == "json":
                cli(capsys, seen, "collect", "outages_generation_units", "--area", "BE", *week)
            monkeypatch.setenv("GRIDVAULT_ENTSOE_TOKEN", WRONG_TOKEN)
            assert cli(capsys, seen, "collect", "load_actual", "--area", "NL", *week) != 0
            monkeypatch.setenv("GRIDVAULT_ENTSOE_TOKEN", TOKEN)
        _loud_http_loggers()
        emulator.config.faults = FAULTS
        store = open_store(database_url)
        try:
            settings = session_settings(database_url, redis_url, emulator.base_url)
            plan = plan_collect("generation_actual_per_unit", ["DE_LU"], "2024-03-01", "2024-03-08")
            report = asyncio.run(run_collect(settings, store, plan, retry=FAST))
            assert report.failures
            seen.append(("collect report", repr(report)))
        finally:
            store.close()
        emulator.config.faults = quick
        # A base URL that carries the token in its own query string.
        monkeypatch.setenv(
            "GRIDVAULT_ENTSOE_BASE_URL", f"{emulator.base_url}?securityToken={quote_plus(TOKEN)}"
        )
        cli(capsys, seen, "collect", "load_actual", "--area", "BE", *week)
        monkeypatch.setenv("GRIDVAULT_ENTSOE_BASE_URL", emulator.base_url)
        monkeypatch.setenv("GRIDVAULT_LOG_FORMAT", "json")
        cli(
            capsys,
            seen,
            "backfill",
            "load_actual",
            "--area",
            "FR",
            "--start",
            "2024-03-01",
            "--end",
            "2024-03-08",
            "--workers",
            "2",
            "--retry-base",
            "0.01",
        )
        for command in (
            ("status",),
            ("jobs", "list"),
            ("config",),
            ("coverage", "load_actual", "--area", "NL", *week),
        ):
            cli(capsys, seen, *command)

        # -- a request that times out ----------------------------------------------------------
        emulator.config.faults = FaultSpec(latency=0.5)
        errors: list[str] = []
        store = open_store(database_url)
        try:
            _loud_http_loggers()

            async def timed_out() -> None:
                limiter = LocalRateLimiter(1000, window_seconds=1.0)
                client = EntsoeClient(
                    token=TOKEN,
                    base_url=emulator.base_url,
                    limiter=limiter,
                    retry=FAST,
                    timeout=0.05,
                )
                async with client:
                    day = datetime(2024, 3, 1, tzinfo=UTC)
                    job = WindowJob.create(
                        "load_actual", "DE_LU", None, day, day + timedelta(days=1)
                    )
                    result = await collect_window(client, store, job)
                    errors.append(repr(result))
                    try:
                        await client.fetch(job.dataset, "DE_LU", None, job.window)
                    except EntsoeRequestError as exc:
                        errors.extend([str(exc), repr(exc), repr(exc.context), exc.reason])

            asyncio.run(timed_out())
            assert any(
                "timed out" in error.lower() or "timeout" in error.lower() for error in errors
            )
        finally:
            store.close()
        emulator.config.faults = FaultSpec()

        # -- keys on the command line (the new key is printed once, on purpose) -----------------
        monkeypatch.setenv("GRIDVAULT_LOG_FORMAT", "console")
        _, created_out, created_err = run_cli(capsys, "keys", "create", "--name", "cli-key")
        cli_key = created_out.strip().splitlines()[-1]  # the key is the last line
        assert cli_key.startswith("gvk_")
        seen.append(
            ("gridvault keys create: stdout without the key", created_out.replace(cli_key, ""))
        )
        seen.append(("gridvault keys create: stderr", created_err))
        cli(capsys, seen, "keys", "list")

        # -- the API ---------------------------------------------------------------------------
        settings = session_settings(database_url, redis_url, emulator.base_url)
        with (
            Services(settings) as services,
            run_api(services, options=ApiOptions(rate_limit=100_000)) as api,
        ):
            _loud_http_loggers()
            _, revoked = create_key(services.store, "to-revoke", "read")
            revoke_key(services.store, "to-revoke")
            anonymous = httpx2.Client(base_url=api.url, timeout=30)
            with anonymous:
                for headers in (
                    {"X-API-Key": WRONG_TOKEN},
                    {"X-API-Key": revoked},
                    {"X-API-Key": cli_key + "x"},
                    {"Authorization": f"Bearer {api.admin_key}"},
                    {},
                ):
                    for path in ("/v1/areas", "/v1/keys", "/v1/jobs", "/nope"):
                        refused = anonymous.get(path, headers=headers)
                        seen.append((f"GET {path} answer", str(refused.headers) + refused.text))
                misplaced = anonymous.get("/v1/areas", params={"api_key": cli_key})
                seen.append(("GET /v1/areas?api_key= answer", misplaced.text))
            reader = httpx2.Client(base_url=api.url, headers={"X-API-Key": cli_key}, timeout=30)
            with reader:
                assert reader.get("/v1/updates").status_code == 200
                data = reader.get(
                    "/v1/datasets/load_actual/data",
                    params={"area": "FR", "start": week[1], "end": week[3]},
                )
                assert data.status_code in (200, 404)
                assert reader.get("/v1/keys").status_code == 403
                reader.get("/v1/datasets/nope/data", params={"area": "NL"})
            created = api.admin.post("/v1/keys", json={"name": "api-key", "scope": "admin"})
            api_key = created.json()["key"]
            started = api.admin.post(
                "/v1/collect",
                json={
                    "dataset": "load_actual",
                    "area": ["DE_LU"],
                    "start": "2024-02-01",
                    "end": "2024-02-08",
                },
            )
            assert started.status_code == 202, started.text
            plan = started.json()["plan_id"]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                jobs = api.admin.get("/v1/jobs", params={"plan_id": plan}).json()
                if all(job["state"] in ("done", "failed") for job in jobs["jobs"]):
                    break
                time.sleep(0.2)
            seen.append(("GET /v1/jobs", str(jobs)))
            seen.append(("GET /metrics", anonymous_metrics(api.url)))
            seen.append(("GET /v1/keys", api.admin.get("/v1/keys").text))
            store_text = text_columns(api.store)
            payloads = archived_payloads(api.store)

    logged, logged_err = capsys.readouterr()
    seen += [
        ("logs (stdout)", logged),
        ("logs (stderr)", logged_err),
        ("exceptions", "\n".join(errors)),
    ]
    seen += [(f"table {table}", text) for table, text in store_text.items()]
    redis_text = redis_dump(redis_url)
    assert redis_text  # the shared rate limiter was used
    seen += [("archived payloads", payloads), ("redis", redis_text)]

    secrets = {
        "the ENTSO-E token": TOKEN,
        "the wrong token": WRONG_TOKEN,
        "the admin key": api.admin_key,
        "the read key": api.read_key,
        "the key made by the CLI": cli_key,
        "the key made through the API": api_key,
        "the revoked key": revoked,
    }
    # The grep finds what it looks for: the session did write these places.
    everything = "\n".join(text for _, text in seen)
    assert "archive" in store_text
    assert "entsoe request failed" in everything
    assert "token was refused" in everything
    assert "invalid or revoked API key" in everything
    assert len(everything) > 50_000
    leaks = [
        f"{what} ({form!r}) in {where}: …{text[max(0, text.find(form) - 80) : text.find(form) + 40]}…"
        for what, secret in secrets.items()
        for form in forms(secret)
        for where, text in seen
        if form in text
    ]
    assert not leaks, "\n".join(leaks)


def anonymous_metrics(url: str) -> str:
    return httpx2.get(f"{url}/metrics", timeout=30).text
