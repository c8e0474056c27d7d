"""``/v1/jobs`` (read) and ``POST /v1/backfill`` / ``POST /v1/collect`` (admin).

A POST plans the windows of the request into the job ledger (the same planner as
``gridvault backfill``: only what is missing, chunked by the dataset's request limit) and
returns the plan id at once; this server process then works the plan in the background
under the shared rate limit. Progress, failures with their reasons and attempts are read
from the ledger, so they survive restarts, and a plan interrupted by a restart is resumed by
posting the same request again (or by ``gridvault backfill --plan ID``).

``collect`` differs from ``backfill`` only in that windows the upstream answered "no data"
before are asked again; windows already stored are not re-fetched (the scheduler's trailing
revision windows keep recent data current).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, field_validator

from gridvault.api.deps import State, StoreDep, in_thread
from gridvault.api.errors import NotFoundError
from gridvault.api.schemas import Detail
from gridvault.logs import get_logger
from gridvault.pipeline.backfill import plan_backfill, work_plan
from gridvault.pipeline.collect import check_token
from gridvault.store.model import JOB_STATES, Job

log = get_logger("gridvault.api.jobs")
read_router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
admin_router = APIRouter(prefix="/v1", tags=["jobs"])
# Background plan runs of this process, by plan id (a plan already running is not started twice).
_RUNNING: dict[str, asyncio.Task[Any]] = {}


class JobOut(BaseModel):
    job_id: int
    plan_id: str
    kind: str
    dataset: str
    area: str
    area_to: str | None
    window_start: datetime
    window_end: datetime
    state: str
    attempts: int
    max_attempts: int
    last_error: str | None
    lease_owner: str | None
    updated_at: datetime
    result: dict[str, Any] | None


class PlanOut(BaseModel):
    plan_id: str
    counts: dict[str, int]
    progress: float = Field(description="Share of the plan's chunks done, 0..1")


class JobList(BaseModel):
    plans: list[PlanOut]
    jobs: list[JobOut]


class CollectRequest(BaseModel):
    dataset: str
    area: list[str] = Field(
        min_length=1,
        description='Areas, or FROM>TO pairs for borders: a list, or one text ("NL", "NL,BE") '
        "as the data endpoints' area parameter takes",
    )
    start: str
    end: str
    workers: int = Field(default=4, ge=1, le=32)

    @field_validator("area", mode="before")
    @classmethod
    def _one_text_or_a_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class PlanCreated(BaseModel):
    plan_id: str | None
    chunks: int
    resumed: bool
    running: bool
    notes: list[str]


def _out(job: Job) -> JobOut:
    return JobOut(
        job_id=job.job_id,
        plan_id=job.plan_id,
        kind=job.kind,
        dataset=job.dataset,
        area=job.area,
        area_to=job.area_to,
        window_start=job.window_start,
        window_end=job.window_end,
        state=job.state,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        last_error=job.last_error,
        lease_owner=job.lease_owner,
        updated_at=job.updated_at,
        result=job.result,
    )


@read_router.get("", summary="The job ledger: chunks with state, attempts and errors")
async def list_jobs(
    store: StoreDep,
    state: str | None = Query(default=None, description=f"One of {', '.join(JOB_STATES)}"),
    plan_id: str | None = None,
    limit: int = Query(default=500, ge=1, le=10_000),
) -> JobList:
    jobs = await in_thread(store.jobs, state=state, plan_id=plan_id, limit=limit)
    plans: dict[str, PlanOut] = {}
    for plan in sorted({job.plan_id for job in jobs}):
        counts = await in_thread(store.job_counts, plan)
        total = sum(counts.values())
        plans[plan] = PlanOut(
            plan_id=plan, counts=counts, progress=counts.get("done", 0) / total if total else 1.0
        )
    return JobList(plans=list(plans.values()), jobs=[_out(job) for job in jobs])


@read_router.get("/{job_id}", summary="One job", responses={404: {"model": Detail}})
async def get_job(job_id: int, store: StoreDep) -> JobOut:
    found = await in_thread(store.jobs, job_ids=[job_id])
    if not found:
        raise NotFoundError(f"no job {job_id}")
    return _out(found[0])


async def _plan_and_work(
    request: CollectRequest, state: State, store: StoreDep, *, refetch_empty: bool
) -> PlanCreated:
    # A server that cannot reach ENTSO-E says so now, before a plan is recorded that
    # nothing would work (a ConfigError is a 503).
    check_token(state.services.settings)
    plan = await in_thread(
        plan_backfill,
        store,
        request.dataset,
        request.area,
        request.start,
        request.end,
        refetch_empty=refetch_empty,
        created_by="api",
    )
    plan_id = plan.plan_id
    running = False
    if plan_id is not None:
        task = _RUNNING.get(plan_id)
        if task is None or task.done():
            settings = state.services.settings
            _RUNNING[plan_id] = asyncio.create_task(
                _work(settings, store, plan_id, request.workers), name=f"plan {plan_id}"
            )
        running = True
    return PlanCreated(
        plan_id=plan_id,
        chunks=len(plan.chunks),
        resumed=plan.resumed,
        running=running,
        notes=plan.notes,
    )


async def _work(settings: Any, store: Any, plan_id: str, workers: int) -> None:
    try:
        report = await work_plan(settings, store, plan_id, workers=workers)
        log.info("plan worked", plan_id=plan_id, done=report.done, failed=len(report.failed_jobs))
    except Exception as exc:  # the ledger keeps what failed; the server keeps serving
        log.warning("plan stopped", plan_id=plan_id, reason=str(exc))


@admin_router.post(
    "/backfill",
    status_code=202,
    summary="Plan the missing windows of a range and work them in the background",
    responses={
        400: {"model": Detail},
        404: {"model": Detail},
        503: {"model": Detail, "description": "This server has no ENTSO-E API token."},
    },
)
async def post_backfill(request: CollectRequest, state: State, store: StoreDep) -> PlanCreated:
    return await _plan_and_work(request, state, store, refetch_empty=False)


@admin_router.post(
    "/collect",
    status_code=202,
    summary="Collect a range now (also windows that had no data before), in the background",
    responses={
        400: {"model": Detail},
        404: {"model": Detail},
        503: {"model": Detail, "description": "This server has no ENTSO-E API token."},
    },
)
async def post_collect(request: CollectRequest, state: State, store: StoreDep) -> PlanCreated:
    return await _plan_and_work(request, state, store, refetch_empty=True)
