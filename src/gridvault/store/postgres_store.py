"""The server store on PostgreSQL (plain PostgreSQL 15+; no extension required).

Bulk path: the batch is encoded to binary COPY (vectorised, :mod:`.pgcopy`) into a
session-temporary staging table, then ONE statement moves superseded values into the
history and runs ``INSERT … ON CONFLICT … DO UPDATE … WHERE … IS DISTINCT FROM`` so that
unchanged rows cost no new tuple. Each batch is one transaction. Connections come from a
pool; the session time zone is UTC.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg_pool import ConnectionPool

from gridvault.errors import StoreError
from gridvault.store import pgcopy
from gridvault.store.base import Session, Store, _cast_times
from gridvault.store.migrations import (
    ADVISORY_LOCK_KEY,
    check_not_newer,
    migrations,
    split_statements,
)
from gridvault.store.model import OBSERVATION_SCHEMA, UpsertResult

_PASSWORD = re.compile(r"(://[^:/@]+:)[^@]+@")
#: Seconds a store call waits for a pooled connection (GRIDVAULT_DATABASE_TIMEOUT).
DEFAULT_POOL_TIMEOUT = 5.0

# PostgreSQL type OIDs → Arrow types, so empty results still have a schema.
_OID_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),
    17: pa.binary(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    25: pa.string(),
    700: pa.float32(),
    701: pa.float64(),
    1043: pa.string(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
    1700: pa.float64(),
}

_STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS _stage_obs (series_id BIGINT, interval_start TIMESTAMPTZ, "
    "interval_end TIMESTAMPTZ, value DOUBLE PRECISION, publish_time TIMESTAMPTZ, flags INTEGER, "
    "document_id TEXT, ord BIGINT) ON COMMIT DELETE ROWS"
)

_DEDUP_LAST = """
    SELECT DISTINCT ON (series_id, interval_start) series_id, interval_start, interval_end,
           value, publish_time, flags, document_id
    FROM _stage_obs ORDER BY series_id, interval_start, ord DESC
"""
_NO_DEDUP = """
    SELECT series_id, interval_start, interval_end, value, publish_time, flags, document_id
    FROM _stage_obs
"""

_CLASSIFY = """
SELECT count(*) FILTER (WHERE o.series_id IS NULL),
       count(*) FILTER (WHERE o.series_id IS NOT NULL AND (o.value, o.interval_end, o.flags)
                              IS DISTINCT FROM (d.value, d.interval_end, d.flags))
FROM ({dedup}) d LEFT JOIN (
    SELECT series_id, interval_start, interval_end, value, flags FROM observations
    WHERE series_id = ANY(%(ids)s) AND interval_start >= %(lo)s AND interval_start <= %(hi)s
) o ON o.series_id = d.series_id AND o.interval_start = d.interval_start
"""
_INSERT_NEW = """
INSERT INTO observations (series_id, interval_start, interval_end, value, publish_time, flags,
    document_id, ingested_at)
