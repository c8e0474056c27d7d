"""``GET /metrics``: Prometheus text exposition of this app's registry.

Scraped without an API key (as Prometheus does by default); it shows counts, latencies and
freshness times, never data or keys.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gridvault.api.deps import State

router = APIRouter(tags=["operations"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(state: State) -> Response:
    # Collecting reads the store (freshness gauges): keep it off the event loop.
    body = await anyio.to_thread.run_sync(generate_latest, state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


__all__ = ["router"]
