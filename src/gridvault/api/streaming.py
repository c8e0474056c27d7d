"""Data responses with bounded memory: plan a query into chunks, encode them as they come.

A data query (series × range, raw or resampled) is split into *chunks* of about
``chunk_rows`` estimated rows: consecutive series are grouped while they fit, and a series
too long for one chunk is split into time windows (raw reads only; a resampled series is
never split, so buckets never straddle a chunk). Chunks are read in
``(series_id, interval_start)`` order, one ahead of the one being encoded and sent, so a
ten-year range costs the memory of two chunks, never of the whole answer.

Encoding is vectorised with Arrow compute (no Python object per value) and, given a thread
pool, runs on several cores: JSON rows and CSV lines are built column-wise from slices of
a chunk, a few slices in flight. A slice holds one series where series are long, so the
series' attributes are one constant text; times and numbers come from
:mod:`gridvault.api.texts` (RFC 3339, ``…Z`` in UTC, ``…+01:00`` when a time zone is asked
for, each distinct instant of a chunk formatted once). Every row carries what it is —
dataset, area, unit, the series' dimensions and the resolution of its own interval (the
bucket's when resampled) — as in :func:`gridvault.query.attach_series`; Arrow and Parquet
carry those as dictionary columns (one copy per distinct value), JSON in the series layout
once per series and resolution (an object with the attributes, ``columns`` and
``values``: a row is an array, a quarter of the bytes).
Encoded JSON/CSV leaves as views of Arrow buffers, uncopied.

Cursor paging: a page ends after ``limit`` rows and the cursor says where the next page
resumes, ``(series_id, time)``: for raw rows just after the last ``interval_start``, for
buckets at the end of the last bucket (the next bucket's start, so no bucket is cut).
"""

from __future__ import annotations

import base64
import binascii
import io
import itertools
import json
import math
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.ipc as pa_ipc
import pyarrow.parquet as pq

from gridvault.api.texts import (
    ChunkTimes,
    constant_text,
    epoch_micros,
    format_times,
    json_numbers,
)
from gridvault.entsoe.catalog import Dataset
from gridvault.errors import GridvaultError, InputError
from gridvault.store import Series, Store
from gridvault.store.buckets import Bucket
from gridvault.timegrid import (
    interval_bounds_us,
    parse_resolution,
    resolution_of_length,
    rfc3339,
    utc,
)

FORMATS = ("json", "csv", "parquet", "arrow")
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "arrow": "application/vnd.apache.arrow.stream",
}
#: Formats written as they are read. Parquet is not: its metadata footer is written last
#: and covers the whole file, so the server holds the whole answer in memory.
STREAMING_FORMATS = ("json", "csv", "arrow")

_UTC_TS = pa.timestamp("us", tz="UTC")
_US = 1_000_000
_T = TypeVar("_T")
_ENCODE_ROWS = 65_536  # slice size for encoding: large enough to amortise, small for caches
_LONG_SERIES = 16  # a series of at least _ENCODE_ROWS / 16 rows is encoded in its own slices
_AHEAD = 2  # slices encoded ahead on the pool (memory: a few slices per response)
#: A piece of a response body; views of Arrow buffers are sent without a copy.
Piece = bytes | memoryview
#: Shortest length of calendar buckets, for row estimates (an upper bound of the count).
_CALENDAR_BUCKET_SECONDS = {
    "day": 23 * 3600,
    "week": 7 * 86_400 - 3600,
    "month": 28 * 86_400,
    "quarter": 89 * 86_400,
    "year": 365 * 86_400,
}
_DEFAULT_RESOLUTION_SECONDS = 900  # unknown resolution: assume 15 minutes (overestimates)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next page starts: series ``series_id`` from ``resume`` on, later series whole."""

    series_id: int
    resume: datetime

    def encode(self) -> str:
        moment = utc(self.resume)
        micros = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        raw = f"v1.{self.series_id}.{micros}".encode("ascii")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        invalid = InputError(
            "invalid cursor; pass the next_cursor value of the previous page unchanged"
        )
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
            version, series_id, micros = raw.split(".")
            cursor = cls(int(series_id), _from_us(int(micros)))
        except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
            raise invalid from None
        if version != "v1":
            raise invalid
        return cursor


