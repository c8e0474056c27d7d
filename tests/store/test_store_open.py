"""Opening stores: URLs, migrations under concurrency, and every expected failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa
import pytest

from gridvault.errors import ConfigError, SchemaVersionError, StoreError
from gridvault.store import open_store
from gridvault.store.duckdb_store import DuckDBStore
from gridvault.store.migrations import latest_version, migrations
from gridvault.store.model import JobSpec
from gridvault.store.pgcopy import encode


def test_duckdb_url_opens_file_and_migrates(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "x.duckdb"
    with open_store(f"duckdb:///{path}") as store:
        assert store.schema_version() == latest_version("duckdb")
    assert path.exists()


def test_unknown_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unsupported database URL scheme 'mysql'"):
        open_store("mysql://root@localhost/x")


def test_unreachable_postgres_is_a_clear_store_error() -> None:
    with pytest.raises(StoreError, match=r"cannot connect to PostgreSQL at postgresql://u:\*\*\*@"):
        open_store("postgresql://u:hunter2@127.0.0.1:1/x")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    DuckDBStore(path).close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
    con.close()
    with pytest.raises(SchemaVersionError, match="schema version 999, newer than"):
        DuckDBStore(path)


@pytest.mark.postgres
def test_newer_schema_is_refused_on_postgres(pg_url: str) -> None:
    open_store(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
    with pytest.raises(SchemaVersionError):
        open_store(pg_url)


def test_read_only_store_refuses_writes_clearly(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    DuckDBStore(path).close()
    with DuckDBStore(path, read_only=True) as store:
        assert store.schema_version() == latest_version("duckdb")
        with pytest.raises(StoreError, match="open read-only"):
            store.enqueue_jobs([_spec()])


def test_read_only_file_needing_migration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    duckdb.connect(str(path)).close()  # an empty file: schema not created yet
    with pytest.raises(StoreError, match="needs migrations but is read-only"):
        DuckDBStore(path, read_only=True)


def _spec() -> JobSpec:
    from datetime import UTC, datetime

    t = datetime(2024, 1, 1, tzinfo=UTC)
    return JobSpec("p", "backfill", "entsoe", "load_actual", "NL", t, t.replace(hour=1))


def test_read_only_directory_is_a_clear_error(tmp_path: Path) -> None:
    # A path under a regular file can never be created, even by root.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot"):
        DuckDBStore(blocker / "x.duckdb")


def test_second_duckdb_writer_process_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    holder = DuckDBStore(path)
    try:
        code = (
            "import sys\nfrom gridvault.store.duckdb_store import DuckDBStore\n"
            "from gridvault.errors import StoreError\n"
            f"try:\n    DuckDBStore({str(path)!r})\nexcept StoreError as e:\n"
            "    print(e); sys.exit(3)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 3, done.stderr
        assert "in use by another gridvault process" in done.stdout
    finally:
        holder.close()


@pytest.mark.postgres
def test_concurrent_migrations_on_postgres_do_not_corrupt(pg_url: str) -> None:
    code = (
        "import sys\nfrom gridvault.store import open_store\n"
        "s = open_store(sys.argv[1]); print(s.schema_version()); s.close()\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, pg_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    assert {out.strip() for out, _ in outputs} == {str(latest_version("postgres"))}
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT version, count(*) FROM schema_migrations GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert rows == [(m.version, 1) for m in migrations("postgres")]


@pytest.mark.postgres
def test_binary_copy_encoder_round_trips(pg_url: str) -> None:
    from datetime import UTC, datetime

    table = pa.table(
        {
            "a": pa.array([1, None, -(2**40)], pa.int64()),
            "b": pa.array([1.5, float("-inf"), None], pa.float64()),
            "c": pa.array(["x", None, "äöü€"], pa.string()),
            "d": pa.array(
                [
                    datetime(2024, 3, 31, 1, 15, tzinfo=UTC),
                    None,
                    datetime(1999, 12, 31, tzinfo=UTC),
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "e": pa.array([7, 8, None], pa.int32()),
        }
    )
    with psycopg.connect(pg_url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute(
            "CREATE TEMP TABLE t (a BIGINT, b DOUBLE PRECISION, c TEXT, d TIMESTAMPTZ, e INTEGER)"
        )
        with conn.cursor().copy("COPY t FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(encode(table))
        rows = conn.execute("SELECT a, b, c, d, e FROM t ORDER BY e NULLS LAST").fetchall()
    assert rows == [
        (1, 1.5, "x", datetime(2024, 3, 31, 1, 15, tzinfo=UTC), 7),
        (None, float("-inf"), None, None, 8),
        (-(2**40), None, "äöü€", datetime(1999, 12, 31, tzinfo=UTC), None),
    ]