SELECT series_id, interval_start, interval_end, value, publish_time, flags, document_id, %(now)s
FROM ({dedup}) dedup
"""

# One statement. `cmp` compares the batch with the stored rows of the same series and time
# range (an index range scan, never the whole table). Changed rows go through
# INSERT … ON CONFLICT … DO UPDATE … WHERE … IS DISTINCT FROM, their superseded values into
# the history from the same snapshot. Rows absent from the store take a plain INSERT: the
# caller holds the per-series advisory locks, so no other writer can add those keys
# meanwhile, and ON CONFLICT's speculative insertion would double their cost (measured in
# bench/ingest). Unchanged rows are neither locked nor rewritten.
_UPSERT = """
WITH dedup AS ({dedup}), cmp AS (
    SELECT d.*, o.series_id IS NOT NULL AS existed,
           (o.series_id IS NOT NULL AND (o.value, o.interval_end, o.flags)
                IS DISTINCT FROM (d.value, d.interval_end, d.flags)) AS changed,
           o.interval_end AS old_interval_end, o.value AS old_value,
           o.publish_time AS old_publish_time, o.flags AS old_flags,
           o.document_id AS old_document_id, o.ingested_at AS old_ingested_at
    FROM dedup d LEFT JOIN (
        SELECT * FROM observations
        WHERE series_id = ANY(%(ids)s) AND interval_start >= %(lo)s AND interval_start <= %(hi)s
    ) o ON o.series_id = d.series_id AND o.interval_start = d.interval_start
), superseded AS (
    INSERT INTO observation_history (series_id, interval_start, interval_end, value,
        publish_time, flags, document_id, valid_from, superseded_at)
    SELECT series_id, interval_start, old_interval_end, old_value, old_publish_time, old_flags,
           old_document_id, old_ingested_at, %(now)s
    FROM cmp WHERE changed
    RETURNING 1
), updated AS (
    INSERT INTO observations AS o (series_id, interval_start, interval_end, value,
        publish_time, flags, document_id, ingested_at)
    SELECT series_id, interval_start, interval_end, value, publish_time, flags, document_id,
           %(now)s FROM cmp WHERE changed
    ON CONFLICT (series_id, interval_start) DO UPDATE SET
        interval_end = EXCLUDED.interval_end, value = EXCLUDED.value,
        publish_time = EXCLUDED.publish_time, flags = EXCLUDED.flags,
        document_id = EXCLUDED.document_id, ingested_at = EXCLUDED.ingested_at
    WHERE (o.value, o.interval_end, o.flags)
          IS DISTINCT FROM (EXCLUDED.value, EXCLUDED.interval_end, EXCLUDED.flags)
    RETURNING 1
), inserted AS (
    INSERT INTO observations (series_id, interval_start, interval_end, value, publish_time,
        flags, document_id, ingested_at)
    SELECT series_id, interval_start, interval_end, value, publish_time, flags, document_id,
           %(now)s FROM cmp WHERE NOT existed
    RETURNING 1
)
SELECT (SELECT count(*) FROM dedup), (SELECT count(*) FROM inserted),
       (SELECT count(*) FROM updated), (SELECT count(*) FROM superseded)
