"""The embedded store on a DuckDB file (the default).

DuckDB allows one writing process per file: the API, the scheduler and collectors share
this process in embedded mode, and every write goes through one lock. Reads use their own
cursor per call so threads do not share a transaction. Batches arrive as Arrow tables,
are registered as views (zero copy) and MERGEd.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridvault.errors import StoreError
from gridvault.store.base import Session, Store, _cast_times, has_duplicate_keys
from gridvault.store.migrations import check_not_newer, migrations, split_statements
from gridvault.store.model import UpsertResult


class _DuckSession:
    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self.cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.cursor.execute(sql, list(params))

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.cursor.execute(sql, list(params)).fetchall()

    def fetch_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        return _cast_times(self.cursor.sql(sql, params=list(params)).to_arrow_table())


def _friendly(exc: Exception, path: str) -> StoreError:
    text = str(exc)
    if "lock" in text.lower():
        return StoreError(
            f"the DuckDB file {path} is in use by another gridvault process (DuckDB allows one "
            "writer); stop it or point GRIDVAULT_DATABASE_URL elsewhere"
        )
    if "read-only" in text.lower() or "permission" in text.lower():
        return StoreError(f"cannot write the DuckDB file {path}: {text.splitlines()[0]}")
    return StoreError(f"cannot open the DuckDB file {path}: {text.splitlines()[0]}")


class DuckDBStore(Store):
    """Store on one DuckDB file, or in memory with ``path=':memory:'``."""

    backend = "duckdb"
    serial_writes = True

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = str(path)
        self.read_only = read_only
        if self.path != ":memory:":
            parent = Path(self.path).expanduser().parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the directory {parent}: {exc.strerror}") from None
        try:
            self._con = duckdb.connect(self.path, read_only=read_only)
            # GLOBAL: every cursor of this instance inherits it (no SET per session).
            self._con.execute("SET GLOBAL TimeZone = 'UTC'")
        except (duckdb.Error, OSError) as exc:
            raise _friendly(exc, self.path) from None
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._writer: duckdb.DuckDBPyConnection | None = None
        self._migrate()

    # -- engine hooks -------------------------------------------------------------------
    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[_DuckSession]:
        active: _DuckSession | None = getattr(self._local, "active", None)
        if active is not None:  # nested use inside a transaction of this thread
            yield active
            return
        if write and self.read_only:
            raise StoreError(f"the DuckDB file {self.path} is open read-only")
        if write:
            with self._write_lock:
                yield from self._write_session()
            return
        cursor = self._con.cursor()
        try:
            yield _DuckSession(cursor)
        finally:
            cursor.close()

    def _write_session(self) -> Iterator[_DuckSession]:
        """One transaction on the writer cursor (writes are serialised by the write lock, so
        one cursor serves them all; a cursor costs as much as a small query to create)."""
        if self._writer is None:
            self._writer = self._con.cursor()
        cursor = self._writer
        db = _DuckSession(cursor)
        cursor.execute("BEGIN TRANSACTION")
        self._local.active = db
        try:
            yield db
        except BaseException:
            self._drop_writer(rollback=True)
            raise
        else:
            try:
                cursor.execute("COMMIT")
            except duckdb.Error as exc:
                self._drop_writer(rollback=True)
                raise _friendly(exc, self.path) from None
        finally:
            self._local.active = None

    def _drop_writer(self, *, rollback: bool) -> None:
        """Roll back and forget the writer cursor: the next write starts on a fresh one."""
        cursor, self._writer = self._writer, None
        if cursor is None:
            return
        with contextlib.suppress(duckdb.Error):
            if rollback:
                cursor.execute("ROLLBACK")
            cursor.close()

    def close(self) -> None:
        with self._write_lock:
            self._drop_writer(rollback=False)
        with contextlib.suppress(duckdb.Error):
            self._con.close()

    def _migrate(self) -> None:
        con = self._con
        try:
            if not self.read_only:
                con.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                    "name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
            exists = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
            ).fetchone()
            applied: set[int] = set()
            if exists and exists[0]:
                rows = con.execute("SELECT version FROM schema_migrations").fetchall()
                applied = {int(r[0]) for r in rows}
        except duckdb.Error as exc:
            raise _friendly(exc, self.path) from None
        check_not_newer(max(applied, default=0), "duckdb", f"the DuckDB file {self.path}")
        pending = [m for m in migrations("duckdb") if m.version not in applied]
        if pending and self.read_only:
            raise StoreError(f"the DuckDB file {self.path} needs migrations but is read-only")
        for migration in pending:
            con.execute("BEGIN TRANSACTION")
            try:
                for statement in split_statements(migration.sql):
                    con.execute(statement)
                con.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                    [migration.version, migration.name],
                )
                con.execute("COMMIT")
            except duckdb.Error as exc:
                con.execute("ROLLBACK")
                raise _friendly(exc, self.path) from None

    def _insert_arrow(self, session: Session, table_name: str, batch: pa.Table) -> None:
        db = cast(_DuckSession, session)
        view = f"_arrow_{table_name}"
        db.cursor.register(view, batch)
        try:
            if table_name.endswith("_stage"):
                db.cursor.execute(
                    f"CREATE OR REPLACE TEMP TABLE {table_name} AS SELECT * FROM {view}"
                )
            else:
                cols = ", ".join(batch.column_names)
                db.cursor.execute(f"INSERT INTO {table_name} ({cols}) SELECT {cols} FROM {view}")
        finally:
            db.cursor.unregister(view)

    def _append_new(
        self, cur: duckdb.DuckDBPyConnection, batch: pa.Table, now: datetime
    ) -> UpsertResult | None:
        """The common case of a backfill: nothing stored yet for these series in the batch's
        time range and no key twice in the batch. Then every row is new and a plain append
        from the Arrow batch does what the staged MERGE would (at a third of its cost).
        None when the case does not apply."""
        if has_duplicate_keys(batch):
            return None
        ids = sorted(int(x) for x in pc.unique(batch["series_id"]).to_pylist())
        lo, hi = (v.as_py() for v in pc.min_max(batch["interval_start"]).values())
        stored = cur.execute(
            "SELECT 1 FROM observations WHERE series_id IN "
            f"({', '.join(str(i) for i in ids)}) AND interval_start >= ? AND interval_start <= ? "
            "LIMIT 1",
            [lo, hi],
        ).fetchall()
        if stored:
            return None
        cur.register("_new", batch)
        try:
            cur.execute(
                "INSERT INTO observations SELECT series_id, interval_start, interval_end, value, "
                "publish_time, flags, document_id, ? FROM _new",
                [now],
            )
        finally:
            cur.unregister("_new")
        return UpsertResult(batch.num_rows, 0, 0)

    def _first_last(self, first: bool) -> str:
        fn = "arg_min" if first else "arg_max"
        return f"{fn}(value, interval_start) FILTER (WHERE value IS NOT NULL)"

    def _claim_jobs_sql(self) -> str:
        return (
            "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?, "
            "attempts = attempts + 1, updated_at = ? WHERE job_id IN (SELECT job_id FROM jobs "
            "WHERE ((state = 'pending' AND (not_before IS NULL OR not_before <= ?)) OR "
            "(state = 'running' AND lease_expires_at < ?)) AND "
            "(CAST(? AS VARCHAR) IS NULL OR plan_id = ?) ORDER BY window_start, job_id LIMIT ?) "
            "RETURNING job_id"
        )

    def _upsert_stage(self, session: Session, batch: pa.Table, now: datetime) -> UpsertResult:
        cur = cast(_DuckSession, session).cursor
        appended = self._append_new(cur, batch, now)
        if appended is not None:
            return appended
        # The batch is sorted by (series_id, interval_start, arrival); keep the last per key.
        batch = batch.append_column("_ord", pa.array(np.arange(batch.num_rows, dtype=np.int64)))
        cur.register("_batch", batch)
        try:
            ids = sorted(int(x) for x in pc.unique(batch["series_id"]).to_pylist())
            lo, hi = (v.as_py() for v in pc.min_max(batch["interval_start"]).values())
            id_list = ", ".join(str(i) for i in ids)
            # The range predicate lets zonemaps skip row groups of other times.
            cur.execute(
                "CREATE OR REPLACE TEMP TABLE _stage AS SELECT b.series_id, b.interval_start, "
                "b.interval_end, b.value, b.publish_time, b.flags, b.document_id, "
                "o.interval_start IS NOT NULL AS existed, "
                "(o.interval_start IS NOT NULL AND (o.value IS DISTINCT FROM b.value OR "
                "o.interval_end IS DISTINCT FROM b.interval_end OR o.flags IS DISTINCT FROM b.flags))"
                " AS changed, o.interval_end AS old_interval_end, o.value AS old_value, "
                "o.publish_time AS old_publish_time, o.flags AS old_flags, "
                "o.document_id AS old_document_id, o.ingested_at AS old_ingested_at "
                "FROM (SELECT * FROM _batch QUALIFY row_number() OVER (PARTITION BY series_id, "
                "interval_start ORDER BY _ord DESC) = 1) b LEFT JOIN (SELECT * FROM observations "
                f"WHERE series_id IN ({id_list}) AND interval_start >= ? AND interval_start <= ?) o "
                "ON o.series_id = b.series_id AND o.interval_start = b.interval_start",
                [lo, hi],
            )
        finally:
            cur.unregister("_batch")
        total, inserted, updated = cur.execute(
            "SELECT count(*), count(*) FILTER (WHERE NOT existed), count(*) FILTER (WHERE changed) "
            "FROM _stage"
        ).fetchone() or (0, 0, 0)
        if updated:
            cur.execute(
                "INSERT INTO observation_history SELECT series_id, interval_start, old_interval_end,"
                " old_value, old_publish_time, old_flags, old_document_id, old_ingested_at, ? "
                "FROM _stage WHERE changed",
                [now],
            )
            cur.execute(
                "MERGE INTO observations o USING (SELECT * FROM _stage WHERE changed OR NOT existed)"
                " s ON o.series_id = s.series_id AND o.interval_start = s.interval_start "
                "WHEN MATCHED THEN UPDATE SET interval_end = s.interval_end, value = s.value, "
                "publish_time = s.publish_time, flags = s.flags, document_id = s.document_id, "
                "ingested_at = ? WHEN NOT MATCHED THEN INSERT (series_id, interval_start, "
                "interval_end, value, publish_time, flags, document_id, ingested_at) VALUES "
                "(s.series_id, s.interval_start, s.interval_end, s.value, s.publish_time, s.flags, "
                "s.document_id, ?)",
                [now, now],
            )
        elif inserted:
            # Nothing to update: a plain append of the new rows is the cheapest MERGE.
            cur.execute(
                "INSERT INTO observations SELECT series_id, interval_start, interval_end, value, "
                "publish_time, flags, document_id, ? FROM _stage WHERE NOT existed "
                "ORDER BY series_id, interval_start",
                [now],
            )
        cur.execute("DROP TABLE _stage")
        return UpsertResult(int(inserted), int(updated), int(total) - int(inserted) - int(updated))