def _from_us(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


@dataclass(frozen=True)
class DataQuery:
    """A resolved data query: which stored series, which range, raw or resampled, how shown."""

    dataset: Dataset
    series: Sequence[Series]  # sorted by series_id
    start: datetime
    end: datetime
    resample: Bucket | None = None
    agg: str = "mean"
    bucket_tz: str = "UTC"
    tz: str | None = None
    as_of: datetime | None = None
    published_before: datetime | None = None
    cursor: Cursor | None = None

    @property
    def value_columns(self) -> tuple[str, ...]:
        if self.resample is not None:
            measures = ("open", "high", "low", "close") if self.agg == "ohlc" else ("value",)
            return (*measures, "count")
        return ("value", "publish_time", "flags") if self.dataset.forecast else ("value", "flags")

    def schema(self) -> pa.Schema:
        """Columns of a chunk as read: series_id, interval_start, interval_end, values."""
        fields = [
            pa.field("series_id", pa.int64()),
            pa.field("interval_start", _UTC_TS),
            pa.field("interval_end", _UTC_TS),
        ]
        for name in self.value_columns:
            typ = {"publish_time": _UTC_TS, "flags": pa.int32(), "count": pa.int64()}.get(
                name, pa.float64()
            )
            fields.append(pa.field(name, typ))
        return pa.schema(fields)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One read: these series over ``[start, end)``."""

    series_ids: tuple[int, ...]
    start: datetime
    end: datetime


def _seconds(series: Series, dataset: Dataset) -> float:
    for text in (series.resolution, dataset.resolution):
        if text:
            try:
                return max(parse_resolution(text).nominal.total_seconds(), 1.0)
            except InputError:
                continue
    return _DEFAULT_RESOLUTION_SECONDS


def _bucket_seconds(bucket: Bucket) -> float:
    if bucket.seconds is not None:
        return float(bucket.seconds)
    return float(_CALENDAR_BUCKET_SECONDS.get(bucket.unit or "day", 86_400))


def series_starts(query: DataQuery) -> list[tuple[Series, datetime]]:
    """Each series still to read with the time its read starts (the cursor moves one)."""
    result = []
    for series in query.series:
        start = query.start
        if query.cursor is not None:
            if series.series_id < query.cursor.series_id:
                continue
            if series.series_id == query.cursor.series_id:
                start = max(start, query.cursor.resume)
        if start < query.end:
            result.append((series, start))
    return result


def estimate_rows(query: DataQuery, series: Series, start: datetime) -> int:
    """Rows one series yields over ``[start, query.end)`` if complete (an upper bound)."""
    span = (query.end - start).total_seconds()
    step = _seconds(series, query.dataset)
    if query.resample is not None:
        step = max(step, _bucket_seconds(query.resample))
    return max(1, math.ceil(span / step))


def estimate_total(query: DataQuery) -> int:
    return sum(estimate_rows(query, s, start) for s, start in series_starts(query))


def plan_chunks(query: DataQuery, chunk_rows: int) -> list[Chunk]:
    """Chunks of about ``chunk_rows`` estimated rows, in (series_id, time) order."""
    chunks: list[Chunk] = []
    group: list[int] = []
    group_start: datetime | None = None
    group_rows = 0

    def flush() -> None:
        nonlocal group, group_rows, group_start
        if group and group_start is not None:
            chunks.append(Chunk(tuple(group), group_start, query.end))
        group, group_rows, group_start = [], 0, None

    for series, start in series_starts(query):
        rows = estimate_rows(query, series, start)
        if rows > chunk_rows and query.resample is None:
            flush()
            windows = math.ceil(rows / chunk_rows)
            step = (query.end - start) / windows
            edges = [start + i * step for i in range(windows)] + [query.end]
            chunks.extend(Chunk((series.series_id,), a, b) for a, b in itertools.pairwise(edges))
            continue
        if group and (group_rows + rows > chunk_rows or start != group_start):
            flush()
        group.append(series.series_id)
        group_rows += rows
        group_start = start
    flush()
    return chunks


def read_chunk(store: Store, query: DataQuery, chunk: Chunk) -> pa.Table:
    """One chunk from the store, cast to :meth:`DataQuery.schema`."""
    if query.resample is not None:
        table = store.resample(
            chunk.series_ids,
            chunk.start,
            chunk.end,
            query.resample,
            query.agg,
            tz=query.bucket_tz,
            as_of=query.as_of,
            published_before=query.published_before,
        )
    else:
        table = store.read(
            chunk.series_ids,
            chunk.start,
            chunk.end,
            as_of=query.as_of,
            published_before=query.published_before,
            columns=query.schema().names,
        )
    schema = query.schema()
    return table.select(schema.names).cast(schema)


def iter_tables(
    store: Store, query: DataQuery, chunk_rows: int, *, pool: Executor | None = None
) -> Iterator[pa.Table]:
    """The answer, chunk by chunk (at least one table, possibly empty, so the schema is known).

    With a ``pool`` the next chunk is read while the current one is encoded and sent (one
    chunk ahead: memory stays bounded).
    """
    chunks = plan_chunks(query, chunk_rows)
    if not chunks:
        yield query.schema().empty_table()
        return
    ahead: Future[pa.Table] | None = None
    yielded = False
    for index, chunk in enumerate(chunks):
        table = ahead.result() if ahead is not None else read_chunk(store, query, chunk)
        ahead = None
        if pool is not None and index + 1 < len(chunks):
            ahead = pool.submit(read_chunk, store, query, chunks[index + 1])
        if table.num_rows or not yielded:
            yielded = True
            yield table


def cursor_after(query: DataQuery, table: pa.Table) -> Cursor:
    """The cursor that resumes just after the last row of ``table``."""
    last = table.slice(table.num_rows - 1, 1).to_pylist()[0]
    if query.resample is not None:
        resume = last["interval_end"]
    else:
        resume = last["interval_start"] + timedelta(microseconds=1)
    return Cursor(int(last["series_id"]), utc(resume))


def read_page(
    store: Store, query: DataQuery, limit: int, chunk_rows: int
) -> tuple[pa.Table, Cursor | None]:
    """At most ``limit`` rows and the cursor of the next page (None: this is the last)."""
    parts: list[pa.Table] = []
    rows = 0
    for table in iter_tables(store, query, min(chunk_rows, limit + 1)):
        parts.append(table)
        rows += table.num_rows
        if rows > limit:
            break
    page = pa.concat_tables(parts) if parts else query.schema().empty_table()
    if page.num_rows <= limit:
        return page, None
    page = page.slice(0, limit)
    return page, cursor_after(query, page)


# -- encoding ------------------------------------------------------------------------------


def _length_bounds(
    resolutions: Sequence[str | None],
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Per resolution, the shortest and longest interval in µs, and whether rows are
    checked against them (not for None or a resolution that does not parse)."""
    low, high = np.zeros(len(resolutions), np.int64), np.zeros(len(resolutions), np.int64)
    checked = np.zeros(len(resolutions), bool)
    for i, text in enumerate(resolutions):
        if (bounds := interval_bounds_us(text)) is not None:
            low[i], high[i], checked[i] = bounds[0], bounds[1], True
    return low, high, checked


def _string_bytes(array: pa.Array) -> Piece:
    """The concatenated UTF-8 of a string array: a view of its data, nothing copied."""
    if len(array) == 0:
        return b""
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)
    begin, end = int(offsets[array.offset]), int(offsets[array.offset + len(array)])
    data = array.buffers()[2]
    return memoryview(data)[begin:end] if data is not None else b""


