"""The FastAPI app: :func:`create_app` builds it from the process's services.

Nothing is created at import time. :func:`create_app` wires routers, error handlers and
metrics; the lifespan opens the store (so a bad database fails the start, not the first
request), connects Redis when ``Settings.redis_url`` is set (rate limits and cache shared by
replicas; in-process otherwise), starts the background services and stops them again.
The caller owns ``services`` and closes them after the server stops.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import Depends, FastAPI

from gridvault import __version__
from gridvault.api.auth import KeyVerifier, require_admin, require_read
from gridvault.api.cache import MemoryCache, RedisCache, running_code
from gridvault.api.deps import refuse_nul
from gridvault.api.errors import install_error_handlers
from gridvault.api.limits import MemoryRateLimiter, RedisRateLimiter
from gridvault.api.routers import OPEN, V1_ADMIN, V1_READ, dashboard
from gridvault.api.state import ApiOptions, ApiState, BackgroundService, service_name
from gridvault.api.telemetry import Metrics, RequestMiddleware
from gridvault.logs import get_logger, redact
from gridvault.metrics import register_domain_metrics
from gridvault.services import Services
from gridvault.store.api_keys import count_active_keys

log = get_logger("gridvault.api")

DESCRIPTION = """\
European power-market data (ENTSO-E), complete and revision-aware.

* **Auth**: send an API key in the `X-API-Key` header (`gridvault keys create`).
* **Areas** as entsoe-py spells them (`DE_LU`, `DK_1`) or EIC codes, any case.
* **Time ranges** are `[start, end)`. A time with `Z` or an offset is exact; a naive time is
  the area's local time. Output times are UTC unless `tz` is given.
* **Errors** are JSON `{"detail": "..."}` saying what to change.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ApiState = app.state.api
    settings = state.services.settings
    store = await anyio.to_thread.run_sync(lambda: state.services.store)
    # pyarrow imports pandas on its first conversion of zoned timestamps (~0.9 s): pay it
    # at start-up, not on the first user's request.
    await anyio.to_thread.run_sync(importlib.import_module, "pandas")
    if settings.redis_url:
        import redis.asyncio  # noqa: PLC0415 - only when configured

        client = redis.asyncio.Redis.from_url(
            settings.redis_url, socket_timeout=2, socket_connect_timeout=2
        )
        state.redis = client
        state.limiter = RedisRateLimiter(client)
        state.cache = RedisCache(client, ttl_seconds=state.options.cache_ttl_seconds)
    else:
        state.limiter = MemoryRateLimiter()
        state.cache = MemoryCache(
            state.options.memory_cache_bytes, ttl_seconds=state.options.cache_ttl_seconds
        )
    await anyio.to_thread.run_sync(running_code)  # cache keys' fingerprint, off the loop
    if not state.auth:
        log.warning("authentication is OFF: anyone who reaches this server can use it")
    elif await anyio.to_thread.run_sync(count_active_keys, store) == 0:
        log.warning("no API keys exist yet: create one with `gridvault keys create --name NAME`")
    state.encoder = ThreadPoolExecutor(
        max_workers=os.cpu_count() or 2, thread_name_prefix="gridvault-encode"
    )
    started: list[BackgroundService] = []
    try:
        for service in state.background:
            await service.start()
            started.append(service)
            log.info("background service started", service=service_name(service))
        log.info(
            "api ready",
            store=store.backend,
            cache=state.cache.backend,
            rate_limits=state.limiter.backend,
            auth=state.auth,
        )
        yield
    finally:
        for service in reversed(started):
            try:
                await service.stop()
            except Exception as exc:
                log.exception(
                    "background service failed to stop",
                    service=service_name(service),
                    error=redact(str(exc)),
                )
        state.encoder.shutdown(wait=False, cancel_futures=True)
        state.encoder = None
        await state.cache.close()
        await state.limiter.close()
        if state.redis is not None:
            await state.redis.aclose()
            state.redis = None


def create_app(
    services: Services,
    *,
    auth: bool = True,
    background: Sequence[BackgroundService] = (),
    options: ApiOptions | None = None,
) -> FastAPI:
    """The API app over ``services`` (see the module doc for what the lifespan does).

    ``auth=False`` serves everyone without a key (demo use; ``gridvault serve --no-auth``).
    ``background`` services run beside the API in this process and are reported by
    ``/health/ready``.
    """
    options = options or ApiOptions()
    metrics = Metrics()
    state = ApiState(
        services=services,
        options=options,
        auth=auth,
        background=tuple(background),
        metrics=metrics,
        keys=KeyVerifier(lambda: services.store, options.key_cache_seconds),
    )
    metrics.watch(lambda: services.store, state.background)
    # Domain metrics (freshness, points, revisions, failures, upstream status codes, schedule
    # runs) are read from the store at scrape time.
    register_domain_metrics(metrics.registry, lambda: services.store)
    app = FastAPI(
        title="gridvault",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.api = state
    # After authentication: a caller without a key learns nothing about its parameters.
    for router in V1_READ:
        app.include_router(router, dependencies=[Depends(require_read), Depends(refuse_nul)])
    for router in V1_ADMIN:
        app.include_router(router, dependencies=[Depends(require_admin), Depends(refuse_nul)])
    for router in OPEN:
        app.include_router(router)
    app.include_router(dashboard.router)  # the browser page at /: open, its API calls are not
    install_error_handlers(app)
    app.add_middleware(RequestMiddleware, metrics=metrics)
    return app


__all__ = ["ApiOptions", "BackgroundService", "create_app", "lifespan"]
