"""The store interface and the SQL both adapters share.

One :class:`Store` API, two real engines (:mod:`.duckdb_store`, :mod:`.postgres_store`).
SQL here is written in the common dialect of DuckDB and PostgreSQL with ``?`` placeholders
(the PostgreSQL adapter rewrites them); only the bulk write paths and a few aggregate
spellings differ per engine and are overridden by the adapters.

Revision model: ``observations`` holds the current value per ``(series_id, interval_start)``
with ``ingested_at`` = when that value became known here; a changed value moves the old row to
``observation_history`` with ``superseded_at``. *As of T* = current rows known by T plus
history rows valid at T. *Published before P* = per interval the latest version (current or
replaced) whose ``publish_time`` is at or before P: the forecast as it stood at P.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import zstandard

from gridvault.coverage import Coverage, compute_coverage, expected_grid
from gridvault.errors import InputError, StoreError
from gridvault.store.buckets import Bucket, check_aggregation, parse_bucket
from gridvault.store.model import (
    JOB_STATES,
    OBSERVATION_SCHEMA,
    ArchiveRecord,
    Job,
    JobSpec,
    PayloadBlob,
    Series,
    SeriesKey,
    UpsertResult,
    canonical_dimensions,
    normalize_observations,
)
from gridvault.timegrid import Resolution, parse_resolution, utc, zone

_SECRET_KEYS = re.compile(r"token|api[_-]?key|password|secret", re.IGNORECASE)
_SAFE_TZ = re.compile(r"^[A-Za-z0-9_+\-/]+$")
#: Jobs per INSERT statement when a plan is enqueued (11 parameters each).
_ENQUEUE_ROWS = 500

ARCHIVE_OUTCOMES = ("pending", "ok", "no_data", "error", "quarantined")
_ORDER_COLUMNS = ("series_id", "interval_start")


def observation_columns(columns: Sequence[str] | None) -> list[str]:
    """The observation columns a read returns: ``columns`` checked, or all of them."""
    if columns is None:
        return list(OBSERVATION_SCHEMA.names)
    names = list(columns)
    unknown = [c for c in names if c not in OBSERVATION_SCHEMA.names]
    if unknown or not names or len(set(names)) != len(names):
        raise InputError(
            f"columns {names!r}: give distinct names among {', '.join(OBSERVATION_SCHEMA.names)}"
        )
    return names


class Session(Protocol):
    """A connection (inside a transaction when writing) that both adapters provide."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def fetch_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table: ...


def now_utc() -> datetime:
    return datetime.now(UTC)


def scrub_request(request: dict[str, Any]) -> dict[str, Any]:
    """A copy of request metadata with anything secret-looking removed (never archived)."""
    clean: dict[str, Any] = {}
    for key, value in request.items():
        if _SECRET_KEYS.search(str(key)):
            continue
        if isinstance(value, dict):
            clean[key] = scrub_request(value)
        elif isinstance(value, str):
            clean[key] = re.sub(r"(securityToken=)[^&\s]+", r"\1***", value, flags=re.IGNORECASE)
        else:
            clean[key] = value
    return clean


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def has_duplicate_keys(batch: pa.Table) -> bool:
    """Whether a batch sorted by (series_id, interval_start) holds a key twice."""
    if batch.num_rows < 2:
        return False
    ids = batch["series_id"].to_numpy()
    starts = batch["interval_start"].cast(pa.int64()).to_numpy()
    return bool(np.any((ids[1:] == ids[:-1]) & (starts[1:] == starts[:-1])))


def _vintage_source(
    columns: Sequence[str],
    where: str,
    params: list[Any],
    published_before: datetime,
    as_of: datetime | None,
) -> tuple[str, list[Any]]:
    """Per ``(series_id, interval_start)`` the most recently published version at or before
    ``published_before``: the current value or one it replaced (a revised forecast keeps
    its earlier vintages in ``observation_history``), among the versions received by
    ``as_of`` (all when None). A version without a publish time counts as published
    before any time, below every version that has one; equal publish times go to the
    version received last."""
    inner = ", ".join(dict.fromkeys([*columns, "series_id", "interval_start", "publish_time"]))
    eligible = "(publish_time IS NULL OR publish_time <= ?)"
    current_known = "" if as_of is None else " AND ingested_at <= ?"
    replaced_known = "" if as_of is None else " AND valid_from <= ?"
    sql = (
        f"SELECT {', '.join(columns)} FROM (SELECT {inner}, row_number() OVER (PARTITION BY "
        "series_id, interval_start ORDER BY publish_time DESC NULLS LAST, received DESC) "
        f"AS vintage FROM (SELECT {inner}, ingested_at AS received FROM observations "
        f"WHERE {where} AND {eligible}{current_known} UNION ALL SELECT {inner}, valid_from "
        f"AS received FROM observation_history WHERE {where} AND {eligible}{replaced_known}"
        ") versions) ranked WHERE vintage = 1"
    )
    known = [] if as_of is None else [utc(as_of)]
    return sql, [*params, published_before, *known, *params, published_before, *known]


