"""Per-key rate limits: fixed windows counted in Redis (shared by replicas) or in process.

Each key (or, with authentication off, each client address) may make ``limit`` requests per
window of ``window_seconds``. The answer to a request over the limit is HTTP 429 with
``Retry-After`` = the seconds left in the window. Fixed windows are simple and exact to
count with one atomic ``INCR`` in Redis; a client may burst up to twice the limit across a
window boundary, which is acceptable for protecting the store.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

from gridvault.logs import get_logger

log = get_logger("gridvault.api.limits")


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a request may proceed; if not, how many seconds until it may."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: int = 0


class RateLimiter(Protocol):
    backend: str

    async def hit(self, bucket: str, limit: int, window_seconds: int) -> Decision: ...

    async def close(self) -> None: ...


def _window(window_seconds: int, now: float) -> tuple[int, int]:
    """The current window's number and the whole seconds left in it (at least 1)."""
    number = int(now // window_seconds)
    left = max(1, math.ceil((number + 1) * window_seconds - now))
    return number, left


class MemoryRateLimiter:
    """Counts in this process (one API process: the embedded DuckDB mode)."""

    backend = "memory"

    def __init__(self, clock: Any = time.time) -> None:
        self._clock = clock
        self._counts: dict[tuple[str, int], int] = {}

    async def hit(self, bucket: str, limit: int, window_seconds: int) -> Decision:
        number, left = _window(window_seconds, self._clock())
        key = (bucket, number)
        if key not in self._counts and len(self._counts) > 10_000:
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= number}
        count = self._counts.get(key, 0) + 1
        self._counts[key] = count
        if count > limit:
            return Decision(False, limit, 0, left)
        return Decision(True, limit, limit - count)

    async def close(self) -> None:
        self._counts.clear()


class RedisRateLimiter:
    """Counts in Redis, shared by every API replica; if Redis fails, requests are let through
    (and the failure logged): a limiter outage must not become an API outage."""

    backend = "redis"

    def __init__(self, client: Any, clock: Any = time.time) -> None:
        self.client = client
        self._clock = clock

    async def hit(self, bucket: str, limit: int, window_seconds: int) -> Decision:
        number, left = _window(window_seconds, self._clock())
        key = f"gridvault:ratelimit:{bucket}:{window_seconds}:{number}"
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, window_seconds + 1)
                count, _ = await pipe.execute()
        except Exception as exc:
            log.warning("rate limiter unavailable; letting the request through", error=str(exc))
            return Decision(True, limit, limit)
        if int(count) > limit:
            return Decision(False, limit, 0, left)
        return Decision(True, limit, limit - int(count))

    async def close(self) -> None:
        return None


__all__ = ["Decision", "MemoryRateLimiter", "RateLimiter", "RedisRateLimiter"]
