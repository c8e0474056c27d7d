"""One router per resource, each with its full prefix (``/v1``, ``/health``) so route
templates (metrics labels) are whole paths. ``V1_READ`` need a read key, ``V1_ADMIN`` an admin key; the
``/health`` and ``/metrics`` routers are open (probes and scrapers carry no key).

``jobs``: ``GET /v1/jobs`` (read), ``POST /v1/collect`` and ``POST /v1/backfill`` (admin).
"""

from __future__ import annotations

from fastapi import APIRouter

from gridvault.api.routers import (
    areas,
    coverage,
    data,
    datasets,
    health,
    jobs,
    keys,
    metrics,
    updates,
)

V1_READ: tuple[APIRouter, ...] = (
    datasets.router,
    data.router,
    coverage.router,
    areas.router,
    updates.router,
    jobs.read_router,
)
V1_ADMIN: tuple[APIRouter, ...] = (keys.router, jobs.admin_router)
OPEN: tuple[APIRouter, ...] = (health.router, metrics.router)

__all__ = ["OPEN", "V1_ADMIN", "V1_READ"]
