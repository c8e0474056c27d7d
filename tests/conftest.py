"""Shared fixtures: real DuckDB files and throwaway PostgreSQL databases.

PostgreSQL tests need the local server (GRIDVAULT_TEST_POSTGRES_URL, default
postgresql://postgres@127.0.0.1:5432/postgres). Outside CI they skip when it is down; in CI
(CI=true) an unreachable server is an error, never a silent skip.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from gridvault.robustness.servers import (
    PrivatePostgres,
    PrivateRedis,
    ServerUnavailable,
    private_postgres,
    private_redis,
)
from gridvault.store import Store
from gridvault.store.duckdb_store import DuckDBStore
from gridvault.store.postgres_store import PostgresStore

ADMIN_URL = os.environ.get(
    "GRIDVAULT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _require(service: str, reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{service} is required in CI but unavailable: {reason}")
    pytest.skip(f"{service} unavailable: {reason}")


@contextlib.contextmanager
def throwaway_database() -> Iterator[str]:
    """A fresh empty PostgreSQL database (its URL), dropped afterwards."""
    name = f"gv_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        _require("PostgreSQL", str(exc).splitlines()[0])
    base = ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh empty PostgreSQL database, dropped afterwards."""
    with throwaway_database() as url:
        yield url


@pytest.fixture(scope="session")
def pg_database() -> Callable[[], contextlib.AbstractContextManager[str]]:
    """For module-scoped fixtures: ``with pg_database() as url`` gives a throwaway database."""
    return throwaway_database


@pytest.fixture
def duckdb_path(tmp_path: Path) -> Path:
    return tmp_path / "store.duckdb"


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same tests run against both real engines."""
    opened: Store
    if request.param == "duckdb":
        opened = DuckDBStore(tmp_path / "store.duckdb")
    else:
        url = request.getfixturevalue("pg_url")
        opened = PostgresStore(url, pool_size=4)
    try:
        yield opened
    finally:
        opened.close()


REDIS_URL = os.environ.get("GRIDVAULT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The local Redis (database 15, flushed before and after the test)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        _require("Redis", str(exc))
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def cli_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A DuckDB file for in-process CLI runs (``main([...])``), settings from a clean
    environment, and the logging set-up those runs make undone afterwards."""
    import logging

    import structlog

    path = tmp_path / "cli.duckdb"
    monkeypatch.setenv("GRIDVAULT_DATABASE_URL", f"duckdb:///{path}")
    monkeypatch.setenv("GRIDVAULT_LOG_FORMAT", "json")
    for name in ("GRIDVAULT_REDIS_URL", "GRIDVAULT_SCHEDULE", "ENTSOE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield path
    # main() points logging at the captured stderr; do not leave it to later tests.
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


@pytest.fixture
def use_emulator(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], None]:
    """Point the ENTSO-E settings at an emulator (a limit far above what tests send)."""

    def point(base_url: str, token: str) -> None:
        monkeypatch.setenv("GRIDVAULT_ENTSOE_BASE_URL", base_url)
        monkeypatch.setenv("GRIDVAULT_ENTSOE_TOKEN", token)
        monkeypatch.setenv("GRIDVAULT_ENTSOE_RATE_LIMIT", "10000")

    return point


# -- private servers that restart tests may stop (never the shared ones) --------------------


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PrivatePostgres]:
    """A throwaway PostgreSQL cluster for one module; its tests may stop and start it.
    Without initdb/pg_ctl (or the ``postgres`` OS user, as root): skip, or fail in CI."""
    try:
        with private_postgres() as server:
            yield server
    except ServerUnavailable as exc:
        _require("a private PostgreSQL", str(exc))


@pytest.fixture
def private_pg_url(postgres_server: PrivatePostgres) -> str:
    """A fresh database on the private cluster (started again if a test left it stopped)."""
    if not postgres_server.running():
        postgres_server.start()
    return postgres_server.create_database(f"gv_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    """A private ``redis-server``; its test may kill and start it."""
    try:
        with private_redis() as server:
            yield server
    except ServerUnavailable as exc:
        _require("a private Redis", str(exc))


@pytest.fixture
def fresh_logging() -> Iterator[None]:
    """Earlier in-process CLI runs may leave structlog writing to a closed captured stream;
    start from a clean slate."""
    import logging

    import structlog

    structlog.reset_defaults()
    root = logging.getLogger()
    root.handlers[:] = [
        handler
        for handler in root.handlers
        if not (
            isinstance(handler, logging.StreamHandler) and getattr(handler.stream, "closed", False)
        )
    ]
    yield
    structlog.reset_defaults()
