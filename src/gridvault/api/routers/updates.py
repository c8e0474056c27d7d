"""``GET /v1/updates``: per dataset and area, how much is stored, when it last changed, and
the collector's last run: when it fetched, whether that worked, and the rows the last
successful fetch inserted and revised (with the totals).

For polling freshness (gridstatus calls this ``dataset-updates``): a client compares
``last_update`` with what it saw before; an operator reads ``latest`` to see how far the
data reaches and ``last_run`` to see whether collection keeps up. A dataset/area whose
collection failed before anything was stored is listed too (``rows`` 0). Cached until a
series changes or a fetch is recorded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from gridvault.api.cache import cache_key
from gridvault.api.deps import State, StoreDep, in_thread, split_areas
from gridvault.api.responses import json_cached
from gridvault.api.routers.datasets import span
from gridvault.api.schemas import LastRunOut, UpdateOut
from gridvault.entsoe.catalog import get_dataset
from gridvault.logs import redact
from gridvault.store import Series, Store
from gridvault.store.collection_state import CollectionStatus, statuses

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

router = APIRouter(prefix="/v1", tags=["datasets"])


def _last_run(statuses: list[CollectionStatus]) -> LastRunOut | None:
    """One dataset/area's collection status; a border dataset's borders merged (the latest
    of each time, the last successful fetch of the border fetched last)."""
    if not statuses:
        return None
    failed = [s for s in statuses if s.last_failure_at is not None]
    latest_failure = max(failed, key=lambda s: s.last_failure_at or _EPOCH, default=None)
    fetched = [s for s in statuses if s.last_fetch_end is not None]
    last_fetch = max(fetched, key=lambda s: s.last_success_at or _EPOCH, default=None)
    return LastRunOut(
        attempted_at=_latest(s.last_attempt_at for s in statuses),
        succeeded_at=_latest(s.last_success_at for s in statuses),
        failed_at=latest_failure.last_failure_at if latest_failure else None,
        healthy=all(s.healthy for s in statuses),
        error=redact(latest_failure.last_error)
        if latest_failure and latest_failure.last_error
        else None,
        window_start=last_fetch.last_fetch_start if last_fetch else None,
        window_end=last_fetch.last_fetch_end if last_fetch else None,
        inserted=last_fetch.last_fetch_inserted if last_fetch else None,
        updated=last_fetch.last_fetch_updated if last_fetch else None,
    )


def _latest(times: Iterable[datetime | None]) -> datetime | None:
    return max((t for t in times if t is not None), default=None)


def updates(
    store: Store, series: list[Series], collection: list[CollectionStatus]
) -> list[UpdateOut]:
    """One row per dataset/area with stored series or a collection record."""
    stats = {
        row["series_id"]: row
        for row in store.series_stats([s.series_id for s in series]).to_pylist()
    }
    groups: dict[tuple[str, str], list[Series]] = defaultdict(list)
    for item in series:
        groups[(item.dataset, item.area)].append(item)
    collected: dict[tuple[str, str], list[CollectionStatus]] = defaultdict(list)
    for status in collection:
        collected[(status.dataset, status.area)].append(status)
    result = []
    for dataset, area in sorted({*groups, *collected}):
        members = groups.get((dataset, area), [])
        rows = [stats[s.series_id] for s in members if s.series_id in stats]
        earliest, latest, last_update = span(rows)
        runs = collected.get((dataset, area), [])
        result.append(
            UpdateOut(
                dataset=dataset,
                area=area,
                series=len(members),
                rows=sum(int(r["rows"]) for r in rows),
                earliest=earliest,
                latest=latest,
                last_update=last_update,
                rows_inserted=sum(s.points_inserted for s in runs),
                rows_updated=sum(s.points_updated for s in runs),
                last_run=_last_run(runs),
            )
        )
    return result


@router.get(
    "/updates",
    summary="Freshness per dataset and area: rows, stored range, last update, last run",
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
    collection = [
        status
        for status in await in_thread(statuses, store, dataset=name)
        if not areas or status.area in areas
    ]
    ids = sorted(s.series_id for s in series)
    changed = await in_thread(store.last_changed, ids)
    attempted = _latest(s.last_attempt_at for s in collection)
    key = cache_key("updates", ids, changed, name, areas, len(collection), attempted)
    return await json_cached(request, state, key, lambda: updates(store, series, collection))


__all__ = ["router", "updates"]
