"""The data model every layer shares: series keys, observation batches, results.

An *observation batch* is a :class:`pyarrow.Table` with :data:`OBSERVATION_SCHEMA`
(``series_id`` resolved through :meth:`Store.ensure_series`). Times are UTC instants,
intervals are half-open ``[interval_start, interval_end)``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntFlag
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import zstandard

from gridvault.errors import InputError

UTC_TS = pa.timestamp("us", tz="UTC")

OBSERVATION_SCHEMA = pa.schema(
    [
        pa.field("series_id", pa.int64(), nullable=False),
        pa.field("interval_start", UTC_TS, nullable=False),
        pa.field("interval_end", UTC_TS, nullable=False),
        pa.field("value", pa.float64()),
        pa.field("publish_time", UTC_TS),
        pa.field("flags", pa.int32(), nullable=False),
        pa.field("document_id", pa.string()),
    ]
)

OUTAGE_KEY = ("source", "document_mrid", "revision_number", "timeseries_mrid", "interval_start")


class Quality(IntFlag):
    """Quality flags kept with each value (never a reason to drop it)."""

    OK = 0
    OUT_OF_RANGE = 1
    FLAT_LINE = 2
    DUPLICATE_IN_DOCUMENT = 4
    UNEXPECTED_RESOLUTION = 8
    FUTURE_ACTUAL = 16
    SYNTHETIC = 32


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """The natural key of a series plus its descriptive attributes.

    ``dimensions`` holds whatever splits a dataset into series (production type, business
    type, auction sequence, contract type, direction, measure, the other area of a border).
    """

    source: str
    dataset: str
    area: str
    dimensions: Mapping[str, str] = field(default_factory=dict)
    unit: str | None = None
    resolution: str | None = None

    @property
    def dimensions_text(self) -> str:
        """Canonical JSON (sorted keys, no nulls): the stored form of ``dimensions``."""
        return canonical_dimensions(self.dimensions)

    @property
    def natural_key(self) -> tuple[str, str, str, str]:
        return (self.source, self.dataset, self.area, self.dimensions_text)


def canonical_dimensions(dimensions: Mapping[str, Any]) -> str:
    clean = {str(k): str(v) for k, v in dimensions.items() if v is not None and v != ""}
    return json.dumps(clean, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Series:
    """A stored series."""

    series_id: int
    source: str
    dataset: str
    area: str
    dimensions: dict[str, str]
    unit: str | None
    resolution: str | None

    @property
    def key(self) -> SeriesKey:
        return SeriesKey(
            self.source, self.dataset, self.area, self.dimensions, self.unit, self.resolution
        )


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What one batch did: rows new to the store, rows whose value changed, rows already there."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged

    @staticmethod
    def combined(results: Iterable[UpsertResult]) -> UpsertResult:
        """The sum of several results (e.g. the per-dataset counts of one payload)."""
        total = UpsertResult()
        for result in results:
            total = total + result
        return total

    def __add__(self, other: UpsertResult) -> UpsertResult:
        return UpsertResult(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


@dataclass(frozen=True, slots=True)
class ArchiveRecord:
    """One archived raw response: the request that got it and what parsing made of it."""

    archive_id: int
    sha256: str
    source: str
    dataset: str | None
    request: dict[str, Any]
    fetched_at: datetime
    http_status: int | None
    content_type: str | None
    size: int
    parse_outcome: str | None
    parse_error: str | None


@dataclass(frozen=True, slots=True)
class PayloadBlob:
    """A raw payload as the archive keeps it: its content address, size and zstd bytes.

    Computed without the store (hashing and compressing a 2.5 MB response is ~10 ms of CPU),
    so a collector does it before taking the store's write lock, or in a worker process."""

    sha256: str
    size: int
    compressed: bytes

    @classmethod
    def of(cls, body: bytes) -> PayloadBlob:
        return cls(
            hashlib.sha256(body).hexdigest(),
            len(body),
            zstandard.ZstdCompressor(level=3).compress(body),
        )


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A unit of collection work: one dataset, area (pair) and window."""

    plan_id: str
    kind: str
    source: str
    dataset: str
    area: str
    window_start: datetime
    window_end: datetime
    area_to: str | None = None
    max_attempts: int = 5


@dataclass(frozen=True, slots=True)
class Job:
    """A job ledger row."""

    job_id: int
    plan_id: str
    kind: str
    source: str
    dataset: str
    area: str
    area_to: str | None
    window_start: datetime
    window_end: datetime
    state: str
    attempts: int
    max_attempts: int
    last_error: str | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    not_before: datetime | None
    created_at: datetime
    updated_at: datetime
    result: dict[str, Any] | None


JOB_STATES = ("pending", "running", "done", "failed")


def normalize_observations(batch: pa.Table) -> pa.Table:
    """Cast a batch to :data:`OBSERVATION_SCHEMA`, filling optional columns.

    Refuses (``InputError``) missing required columns, null keys and empty intervals, so a
    bad batch fails before anything is written.
    """
    required = ("series_id", "interval_start", "interval_end", "value")
    missing = [name for name in required if name not in batch.column_names]
    if missing:
        raise InputError(f"observation batch lacks columns: {', '.join(missing)}")
    n = batch.num_rows
    columns: list[pa.Array | pa.ChunkedArray] = []
    for schema_field in OBSERVATION_SCHEMA:
        if schema_field.name in batch.column_names:
            column = batch.column(schema_field.name)
            if schema_field.name == "flags":
                column = pc.fill_null(column, 0)
            try:
                column = column.cast(schema_field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise InputError(f"column {schema_field.name}: {exc}") from None
        elif schema_field.name == "flags":
            column = pa.array([0] * n, pa.int32())
        else:
            column = pa.nulls(n, schema_field.type)
        columns.append(column)
    table = pa.Table.from_arrays(columns, schema=OBSERVATION_SCHEMA.with_metadata(None))
    for name in ("series_id", "interval_start", "interval_end"):
        if table.column(name).null_count:
            raise InputError(f"observation batch has null {name}")
    if n and not pc.all(pc.greater(table["interval_end"], table["interval_start"])).as_py():
        raise InputError("observation batch has an interval whose end is not after its start")
    return table
