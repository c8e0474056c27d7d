"""Compose the pipeline for one payload: archive → parse → map → validate → upsert.

The same function serves a saved file (``gridvault import``) and a live response
(``gridvault collect``): the raw bytes are archived first, content-addressed; the parsed
values and outage events are then written in ONE transaction together with the archive
row, so a payload is either fully stored or not at all. A payload that fails to parse is
kept in the archive as ``quarantined`` (for ``gridvault reparse`` after a parser fix) and
nothing of it reaches the observations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridvault.errors import ParseError
from gridvault.logs import get_logger
from gridvault.pipeline.series_map import (
    SOURCE,
    STORED_COLUMNS,
    MappedBatch,
    map_values,
    observations,
)
from gridvault.pipeline.validate import validate
from gridvault.store import Store, UpsertResult
from gridvault.store.model import PayloadBlob

log = get_logger("gridvault.ingest")

Parser = Callable[[bytes, str], tuple[pa.Table, pa.Table | None]]


@dataclass
class IngestOutcome:
    """What one payload did to the store."""

    name: str
    per_dataset: dict[str, UpsertResult] = field(default_factory=dict)
    outages: UpsertResult = field(default_factory=UpsertResult)
    values: int = 0
    flagged: int = 0
    no_data: bool = False
    error: str | None = None
    archive_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def total(self) -> UpsertResult:
        return UpsertResult.combined(self.per_dataset.values())


def parse_entsoe(data: bytes, name: str) -> tuple[pa.Table, pa.Table | None]:
    """XML/ZIP responses and the website's CSV exports, told apart by their first bytes."""
    head = data[:64].lstrip(b"\xef\xbb\xbf").lstrip()
    if name.lower().endswith(".csv") or head.startswith((b'"MTU', b'"Time', b"MTU", b"Time")):
        from gridvault.entsoe.csv_export import read_csv_export  # noqa: PLC0415

        return read_csv_export(data, name), None
    from gridvault.entsoe.parser import parse_document  # noqa: PLC0415

    parsed = parse_document(data, source_name=name)
    return parsed.values, parsed.outages


@dataclass(frozen=True)
class Prepared:
    """One payload made ready for the store without touching it: hashed and compressed for
    the archive, parsed, mapped to series and validated. Built outside the store's write
    lock (or in a worker process, :mod:`gridvault.pipeline.parsing`), so the lock is held
    only for the writes. ``mapped`` keeps only the columns the store writes (a worker sends
    a tenth of the bytes). ``error`` is set (and nothing parsed) when parsing failed."""

    blob: PayloadBlob
    rows: int
    outages: pa.Table | None
    mapped: MappedBatch
    flags: pa.Array
    error: str | None = None


def prepare_payload(
    data: bytes,
    name: str,
    *,
    dataset: str | None = None,
    parser: Parser = parse_entsoe,
    known_at: datetime | None = None,
) -> Prepared:
    """Everything of :func:`ingest_payload` that needs no store; a parse failure is
    returned as ``error`` (other exceptions, e.g. an error acknowledgement, are raised)."""
    blob = PayloadBlob.of(data)
    try:
        values, outages = parser(data, name)
    except ParseError as exc:
        nothing = map_values(pa.table({}))
        return Prepared(blob, 0, None, nothing, pa.array([], pa.int32()), str(exc))
    if dataset is not None and values.num_rows:
        # The caller asked for this dataset: trust the request over document-type guessing
        # (week/month/year-ahead NTC documents look alike).
        values = values.set_column(
            values.schema.get_field_index("dataset"),
            "dataset",
            pa.repeat(pa.scalar(dataset, pa.string()), values.num_rows),
        )
    mapped = map_values(values)
    flags = validate(mapped, now=known_at) if mapped.keys else pa.array([], pa.int32())
    kept = values.select([name for name in STORED_COLUMNS if name in values.column_names])
    if "document_mrid" in kept.column_names:  # one or a few per payload: send each once
        at = kept.schema.get_field_index("document_mrid")
        kept = kept.set_column(at, "document_mrid", pc.dictionary_encode(kept["document_mrid"]))
    slim = MappedBatch(mapped.keys, mapped.key_index, kept)
    return Prepared(blob, values.num_rows, outages, slim, flags)


