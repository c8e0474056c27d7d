"""The query layer: dataset + areas + range → records, shared by the CLI, API and client.

Resolves names (area codes or EICs, dataset names, with suggestions on typos) to stored
series, reads or resamples in the store, and joins the series' dimensions back on as flat
columns so that every record says what it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridvault.entsoe.areas import lookup_area
from gridvault.entsoe.catalog import get_dataset
from gridvault.errors import InputError
from gridvault.store import Series, Store
from gridvault.store.buckets import Bucket, parse_bucket
from gridvault.timegrid import interval_bounds_us, resolution_of_length, utc

_US = 1_000_000
#: Longest range one query may read without resampling (protects memory and the API).
MAX_RAW_RANGE_DAYS = 366 * 11
#: Stored columns of a raw record (the source document's id is the store's business).
RECORD_COLUMNS = (
    "series_id",
    "interval_start",
    "interval_end",
    "value",
    "publish_time",
    "flags",
)


@dataclass(frozen=True)
class QuerySpec:
    """What to read. ``start`` inclusive, ``end`` exclusive, both aware."""

    dataset: str
    areas: Sequence[str]
    start: datetime
    end: datetime
    area_to: str | None = None
    filters: dict[str, str] = field(default_factory=dict)
    resample: str | None = None
    agg: str = "mean"
    tz: str | None = None
    as_of: datetime | None = None
    published_before: datetime | None = None


def area_codes(areas: Sequence[str]) -> list[str]:
    """Canonical codes for user-typed areas (codes or EICs, any case)."""
    if not areas:
        raise InputError("give at least one area, e.g. --area DE_LU")
    return [lookup_area(a).code for a in areas]


def resolve_series(store: Store, spec: QuerySpec) -> list[Series]:
    dataset = get_dataset(spec.dataset).name
    codes = area_codes(spec.areas)
    dims = dict(spec.filters)
    if spec.area_to:
        dims["area_to"] = lookup_area(spec.area_to).code
    return store.find_series(dataset=dataset, area=codes, dimensions=dims)


def default_tz(spec: QuerySpec) -> str:
    """The zone for calendar buckets: the asked one, else the (first) area's."""
    return spec.tz or lookup_area(spec.areas[0]).tz


def run_query(store: Store, spec: QuerySpec) -> pa.Table:
    """Records with interval_start, interval_end, value (or OHLC), and the series columns."""
    start, end = utc(spec.start), utc(spec.end)
    if end <= start:
        raise InputError(f"end {end.isoformat()} is not after start {start.isoformat()}")
    dataset = get_dataset(spec.dataset)
    if dataset.outage:
        return read_outage_events(store, spec)
    series = resolve_series(store, spec)
    ids = [s.series_id for s in series]
    if spec.resample:
        table = store.resample(
            ids,
            start,
            end,
            spec.resample,
            spec.agg,
            tz=default_tz(spec),
            as_of=spec.as_of,
            published_before=spec.published_before,
        )
    else:
        if (end - start).days > MAX_RAW_RANGE_DAYS:
            raise InputError(
                f"range of {(end - start).days} days is too long to read raw; resample it "
                "(e.g. --resample 1d) or narrow it"
            )
        table = store.read(
            ids,
            start,
            end,
            as_of=spec.as_of,
            published_before=spec.published_before,
            columns=RECORD_COLUMNS,
        )
    return attach_series(table, series, parse_bucket(spec.resample) if spec.resample else None)


def read_outage_events(store: Store, spec: QuerySpec) -> pa.Table:
    """Outage events overlapping the range, latest revision of each document, cancelled and
    withdrawn documents left out. Areas match the event's area or either border side."""
    eics = [lookup_area(a).eic for a in spec.areas]
    table = store.read_outages(
        start=utc(spec.start), end=utc(spec.end), areas=eics, dataset=get_dataset(spec.dataset).name
    )
    return table.drop_columns([c for c in ("source",) if c in table.column_names])


def row_resolutions(resolution: pa.Array, start: pa.Array, end: pa.Array) -> pa.Array:
    """Each row's resolution: its series' (``resolution``) when its interval has that
    length, else its own (rows from before a series changed resolution, say hourly before
    the 15-minute MTU), see :func:`gridvault.timegrid.resolution_of_length`."""
    span = end.cast(pa.int64()).to_numpy(zero_copy_only=False) - start.cast(pa.int64()).to_numpy(
        zero_copy_only=False
    )
    texts: np.ndarray[Any, Any] | None = None  # a row's text each, once one differs
    for text in pc.unique(resolution).drop_null().to_pylist():
        if (bounds := interval_bounds_us(text)) is None:
            continue
        of_text = pc.fill_null(pc.equal(resolution, text), False).to_numpy(zero_copy_only=False)
        odd = of_text & ((span < bounds[0]) | (span > bounds[1]))
        if not odd.any():
            continue
        if texts is None:
            texts = resolution.to_numpy(zero_copy_only=False).astype(object)
        lengths, which = np.unique(span[odd], return_inverse=True)
        shown = [resolution_of_length(micros / _US).iso for micros in lengths.tolist()]
        texts[odd] = np.array(shown, dtype=object)[which.reshape(-1)]
    return resolution if texts is None else pa.array(texts, pa.string())


def attach_series(
    table: pa.Table, series: Sequence[Series], bucket: Bucket | None = None
) -> pa.Table:
    """Add dataset, area, unit, resolution and every dimension as columns (by series_id).

    A row's resolution is what it covers: the ``bucket``'s when resampled, else its
    series' unless its interval has another length (see :func:`row_resolutions`).
    """
    dim_names = sorted({k for s in series for k in s.dimensions})
    info = pa.table(
        {
            "series_id": pa.array([s.series_id for s in series], pa.int64()),
            "dataset": [s.dataset for s in series],
            "area": [s.area for s in series],
            "unit": [s.unit for s in series],
            "resolution": [s.resolution for s in series],
            **{name: [s.dimensions.get(name) for s in series] for name in dim_names},
        }
    )
    if table.num_rows == 0:
        empty = {f.name: pa.array([], f.type) for f in info.schema if f.name != "series_id"}
        return pa.table({**{n: table[n] for n in table.column_names}, **empty})
    joined = table.join(info, keys="series_id", join_type="left outer", use_threads=False)
    order = list(table.column_names) + [c for c in info.column_names if c != "series_id"]
    result = joined.select(order).sort_by(
        [("series_id", "ascending"), ("interval_start", "ascending")]
    )
    at = result.column_names.index("resolution")
    if bucket is not None:
        shown = pa.repeat(pa.scalar(bucket.resolution, pa.string()), result.num_rows)
    else:
        shown = row_resolutions(
            result["resolution"].combine_chunks(),
            result["interval_start"].combine_chunks(),
            result["interval_end"].combine_chunks(),
        )
    return result.set_column(at, "resolution", shown)
