"""``GET /v1/datasets/{id}/coverage``: which expected intervals are stored, and the gaps.

The expected grid of a series comes from its resolution (its latest one: an interval counts
as present when a stored interval contains its start, so hourly history covers a 15-minute
grid), stepped in the area's local calendar for daily and longer resolutions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from gridvault.api.cache import cache_key
from gridvault.api.deps import (
    DIMENSION_FILTERS,
    DatasetDep,
    Filters,
    State,
    StoreDep,
    find_series,
    in_thread,
    reject_unknown_parameters,
    split_areas,
    time_range,
)
from gridvault.api.responses import json_cached
from gridvault.api.schemas import CoverageOut, Detail, GapOut, SeriesCoverage
from gridvault.entsoe.areas import lookup_area
from gridvault.entsoe.catalog import Dataset
from gridvault.errors import InputError
from gridvault.pipeline.coverage import resolution_rule
from gridvault.store import Series, Store
from gridvault.timegrid import parse_resolution

router = APIRouter(prefix="/v1", tags=["data"])
MAX_GAPS = 1000


def _zone(area: str) -> str:
    try:
        return lookup_area(area).tz
    except InputError:
        return "UTC"


def _resolution(series: Series, dataset: Dataset) -> str:
    return series.resolution or dataset.resolution


def coverage_of(
    store: Store, dataset: Dataset, series: list[Series], start: datetime, end: datetime
) -> CoverageOut:
    results = []
    for item in series:
        resolution = _resolution(item, dataset)
        # The catalog knows resolution changes (the 15-minute SDAC switch of 2025-10-01):
        # expected intervals follow them rather than the series' latest resolution.
        rule = resolution_rule(dataset, item.area, item.dimensions)
        found = store.coverage(
            item.series_id,
            start,
            end,
            resolution=rule if rule is not None else resolution,
            tz=_zone(item.area),
        )
        results.append(
            SeriesCoverage(
                area=item.area,
                dimensions=item.dimensions,
                resolution=resolution,
                expected=found.expected,
                present=found.present,
                missing=found.missing,
                completeness=round(found.completeness, 6),
                gaps=[GapOut(start=g.start, end=g.end, intervals=g.intervals) for g in found.gaps][
                    :MAX_GAPS
                ],
                gaps_total=len(found.gaps),
            )
        )
    expected = sum(r.expected for r in results)
    present = sum(r.present for r in results)
    return CoverageOut(
        dataset=dataset.name,
        start=start,
        end=end,
        expected=expected,
        present=present,
        completeness=round(present / expected, 6) if expected else 1.0,
        series=results,
    )


@router.get(
    "/datasets/{dataset}/coverage",
    summary="Completeness and gaps of stored series over a range",
    responses={
        400: {"model": Detail, "description": "A parameter is wrong."},
        404: {"model": Detail, "description": "Unknown dataset or nothing stored."},
    },
    response_model=CoverageOut,
)
async def get_coverage(
    *,
    request: Request,
    state: State,
    store: StoreDep,
    dataset: DatasetDep,
    filters: Filters,
    area: Annotated[list[str], Query(description="Area code(s) or EIC(s).")],
    start: Annotated[str, Query(description="Start, inclusive (naive = area's local time).")],
    end: Annotated[str, Query(description="End, exclusive.")],
) -> Response:
    """Per series: expected, present and missing intervals, completeness, and the gaps."""
    reject_unknown_parameters(request, {"area", "start", "end", *DIMENSION_FILTERS})
    areas = split_areas(area)
    if not areas:
        raise InputError("give at least one area, e.g. area=DE_LU")
    window = time_range(start, end, areas)
    series = await find_series(store, dataset, areas, filters)
    span = (window.end - window.start).total_seconds()
    intervals = 0.0
    for item in series:
        try:
            step = parse_resolution(_resolution(item, dataset)).nominal.total_seconds()
        except InputError:
            step = 900.0
        intervals += span / max(step, 1.0)
    if intervals > state.options.coverage_max_intervals:
        raise InputError(
            f"about {int(intervals)} expected intervals is too many to check at once (at most "
            f"{state.options.coverage_max_intervals}); narrow the range or the areas"
        )
    ids = [s.series_id for s in series]
    changed = await in_thread(store.last_changed, ids)
    key = cache_key("coverage", dataset.name, ids, window.start, window.end, changed)
    return await json_cached(
        request, state, key, lambda: coverage_of(store, dataset, series, window.start, window.end)
    )


__all__ = ["coverage_of", "router"]