def write_values(
    store: Store, mapped: MappedBatch, flags: pa.Array, *, known_at: datetime | None = None
) -> tuple[dict[str, UpsertResult], int]:
    """Register the series and upsert mapped, validated values; per-dataset counts and how
    many were flagged."""
    if not mapped.keys:
        return {}, 0
    registered = store.register_series(mapped.keys)
    ids = [series_id for series_id, _ in registered]
    batch = observations(mapped, ids, flags)
    datasets = sorted({key.dataset for key in mapped.keys})
    results: dict[str, UpsertResult] = {}
    for dataset in datasets:
        subset = batch
        if len(datasets) > 1:
            positions = [i for i, key in enumerate(mapped.keys) if key.dataset == dataset]
            subset = batch.filter(pc.is_in(mapped.key_index, pa.array(positions, pa.int64())))
        results[dataset] = store.upsert_observations(subset, known_at=known_at)
    _note_resolutions(store, mapped, registered)
    flagged = int(np.count_nonzero(flags.to_numpy()))
    return results, flagged


def _note_resolutions(
    store: Store, mapped: MappedBatch, registered: list[tuple[int, str | None]]
) -> None:
    """Move each series' resolution to its newest data's (e.g. the 15-minute MTU switch)."""
    starts = mapped.values["interval_start"]
    index = mapped.key_index.to_numpy()
    for position, (key, (series_id, stored)) in enumerate(
        zip(mapped.keys, registered, strict=True)
    ):
        if not key.resolution or key.resolution == stored:
            continue
        rows = np.flatnonzero(index == position)
        latest = pc.max(starts.take(pa.array(rows))).as_py()
        if latest is not None:
            store.note_resolution(series_id, key.resolution, latest)


def ingest_payload(
    store: Store,
    data: bytes,
    *,
    name: str,
    request: dict[str, Any] | None = None,
    http_status: int | None = None,
    content_type: str | None = None,
    dataset: str | None = None,
    parser: Parser = parse_entsoe,
    known_at: datetime | None = None,
    prepared: Prepared | None = None,
) -> IngestOutcome:
    """Archive, parse and store one payload. Parse failures are quarantined, not raised.

    ``prepared``: what :func:`prepare_payload` made of ``data`` elsewhere (then ``parser``
    is not used); otherwise it is prepared here, before the write lock is taken."""
    outcome = IngestOutcome(name=name)
    request = request or {"file": name}
    fetched = datetime.now(UTC)
    if prepared is None:
        prepared = prepare_payload(data, name, dataset=dataset, parser=parser, known_at=known_at)
    archive = partial(
        store.archive_payload,
        prepared.blob,
        source=SOURCE,
        request=request,
        dataset=dataset,
        http_status=http_status,
        content_type=content_type,
        fetched_at=fetched,
    )
    if prepared.error is not None:
        outcome.error = prepared.error
        record = archive(outcome="quarantined", error=outcome.error)
        outcome.archive_id = record.archive_id
        log.warning("payload quarantined", payload=name, error=outcome.error)
        return outcome
    outages = prepared.outages
    outcome.no_data = prepared.rows == 0 and (outages is None or outages.num_rows == 0)
    # One transaction: the archive row, the values and the outages, or nothing of them.
    with store.session(write=True):
        record = archive(outcome="no_data" if outcome.no_data else "ok")
        outcome.archive_id = record.archive_id
        outcome.per_dataset, outcome.flagged = write_values(
            store, prepared.mapped, prepared.flags, known_at=known_at
        )
        outcome.values = prepared.rows
        if outages is not None and outages.num_rows:
            outcome.outages = store.upsert_outages(outages, source=SOURCE)
    return outcome