"""


def redact_url(url: str) -> str:
    return _PASSWORD.sub(r"\1***@", url)


def _to_sql(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


class _PgSession:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(_to_sql(sql), list(params))

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(_to_sql(sql), list(params)).fetchall()

    def fetch_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        cur = self.conn.execute(_to_sql(sql), list(params))
        rows = cur.fetchall()
        description = cur.description or []
        arrays = []
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in description]
        for col, values in zip(description, columns, strict=True):
            typ = _OID_TYPES.get(col.type_code)
            arrays.append(pa.array(list(values), type=typ) if typ else pa.array(list(values)))
        return _cast_times(pa.Table.from_arrays(arrays, names=[c.name for c in description]))


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()


class PostgresStore(Store):
    """Store on a PostgreSQL database given by a ``postgresql://`` URL."""

    backend = "postgres"

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        connect_timeout: float = 5,
        pool_timeout: float = DEFAULT_POOL_TIMEOUT,
    ) -> None:
        """``pool_timeout``: seconds a caller waits for a connection before a vanished
        database is reported (:class:`StoreError`; the API answers 503)."""
        self.url = url
        self._where = f"PostgreSQL at {redact_url(url)}"
        self._migrate(connect_timeout)
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            configure=_configure,
            # A pooled connection broken by a server restart is replaced when it is handed
            # out, so the first use after a restart succeeds instead of failing.
            check=ConnectionPool.check_connection,
            kwargs={"connect_timeout": max(1, int(connect_timeout))},
            open=False,
            timeout=pool_timeout,
            name="gridvault",
        )
        self._pool.open(wait=True, timeout=connect_timeout * 2)
        self._local = threading.local()

    def _connect(self, timeout: float) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self.url, connect_timeout=int(timeout))
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot connect to {self._where}: {reason}") from None
        _configure(conn)
        return conn

    def _migrate(self, timeout: float) -> None:
        with self._connect(timeout) as conn, conn.transaction():
            # Serialises concurrent starters: the second waits, then finds nothing to do.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            applied = {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")}
            check_not_newer(max(applied, default=0), "postgres", self._where)
            for migration in migrations("postgres"):
                if migration.version in applied:
                    continue
                for statement in split_statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    [migration.version, migration.name],
                )

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[_PgSession]:
        active: _PgSession | None = getattr(self._local, "active", None)
        if active is not None:
            yield active
            return
        try:
            ctx = self._pool.connection()
            conn = ctx.__enter__()
        except Exception as exc:
            raise StoreError(f"cannot reach {self._where}: {exc}") from None
        db = _PgSession(conn)
        self._local.active = db
        try:
            with conn.transaction():
                yield db
                if not write:
                    # Read sessions never change data; ending read-only is cheapest.
                    pass
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            # InterfaceError: the connection was already closed under us (a server restart).
            raise StoreError(f"lost the connection to {self._where}: {exc}") from None
        finally:
            self._local.active = None
            ctx.__exit__(None, None, None)

    def close(self) -> None:
        self._pool.close()

    def _first_last(self, first: bool) -> str:
        order = "ASC" if first else "DESC"
        return (
            f"(array_agg(value ORDER BY interval_start {order}) FILTER "
            "(WHERE value IS NOT NULL))[1]"
        )

    epoch_sql = "extract(epoch FROM {})"

    def _claim_jobs_sql(self) -> str:
        return (
            "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?, "
            "attempts = attempts + 1, updated_at = ? WHERE job_id IN (SELECT job_id FROM jobs "
            "WHERE ((state = 'pending' AND (not_before IS NULL OR not_before <= ?)) OR "
            "(state = 'running' AND lease_expires_at < ?)) AND "
            "(CAST(? AS TEXT) IS NULL OR plan_id = ?) ORDER BY window_start, job_id LIMIT ? "
            "FOR UPDATE SKIP LOCKED) RETURNING job_id"
        )

    def _fetch_observations(
        self, session: Session, source: str, params: list[Any], names: list[str]
    ) -> pa.Table:
        """The rows as arrays, one tuple per series, through binary COPY (see :mod:`.pgcopy`):
        a row costs the client no Python, where fetching rows, or COPY's one message per
        row, costs microseconds each."""
        db = cast(_PgSession, session)
        inner = [
            c
            for c in OBSERVATION_SCHEMA.names
            if c != "series_id" and (c in names or c == "interval_start")
        ]
        types = [OBSERVATION_SCHEMA.field(c).type for c in inner]
        aggregates: list[str] = []
        for column, typ in zip(inner, types, strict=True):
            if typ == pa.string():
                aggregates.extend(pgcopy.text_aggregates(column))
            else:
                aggregates.append(f"array_agg({column})")
        # Rows reach the aggregates in the subquery's order (PostgreSQL keeps it; checked
        # below all the same); ORDER BY inside each aggregate would sort once per column.
        sql = (
            f"COPY (SELECT series_id, {', '.join(aggregates)} FROM (SELECT series_id, "
            f"{', '.join(inner)} FROM ({source}) obs ORDER BY series_id, interval_start) q "
            "GROUP BY series_id) TO STDOUT (FORMAT BINARY)"
        )
        with db.conn.cursor() as cur, cur.copy(_to_sql(sql), list(params)) as copy:
            payload = b"".join(copy)
        fields = [pgcopy.Field(pa.int64(), array=False), *pgcopy.fields_of(types)]
        return _observation_table(pgcopy.decode(payload, fields), inner, types, names)

    def _copy_in(self, db: _PgSession, table_name: str, batch: pa.Table) -> None:
        cols = ", ".join(batch.column_names)
        with db.conn.cursor().copy(
            f"COPY {table_name} ({cols}) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.write(pgcopy.encode(batch))

    def _insert_arrow(self, session: Session, table_name: str, batch: pa.Table) -> None:
        db = cast(_PgSession, session)
        if table_name.endswith("_stage"):
            target = table_name.removesuffix("_stage")
            target = "outage_events" if target == "outage" else target
            db.conn.execute(f"CREATE TEMP TABLE {table_name} (LIKE {target}) ON COMMIT DROP")
        self._copy_in(db, table_name, batch)

    def _upsert_stage(self, session: Session, batch: pa.Table, now: datetime) -> UpsertResult:
        db = cast(_PgSession, session)
        conn = db.conn
        conn.execute(_STAGE_DDL)
        conn.execute("TRUNCATE _stage_obs")
        # Serialise concurrent writers of the same series so the history sees every version.
        ids = sorted(int(x) for x in pc.unique(batch["series_id"]).to_pylist())
        conn.execute(
            "SELECT pg_advisory_xact_lock(%s::bigint + id) FROM unnest(%s::bigint[]) AS id",
            [1 << 40, ids],
        )
        staged = batch.append_column("ord", pa.array(range(batch.num_rows), pa.int64()))
        self._copy_in(db, "_stage_obs", staged)
        conn.execute("SET LOCAL work_mem = '256MB'")
        # The batch arrives sorted by key: duplicates are adjacent, and rare.
        sid = batch["series_id"].to_numpy()
        start = batch["interval_start"].cast(pa.int64()).to_numpy()
        duplicates = int(np.count_nonzero((sid[1:] == sid[:-1]) & (start[1:] == start[:-1])))
        lo, hi = (v.as_py() for v in pc.min_max(batch["interval_start"]).values())
        params = {"now": now, "ids": ids, "lo": lo, "hi": hi}
        dedup = _DEDUP_LAST if duplicates else _NO_DEDUP
        # Classify first: a batch that is all new or all unchanged (backfills, re-fetches
        # of unrevised windows) needs no more than one plain statement, or none.
        counts = conn.execute(_CLASSIFY.format(dedup=dedup), params).fetchone()
        new, changed = (int(counts[0]), int(counts[1])) if counts else (-1, -1)
        keys = batch.num_rows - duplicates
        if changed == 0 and new == 0:
            return UpsertResult(unchanged=keys)
        if changed == 0 and new == keys:
            # Every row is new, and the series locks keep it so until commit.
            conn.execute(_INSERT_NEW.format(dedup=dedup), params)
            return UpsertResult(inserted=keys)
        sql = _UPSERT.format(dedup=dedup)
        row = conn.execute(sql, params).fetchone()
        if row is None:  # pragma: no cover - an aggregate query always returns a row
            raise StoreError("upsert returned no counts")
        total, inserted, updated = int(row[0]), int(row[1]), int(row[2])
        return UpsertResult(inserted, updated, total - inserted - updated)


def _observation_table(
    groups: list[list[Any]], inner: list[str], types: list[pa.DataType], names: list[str]
) -> pa.Table:
    """The decoded groups (series id, then each column's arrays) as one table of ``names``,
    ordered by series and time."""
    groups = sorted(groups, key=lambda group: int(group[0]))
    at = 1 + inner.index("interval_start")  # no text before it: one field per column
    counts = [len(group[at][0]) for group in groups]
    in_order = all(not (np.diff(group[at][0]) < 0).any() for group in groups)
    columns: dict[str, pa.Array] = {
        "series_id": pa.array(
            np.repeat(np.array([g[0] for g in groups], np.int64), counts), pa.int64()
        )
    }
    at = 1
    for column, typ in zip(inner, types, strict=True):
        parts: list[pa.Array] = []
        for group in groups:
            values, valid = group[at]
            if typ == pa.string():
                parts.append(pgcopy.text_to_arrow(values, valid, group[at + 1]))
            else:
                parts.append(pgcopy.to_arrow(values, valid, typ))
        at += 2 if typ == pa.string() else 1
        columns[column] = pa.concat_arrays(parts) if parts else pa.array([], typ)
    table = pa.table(columns)
    if not in_order:
        order = np.lexsort(
            (table["interval_start"].cast(pa.int64()).to_numpy(), table["series_id"].to_numpy())
        )
        table = table.take(pa.array(order))
    schema = pa.schema([pa.field(n, OBSERVATION_SCHEMA.field(n).type) for n in names])
    return table.select(names).cast(schema)
