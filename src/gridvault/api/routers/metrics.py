"""``GET /metrics``: Prometheus text exposition of this app's registry.

Open by decision (README, "Security"): scraped without an API key, as Prometheus does by
default. It shows counts, latencies and freshness times, never data, keys or tokens
(tests/test_secrets_never_leak.py greps it; tests/api/test_api_security.py keeps it open).
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
