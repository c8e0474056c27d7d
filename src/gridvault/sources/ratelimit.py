"""The upstream rate limiter: one request budget shared by every concurrent request.

ENTSO-E accepts at most 400 requests per minute per token *and* per IP and answers a
429 "Requester banned until '…'" for ten minutes to anyone who goes over (research notes
§3.2). So every request of every worker asks the limiter first, and a ban seen by one
request pauses all of them until the stated time.

Both implementations space requests evenly (GCRA, "generic cell rate algorithm" without
burst): request slots are ``(window + safety margin) / limit`` seconds apart, handed out
in order. ``limit + 1`` consecutive slots then span more than the window, so no window of
that length ever holds more than ``limit`` requests, whatever the server's way of counting
(sliding or per calendar minute), and the traffic is smooth rather than a burst at the
start of each minute. The small margin (1 % by default) absorbs network jitter: a request
delayed on its way must not make the server see ``limit + 1`` arrivals inside one window.

* :class:`LocalRateLimiter` — in-process (asyncio), for one process.
* :class:`RedisRateLimiter` — the same algorithm as atomic Lua scripts on Redis, using the
  Redis server's clock, so every process on every machine shares one budget and one
  ban-until time. Keys are namespaced by a hash of the token, never the token itself.

Use :func:`build_limiter` to get the right one for the settings.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from gridvault.errors import ConfigError
from gridvault.logs import get_logger, redact

if TYPE_CHECKING:
    from gridvault.settings import Settings

log = get_logger("gridvault.ratelimit")

DEFAULT_WINDOW_SECONDS = 60.0
DEFAULT_SAFETY = 0.01

Sleep = Callable[[float], Awaitable[Any]]


class RateLimiter(ABC):
    """At most ``limit`` requests per ``window_seconds``, and a shared ban-until time."""

    def __init__(
        self,
        limit: int,
        *,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        safety: float = DEFAULT_SAFETY,
    ) -> None:
        if limit < 1:
            raise ConfigError(f"the rate limit must be at least 1 request, got {limit}")
        if window_seconds <= 0 or safety < 0:
            raise ConfigError("the rate-limit window must be positive and the margin >= 0")
        self.limit = limit
        self.window_seconds = window_seconds
        self.safety = safety

    @property
    def interval(self) -> float:
        """Seconds between two request slots."""
        return self.window_seconds * (1 + self.safety) / self.limit

    @abstractmethod
    async def acquire(self) -> float:
        """Wait for this request's slot (and for any ban to end); the seconds waited."""

    @abstractmethod
    async def ban(self, until: datetime) -> None:
        """Pause every request until ``until`` (an aware time); a later ban wins."""

    @abstractmethod
    async def banned_until(self) -> datetime | None:
        """The end of the current ban, or None when not banned."""

    async def check(self) -> None:
        """Raise :class:`ConfigError` when the limiter cannot work (e.g. Redis is down)."""
        return

    async def aclose(self) -> None:
        """Release connections."""
        return

    async def __aenter__(self) -> RateLimiter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class LocalRateLimiter(RateLimiter):
    """In-process limiter for one asyncio event loop.

    ``clock`` (monotonic seconds), ``wall`` (Unix seconds, for ban times) and ``sleep`` are
    injectable so tests can run minutes of schedule in no time.
    """

    def __init__(
        self,
        limit: int,
        *,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        safety: float = DEFAULT_SAFETY,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(limit, window_seconds=window_seconds, safety=safety)
        self._clock = clock
        self._wall = wall
        self._sleep = sleep
        self._next_slot = -math.inf
        self._ban_deadline = -math.inf
        self._ban_until: datetime | None = None

    async def acquire(self) -> float:
        waited = 0.0
        while True:
            now = self._clock()
            # Reserve synchronously (no await in between): the event loop serialises callers.
            slot = max(self._next_slot, now, self._ban_deadline)
            self._next_slot = slot + self.interval
            delay = slot - now
            if delay <= 0:
                return waited
            await self._sleep(delay)
            waited += delay
            if self._ban_deadline <= self._clock():
                return waited
            # A ban arrived while this request waited: take a slot after it.

    async def ban(self, until: datetime) -> None:
        deadline = self._clock() + (until.timestamp() - self._wall())
        if deadline > self._ban_deadline:
            self._ban_deadline = deadline
            self._ban_until = until.astimezone(UTC)

    async def banned_until(self) -> datetime | None:
        if self._ban_until is None or self._ban_deadline <= self._clock():
            return None
        return self._ban_until


# Times in the scripts are milliseconds of the Redis server's clock (TIME), so processes on
# machines with skewed clocks still share one schedule. Numbers leave Lua as strings:
# Lua's own number formatting would round 13-digit millisecond stamps.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local banned = tonumber(redis.call('GET', KEYS[2]) or '0')
local slot = math.max(nxt, now, banned)
local ttl = math.ceil(slot + interval - now) + 1000
redis.call('SET', KEYS[1], string.format('%.3f', slot + interval), 'PX', string.format('%d', ttl))
return string.format('%.3f', slot - now)
"""

_BAN_LEFT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local banned = tonumber(redis.call('GET', KEYS[1]) or '0')
return string.format('%.3f', banned - now)
"""

_BAN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local ban_end = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if ban_end > current and ban_end > now then
  local ttl = math.ceil(ban_end - now) + 1000
  redis.call('SET', KEYS[1], string.format('%.3f', ban_end), 'PX', string.format('%d', ttl))
end
return string.format('%.3f', math.max(ban_end, current) - now)
"""


def token_namespace(token: str | None) -> str:
    """A stable, non-reversible key part for a token (the token itself is never stored)."""
    if not token:
        return "anonymous"
    return hashlib.sha256(token.encode()).hexdigest()[:20]


class RedisRateLimiter(RateLimiter):
    """The limiter shared through Redis by every process using the same token.

    Keys: ``{prefix}:{namespace}:next`` (the next free slot) and ``…:ban`` (the end of a
    ban), both expiring on their own. ``namespace`` is :func:`token_namespace` of the token.
    A Redis that cannot be reached is retried for ``patience`` seconds before requests fail
    (a restart loses the slot schedule, which only means the next slots start from now).
    """

    def __init__(
        self,
        url: str,
        limit: int,
        *,
        namespace: str,
        prefix: str = "gridvault:ratelimit:entsoe",
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        safety: float = DEFAULT_SAFETY,
        sleep: Sleep = asyncio.sleep,
        patience: float = 10.0,
    ) -> None:
        super().__init__(limit, window_seconds=window_seconds, safety=safety)
        import redis.asyncio as aioredis  # noqa: PLC0415 - only when Redis is configured

        self.patience = patience
        self._url = url
        self._redis: Any = aioredis.Redis.from_url(
            url, socket_connect_timeout=5, socket_timeout=10, decode_responses=True
        )
        self._next_key = f"{prefix}:{namespace}:next"
        self._ban_key = f"{prefix}:{namespace}:ban"
        self._reserve = self._redis.register_script(_RESERVE)
        self._ban_left = self._redis.register_script(_BAN_LEFT)
        self._ban = self._redis.register_script(_BAN)
        self._sleep = sleep

    @property
    def keys(self) -> tuple[str, str]:
        """The Redis keys this limiter uses (next slot, ban end)."""
        return self._next_key, self._ban_key

    async def _call(self, script: Any, keys: list[str], args: list[str]) -> float:
        """Run a script; a lost connection is retried for ``patience`` seconds (a Redis
        restart must not fail the windows in flight), other errors fail at once."""
        import redis  # noqa: PLC0415

        deadline = time.monotonic() + self.patience
        delay = 0.05
        while True:
            try:
                return float(await script(keys=keys, args=args))
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if time.monotonic() + delay > deadline:
                    raise self._failed(exc) from None
                log.warning("rate limiter's Redis unreachable, retrying", reason=str(exc))
                await self._sleep(delay)
                delay = min(delay * 2, 1.0)
            except redis.RedisError as exc:
                raise self._failed(exc) from None

    def _failed(self, exc: Exception) -> ConfigError:
        return ConfigError(
            f"the shared rate limiter's Redis ({_safe_url(self._url)}) failed: {redact(str(exc))}"
        )

    async def check(self) -> None:
        await self._call(self._ban_left, [self._ban_key], [])

    async def acquire(self) -> float:
        waited = 0.0
        interval_ms = f"{self.interval * 1000:.3f}"
        while True:
            delay = await self._call(self._reserve, [self._next_key, self._ban_key], [interval_ms])
            if delay <= 0:
                return waited
            await self._sleep(delay / 1000)
            waited += delay / 1000
            if await self._call(self._ban_left, [self._ban_key], []) <= 0:
                return waited

    async def ban(self, until: datetime) -> None:
        await self._call(self._ban, [self._ban_key], [f"{until.timestamp() * 1000:.3f}"])

    async def banned_until(self) -> datetime | None:
        left = await self._call(self._ban_left, [self._ban_key], [])
        if left <= 0:
            return None
        return datetime.fromtimestamp(time.time() + left / 1000, UTC)

    async def aclose(self) -> None:
        await self._redis.aclose()


def _safe_url(url: str) -> str:
    """A Redis URL without its password."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


def build_limiter(
    settings: Settings,
    *,
    limit: int | None = None,
    window_seconds: float = DEFAULT_WINDOW_SECONDS,
) -> RateLimiter:
    """The ENTSO-E limiter for these settings: Redis-backed when ``redis_url`` is set."""
    rate = limit or settings.entsoe_rate_limit
    if settings.redis_url:
        token = settings.entsoe_token.get_secret_value() if settings.entsoe_token else None
        return RedisRateLimiter(
            settings.redis_url,
            rate,
            namespace=token_namespace(token),
            window_seconds=window_seconds,
        )
    return LocalRateLimiter(rate, window_seconds=window_seconds)
