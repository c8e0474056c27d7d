"""What one API app holds: services, options, limiter, cache, metrics, background services.

Built by :func:`gridvault.api.app.create_app` (never at import time) and reached by request
handlers through :func:`api_state`; the Redis-backed parts are swapped in by the lifespan.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from fastapi import Request

from gridvault.api.cache import MemoryCache, ResponseCache
from gridvault.api.limits import MemoryRateLimiter, RateLimiter
from gridvault.services import Services

if TYPE_CHECKING:
    from gridvault.api.auth import KeyVerifier
    from gridvault.api.telemetry import Metrics


@runtime_checkable
class BackgroundService(Protocol):
    """Something that runs beside the API in the same process (the scheduler, in embedded
    mode). Started in order when the app starts, stopped in reverse when it stops;
    ``alive()`` feeds ``/health/ready``. A ``name`` attribute, if present, labels it."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def alive(self) -> bool: ...


def service_name(service: BackgroundService) -> str:
    return str(getattr(service, "name", None) or type(service).__name__)


@dataclass(frozen=True)
class ApiOptions:
    """Tunables of the API (defaults suit one embedded process)."""

    #: Requests per window per API key (a key may carry its own limit).
    rate_limit: int = 600
    rate_window_seconds: int = 60
    #: Estimated rows per store read while streaming JSON/CSV (bounds memory per response:
    #: text is encoded in slices, with intermediate columns per slice).
    chunk_rows: int = 262_144
    #: The same for Arrow and Parquet, whose encoding needs no per-value work: larger reads
    #: cost fewer queries. Not larger: a year of 50 quarter-hour series (1.76 M rows) read
    #: whole instead of in two chunks costs ~7 % less CPU, but sends nothing until the whole
    #: read is done: 4-16 % slower with one client, 10-35 % with eight at once (bench/api's
    #: queries, alternating runs on one machine).
    binary_chunk_rows: int = 1_048_576
    #: Largest page (``limit``).
    max_page_rows: int = 1_000_000
    #: Largest answer in Parquet, which is built whole in memory.
    parquet_max_rows: int = 2_000_000
    #: Answers of at most this many (estimated) rows are built whole and cached.
    cache_max_rows: int = 50_000
    cache_max_bytes: int = 8 << 20
    memory_cache_bytes: int = 128 << 20
    cache_ttl_seconds: int = 3600
    #: How long a verified API key is trusted before it is looked up again. Revocations
    #: through the API take effect at once; through the CLI within this time.
    key_cache_seconds: float = 5.0
    #: Largest coverage question (expected intervals over all series).
    coverage_max_intervals: int = 5_000_000
    #: Seconds /health/ready waits for the store and Redis.
    ready_timeout_seconds: float = 5.0


@dataclass
class ApiState:
    services: Services
    options: ApiOptions
    auth: bool
    background: Sequence[BackgroundService]
    metrics: Metrics
    keys: KeyVerifier
    limiter: RateLimiter = field(default_factory=MemoryRateLimiter)
    cache: ResponseCache = field(default_factory=MemoryCache)
    redis: Any | None = None
    #: Threads that encode JSON/CSV slices in parallel (set by the lifespan).
    encoder: Executor | None = None


def api_state(request: Request) -> ApiState:
    """The state of the app serving ``request``."""
    state: ApiState = request.app.state.api
    return state


__all__ = ["ApiOptions", "ApiState", "BackgroundService", "api_state", "service_name"]
