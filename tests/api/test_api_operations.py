"""Rate limits and cache (in process and in Redis), failures, background services, auth off."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import redis
from structlog.testing import capture_logs

from gridvault.api import ApiOptions, cache, server
from gridvault.api.app import create_app
from gridvault.api.server import serve_in_thread
from gridvault.api.testing import RunningApi, run_api, seed_sample
from gridvault.errors import GridvaultError, StoreError
from gridvault.logs import configure_logging
from gridvault.services import Services
from gridvault.settings import Settings
from gridvault.store.api_keys import create_key

SMALL = {
    "area": "DE_LU",
    "area_to": "FR",
    "start": "2024-01-01T00:00Z",
    "end": "2024-01-01T06:00Z",
}
FLOWS = "/v1/datasets/physical_flows/data"


@pytest.fixture(scope="module", autouse=True)
def _logging_to_a_live_stream() -> None:
    # An earlier test may have configured logging onto a stream that is closed by now.
    configure_logging("WARNING", "json")


@pytest.fixture
def services(duckdb_path: Path) -> Iterator[Services]:
    with Services(Settings(database_url=f"duckdb:///{duckdb_path}", redis_url=None)) as opened:
        seed_sample(opened.store)
        yield opened


@pytest.fixture
def redis_services(duckdb_path: Path, redis_url: str) -> Iterator[Services]:
    settings = Settings(database_url=f"duckdb:///{duckdb_path}", redis_url=redis_url)
    with Services(settings) as opened:
        seed_sample(opened.store)
        yield opened


def test_rate_limit_answers_429_with_retry_after(services: Services) -> None:
    options = ApiOptions(rate_limit=3, rate_window_seconds=60)
    with run_api(services, options=options) as api:
        statuses = [api.reader.get("/v1/areas").status_code for _ in range(3)]
        refused = api.reader.get("/v1/areas")
        assert statuses == [200, 200, 200]
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "rate limit exceeded: 3 requests per 60 s" in refused.json()["detail"]
        # Limits are per key: the admin key still has its budget.
        assert api.admin.get("/v1/areas").status_code == 200
        # Health and metrics are not limited.
        assert httpx2.get(f"{api.url}/health/live").status_code == 200
        metrics = httpx2.get(f"{api.url}/metrics").text
        assert "gridvault_api_rate_limited_total 1.0" in metrics


def test_a_key_can_carry_its_own_limit(services: Services) -> None:
    _, key = create_key(services.store, "tight", "read", rate_limit=1)
    with run_api(services, options=ApiOptions(rate_limit=100)) as api:
        headers = {"X-API-Key": key}
        first = httpx2.get(f"{api.url}/v1/areas", headers=headers)
        second = httpx2.get(f"{api.url}/v1/areas", headers=headers)
        assert (first.status_code, second.status_code) == (200, 429)


@pytest.mark.redis
def test_redis_shares_rate_limits_and_cache_between_replicas(
    redis_services: Services, redis_url: str
) -> None:
    options = ApiOptions(rate_limit=3)
    with run_api(redis_services, options=options) as one:
        second_app = create_app(redis_services, options=options)
        with serve_in_thread(second_app) as other_url:
            other = httpx2.Client(
                base_url=other_url, headers={"X-API-Key": one.read_key}, timeout=30
            )
            with other:
                first = one.reader.get(FLOWS, params=SMALL)
                assert first.headers["x-cache"] == "miss"
                cached = other.get(FLOWS, params=SMALL)  # the other replica's answer
                assert cached.headers["x-cache"] == "hit"
                assert cached.content == first.content
                assert one.reader.get("/v1/areas").status_code == 200
                refused = other.get("/v1/areas")  # fourth request of this key, anywhere
                assert refused.status_code == 429
                assert int(refused.headers["retry-after"]) >= 1
                ready = other.get("/health/ready").json()
                assert ready["checks"]["redis"]["ok"] is True
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        names = [str(k) for k in client.keys("gridvault:*")]
    finally:
        client.close()
    assert any(n.startswith("gridvault:ratelimit:key:") for n in names)
    assert any(n.startswith("gridvault:cache:") for n in names)


def test_answers_of_other_code_are_neither_served_from_cache_nor_confirmed_by_etag(
    redis_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    with run_api(redis_services) as api:
        first = api.reader.get(FLOWS, params=SMALL)
        assert first.headers["x-cache"] == "miss"
        assert api.reader.get(FLOWS, params=SMALL).headers["x-cache"] == "hit"
        etag = first.headers["etag"]
        # The same data, served by an upgraded gridvault (another fingerprint of its code).
        monkeypatch.setattr(cache, "running_code", lambda: "0123456789abcdef")
        upgraded = api.reader.get(FLOWS, params=SMALL)
        assert upgraded.headers["x-cache"] == "miss"
        assert upgraded.headers["etag"] != etag
        revalidated = api.reader.get(FLOWS, params=SMALL, headers={"If-None-Match": etag})
        assert revalidated.status_code == 200
        assert revalidated.content == first.content


def test_the_code_fingerprint_changes_with_any_source_file(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "streaming.py").write_text("RESOLUTION = 'PT15M'\n")
    (tmp_path / "store.py").write_text("X = 1\n")
    (tmp_path / "notes.txt").write_text("not code")
    before = cache.code_fingerprint(tmp_path)
    assert cache.code_fingerprint(tmp_path) == before
    (tmp_path / "notes.txt").write_text("still not code")
    assert cache.code_fingerprint(tmp_path) == before
    (tmp_path / "api" / "streaming.py").write_text("RESOLUTION = 'PT60M'\n")
    changed = cache.code_fingerprint(tmp_path)
    assert changed != before
    (tmp_path / "api" / "streaming.py").rename(tmp_path / "api" / "texts.py")
    assert cache.code_fingerprint(tmp_path) not in (before, changed)


def test_unavailable_redis_degrades_to_no_cache_and_no_limit(duckdb_path: Path) -> None:
    settings = Settings(database_url=f"duckdb:///{duckdb_path}", redis_url="redis://127.0.0.1:1/0")
    with Services(settings) as services, run_api(services) as api:
        seed_sample(services.store)
        assert api.reader.get(FLOWS, params=SMALL).status_code == 200
        ready = httpx2.get(f"{api.url}/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"]["ok"] is False


def test_an_unexpected_error_is_a_generic_500_and_logged(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_: Any) -> Any:
        raise RuntimeError("internal detail that must not leak")

    with run_api(services) as api:
        monkeypatch.setattr(services.store, "find_series", broken)
        with capture_logs() as logs:
            response = api.reader.get(FLOWS, params=SMALL)
        assert response.status_code == 500
        detail = response.json()["detail"]
        assert "internal detail" not in detail
        assert response.headers["x-request-id"] in detail
        errors = [e for e in logs if e["event"] == "unhandled error"]
        assert errors
        assert errors[0]["log_level"] == "error"


def test_a_store_failure_is_503(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*_: Any, **__: Any) -> Any:
        raise StoreError("cannot reach PostgreSQL at postgresql://u:***@db/x")

    with run_api(services) as api:
        monkeypatch.setattr(services.store, "find_series", down)
        response = api.reader.get(FLOWS, params=SMALL)
        assert response.status_code == 503
        assert response.json()["detail"].startswith("the store is unavailable: cannot reach")
        monkeypatch.setattr(services.store, "ping", lambda: False)
        ready = httpx2.get(f"{api.url}/health/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not ready"


def test_a_failure_while_streaming_breaks_the_response(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_read = services.store.read
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > 2:
            raise StoreError("lost the connection")
        return real_read(*args, **kwargs)

    options = ApiOptions(chunk_rows=20, cache_max_rows=10)
    with run_api(services, options=options) as api:
        monkeypatch.setattr(services.store, "read", flaky)
        params = {"area": "DE_LU", "start": "2024-01-01T00:00Z", "end": "2024-01-03T00:00Z"}
        # A client never mistakes a cut stream for a complete answer.
        with pytest.raises(httpx2.RemoteProtocolError):
            api.reader.get("/v1/datasets/generation_actual_per_type/data", params=params)
        calls["n"] = 10
        first_read_fails = api.reader.get(
            "/v1/datasets/generation_actual_per_type/data", params=params
        )
        assert first_read_fails.status_code == 503  # before the response started


class FakeScheduler:
    name = "scheduler"

    def __init__(self, *, fail_start: bool = False) -> None:
        self.fail_start = fail_start
        self.started = False
        self.stopped = False
        self.healthy = True

    async def start(self) -> None:
        if self.fail_start:
            raise RuntimeError("cannot start")
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    def alive(self) -> bool:
        return self.started and not self.stopped and self.healthy


def test_background_services_run_with_the_app_and_feed_readiness(services: Services) -> None:
    scheduler = FakeScheduler()
    with run_api(services, background=[scheduler]) as api:
        assert scheduler.started
        ready = httpx2.get(f"{api.url}/health/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"]["background:scheduler"]["ok"] is True
        scheduler.healthy = False
        not_ready = httpx2.get(f"{api.url}/health/ready")
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"]["background:scheduler"] == {
            "ok": False,
            "detail": "not alive",
        }
        metrics = httpx2.get(f"{api.url}/metrics").text
        assert 'gridvault_background_service_up{service="scheduler"} 0.0' in metrics
    assert scheduler.stopped


def test_a_background_service_that_cannot_start_stops_the_app(services: Services) -> None:
    first, broken = FakeScheduler(), FakeScheduler(fail_start=True)
    app = create_app(services, background=[first, broken])
    with pytest.raises(GridvaultError, match="did not start"), serve_in_thread(app):
        pass
    assert first.started
    assert first.stopped


class StubbornService(FakeScheduler):
    """Leaves a task behind that shrugs off cancellation until ``release`` is set."""

    name = "stubborn"

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await super().start()
        self.task = asyncio.get_running_loop().create_task(self._linger())

    async def _linger(self) -> None:
        while not self.release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.05)


def test_a_server_that_does_not_stop_is_an_error_not_a_silent_wait(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "STOP_SECONDS", 0.5)
    stubborn = StubbornService()
    try:
        with (
            pytest.raises(GridvaultError, match=r"did not stop within 0.5 s"),
            serve_in_thread(create_app(services, background=[stubborn])),
        ):
            pass
    finally:
        stubborn.release.set()
    with serve_in_thread(create_app(services, background=[FakeScheduler()])):
        pass  # a server whose tasks end stops without a word


def test_auth_off_serves_everyone(services: Services) -> None:
    with contextlib.ExitStack() as stack, capture_logs() as logs:
        api: RunningApi = stack.enter_context(run_api(services, auth=False))
        anonymous = httpx2.get(f"{api.url}/v1/areas")
        assert anonymous.status_code == 200
        assert httpx2.get(f"{api.url}/v1/keys").status_code == 200
    assert any("authentication is OFF" in e["event"] for e in logs)
