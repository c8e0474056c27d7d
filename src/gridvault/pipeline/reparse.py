"""Re-run the parser over archived payloads and store what now parses.

Every response is archived before it is parsed, and a payload that failed to parse is kept
as ``quarantined``. After a parser fix, :func:`reparse_archive` reads those payloads back
(the original bytes), parses them again, validates and upserts the values, and updates the
archive row's outcome — the archive row is reused, nothing is archived twice.

Idempotent: reparsing a payload whose values are stored already changes nothing. It also
never turns the clock back: a value that a *later* fetch of another document already
stored (its ``ingested_at`` is after this payload's ``fetched_at``) is kept, so an old
quarantined payload cannot overwrite a newer revision. Values become known at the time of
the reparse (``known_at``), which is what ``query --as-of`` then shows.

Responses that were refusals (HTTP 4xx/5xx pages) are not data documents and are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridvault.errors import InputError, ParseError
from gridvault.logs import get_logger
from gridvault.pipeline.ingest import Parser, parse_entsoe
from gridvault.pipeline.series_map import SOURCE, map_values, observations
from gridvault.pipeline.validate import validate
from gridvault.store import Store, UpsertResult
from gridvault.store.model import UTC_TS, ArchiveRecord
from gridvault.timegrid import utc

log = get_logger("gridvault.reparse")

#: What ``gridvault reparse --outcome`` selects: the archive's parse outcome, or every row.
OUTCOME_CHOICES = ("quarantined", "error", "all")
_KEEP_ON_FAILURE = ("quarantined", "error")


@dataclass
class ReparseResult:
    """What reparsing one archived payload did."""

    archive_id: int
    sha256: str
    dataset: str | None
    name: str
    before: str | None
    after: str | None
    per_dataset: dict[str, UpsertResult] = field(default_factory=dict)
    outages: UpsertResult = field(default_factory=UpsertResult)
    values: int = 0
    kept_newer: int = 0
    error: str | None = None
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def points(self) -> UpsertResult:
        return UpsertResult.combined(self.per_dataset.values())


def payload_name(record: ArchiveRecord) -> str:
    """A name for messages (and for the parser's CSV detection): the imported file's name,
    else the request's document type and period."""
    request = record.request
    if isinstance(request.get("file"), str):
        return str(request["file"])
    params = request.get("params") if isinstance(request.get("params"), dict) else request
    parts = [
        f"{key}={params[key]}"
        for key in ("documentType", "processType", "periodStart", "periodEnd", "offset")
        if isinstance(params, dict) and key in params
    ]
    return f"archive #{record.archive_id}" + (f" ({', '.join(parts)})" if parts else "")


def reparse_archive(
    store: Store,
    *,
    outcome: str = "quarantined",
    dataset: str | None = None,
    limit: int = 10_000,
    parser: Parser = parse_entsoe,
    known_at: datetime | None = None,
) -> list[ReparseResult]:
    """Reparse archived payloads with parse outcome ``outcome`` (or ``all``), oldest first."""
    if outcome not in OUTCOME_CHOICES:
        raise InputError(f"unknown outcome {outcome!r}; use one of {', '.join(OUTCOME_CHOICES)}")
    if limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}")
    records = store.archive_records(
        outcome=None if outcome == "all" else outcome, dataset=dataset, limit=limit
    )
    records.sort(key=lambda record: (record.fetched_at, record.archive_id))
    return [reparse_record(store, record, parser=parser, known_at=known_at) for record in records]