def _joined(parts: Sequence[pa.Array | str], rows: int) -> pa.Array:
    """Row-wise concatenation of text columns and constant texts (adjacent constants merged;
    each constant costs the join about as much as a column)."""
    merged: list[pa.Array | str] = []
    for part in parts:
        if isinstance(part, str) and not part:
            continue
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    if all(isinstance(part, str) for part in merged):  # pragma: no cover - times vary
        return pa.array(["".join(map(str, merged))] * rows, pa.string())
    return pc.binary_join_element_wise(*merged, "")


_TIME_COLUMNS = ("interval_start", "interval_end", "publish_time")
#: How JSON answers are laid out: an object per row (each naming its series), or an object
#: per series (its attributes once, its rows as arrays of the columns).
JSON_LAYOUTS = ("rows", "series")


class Layout:
    """How rows of one query are shown: its columns, the series' attributes, the time zone."""

    def __init__(self, query: DataQuery, json_layout: str = "rows") -> None:
        if json_layout not in JSON_LAYOUTS:
            raise InputError(
                f"unknown layout {json_layout!r}; use one of {', '.join(JSON_LAYOUTS)}"
            )
        self.query = query
        self.json_layout = json_layout
        self.tz = query.tz
        self.series = sorted(query.series, key=lambda s: s.series_id)
        self.ids = np.array([s.series_id for s in self.series], dtype=np.int64)
        dim_names = sorted({k for s in self.series for k in s.dimensions})
        self.attribute_names = ["dataset", "area", "unit", "resolution", *dim_names]
        bucket = query.resample.resolution if query.resample is not None else None
        #: The attributes rows show: one entry per series (index as :attr:`series`), then
        #: *variants* added as rows need them (see :meth:`runs`), never removed or moved.
        self.attributes: list[dict[str, str | None]] = [
            {
                "dataset": s.dataset,
                "area": s.area,
                "unit": s.unit,
                "resolution": bucket or s.resolution,
                **{name: s.dimensions.get(name) for name in dim_names},
            }
            for s in self.series
        ]
        self.value_columns = query.value_columns
        self.columns = [
            "interval_start",
            "interval_end",
            *self.value_columns,
            *self.attribute_names,
        ]
        # A raw row's resolution is its own interval's: rows of a series that changed
        # resolution (hourly before the 15-minute MTU, say) show the one they have. Each
        # series' interval lengths in µs, from its resolution; resampled rows are buckets.
        self._low, self._high, self._checked = _length_bounds(
            [None if bucket else s.resolution for s in self.series]
        )
        self._variants: dict[tuple[int, str], int] = {}
        self._lock = threading.Lock()
        # JSON: the constant tail of each row (rows layout) and the opening of each series'
        # object (series layout), escaped once per attributes entry.
        columns = json.dumps(self.columns[: 2 + len(self.value_columns)], separators=(",", ":"))
        self._json_values_key = f',"columns":{columns},"values":['
        self._tails: list[str] = []
        self._json_heads: list[str] = []
        self._tail_array = pa.array([], pa.string())
        # Arrow: each attribute's distinct values (in the order met) and each entry's code.
        self._distinct: list[dict[str, int]] = [{} for _ in self.attribute_names]
        self._codes: list[list[int]] = [[] for _ in self.attribute_names]
        self._code_arrays: list[tuple[pa.Array, np.ndarray[Any, Any], np.ndarray[Any, Any]]] = []
        small = len(self.series) < 128
        self._index_types = [
            (pa.int16() if small else pa.int32())
            if name == "resolution"  # its distinct values grow with the variants
            else (pa.int8() if small else pa.int32())
            for name in self.attribute_names
        ]
        for position in range(len(self.attributes)):
            self._derive(position)

    def _derive(self, position: int) -> None:
        """The texts and codes of ``attributes[position]``; call with the lock held once the
        layout is shared."""
        attrs = self.attributes[position]
        text = json.dumps(attrs, separators=(",", ":"), ensure_ascii=False)
        self._tails.append("," + text[1:])
        self._json_heads.append(text[:-1] + self._json_values_key)
        for k, name in enumerate(self.attribute_names):
            value = attrs[name]
            if value is not None and value not in self._distinct[k]:
                self._distinct[k][value] = len(self._distinct[k])
            self._codes[k].append(-1 if value is None else self._distinct[k][value])

    def _variant(self, series: int, resolution: str) -> int:
        """The attributes entry of series ``series`` with another resolution (added once)."""
        key = (series, resolution)
        with self._lock:
            found = self._variants.get(key)
            if found is None:
                found = len(self.attributes)
                self.attributes.append({**self.attributes[series], "resolution": resolution})
                self._derive(found)
                self._variants[key] = found
            return found

    def _tail_texts(self) -> pa.Array:
        """:attr:`_tails` as an Arrow array (rebuilt after variants were added)."""
        with self._lock:
            if len(self._tail_array) != len(self._tails):
                self._tail_array = pa.array(self._tails, pa.string())
            return self._tail_array

    def _dictionaries(self) -> list[tuple[pa.Array, np.ndarray[Any, Any], np.ndarray[Any, Any]]]:
        """Per attribute: its dictionary, each entry's code and whether it has a value."""
        with self._lock:
            if not self._code_arrays or len(self._code_arrays[0][1]) != len(self.attributes):
                for distinct, index, name in zip(
                    self._distinct, self._index_types, self.attribute_names, strict=True
                ):
                    if len(distinct) > np.iinfo(index.to_pandas_dtype()).max + 1:
                        raise GridvaultError(
                            f"more than {len(distinct) - 1} distinct {name} values in one "
                            "answer for Arrow's dictionary; ask for fewer series, a shorter "
                            "range or format=json"
                        )
                self._code_arrays = [
                    (
                        pa.array(list(distinct), pa.string()),
                        np.maximum(codes, 0).astype(index.to_pandas_dtype()),
                        codes >= 0,
                    )
                    for distinct, index, codes in zip(
                        self._distinct,
                        self._index_types,
                        map(np.array, self._codes),
                        strict=True,
                    )
                ]
            return self._code_arrays

    def runs(
        self, table: pa.Table | pa.RecordBatch
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """The runs of rows with the same attributes: index into :attr:`attributes` and
        length of each.

        Rows come sorted by series. A run is a series' rows, cut where rows' intervals are
        not of the series' resolution: those show their own (a variant of the series'
        attributes, see :func:`gridvault.timegrid.resolution_of_length`).
        """
        ids: np.ndarray[Any, Any] = table.column("series_id").to_numpy()
        if len(ids) == 0:
            return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
        starts = np.concatenate(([0], np.flatnonzero(ids[1:] != ids[:-1]) + 1))
        index = np.searchsorted(self.ids, ids[starts])
        lengths = np.diff(np.append(starts, len(ids)))
        if not self._checked[index].any():
            return index, lengths
        span = epoch_micros(table.column("interval_end")) - epoch_micros(
            table.column("interval_start")
        )
        if len(index) == 1:
            odd = (span < self._low[index[0]]) | (span > self._high[index[0]])
        else:
            odd = (span < np.repeat(self._low[index], lengths)) | (
                span > np.repeat(self._high[index], lengths)
            )
        if not odd.any():
            return index, lengths
        rows = np.repeat(index, lengths)
        at = np.flatnonzero(odd)
        pairs, which = np.unique(np.stack([rows[at], span[at]]), axis=1, return_inverse=True)
        variants = [
            self._variant(series, resolution_of_length(micros / _US).iso)
            for series, micros in zip(*pairs.tolist(), strict=True)
        ]
        rows[at] = np.array(variants)[which.reshape(-1)]
        starts = np.concatenate(([0], np.flatnonzero(rows[1:] != rows[:-1]) + 1))
        return rows[starts], np.diff(np.append(starts, len(rows)))

    def positions(self, table: pa.Table | pa.RecordBatch) -> np.ndarray[Any, Any]:
        """Index into :attr:`attributes` of each row."""
        return np.repeat(*self.runs(table))

    def arrow_schema(self) -> pa.Schema:
        ts = pa.timestamp("us", tz=self.tz or "UTC")
        fields = [pa.field("interval_start", ts), pa.field("interval_end", ts)]
        base = self.query.schema()
        for name in self.value_columns:
            typ = ts if name == "publish_time" else base.field(name).type
            fields.append(pa.field(name, typ))
        fields.extend(
            pa.field(name, pa.dictionary(index, pa.string()))
            for name, index in zip(self.attribute_names, self._index_types, strict=True)
        )
        return pa.schema(fields)

    def to_arrow(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """A batch as served in Arrow/Parquet: times in the asked zone, attributes as dictionaries."""
        schema = self.arrow_schema()
        series, lengths = self.runs(batch)
        arrays: list[pa.Array] = []
        for name in ("interval_start", "interval_end", *self.value_columns):
            column = batch.column(name)
            arrays.append(column.cast(schema.field(name).type))
        for dictionary, codes, valid in self._dictionaries():
            missing = ~valid[series]
            arrays.append(
                pa.DictionaryArray.from_arrays(
                    np.repeat(codes[series], lengths),
                    dictionary,
                    mask=np.repeat(missing, lengths) if missing.any() else None,
                    safe=False,  # codes index their dictionary by construction
                )
            )
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def _leads(self) -> list[str]:
        """The JSON before each column's text in a row: its key (rows layout, ``,{`` opening
        the row) or a separator (series layout, ``,[`` opening the row's array)."""
        names = ["interval_start", "interval_end", *self.value_columns]
        if self.json_layout == "series":
            return [",[", *("," for _ in names[1:])]
        return [',{"' + names[0] + '":', *(',"' + name + '":' for name in names[1:])]

    def json_pair(self) -> tuple[str, str, str]:
        """The JSON around a row's start and end text, up to its first value (for
        :meth:`ChunkTimes.pairs`)."""
        leads = self._leads()
        return leads[0], leads[1], leads[2]

    def _json_values(
        self, batch: pa.RecordBatch, times: ChunkTimes | None, end: str
    ) -> list[pa.Array | str]:
        """Each row's text, in parts to be joined: ``,{"interval_start":…,"value":…`` (rows
        layout) or ``,[…,…`` (series layout), then ``end``.

        A column that is the same on every row of the batch (no publish time, flags 0) is
        written as part of the row template instead of value by value; rows on the chunk's
        time grid take start and end from :meth:`ChunkTimes.pairs` in one piece; the
        constant text after the last varying column is written into its number texts.
        """
        names = ["interval_start", "interval_end", *self.value_columns]
        leads = self._leads()
        constants = [constant_text(batch.column(name)) for name in names]
        parts: list[pa.Array | str] = []
        first = 0
        if times is not None and (pairs := times.pairs(batch)) is not None:
            parts.append(pairs)  # with the lead of the first value column
            first, leads = 2, [*leads[:2], "", *leads[3:]]
        varying = [i for i in range(first, len(names)) if constants[i] is None]
        last = varying[-1] if varying else len(names)
        for i in range(first, min(last + 1, len(names))):
            parts.append(leads[i])
            constant = constants[i]
            if constant is not None:
                parts.append(constant)
                continue
            after = ""
            if i == last:  # the constant columns after it, and the end of the row
                after = "".join(leads[k] + str(constants[k]) for k in range(i + 1, len(names)))
                after += end
            parts.extend(self._column_text(names[i], batch.column(names[i]), times, after))
        if last == len(names):
            parts.append(end)
        return parts

    def _column_text(
        self, name: str, column: pa.Array, times: ChunkTimes | None, after: str
    ) -> list[pa.Array | str]:
        """One column's JSON text, then ``after``."""
        if name not in _TIME_COLUMNS:
            return json_numbers(column, after)
        if times is None:
            text = format_times(column, self.tz, quote=True)
            text = pc.fill_null(text, "null") if text.null_count else text
        else:
            text = times.of(name, column)
        return [text, after] if after else [text]

    def to_json_rows(self, batch: pa.RecordBatch, times: ChunkTimes | None = None) -> pa.Array:
        """One string per row: ``,{"interval_start":…}`` (leading comma, no newline)."""
        index, lengths = self.runs(batch)
        if len(index) == 1:  # one series (of one resolution) in this batch
            tail: pa.Array | str = self._tails[int(index[0])]
        else:
            tail = self._tail_texts().take(pa.array(np.repeat(index, lengths)))
        # The row's end goes into the number texts only when short: the series' attributes
        # (the tail) would make a table of texts per series.
        parts = self._json_values(batch, times, "")
        parts.append(tail)
        return _joined(parts, batch.num_rows)

    def to_json_series(
        self, batch: pa.RecordBatch, times: ChunkTimes | None, open_series: int | None
    ) -> list[Piece]:
        """The batch in the series layout: ``[start,end,value…]`` per row, each series' rows
        in the ``values`` of an object that names the series once.

        ``open_series`` is the index (into :attr:`attributes`) of the object the batch
        before left open (None at the start): rows with those attributes continue its
        ``values``; other rows close the open object and open their own (a series' rows of
        another resolution too: each object names one). The rows are written in one piece,
        each with a leading comma, and cut where an object starts (its opening goes in
        between, its first row loses the comma): pieces are views.
        """
        series, lengths = self.runs(batch)
        text = _joined(self._json_values(batch, times, "]"), batch.num_rows)
        data = _string_bytes(text)
        if len(series) == 1 and open_series is not None and int(series[0]) == open_series:
            return [data]
        offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)
        offsets = offsets[text.offset : text.offset + len(text) + 1] - offsets[text.offset]
        bounds = offsets[np.concatenate(([0], np.cumsum(lengths)))].tolist()
        view = memoryview(data)
        pieces: list[Piece] = []
        for j, index in enumerate(series.tolist()):
            begin, end = bounds[j], bounds[j + 1]
            if j == 0 and index == open_series:
                pieces.append(view[begin:end])
                continue
            first = j == 0 and open_series is None
            pieces.append(self._opening(index, first=first).encode())
            pieces.append(view[begin + 1 : end])
        return pieces

    def _opening(self, index: int, *, first: bool) -> str:
        """The text that opens the object of ``attributes[index]`` up to its first row (and
        closes the object before it unless ``first``)."""
        return ("" if first else "]},") + self._json_heads[index]

    def to_csv_table(self, batch: pa.RecordBatch, times: ChunkTimes | None = None) -> pa.Table:
        """A table of what a CSV line shows (times as RFC 3339 text, attributes as text)."""
        pos = pa.array(self.positions(batch))
        columns: dict[str, pa.Array] = {}
        for name in ("interval_start", "interval_end", *self.value_columns):
            column = batch.column(name)
            if name in _TIME_COLUMNS:
                column = format_times(column, self.tz) if times is None else times.of(name, column)
            columns[name] = column
        for name in self.attribute_names:
            values = pa.array([attrs[name] for attrs in self.attributes], pa.string())
            columns[name] = values.take(pos)
        return pa.table(columns)


class _Drain:
    """A write-only file that hands out what was written since the last :meth:`take`."""

    def __init__(self) -> None:
        self._parts: list[Any] = []
        self._position = 0
        self.closed = False

    def write(self, data: Any) -> int:
        # Body buffers arrive as pyarrow Buffers of the batch being written: holding them
        # keeps their memory alive until take() copies everything once.
        self._parts.append(data)
        size = len(memoryview(data))
        self._position += size
        return size

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def take(self) -> list[Piece]:
        """What was written since the last call: large buffers as views, the rest joined."""
        pieces: list[Piece] = []
        small: list[Any] = []
        for part in self._parts:
            view = memoryview(part)
            if view.nbytes >= 1 << 16:
                if small:
                    pieces.append(b"".join(small))
                    small = []
                pieces.append(view)
            else:
                small.append(part)
        if small:
            pieces.append(b"".join(small))
        self._parts.clear()
        return pieces


def _batches(tables: Iterable[pa.Table], rows: int = _ENCODE_ROWS) -> Iterator[pa.RecordBatch]:
    for table in tables:
        yield from table.to_batches(max_chunksize=rows)


def encode(
    layout: Layout,
    fmt: str,
    tables: Iterable[pa.Table],
    meta: Callable[[int], dict[str, Any]] | None = None,
    *,
    pool: Executor | None = None,
) -> Iterator[Piece]:
    """Bytes of the answer in ``fmt``, produced as ``tables`` are read.

    The first ``next()`` reads the first table before anything is produced, so a failing
    store is noticed before a response has started. ``meta(rows)`` gives the JSON trailer.
    With a ``pool``, JSON and CSV slices are encoded on its threads, a few ahead and in
    order (Arrow compute releases the GIL, so this uses every core).
    """
    source = iter(tables)
    first = next(source, None)
    chained = [first] if first is not None else []

    def everything() -> Iterator[pa.Table]:
        yield from chained
        yield from source

    if fmt == "json":
        yield from _encode_json(layout, everything(), meta, pool)
    elif fmt == "csv":
        yield from _encode_csv(layout, everything(), pool)
    elif fmt == "arrow":
        yield from _encode_arrow(layout, everything())
    elif fmt == "parquet":
        yield _encode_parquet(layout, everything())
    else:  # pragma: no cover - checked by the route
        raise InputError(f"unknown format {fmt!r}")


def _ordered_map(
    pool: Executor | None,
    function: Callable[..., _T],
    items: Iterable[tuple[pa.RecordBatch, *tuple[Any, ...]]],
) -> Iterator[tuple[pa.RecordBatch, _T]]:
    """``function(*item)`` over ``items`` in order; on ``pool`` with a bounded number in
    flight. Yields each item's batch with its result."""
    if pool is None:
        for item in items:
            yield item[0], function(*item)
        return
    ahead = _AHEAD
    pending: deque[tuple[pa.RecordBatch, Future[_T]]] = deque()
    for item in items:
        pending.append((item[0], pool.submit(function, *item)))
        if len(pending) > ahead:
            done, future = pending.popleft()
            yield done, future.result()
    while pending:
        done, future = pending.popleft()
        yield done, future.result()


def _series_slices(table: pa.Table, rows: int = _ENCODE_ROWS) -> Iterator[pa.RecordBatch]:
    """Non-empty batches of at most ``rows`` rows, cut where a series starts when series are
    long (a batch of one series writes its series' attributes as one constant text) and
    holding several series when they are short (a batch has a fixed cost)."""
    ids = table.column("series_id").to_numpy()
    edges = [*(np.flatnonzero(ids[1:] != ids[:-1]) + 1).tolist(), len(ids)]
    pending, begin = 0, 0  # rows [pending, begin) wait for the next batch
    spans: list[tuple[int, int]] = []
    for end in edges:
        if end - begin >= rows // _LONG_SERIES:
            spans.append((pending, begin))
            spans.extend((at, min(at + rows, end)) for at in range(begin, end, rows))
            pending = end
        elif end - pending > rows:
            spans.append((pending, begin))
            pending = begin
        begin = end
    spans.append((pending, len(ids)))
    for start, stop in spans:
        if stop > start:
            yield from table.slice(start, stop - start).to_batches()


def _with_times(
    layout: Layout, tables: Iterable[pa.Table], *, quote: bool
) -> Iterator[tuple[pa.RecordBatch, ChunkTimes]]:
    """Non-empty batches of each table with the time texts of their table."""
    pair = layout.json_pair() if quote else None
    times: ChunkTimes | None = None
    for table in tables:
        if table.num_rows == 0:
            continue
        times = ChunkTimes(table, layout.tz, quote=quote, pair=pair, previous=times)
        for batch in _series_slices(table):
            if batch.num_rows:
                yield batch, times


def _encode_json(
    layout: Layout,
    tables: Iterable[pa.Table],
    meta: Callable[[int], dict[str, Any]] | None,
    pool: Executor | None,
) -> Iterator[Piece]:
    rows = 0
    if layout.json_layout == "series":
        yield b'{"series":['
        for batch, pieces in _ordered_map(
            pool, layout.to_json_series, _with_open_series(layout, tables)
        ):
            yield from pieces
            rows += batch.num_rows
        if rows:
            yield b"]}"
    else:

        def rows_text(batch: pa.RecordBatch, times: ChunkTimes) -> Piece:
            return _string_bytes(layout.to_json_rows(batch, times))

        yield b'{"data":['
        items = _with_times(layout, tables, quote=True)
        for batch, text in _ordered_map(pool, rows_text, items):
            yield text[1:] if rows == 0 else text  # no comma before the first row
            rows += batch.num_rows
    trailer = meta(rows) if meta else {"rows": rows}
    yield b'],"meta":' + json.dumps(trailer, separators=(",", ":")).encode() + b"}"


def _with_open_series(
    layout: Layout, tables: Iterable[pa.Table]
) -> Iterator[tuple[pa.RecordBatch, ChunkTimes, int | None]]:
    """Batches with their time texts and the series the batch before left open."""
    open_series: int | None = None
    for batch, times in _with_times(layout, tables, quote=True):
        yield batch, times, open_series
        open_series = int(layout.runs(batch.slice(batch.num_rows - 1, 1))[0][0])


def _encode_csv(
    layout: Layout, tables: Iterable[pa.Table], pool: Executor | None
) -> Iterator[Piece]:
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")

    def lines(batch: pa.RecordBatch, times: ChunkTimes) -> Piece:
        sink = pa.BufferOutputStream()
        pa_csv.write_csv(layout.to_csv_table(batch, times), sink, options)
        return memoryview(sink.getvalue())

    yield (",".join(layout.columns) + "\n").encode()
    for _, text in _ordered_map(pool, lines, _with_times(layout, tables, quote=False)):
        yield text


def _encode_arrow(layout: Layout, tables: Iterable[pa.Table]) -> Iterator[Piece]:
    drain = _Drain()
    # A dictionary grows when rows of another resolution appear: a delta, not a new copy.
    options = pa_ipc.IpcWriteOptions(emit_dictionary_deltas=True)
    with pa_ipc.new_stream(drain, layout.arrow_schema(), options=options) as writer:
        for batch in _batches(tables, 1 << 20):  # Arrow needs no per-value work: big slices
            if batch.num_rows:
                writer.write_batch(layout.to_arrow(batch))
                yield from drain.take()
    yield from drain.take()


def _encode_parquet(layout: Layout, tables: Iterable[pa.Table]) -> bytes:
    schema = layout.arrow_schema()
    batches = [layout.to_arrow(batch) for batch in _batches(tables) if batch.num_rows]
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_batches(batches, schema=schema), sink)
    return sink.getvalue()


def describe_range(query: DataQuery) -> dict[str, Any]:
    """The query's own description, for JSON metadata."""
    return {
        "dataset": query.dataset.name,
        "areas": sorted({s.area for s in query.series}),
        "series": len(query.series),
        "start": rfc3339(query.start),
        "end": rfc3339(query.end),
        "tz": query.tz or "UTC",
        "resample": query.resample.name if query.resample else None,
        "agg": query.agg if query.resample else None,
        "as_of": rfc3339(query.as_of) if query.as_of else None,
        "published_before": rfc3339(query.published_before) if query.published_before else None,
    }


__all__ = [
    "FORMATS",
    "JSON_LAYOUTS",
    "MEDIA_TYPES",
    "STREAMING_FORMATS",
    "Chunk",
    "Cursor",
    "DataQuery",
    "Layout",
    "cursor_after",
    "describe_range",
    "encode",
    "estimate_total",
    "format_times",
    "iter_tables",
    "plan_chunks",
    "read_page",
]