class Store(ABC):
    """The time-series store: series, observations with history, outages, archive, jobs."""

    backend: str = "?"
    #: Whether writes are serialised (DuckDB: one writing process per file, one write lock
    #: in it). A row looked for and not found in a write transaction then cannot appear
    #: before this transaction inserts it, so a plain INSERT does: DuckDB spends ~2 ms more
    #: on a statement with ON CONFLICT DO NOTHING. Concurrent writers keep the clause.
    serial_writes: bool = False

    @property
    def if_absent(self) -> str:
        """The clause an INSERT of a row looked for and not found needs on this engine."""
        return "" if self.serial_writes else " ON CONFLICT DO NOTHING"

    def insert_absent(
        self, db: Session, table: str, row: dict[str, Any], key: Sequence[str]
    ) -> bool:
        """Insert ``row`` into ``table`` unless a row with the same ``key`` columns exists;
        whether it was inserted."""
        if self.serial_writes:
            where = " AND ".join(f"{column} = ?" for column in key)
            if db.fetchall(f"SELECT 1 FROM {table} WHERE {where}", [row[c] for c in key]):
                return False
        inserted = db.fetchall(
            f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})"
            f"{self.if_absent} RETURNING 1",
            list(row.values()),
        )
        return bool(inserted)

    # -- engine hooks -------------------------------------------------------------------
    @abstractmethod
    def session(self, *, write: bool = False) -> AbstractContextManager[Session]:
        """A session; with ``write=True`` a transaction committed on success, else rolled back."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and file locks."""

    @abstractmethod
    def _upsert_stage(self, db: Session, batch: pa.Table, now: datetime) -> UpsertResult:
        """Engine bulk path: de-duplicated staging → history of changed rows → upsert."""

    @abstractmethod
    def _insert_arrow(self, db: Session, table_name: str, batch: pa.Table) -> None:
        """Append an Arrow table to ``table_name`` (columns by name)."""

    @abstractmethod
    def _first_last(self, first: bool) -> str:
        """SQL aggregate: the value of the first/last non-null point by interval_start."""

    @abstractmethod
    def _claim_jobs_sql(self) -> str:
        """UPDATE … RETURNING that leases up to ``?`` claimable jobs (SKIP LOCKED on PG)."""

    epoch_sql = "epoch({})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta ---------------------------------------------------------------------------
    def schema_version(self) -> int:
        with self.session() as db:
            rows = db.fetchall("SELECT max(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    def ping(self) -> bool:
        """True when the store answers a trivial query."""
        try:
            with self.session() as db:
                db.fetchall("SELECT 1")
        except Exception:
            return False
        return True

    # -- series -------------------------------------------------------------------------
    def ensure_series(self, keys: Sequence[SeriesKey]) -> list[int]:
        """Ids of the given series, registering the ones not yet stored (idempotent)."""
        return [series_id for series_id, _ in self.register_series(keys)]

    def register_series(self, keys: Sequence[SeriesKey]) -> list[tuple[int, str | None]]:
        """Per key: the series id (registered when new) and its stored resolution."""
        if not keys:
            return []
        unique: dict[tuple[str, str, str, str], SeriesKey] = {}
        for key in keys:
            unique.setdefault(key.natural_key, key)
        with self.session(write=True) as db:
            found = self._series_rows(db, list(unique))
            missing = [natural for natural in unique if natural not in found]
            for natural in missing:
                key = unique[natural]
                db.execute(
                    "INSERT INTO series (source, dataset, area, dimensions, unit, resolution) "
                    "VALUES (?, ?, ?, ?, ?, ?)" + self.if_absent,
                    (*natural, key.unit, key.resolution),
                )
            if missing:
                found.update(self._series_rows(db, missing))
            # A new series takes the key's unit and resolution; an existing one keeps its
            # resolution until newer data says otherwise (see note_resolution): a backfill
            # of old hourly data must not turn a 15-minute series hourly again. Only what
            # is still unknown is filled in.
            for natural, key in unique.items():
                series_id, unit, resolution = found[natural]
                if (key.resolution and resolution is None) or (key.unit and unit is None):
                    db.execute(
                        "UPDATE series SET resolution = coalesce(resolution, ?), "
                        "unit = coalesce(unit, ?) WHERE series_id = ?",
                        (key.resolution, key.unit, series_id),
                    )
                    found[natural] = (series_id, unit or key.unit, resolution or key.resolution)
        return [(found[key.natural_key][0], found[key.natural_key][2]) for key in keys]

    def note_resolution(self, series_id: int, resolution: str, latest_start: datetime) -> bool:
        """Set a series' resolution from data up to ``latest_start`` if nothing newer is stored
        (the resolution of a series is the one of its newest data). True when it changed."""
        with self.session(write=True) as db:
            rows = db.fetchall(
                "UPDATE series SET resolution = ? WHERE series_id = ? AND "
                "resolution IS DISTINCT FROM ? AND NOT EXISTS (SELECT 1 FROM observations "
                "WHERE series_id = ? AND interval_start > ?) RETURNING series_id",
                (resolution, int(series_id), resolution, int(series_id), utc(latest_start)),
            )
        return bool(rows)

    def _series_rows(
        self, db: Session, naturals: list[tuple[str, str, str, str]]
    ) -> dict[tuple[str, str, str, str], tuple[int, str | None, str | None]]:
        """(series id, unit, resolution) of the stored series among ``naturals``."""
        result: dict[tuple[str, str, str, str], tuple[int, str | None, str | None]] = {}
        for chunk_start in range(0, len(naturals), 500):
            chunk = naturals[chunk_start : chunk_start + 500]
            clause = " OR ".join(
                "(source = ? AND dataset = ? AND area = ? AND dimensions = ?)" for _ in chunk
            )
            params = [value for natural in chunk for value in natural]
            for row in db.fetchall(
                "SELECT series_id, source, dataset, area, dimensions, unit, resolution "
                f"FROM series WHERE {clause}",
                params,
            ):
                result[(row[1], row[2], row[3], row[4])] = (int(row[0]), row[5], row[6])
        return result

    def find_series(
        self,
        *,
        source: str | None = None,
        dataset: str | None = None,
        area: str | Sequence[str] | None = None,
        dimensions: dict[str, str] | None = None,
        series_ids: Sequence[int] | None = None,
    ) -> list[Series]:
        """Series matching the filters; ``dimensions`` must all match (subset match)."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("source", source), ("dataset", dataset)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if area is not None:
            areas = [area] if isinstance(area, str) else list(area)
            clauses.append(f"area IN ({', '.join('?' for _ in areas)})")
            params.extend(areas)
        if series_ids is not None:
            if not series_ids:
                return []
            clauses.append(f"series_id IN ({', '.join('?' for _ in series_ids)})")
            params.extend(int(i) for i in series_ids)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self.session() as db:
            rows = db.fetchall(
                "SELECT series_id, source, dataset, area, dimensions, unit, resolution "
                f"FROM series {where} ORDER BY series_id",
                params,
            )
        wanted = {k: str(v) for k, v in (dimensions or {}).items() if v is not None}
        result = []
        for row in rows:
            dims: dict[str, str] = json.loads(row[4])
            if any(dims.get(k) != v for k, v in wanted.items()):
                continue
            result.append(Series(int(row[0]), row[1], row[2], row[3], dims, row[5], row[6]))
        return result

    def get_series(self, key: SeriesKey) -> Series | None:
        """The stored series with exactly this natural key, or None."""
        with self.session() as db:
            rows = db.fetchall(
                "SELECT series_id, source, dataset, area, dimensions, unit, resolution FROM series "
                "WHERE source = ? AND dataset = ? AND area = ? AND dimensions = ?",
                key.natural_key,
            )
        if not rows:
            return None
        row = rows[0]
        return Series(int(row[0]), row[1], row[2], row[3], json.loads(row[4]), row[5], row[6])

    # -- observations -------------------------------------------------------------------
    def upsert_observations(
        self, batch: pa.Table, *, known_at: datetime | None = None
    ) -> UpsertResult:
        """Idempotent, de-duplicating upsert of one batch in one transaction.

        Within the batch the last row of a key wins. A row whose value, interval end or
        flags differ from the stored one replaces it, and the stored one is kept in the
        revision history (valid until ``known_at``). Identical rows are counted unchanged
        and cost no write. ``known_at`` defaults to now.
        """
        table = normalize_observations(batch)
        if table.num_rows == 0:
            return UpsertResult()
        now = utc(known_at) if known_at else now_utc()
        order = np.lexsort(
            (
                np.arange(table.num_rows),
                table["interval_start"].cast(pa.int64()).to_numpy(),
                table["series_id"].to_numpy(),
            )
        )
        table = table.take(pa.array(order))
        with self.session(write=True) as db:
            result = self._upsert_stage(db, table, now)
            if result.inserted or result.updated:
                ids = sorted({int(x) for x in table["series_id"].unique().to_pylist()})
                db.execute(
                    f"UPDATE series SET last_changed_at = ? WHERE series_id IN "
                    f"({', '.join('?' for _ in ids)})",
                    [now, *ids],
                )
            return result

    def read(
        self,
        series_ids: Sequence[int],
        start: datetime,
        end: datetime,
        *,
        as_of: datetime | None = None,
        published_before: datetime | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """Observations with ``start <= interval_start < end``, optionally as known at ``as_of``.

        Columns: ``columns`` in that order (any of :data:`OBSERVATION_SCHEMA`'s; only those
        are read), by default series_id, interval_start, interval_end, value, publish_time,
        flags, document_id; ordered by series and time.
        """
        names = observation_columns(columns)
        needed = [c for c in OBSERVATION_SCHEMA.names if c in {*names, *_ORDER_COLUMNS}]
        base, params = self._observation_source(
            series_ids, start, end, as_of, published_before, columns=needed
        )
        with self.session() as db:
            return self._fetch_observations(db, base, params, names)

    def _fetch_observations(
        self, db: Session, source: str, params: list[Any], names: list[str]
    ) -> pa.Table:
        """Columns ``names`` of the rows of ``source`` ordered by series and time (an engine
        with a faster bulk read overrides this)."""
        return db.fetch_arrow(
            f"SELECT {', '.join(names)} FROM ({source}) obs ORDER BY series_id, interval_start",
            params,
        )

    def _observation_source(
        self,
        series_ids: Sequence[int],
        start: datetime,
        end: datetime,
        as_of: datetime | None,
        published_before: datetime | None,
        *,
        columns: Sequence[str] = OBSERVATION_SCHEMA.names,
    ) -> tuple[str, list[Any]]:
        start, end = utc(start), utc(end)
        if end <= start:
            raise InputError(f"end {end.isoformat()} is not after start {start.isoformat()}")
        ids = [int(i) for i in series_ids] or [-1]
        id_list = ", ".join("?" for _ in ids)
        where = f"series_id IN ({id_list}) AND interval_start >= ? AND interval_start < ?"
        params: list[Any] = [*ids, start, end]
        if published_before is not None:
            return _vintage_source(columns, where, params, utc(published_before), as_of)
        cols = ", ".join(columns)
        if as_of is None:
            return f"SELECT {cols} FROM observations WHERE {where}", params
        as_of = utc(as_of)
        sql = (
            f"SELECT {cols} FROM observations WHERE {where} AND ingested_at <= ? "
            f"UNION ALL SELECT {cols} FROM observation_history WHERE {where} "
            "AND valid_from <= ? AND superseded_at > ?"
        )
        return sql, [*params, as_of, *params, as_of, as_of]

    def resample(
        self,
        series_ids: Sequence[int],
        start: datetime,
        end: datetime,
        bucket: str | Bucket,
        agg: str = "mean",
        *,
        tz: str = "UTC",
        as_of: datetime | None = None,
        published_before: datetime | None = None,
    ) -> pa.Table:
        """Server-side resampling into ``bucket`` with ``agg`` (mean is time-weighted).

        Columns: series_id, interval_start, interval_end, then ``value`` (or open, high,
        low, close for ``ohlc``) and ``count`` (non-null points in the bucket).
        """
        spec = bucket if isinstance(bucket, Bucket) else parse_bucket(bucket)
        agg = check_aggregation(agg)
        zone(tz)  # validates the name
        if not _SAFE_TZ.match(tz):
            raise InputError(f"unknown time zone: {tz!r}")
        base, params = self._observation_source(series_ids, start, end, as_of, published_before)
        epoch = self.epoch_sql
        if spec.is_calendar:
            local = f"date_trunc('{spec.unit}', interval_start AT TIME ZONE '{tz}')"
            bucket_start = f"({local}) AT TIME ZONE '{tz}'"
            bucket_end = f"({local} + INTERVAL '{spec.step}') AT TIME ZONE '{tz}'"
        else:
            n = spec.seconds
            floor_expr = f"floor({epoch.format('interval_start')} / {n}) * {n}"
            bucket_start = f"to_timestamp({floor_expr})"
            bucket_end = f"to_timestamp({floor_expr} + {n})"
        duration = f"({epoch.format('interval_end')} - {epoch.format('interval_start')})"
        first, last = self._first_last(True), self._first_last(False)
        measures = {
            "mean": f"sum(value * {duration}) / nullif(sum(CASE WHEN value IS NOT NULL "
            f"THEN {duration} END), 0) AS value",
            "min": "min(value) AS value",
            "max": "max(value) AS value",
            "sum": "sum(value) AS value",
            "first": f"{first} AS value",
            "last": f"{last} AS value",
            "count": "count(value) AS value",
            "ohlc": f"{first} AS open, max(value) AS high, min(value) AS low, {last} AS close",
        }[agg]
        sql = (
            f"SELECT series_id, {bucket_start} AS interval_start, {bucket_end} AS interval_end, "
            f"{measures}, count(value) AS count FROM ({base}) obs "
            "GROUP BY series_id, 2, 3 ORDER BY series_id, 2"
        )
        with self.session() as db:
            table = db.fetch_arrow(sql, params)
        return _cast_times(table)

    def latest(self, series_ids: Sequence[int]) -> pa.Table:
        """The most recent observation of each series (by interval_start)."""
        ids = [int(i) for i in series_ids] or [-1]
        id_list = ", ".join("?" for _ in ids)
        with self.session() as db:
            return db.fetch_arrow(
                "SELECT o.series_id, o.interval_start, o.interval_end, o.value, o.publish_time, "
                "o.flags, o.document_id FROM observations o JOIN (SELECT series_id, "
                f"max(interval_start) AS interval_start FROM observations WHERE series_id IN "
                f"({id_list}) GROUP BY series_id) m ON o.series_id = m.series_id AND "
                "o.interval_start = m.interval_start ORDER BY o.series_id",
                ids,
            )

    def last_changed(self, series_ids: Sequence[int]) -> datetime | None:
        """When any of these series last had a value inserted or changed (cache validator)."""
        ids = [int(i) for i in series_ids] or [-1]
        with self.session() as db:
            rows = db.fetchall(
                f"SELECT max(last_changed_at) FROM series WHERE series_id IN "
                f"({', '.join('?' for _ in ids)})",
                ids,
            )
        return _aware(rows[0][0]) if rows else None

    def series_stats(self, series_ids: Sequence[int]) -> pa.Table:
        """Per series: earliest/latest interval_start, row count, last ingest time."""
        ids = [int(i) for i in series_ids] or [-1]
        id_list = ", ".join("?" for _ in ids)
        with self.session() as db:
            return db.fetch_arrow(
                "SELECT series_id, min(interval_start) AS earliest, max(interval_start) AS latest,"
                " count(*) AS rows, max(ingested_at) AS last_update FROM observations "
                f"WHERE series_id IN ({id_list}) GROUP BY series_id ORDER BY series_id",
                ids,
            )

    def history(self, series_id: int, interval_start: datetime) -> list[tuple[Any, ...]]:
        """Superseded versions of one value: (value, valid_from, superseded_at), oldest first."""
        with self.session() as db:
            return db.fetchall(
                "SELECT value, valid_from, superseded_at FROM observation_history "
                "WHERE series_id = ? AND interval_start = ? ORDER BY valid_from",
                (int(series_id), utc(interval_start)),
            )

    def coverage(
        self,
        series_id: int,
        start: datetime,
        end: datetime,
        *,
        resolution: str | Resolution | Sequence[tuple[datetime | None, Resolution]] | None = None,
        tz: str = "UTC",
    ) -> Coverage:
        """Which expected intervals of a series in ``[start, end)`` hold a non-null value."""
        start, end = utc(start), utc(end)
        if end <= start:
            raise InputError(f"end {end.isoformat()} is not after start {start.isoformat()}")
        if resolution is None:
            found = self.find_series(series_ids=[series_id])
            if not found or not found[0].resolution:
                raise InputError(f"series {series_id} has no known resolution")
            resolution = found[0].resolution
        if isinstance(resolution, str):
            schedule: Sequence[tuple[datetime | None, Resolution]] = [
                (None, parse_resolution(resolution))
            ]
        elif isinstance(resolution, Resolution):
            schedule = [(None, resolution)]
        else:
            schedule = resolution
        exp_start, exp_end = expected_grid(start, end, schedule, tz)
        with self.session() as db:
            # Look back one longest interval so a value that started before `start` counts.
            lookback = max(r.nominal for _, r in schedule) + timedelta(days=31)
            present = db.fetch_arrow(
                "SELECT interval_start, interval_end FROM observations WHERE series_id = ? "
                "AND interval_start >= ? AND interval_start < ? AND value IS NOT NULL",
                (int(series_id), start - lookback, end),
            )
        return compute_coverage(
            exp_start,
            exp_end,
            present["interval_start"].cast(pa.int64()).to_numpy(),
            present["interval_end"].cast(pa.int64()).to_numpy(),
        )

    def delete_series_data(self, series_ids: Sequence[int]) -> None:
        """Remove observations and history of series (administrative clean-up, tests)."""
        ids = [int(i) for i in series_ids] or [-1]
        id_list = ", ".join("?" for _ in ids)
        with self.session(write=True) as db:
            db.execute(f"DELETE FROM observations WHERE series_id IN ({id_list})", ids)
            db.execute(f"DELETE FROM observation_history WHERE series_id IN ({id_list})", ids)

    # -- outages ------------------------------------------------------------------------
    def upsert_outages(self, events: pa.Table, *, source: str = "entsoe") -> UpsertResult:
        """Upsert outage event rows (OUTAGE_SCHEMA) keyed by document, revision, series, start."""
        from gridvault.entsoe.schema import OUTAGE_SCHEMA  # noqa: PLC0415

        if events.num_rows == 0:
            return UpsertResult()
        table = events.select(OUTAGE_SCHEMA.names).cast(OUTAGE_SCHEMA)
        now = now_utc()
        table = table.append_column("source", pa.array([source] * table.num_rows, pa.string()))
        table = table.append_column("ingested_at", pa.array([now] * table.num_rows, UTC_TS_TYPE))
        keys = ["source", "document_mrid", "revision_number", "timeseries_mrid", "interval_start"]
        # Last row of a key wins within a batch.
        index = pa.array(np.arange(table.num_rows))
        table = table.append_column("_ord", index)
        grouped = table.group_by(keys).aggregate([("_ord", "max")])
        table = table.take(grouped["_ord_max"]).drop_columns(["_ord"])
        compare = ["doc_status", "available_capacity", "interval_end", "event_start", "event_end"]
        with self.session(write=True) as db:
            self._insert_arrow(db, "outage_stage", table)
            join = " AND ".join(f"s.{k} = e.{k}" for k in keys)
            changed = " OR ".join(f"s.{c} IS DISTINCT FROM e.{c}" for c in compare)
            counts = db.fetchall(
                f"SELECT count(*) FILTER (WHERE e.source IS NULL), "
                f"count(*) FILTER (WHERE e.source IS NOT NULL AND ({changed})) "
                f"FROM outage_stage s LEFT JOIN outage_events e ON {join}"
            )[0]
            db.execute(
                f"DELETE FROM outage_events e WHERE EXISTS (SELECT 1 FROM outage_stage s "
                f"WHERE {join} AND ({changed}))"
            )
            cols = ", ".join(table.column_names)
            db.execute(
                f"INSERT INTO outage_events ({cols}) SELECT {cols} FROM outage_stage s WHERE NOT "
                f"EXISTS (SELECT 1 FROM outage_events e WHERE {join})"
            )
            db.execute("DROP TABLE outage_stage")
        inserted, updated = int(counts[0]), int(counts[1])
        return UpsertResult(inserted, updated, table.num_rows - inserted - updated)

    def read_outages(
        self,
        *,
        start: datetime,
        end: datetime,
        areas: Sequence[str] | None = None,
        dataset: str | None = None,
        latest_revision_only: bool = True,
        include_cancelled: bool = False,
    ) -> pa.Table:
        """Outage rows overlapping ``[start, end)``; by default the latest revision of each
        document and without cancelled/withdrawn documents (docStatus A09/A13)."""
        clauses = ["interval_start < ?", "interval_end > ?"]
        params: list[Any] = [utc(end), utc(start)]
        if areas:
            marks = ", ".join("?" for _ in areas)
            clauses.append(
                f"(area IN ({marks}) OR in_domain IN ({marks}) OR out_domain IN ({marks}))"
            )
            params.extend([*areas, *areas, *areas])
        if dataset:
            clauses.append("dataset = ?")
            params.append(dataset)
        if not include_cancelled:
            clauses.append("(doc_status IS NULL OR doc_status NOT IN ('A09', 'A13'))")
        where = " AND ".join(clauses)
        from gridvault.entsoe.schema import OUTAGE_SCHEMA  # noqa: PLC0415

        latest = ""
        if latest_revision_only:
            latest = (
                " AND revision_number = (SELECT max(revision_number) FROM outage_events r "
                "WHERE r.source = outage_events.source AND r.document_mrid = outage_events.document_mrid)"
            )
        with self.session() as db:
            table = db.fetch_arrow(
                f"SELECT source, {', '.join(OUTAGE_SCHEMA.names)} FROM outage_events "
                f"WHERE {where}{latest} "
                "ORDER BY event_start, document_mrid, timeseries_mrid, interval_start",
                params,
            )
        return _cast_times(table)

    # -- raw payload archive ------------------------------------------------------------
    def archive_payload(
        self,
        body: bytes | PayloadBlob,
        *,
        source: str,
        request: dict[str, Any],
        dataset: str | None = None,
        http_status: int | None = None,
        content_type: str | None = None,
        fetched_at: datetime | None = None,
        outcome: str = "pending",
        error: str | None = None,
    ) -> ArchiveRecord:
        """Store a raw response, content-addressed (sha256) and zstd-compressed.

        The bytes are stored once however often they are fetched; every fetch gets its own
        archive row with the request (secrets removed), status and parse outcome: ``pending``
        until :meth:`set_parse_outcome`, or given here when the payload was parsed first.
        ``body`` may come hashed and compressed already (:meth:`PayloadBlob.of`).
        """
        if outcome not in ARCHIVE_OUTCOMES:
            raise InputError(f"unknown parse outcome {outcome!r}")
        digest = body.sha256 if isinstance(body, PayloadBlob) else hashlib.sha256(body).hexdigest()
        fetched = utc(fetched_at) if fetched_at else now_utc()
        clean_request = scrub_request(request)
        with self.session(write=True) as db:
            if not db.fetchall("SELECT 1 FROM payloads WHERE sha256 = ?", (digest,)):
                blob = body if isinstance(body, PayloadBlob) else PayloadBlob.of(body)
                db.execute(
                    "INSERT INTO payloads (sha256, codec, size, stored_size, body, first_seen) "
                    "VALUES (?, 'zstd', ?, ?, ?, ?)" + self.if_absent,
                    (digest, blob.size, len(blob.compressed), blob.compressed, fetched),
                )
            rows = db.fetchall(
                "INSERT INTO archive (sha256, source, dataset, request, fetched_at, http_status, "
                "content_type, parse_outcome, parse_error, parsed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING archive_id",
                (
                    digest,
                    source,
                    dataset,
                    json.dumps(clean_request, sort_keys=True, default=str),
                    fetched,
                    http_status,
                    content_type,
                    outcome,
                    error,
                    None if outcome == "pending" else now_utc(),
                ),
            )
        return ArchiveRecord(
            int(rows[0][0]),
            digest,
            source,
            dataset,
            clean_request,
            fetched,
            http_status,
            content_type,
            body.size if isinstance(body, PayloadBlob) else len(body),
            outcome,
            error,
        )

    def set_parse_outcome(self, archive_id: int, outcome: str, error: str | None = None) -> None:
        if outcome not in ARCHIVE_OUTCOMES:
            raise InputError(f"unknown parse outcome {outcome!r}")
        with self.session(write=True) as db:
            db.execute(
                "UPDATE archive SET parse_outcome = ?, parse_error = ?, parsed_at = ? "
                "WHERE archive_id = ?",
                (outcome, error, now_utc(), int(archive_id)),
            )

    def payload(self, sha256: str) -> bytes:
        """The original bytes of an archived payload."""
        with self.session() as db:
            rows = db.fetchall("SELECT codec, body FROM payloads WHERE sha256 = ?", (sha256,))
        if not rows:
            raise StoreError(f"no archived payload {sha256}")
        return zstandard.ZstdDecompressor().decompress(bytes(rows[0][1]))

    def archive_records(
        self, *, outcome: str | None = None, dataset: str | None = None, limit: int = 1000
    ) -> list[ArchiveRecord]:
        clauses: list[str] = []
        params: list[Any] = []
        if outcome:
            clauses.append("a.parse_outcome = ?")
            params.append(outcome)
        if dataset:
            clauses.append("a.dataset = ?")
            params.append(dataset)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self.session() as db:
            rows = db.fetchall(
                "SELECT a.archive_id, a.sha256, a.source, a.dataset, a.request, a.fetched_at, "
                "a.http_status, a.content_type, p.size, a.parse_outcome, a.parse_error FROM archive a "
                f"JOIN payloads p ON p.sha256 = a.sha256 {where} ORDER BY a.archive_id LIMIT ?",
                [*params, int(limit)],
            )
        return [
            ArchiveRecord(
                int(r[0]),
                r[1],
                r[2],
                r[3],
                json.loads(r[4]),
                _aware(r[5]) or now_utc(),
                r[6],
                r[7],
                int(r[8]),
                r[9],
                r[10],
            )
            for r in rows
        ]

    # -- job ledger ---------------------------------------------------------------------
    def enqueue_jobs(self, specs: Sequence[JobSpec]) -> int:
        """Add jobs; a job with the same plan, dataset, area(s) and window is not added twice.
        Returns how many were new."""
        if not specs:
            return 0
        now = now_utc()
        rows = [
            (
                spec.plan_id,
                spec.kind,
                spec.source,
                spec.dataset,
                spec.area,
                spec.area_to or "",
                utc(spec.window_start),
                utc(spec.window_end),
                spec.max_attempts,
                now,
                now,
            )
            for spec in specs
        ]
        placeholders = "(" + ", ".join("?" for _ in rows[0]) + ")"
        with self.session(write=True) as db:
            before = int(db.fetchall("SELECT count(*) FROM jobs")[0][0])
            # Many rows per statement: a statement costs milliseconds, a plan has hundreds.
            for at in range(0, len(rows), _ENQUEUE_ROWS):
                part = rows[at : at + _ENQUEUE_ROWS]
                db.execute(
                    "INSERT INTO jobs (plan_id, kind, source, dataset, area, area_to, window_start, "
                    "window_end, max_attempts, created_at, updated_at) VALUES "
                    + ", ".join(placeholders for _ in part)
                    + " ON CONFLICT DO NOTHING",
                    [value for row in part for value in row],
                )
            after = int(db.fetchall("SELECT count(*) FROM jobs")[0][0])
        return after - before

    def claim_jobs(
        self,
        owner: str,
        *,
        limit: int = 1,
        lease_seconds: float = 300,
        plan_id: str | None = None,
    ) -> list[Job]:
        """Lease up to ``limit`` pending (or lease-expired) jobs to ``owner``.

        A claimed job is ``running`` with ``lease_expires_at``; a worker that dies leaves an
        expiring lease, and the next claim after expiry takes the job over.
        """
        now = now_utc()
        expires = now + timedelta(seconds=lease_seconds)
        with self.session(write=True) as db:
            rows = db.fetchall(
                self._claim_jobs_sql(),
                (owner, expires, now, now, now, plan_id, plan_id, int(limit)),
            )
        ids = [int(r[0]) for r in rows]
        return (
            sorted(self.jobs(job_ids=ids), key=lambda j: (j.window_start, j.job_id)) if ids else []
        )

    def renew_lease(self, job_id: int, owner: str, lease_seconds: float = 300) -> bool:
        """Extend a lease still held by ``owner``; False when it was lost."""
        now = now_utc()
        with self.session(write=True) as db:
            rows = db.fetchall(
                "UPDATE jobs SET lease_expires_at = ?, updated_at = ? WHERE job_id = ? AND "
                "state = 'running' AND lease_owner = ? RETURNING job_id",
                (now + timedelta(seconds=lease_seconds), now, int(job_id), owner),
            )
        return bool(rows)

    def complete_job(self, job_id: int, owner: str, result: dict[str, Any] | None = None) -> bool:
        """Mark a job done if ``owner`` still holds it; False when the lease was lost."""
        now = now_utc()
        with self.session(write=True) as db:
            rows = db.fetchall(
                "UPDATE jobs SET state = 'done', result = ?, last_error = NULL, lease_owner = NULL,"
                " lease_expires_at = NULL, updated_at = ? WHERE job_id = ? AND state = 'running' "
                "AND lease_owner = ? RETURNING job_id",
                (json.dumps(result or {}, default=str), now, int(job_id), owner),
            )
        return bool(rows)

    def fail_job(
        self, job_id: int, owner: str, error: str, *, retry_after: float | None = None
    ) -> str | None:
        """Record a failure. With attempts left and ``retry_after`` the job goes back to
        pending (not before now + retry_after); otherwise it is ``failed``. Returns the new
        state, or None when ``owner`` no longer held the job."""
        now = now_utc()
        not_before = now + timedelta(seconds=retry_after) if retry_after is not None else None
        with self.session(write=True) as db:
            rows = db.fetchall(
                "UPDATE jobs SET state = CASE WHEN ? AND attempts < max_attempts THEN 'pending' "
                "ELSE 'failed' END, last_error = ?, not_before = ?, lease_owner = NULL, "
                "lease_expires_at = NULL, updated_at = ? WHERE job_id = ? AND state = 'running' "
                "AND lease_owner = ? RETURNING state",
                (not_before is not None, error[:4000], not_before, now, int(job_id), owner),
            )
        return str(rows[0][0]) if rows else None

    def retry_failed_jobs(self, plan_id: str | None = None) -> int:
        """Put failed jobs back to pending with fresh attempts (an explicit operator action)."""
        now = now_utc()
        with self.session(write=True) as db:
            rows = db.fetchall(
                "UPDATE jobs SET state = 'pending', attempts = 0, not_before = NULL, updated_at = ? "
                "WHERE state = 'failed' AND (CAST(? AS VARCHAR) IS NULL OR plan_id = ?) RETURNING job_id",
                (now, plan_id, plan_id),
            )
        return len(rows)

    def jobs(
        self,
        *,
        state: str | None = None,
        plan_id: str | None = None,
        job_ids: Sequence[int] | None = None,
        limit: int = 10_000,
    ) -> list[Job]:
        """Job ledger rows, oldest window first."""
        if state is not None and state not in JOB_STATES:
            raise InputError(f"unknown job state {state!r}; use one of {', '.join(JOB_STATES)}")
        clauses: list[str] = []
        params: list[Any] = []
        if state:
            clauses.append("state = ?")
            params.append(state)
        if plan_id:
            clauses.append("plan_id = ?")
            params.append(plan_id)
        if job_ids is not None:
            clauses.append(f"job_id IN ({', '.join('?' for _ in job_ids) or 'NULL'})")
            params.extend(int(i) for i in job_ids)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self.session() as db:
            rows = db.fetchall(
                "SELECT job_id, plan_id, kind, source, dataset, area, area_to, window_start, "
                "window_end, state, attempts, max_attempts, last_error, lease_owner, "
                "lease_expires_at, not_before, created_at, updated_at, result FROM jobs "
                f"{where} ORDER BY window_start, job_id LIMIT ?",
                [*params, int(limit)],
            )
        return [_job(row) for row in rows]

    def job_counts(self, plan_id: str | None = None) -> dict[str, int]:
        with self.session() as db:
            rows = db.fetchall(
                "SELECT state, count(*) FROM jobs WHERE (CAST(? AS VARCHAR) IS NULL OR plan_id = ?) GROUP BY state",
                (plan_id, plan_id),
            )
        counts = dict.fromkeys(JOB_STATES, 0)
        counts.update({str(r[0]): int(r[1]) for r in rows})
        return counts


UTC_TS_TYPE = pa.timestamp("us", tz="UTC")


def _cast_times(table: pa.Table) -> pa.Table:
    """Normalise timestamp columns to µs UTC (engines differ in unit/zone of computed columns)."""
    fields = []
    for schema_field in table.schema:
        if pa.types.is_timestamp(schema_field.type):
            fields.append(pa.field(schema_field.name, UTC_TS_TYPE))
        else:
            fields.append(schema_field)
    return table.cast(pa.schema(fields))


def _job(row: tuple[Any, ...]) -> Job:
    return Job(
        job_id=int(row[0]),
        plan_id=row[1],
        kind=row[2],
        source=row[3],
        dataset=row[4],
        area=row[5],
        area_to=row[6] or None,
        window_start=_aware(row[7]) or now_utc(),
        window_end=_aware(row[8]) or now_utc(),
        state=row[9],
        attempts=int(row[10]),
        max_attempts=int(row[11]),
        last_error=row[12],
        lease_owner=row[13],
        lease_expires_at=_aware(row[14]),
        not_before=_aware(row[15]),
        created_at=_aware(row[16]) or now_utc(),
        updated_at=_aware(row[17]) or now_utc(),
        result=json.loads(row[18]) if row[18] else None,
    )


def iter_batches(table: pa.Table, size: int) -> Iterator[pa.Table]:
    """Slices of ``table`` of at most ``size`` rows (bounded memory for bulk loads)."""
    for offset in range(0, table.num_rows, size):
        yield table.slice(offset, size)


__all__ = ["Session", "Store", "canonical_dimensions", "iter_batches", "scrub_request"]
