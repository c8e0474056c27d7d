"""``GET /health/live`` (the process answers) and ``GET /health/ready`` (it can serve).

Ready means: the store answers a query, Redis answers a ping (when configured), and every
background service of this process (the scheduler, in embedded mode) is alive. Not ready is
HTTP 503 with the same body, so a load balancer takes the replica out.
"""

from __future__ import annotations

import anyio
import anyio.to_thread
from fastapi import APIRouter, Response

from gridvault.api.deps import State
from gridvault.api.schemas import CheckOut, LiveOut, ReadyOut
from gridvault.api.state import ApiState, service_name

router = APIRouter(prefix="/health", tags=["operations"])


@router.get("/live", summary="The process is up")
async def live() -> LiveOut:
    return LiveOut(status="alive")


async def _store_check(state: ApiState) -> CheckOut:
    store = state.services.store
    with anyio.move_on_after(state.options.ready_timeout_seconds):
        ok = await anyio.to_thread.run_sync(store.ping, abandon_on_cancel=True)
        return CheckOut(ok=ok, detail=store.backend if ok else f"{store.backend}: no answer")
    return CheckOut(ok=False, detail=f"{store.backend}: timed out")


async def _redis_check(state: ApiState) -> CheckOut:
    with anyio.move_on_after(state.options.ready_timeout_seconds):
        try:
            await state.redis.ping()  # type: ignore[union-attr]
        except Exception as exc:
            return CheckOut(ok=False, detail=f"redis: {type(exc).__name__}")
        return CheckOut(ok=True, detail="redis")
    return CheckOut(ok=False, detail="redis: timed out")


@router.get(
    "/ready",
    summary="The store (and Redis) answer and background services are alive",
    responses={503: {"model": ReadyOut, "description": "Not ready (see checks)."}},
)
async def ready(state: State, response: Response) -> ReadyOut:
    checks = {"store": await _store_check(state)}
    if state.redis is not None:
        checks["redis"] = await _redis_check(state)
    for service in state.background:
        try:
            alive = bool(service.alive())
        except Exception as exc:
            checks[f"background:{service_name(service)}"] = CheckOut(ok=False, detail=str(exc))
            continue
        checks[f"background:{service_name(service)}"] = CheckOut(
            ok=alive, detail=None if alive else "not alive"
        )
    ok = all(check.ok for check in checks.values())
    if not ok:
        response.status_code = 503
    return ReadyOut(status="ready" if ok else "not ready", checks=checks)


__all__ = ["router"]