def reparse_record(
    store: Store,
    record: ArchiveRecord,
    *,
    parser: Parser = parse_entsoe,
    known_at: datetime | None = None,
) -> ReparseResult:
    """Parse one archived payload again and store its values; never raises for the payload."""
    name = payload_name(record)
    result = ReparseResult(
        record.archive_id,
        record.sha256,
        record.dataset,
        name,
        record.parse_outcome,
        record.parse_outcome,
    )
    if record.http_status is not None and not 200 <= record.http_status < 300:
        result.skipped = f"HTTP {record.http_status} response, not a data document"
        return result
    data = store.payload(record.sha256)
    try:
        values, outages = parser(data, name)
    except ParseError as exc:
        result.error = str(exc)
        if record.parse_outcome in _KEEP_ON_FAILURE:
            store.set_parse_outcome(
                record.archive_id, record.parse_outcome or "quarantined", str(exc)
            )
        log.info("payload still does not parse", archive_id=record.archive_id, error=str(exc))
        return result
    if record.dataset is not None and values.num_rows:
        # As at ingest: the dataset that was requested wins over document-type guessing.
        values = values.set_column(
            values.schema.get_field_index("dataset"),
            "dataset",
            pa.array([record.dataset] * values.num_rows, pa.string()),
        )
    with store.session(write=True):
        result.per_dataset, result.kept_newer = _store_values(
            store, values, fetched_at=record.fetched_at, known_at=known_at
        )
        result.values = values.num_rows
        if outages is not None and outages.num_rows:
            result.outages = store.upsert_outages(outages, source=SOURCE)
        empty = values.num_rows == 0 and (outages is None or outages.num_rows == 0)
        result.after = "no_data" if empty else "ok"
        store.set_parse_outcome(record.archive_id, result.after)
    log.info(
        "payload reparsed",
        archive_id=record.archive_id,
        before=result.before,
        after=result.after,
        values=result.values,
        kept_newer=result.kept_newer,
    )
    return result


def _store_values(
    store: Store, values: pa.Table, *, fetched_at: datetime, known_at: datetime | None
) -> tuple[dict[str, UpsertResult], int]:
    """Map, validate and upsert, leaving out values a later fetch already replaced."""
    mapped = map_values(values)
    if not mapped.keys:
        return {}, 0
    flags = validate(mapped, now=known_at)
    ids = store.ensure_series(mapped.keys)
    batch = observations(mapped, ids, flags)
    row_dataset = pa.array([key.dataset for key in mapped.keys]).take(mapped.key_index)
    keep = _not_superseded(store, batch, utc(fetched_at))
    kept_newer = int(np.count_nonzero(~keep))
    if kept_newer:
        mask = pa.array(keep)
        batch, row_dataset = batch.filter(mask), row_dataset.filter(mask)
    results: dict[str, UpsertResult] = {}
    for name in sorted(set(row_dataset.to_pylist())):
        subset = batch.filter(pc.equal(row_dataset, name))
        results[name] = store.upsert_observations(subset, known_at=known_at)
    return results, kept_newer


def _not_superseded(store: Store, batch: pa.Table, fetched_at: datetime) -> np.ndarray:
    """Per row: False when the stored value came later, from another document."""
    n = batch.num_rows
    keep = np.ones(n, dtype=bool)
    if n == 0:
        return keep
    ids = sorted({int(i) for i in batch["series_id"].to_pylist()})
    low, high = (v.as_py() for v in pc.min_max(batch["interval_start"]).values())
    with store.session() as db:
        stored = db.fetch_arrow(
            "SELECT series_id, interval_start, document_id AS stored_document, ingested_at "
            f"FROM observations WHERE series_id IN ({', '.join('?' for _ in ids)}) "
            "AND interval_start >= ? AND interval_start <= ?",
            [*ids, low, high],
        )
    if stored.num_rows == 0:
        return keep
    incoming = pa.table(
        {
            "series_id": batch["series_id"].cast(pa.int64()),
            "interval_start": batch["interval_start"].cast(UTC_TS),
            "document_id": batch["document_id"].cast(pa.string()),
            "_row": pa.array(np.arange(n), pa.int64()),
        }
    )
    stored = pa.table(
        {
            "series_id": stored["series_id"].cast(pa.int64()),
            "interval_start": stored["interval_start"].cast(UTC_TS),
            "stored_document": stored["stored_document"].cast(pa.string()),
            "ingested_at": stored["ingested_at"].cast(UTC_TS),
        }
    )
    joined = incoming.join(stored, keys=["series_id", "interval_start"], join_type="inner")
    if joined.num_rows == 0:
        return keep
    same_document = pc.or_(
        pc.fill_null(pc.equal(joined["document_id"], joined["stored_document"]), False),
        pc.and_(pc.is_null(joined["document_id"]), pc.is_null(joined["stored_document"])),
    )
    later = pc.greater(joined["ingested_at"], pa.scalar(fetched_at, UTC_TS))
    superseded = pc.and_(later, pc.invert(same_document))
    rows = joined["_row"].filter(superseded).to_numpy()
    keep[rows] = False
    return keep


__all__ = ["OUTCOME_CHOICES", "ReparseResult", "payload_name", "reparse_archive", "reparse_record"]
