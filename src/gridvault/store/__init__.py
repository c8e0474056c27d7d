"""The time-series store: one interface, two engines (DuckDB embedded, PostgreSQL server)."""

from __future__ import annotations

from pathlib import Path

from gridvault.errors import ConfigError
from gridvault.memory import tune_allocator
from gridvault.store.base import Store
from gridvault.store.model import Quality, Series, SeriesKey, UpsertResult


def open_store(url: str, *, timeout: float | None = None) -> Store:
    """Open (and migrate) the store named by a ``duckdb:///path`` or ``postgresql://`` URL.

    ``timeout`` (PostgreSQL): seconds a store call waits for a connection before it reports
    the database unavailable (default :data:`~.postgres_store.DEFAULT_POOL_TIMEOUT`).

    The process's allocator keeps freed buffers for the next read from here on (see
    :mod:`gridvault.memory`)."""
    tune_allocator()
    if url.startswith("duckdb://"):
        path = url.removeprefix("duckdb://")
        # duckdb:///abs/path → /abs/path; duckdb://rel/path → rel/path; duckdb://:memory:
        if path.startswith("/~"):
            path = path[1:]
        path = path if path == ":memory:" else str(Path(path).expanduser())
        from gridvault.store.duckdb_store import DuckDBStore  # noqa: PLC0415

        return DuckDBStore(path)
    if url.startswith(("postgresql://", "postgres://")):
        from gridvault.store.postgres_store import (  # noqa: PLC0415
            DEFAULT_POOL_TIMEOUT,
            PostgresStore,
        )

        return PostgresStore(url, pool_timeout=timeout or DEFAULT_POOL_TIMEOUT)
    scheme = url.split("://", 1)[0] if "://" in url else url
    raise ConfigError(
        f"unsupported database URL scheme {scheme!r}; use duckdb:///path/file.duckdb or "
        "postgresql://user@host:port/db"
    )


__all__ = ["Quality", "Series", "SeriesKey", "Store", "UpsertResult", "open_store"]
