"""``GET /v1/updates``: per dataset and area, how much is stored and when it last changed.

For polling freshness (gridstatus calls this ``dataset-updates``): a client compares
``last_update`` with what it saw before; an operator reads ``latest`` to see how far the
data reaches. Cached until any series changes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from gridvault.api.cache import cache_key
from gridvault.api.deps import State, StoreDep, in_thread, split_areas
from gridvault.api.responses import json_cached
from gridvault.api.routers.datasets import span
from gridvault.api.schemas import UpdateOut
from gridvault.entsoe.catalog import get_dataset
from gridvault.store import Series, Store

router = APIRouter(prefix="/v1", tags=["datasets"])


def updates(store: Store, series: list[Series]) -> list[UpdateOut]:
    stats = {
        row["series_id"]: row
        for row in store.series_stats([s.series_id for s in series]).to_pylist()
    }
    groups: dict[tuple[str, str], list[Series]] = defaultdict(list)
    for item in series:
        groups[(item.dataset, item.area)].append(item)
    result = []
    for (dataset, area), members in sorted(groups.items()):
        rows = [stats[s.series_id] for s in members if s.series_id in stats]
        earliest, latest, last_update = span(rows)
        result.append(
            UpdateOut(
                dataset=dataset,
                area=area,
                series=len(members),
                rows=sum(int(r["rows"]) for r in rows),
                earliest=earliest,
                latest=latest,
                last_update=last_update,
            )
        )
    return result


@router.get(
    "/updates",
    summary="Freshness per dataset and area: rows, stored range, last update",
    response_model=list[UpdateOut],
)
async def get_updates(
    *,
    request: Request,
    state: State,
    store: StoreDep,
    dataset: Annotated[str | None, Query(description="Only this dataset.")] = None,
    area: Annotated[list[str] | None, Query(description="Only these area(s).")] = None,
) -> Response:
    """One row per stored dataset/area."""
    name = get_dataset(dataset).name if dataset else None
    areas = split_areas(area)
    series = await in_thread(store.find_series, dataset=name, area=areas or None)
    ids = sorted(s.series_id for s in series)
    changed = await in_thread(store.last_changed, ids)
    key = cache_key("updates", ids, changed)
    return await json_cached(request, state, key, lambda: updates(store, series))


__all__ = ["router", "updates"]
