"""Writers of Arrow tables as JSON lines, CSV and Parquet, streaming batch by batch.

Times are RFC 3339: UTC with ``Z`` by default, or local with an offset when a time zone is
asked for. Values are numbers or null. Null fields are left out of JSON lines.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from gridvault.timegrid import rfc3339, zone

FORMATS = ("jsonl", "csv", "parquet")


def _format_time(moment: datetime, tz: str | None) -> str:
    if tz is None or tz == "UTC":
        return rfc3339(moment)
    return moment.astimezone(zone(tz)).isoformat()


def _cell(value: Any, tz: str | None) -> Any:
    if isinstance(value, datetime):
        return _format_time(value, tz)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def records(
    table: pa.Table, tz: str | None = None, *, drop: tuple[str, ...] = ("series_id",)
) -> Iterator[dict[str, Any]]:
    """Plain dicts, batch by batch (never the whole table as Python objects at once)."""
    names = [n for n in table.column_names if n not in drop]
    for batch in table.select(names).to_batches(max_chunksize=10_000):
        for row in batch.to_pylist():
            yield {k: _cell(v, tz) for k, v in row.items()}


def write_jsonl(
    table: pa.Table, out: IO[str], tz: str | None = None, *, keep: tuple[str, ...] = ("value",)
) -> int:
    count = 0
    for row in records(table, tz):
        out.write(json.dumps({k: v for k, v in row.items() if v is not None or k in keep}))
        out.write("\n")
        count += 1
    return count


def write_csv(table: pa.Table, out: IO[str], tz: str | None = None) -> int:
    names = [n for n in table.column_names if n != "series_id"]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    count = 0
    for row in records(table, tz):
        writer.writerow(["" if row[n] is None else row[n] for n in names])
        count += 1
    return count


def write_parquet(table: pa.Table, out: IO[bytes]) -> int:
    pq.write_table(table.drop_columns([c for c in ("series_id",) if c in table.column_names]), out)
    return int(table.num_rows)


def write(
    table: pa.Table,
    fmt: str,
    text_out: IO[str],
    binary_out: IO[bytes] | None = None,
    tz: str | None = None,
) -> int:
    if fmt == "jsonl":
        return write_jsonl(table, text_out, tz)
    if fmt == "csv":
        return write_csv(table, text_out, tz)
    if fmt == "parquet":
        if binary_out is None:
            raise ValueError("parquet needs a binary output")
        return write_parquet(table, binary_out)
    raise ValueError(fmt)


__all__ = ["FORMATS", "records", "write", "write_csv", "write_jsonl", "write_parquet"]
