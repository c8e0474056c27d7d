"""``GET /v1/datasets`` and ``GET /v1/datasets/{id}``: what can be asked, what is stored."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from gridvault.api.cache import cache_key
from gridvault.api.deps import DatasetDep, State, StoreDep, in_thread
from gridvault.api.responses import json_cached
from gridvault.api.schemas import AreaStats, DatasetDetail, DatasetSummary, Detail
from gridvault.entsoe.catalog import Dataset, all_datasets
from gridvault.store import Series, Store

router = APIRouter(prefix="/v1", tags=["datasets"])


def _summary(dataset: Dataset, stored: list[Series]) -> dict[str, Any]:
    return {
        "id": dataset.name,
        "description": dataset.description,
        "kind": dataset.kind,
        "unit": dataset.unit,
        "resolution": dataset.resolution,
        "forecast": dataset.forecast,
        "border": dataset.border,
        "stored_series": len(stored),
        "stored_areas": sorted({s.area for s in stored}),
    }


@router.get("/datasets", summary="Every dataset, with what this store holds of it")
async def list_datasets(
    *,
    store: StoreDep,
    stored: Annotated[
        bool, Query(description="Only datasets with at least one stored series.")
    ] = False,
) -> list[DatasetSummary]:
    """The catalog: id, description, kind, unit, typical resolution, stored series/areas."""
    series = await in_thread(store.find_series)
    by_dataset: dict[str, list[Series]] = defaultdict(list)
    for item in series:
        by_dataset[item.dataset].append(item)
    return [
        DatasetSummary(**_summary(d, by_dataset[d.name]))
        for d in all_datasets()
        if by_dataset[d.name] or not stored
    ]


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    moment: datetime = value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def span(rows: list[dict[str, Any]]) -> tuple[datetime | None, datetime | None, datetime | None]:
    """Earliest start, latest start and last update over rows of ``Store.series_stats``."""
    earliest = [t for r in rows if (t := _aware(r["earliest"])) is not None]
    latest = [t for r in rows if (t := _aware(r["latest"])) is not None]
    updated = [t for r in rows if (t := _aware(r["last_update"])) is not None]
    return (
        min(earliest, default=None),
        max(latest, default=None),
        max(updated, default=None),
    )


def dataset_detail(store: Store, dataset: Dataset, series: list[Series]) -> DatasetDetail:
    """Catalog facts plus per-area stored range, row count and last update."""
    stats = store.series_stats([s.series_id for s in series]).to_pylist()
    by_id = {row["series_id"]: row for row in stats}
    areas: dict[str, list[Series]] = defaultdict(list)
    dimensions: dict[str, set[str]] = defaultdict(set)
    for item in series:
        areas[item.area].append(item)
        for name, value in item.dimensions.items():
            dimensions[name].add(value)
    per_area = []
    for area, members in sorted(areas.items()):
        rows = [by_id[s.series_id] for s in members if s.series_id in by_id]
        earliest, latest, last_update = span(rows)
        per_area.append(
            AreaStats(
                area=area,
                series=len(members),
                rows=sum(int(r["rows"]) for r in rows),
                earliest=earliest,
                latest=latest,
                last_update=last_update,
            )
        )
    earliest, latest, last_update = span(stats)
    return DatasetDetail(
        **_summary(dataset, series),
        earliest=earliest,
        latest=latest,
        rows=sum(a.rows for a in per_area),
        last_update=last_update,
        areas=per_area,
        dimensions={name: sorted(values) for name, values in sorted(dimensions.items())},
    )


@router.get(
    "/datasets/{dataset}",
    summary="One dataset: description, unit, resolution, stored areas and ranges",
    response_model=DatasetDetail,
    responses={404: {"model": Detail, "description": "Unknown dataset."}},
)
async def get_dataset_detail(
    *, request: Request, state: State, store: StoreDep, dataset: DatasetDep
) -> Response:
    """Catalog facts, and per stored area: earliest/latest interval, rows, last update."""
    series: list[Series] = []
    if not dataset.outage:
        found = await in_thread(store.find_series, dataset=dataset.name)
        series = sorted(found, key=lambda s: s.series_id)
    changed = await in_thread(store.last_changed, [s.series_id for s in series])
    key = cache_key("dataset", dataset.name, [s.series_id for s in series], changed)
    return await json_cached(request, state, key, lambda: dataset_detail(store, dataset, series))


__all__ = ["dataset_detail", "router", "span"]
