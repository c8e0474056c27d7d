"""``GET /v1/datasets/{id}/data`` and ``/latest``: stored values, raw or resampled.

Answers are streamed chunk by chunk (bounded memory) in JSON, CSV or Arrow; Parquet is
built whole and therefore capped. With ``limit`` the answer is a page and the
``X-Next-Cursor`` header (and ``meta.next_cursor`` in JSON) says how to get the next one.
Small answers are cached, keyed on the query and on when its series last changed, and carry
an ``ETag`` (``If-None-Match`` → 304).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Query, Request, Response

from gridvault.api.cache import cache_key
from gridvault.api.deps import (
    DIMENSION_FILTERS,
    DatasetDep,
    Filters,
    State,
    StoreDep,
    check_tz,
    find_series,
    in_thread,
    optional_time,
    reject_unknown_parameters,
    split_areas,
    time_range,
)
from gridvault.api.responses import cached, respond
from gridvault.api.schemas import Detail
from gridvault.api.state import ApiState
from gridvault.api.streaming import (
    MEDIA_TYPES,
    Cursor,
    DataQuery,
    Layout,
    describe_range,
    encode,
    estimate_total,
    iter_tables,
    read_page,
)
from gridvault.errors import InputError
from gridvault.query import MAX_RAW_RANGE_DAYS
from gridvault.store.buckets import check_aggregation, parse_bucket
from gridvault.timegrid import rfc3339

router = APIRouter(prefix="/v1", tags=["data"])

Format = Literal["json", "csv", "parquet", "arrow"]
JsonLayout = Literal["rows", "series"]
_LAYOUT_HELP = (
    "JSON layout: rows (an object per row, naming its series) or series (an object per "
    "series: its attributes once, then columns and values, a compact array per row)."
)
Aggregation = Literal["mean", "min", "max", "sum", "first", "last", "ohlc", "count"]
MAX_LIMIT = 1_000_000
_DATA_PARAMETERS = {
    "area",
    "start",
    "end",
    "tz",
    "resample",
    "agg",
    "as_of",
    "published_before",
    "limit",
    "cursor",
    "format",
    "layout",
    *DIMENSION_FILTERS,
}
_EXTENSIONS = {"csv": "csv", "parquet": "parquet", "arrow": "arrows"}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Detail, "description": "A parameter is wrong (the detail says which)."},
    401: {"model": Detail, "description": "No or an invalid API key."},
    404: {"model": Detail, "description": "Unknown dataset, or nothing stored for the areas."},
    422: {"model": Detail, "description": "A parameter has the wrong type or range."},
    429: {"model": Detail, "description": "Rate limit exceeded; see Retry-After."},
    503: {"model": Detail, "description": "The store is unavailable."},
}
_DATA_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            'JSON `{"data": [rows], "meta": {…}}`, CSV, Arrow IPC stream or Parquet; each row '
            "has interval_start, interval_end, the value(s), the series' dataset, area, unit "
            "and dimensions, and the resolution of its interval (the bucket's when resampled; "
            "rows from before a series changed resolution show theirs). With layout=series, "
            'JSON is `{"series": [{dataset, area, unit, resolution, dimensions…, "columns": '
            '[names], "values": [[row], …]}], "meta": {…}}`: the attributes of a series once '
            "(once per stretch of one resolution), each row an array of the columns."
        ),
        "content": {media: {} for media in MEDIA_TYPES.values()},
    },
    **_ERRORS,
}


def check_layout(fmt: str, layout: str) -> None:
    """``layout`` shapes JSON only: another layout with another format is a mistake."""
    if layout != "rows" and fmt != "json":
        raise InputError(
            f"layout={layout} applies to format=json; format={fmt} has one layout (leave "
            "layout out)"
        )


def _counted(tables: Iterable[pa.Table], state: ApiState, fmt: str) -> Iterator[pa.Table]:
    counter = state.metrics.rows.labels(fmt)
    for table in tables:
        counter.inc(table.num_rows)
        yield table


@router.get(
    "/datasets/{dataset}/data",
    summary="Stored values of a dataset for areas and a time range",
    responses=_DATA_RESPONSES,
    response_class=Response,
)
async def get_data(
    *,
    request: Request,
    state: State,
    store: StoreDep,
    dataset: DatasetDep,
    filters: Filters,
    area: Annotated[
        list[str],
        Query(description="Area code or EIC (DE_LU, 10Y1001A1001A82H); repeat or comma-separate."),
    ],
    start: Annotated[
        str,
        Query(
            description="Start, inclusive. With Z or an offset it is exact; a naive time is the "
            "(first) area's local time. E.g. 2024-01-01 or 2024-01-01T00:00Z."
        ),
    ],
    end: Annotated[str, Query(description="End, exclusive; same rules as start.")],
    tz: Annotated[
        str | None,
        Query(
            description="IANA zone for output times and for daily and longer buckets (default: "
            "times in UTC, buckets in the area's zone)."
        ),
    ] = None,
    resample: Annotated[
        str | None,
        Query(description="Bucket: 15min, 30min, 1h, 2h, 3h, 4h, 6h, 12h, 1d, 1w, 1mo, 1q, 1y."),
    ] = None,
    agg: Annotated[
        Aggregation, Query(description="With resample: mean (time-weighted), min, max, …")
    ] = "mean",
    as_of: Annotated[
        str | None,
        Query(description="Values as they were known at this time (revision history)."),
    ] = None,
    published_before: Annotated[
        str | None,
        Query(description="Forecasts and auctions: only values published at or before this."),
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_LIMIT, description="Page size in rows (cursor paging).")
    ] = None,
    cursor: Annotated[
        str | None, Query(description="next_cursor of the previous page (X-Next-Cursor).")
    ] = None,
    fmt: Annotated[Format, Query(alias="format", description="Output format.")] = "json",
    layout: Annotated[JsonLayout, Query(description=_LAYOUT_HELP)] = "rows",
) -> Response:
    """Values of the dataset's stored series in the areas, ``[start, end)``.

    Rows are ordered by series, then time; each names its dataset, area, unit, dimensions
    and the resolution of its own interval. Large answers stream; Parquet is limited in size
    (use Arrow to stream).
    """
    reject_unknown_parameters(request, _DATA_PARAMETERS)
    check_layout(fmt, layout)
    out_tz = check_tz(tz)
    bucket = parse_bucket(resample) if resample else None
    aggregation = check_aggregation(agg)
    if bucket is None and agg != "mean":
        raise InputError("agg applies to resampled data; give resample too (e.g. resample=1h)")
    page_cursor = Cursor.decode(cursor) if cursor else None
    areas = split_areas(area)
    if not areas:
        raise InputError("give at least one area, e.g. area=DE_LU")
    window = time_range(start, end, areas)
    if bucket is None and (window.end - window.start).days > MAX_RAW_RANGE_DAYS:
        raise InputError(
            f"a range of {(window.end - window.start).days} days is too long to read raw "
            f"(at most {MAX_RAW_RANGE_DAYS}); resample it (e.g. resample=1d) or narrow it"
        )
    query = DataQuery(
        dataset=dataset,
        series=await find_series(store, dataset, areas, filters),
        start=window.start,
        end=window.end,
        resample=bucket,
        agg=aggregation,
        bucket_tz=out_tz or window.local_tz,
        tz=out_tz,
        as_of=optional_time(as_of, window.local_tz, "as_of"),
        published_before=optional_time(published_before, window.local_tz, "published_before"),
        cursor=page_cursor,
    )
    estimate = estimate_total(query)
    rows = min(estimate, limit) if limit else estimate
    options = state.options
    if fmt == "parquet" and rows > options.parquet_max_rows:
        raise InputError(
            f"about {rows} rows is too large for format=parquet (at most "
            f"{options.parquet_max_rows}: a Parquet file is built whole in memory); use "
            "format=arrow or csv, which stream, or page with limit, resample or narrow the range"
        )
    ids = [s.series_id for s in query.series]
    changed = await in_thread(store.last_changed, ids)
    key = cache_key(
        "data",
        dataset.name,
        ids,
        query.start,
        query.end,
        out_tz,
        resample,
        aggregation,
        query.as_of,
        query.published_before,
        limit,
        cursor,
        fmt,
        layout,
        changed,
    )
    cacheable = rows <= options.cache_max_rows
    if (hit := await cached(request, state, key, lookup=cacheable)) is not None:
        return hit
    headers: dict[str, str] = {}
    if fmt in _EXTENSIONS:
        name = f"{dataset.name}_{'-'.join(areas)}_{query.start:%Y%m%d}_{query.end:%Y%m%d}"
        headers["Content-Disposition"] = f'attachment; filename="{name}.{_EXTENSIONS[fmt]}"'
    binary = fmt in ("arrow", "parquet")
    chunk_rows = options.binary_chunk_rows if binary else options.chunk_rows
    next_cursor: Cursor | None = None
    tables: Iterable[pa.Table]
    if limit:
        page, next_cursor = await in_thread(read_page, store, query, limit, chunk_rows)
        tables = [page]
        if next_cursor is not None:
            token = next_cursor.encode()
            headers["X-Next-Cursor"] = token
            headers["Link"] = f'<{request.url.include_query_params(cursor=token)}>; rel="next"'
    else:
        tables = iter_tables(store, query, chunk_rows, pool=state.encoder)
    description = describe_range(query)

    def meta(count: int) -> dict[str, Any]:
        return {
            **description,
            "rows": count,
            "limit": limit,
            "next_cursor": next_cursor.encode() if next_cursor else None,
        }

    produce = encode(
        Layout(query, layout), fmt, _counted(tables, state, fmt), meta, pool=state.encoder
    )
    return await respond(
        state, key=key, fmt=fmt, cacheable=cacheable, produce=produce, headers=headers
    )


@router.get(
    "/datasets/{dataset}/latest",
    summary="The most recent stored value of each series",
    responses=_DATA_RESPONSES,
    response_class=Response,
)
async def get_latest(
    *,
    request: Request,
    state: State,
    store: StoreDep,
    dataset: DatasetDep,
    filters: Filters,
    area: Annotated[
        list[str] | None,
        Query(description="Area code(s) or EIC(s); all stored areas when left out."),
    ] = None,
    tz: Annotated[str | None, Query(description="IANA zone for output times.")] = None,
    fmt: Annotated[Format, Query(alias="format", description="Output format.")] = "json",
    layout: Annotated[JsonLayout, Query(description=_LAYOUT_HELP)] = "rows",
) -> Response:
    """For every matching series, its value with the latest ``interval_start``."""
    reject_unknown_parameters(request, {"area", "tz", "format", "layout", *DIMENSION_FILTERS})
    check_layout(fmt, layout)
    out_tz = check_tz(tz)
    areas = split_areas(area)
    series = await find_series(store, dataset, areas, filters)
    ids = [s.series_id for s in series]
    changed = await in_thread(store.last_changed, ids)
    key = cache_key("latest", dataset.name, ids, out_tz, fmt, layout, changed)
    if (hit := await cached(request, state, key)) is not None:
        return hit
    table = await in_thread(store.latest, ids)
    start = table["interval_start"][0].as_py() if table.num_rows else datetime.now(UTC)
    query = DataQuery(dataset, series, start, start + timedelta(microseconds=1), tz=out_tz)
    schema = query.schema()
    table = table.select(schema.names).cast(schema)

    def meta(count: int) -> dict[str, Any]:
        return {
            "dataset": dataset.name,
            "areas": sorted({s.area for s in series}),
            "rows": count,
            "last_changed": rfc3339(changed) if changed else None,
        }

    produce = encode(Layout(query, layout), fmt, _counted([table], state, fmt), meta)
    return await respond(state, key=key, fmt=fmt, cacheable=True, produce=produce, headers={})


__all__ = ["router"]
