"""The shared rate limiter: never more than N requests per window, bans pause everyone.

The in-process limiter runs on virtual time (minutes of schedule in milliseconds); the
Redis limiter runs in real time with short windows, shared by two processes.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from gridvault.errors import ConfigError
from gridvault.settings import Settings
from gridvault.sources.ratelimit import (
    LocalRateLimiter,
    RedisRateLimiter,
    build_limiter,
    token_namespace,
)


class VirtualTime:
    """A clock that jumps to the next sleeper's wake-up once every task is blocked."""

    def __init__(self) -> None:
        self.now = 0.0
        self.epoch = 1_700_000_000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.epoch + self.now

    def at(self, seconds: float) -> datetime:
        return datetime.fromtimestamp(self.epoch + seconds, UTC)

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), future))
        await future

    async def run(self, *coroutines: Awaitable[Any]) -> list[Any]:
        tasks = [asyncio.ensure_future(c) for c in coroutines]
        while not all(task.done() for task in tasks):
            for _ in range(20):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            if self._sleepers:
                wake, _, future = heapq.heappop(self._sleepers)
                self.now = max(self.now, wake)
                future.set_result(None)
        return [task.result() for task in tasks]


def max_in_window(stamps: Sequence[float], window: float) -> int:
    ordered = sorted(stamps)
    best, low = 0, 0
    for high, stamp in enumerate(ordered):
        while stamp - ordered[low] >= window:
            low += 1
        best = max(best, high - low + 1)
    return best


def local(vt: VirtualTime, limit: int, window: float = 60.0) -> LocalRateLimiter:
    return LocalRateLimiter(
        limit, window_seconds=window, clock=vt.clock, wall=vt.wall, sleep=vt.sleep
    )


def test_never_more_than_the_limit_in_any_window_and_no_slower_than_needed() -> None:
    vt = VirtualTime()
    limiter = local(vt, 30)
    stamps: list[float] = []

    async def worker(count: int) -> None:
        for _ in range(count):
            await limiter.acquire()
            stamps.append(vt.now)

    asyncio.run(vt.run(*(worker(40) for _ in range(5))))
    assert len(stamps) == 200
    assert max_in_window(stamps, 60.0) <= 30
    # Evenly spaced slots: 200 requests need 199 intervals of 60.6/30 s, not more.
    assert max(stamps) == pytest.approx(199 * limiter.interval)
    assert min(b - a for a, b in itertools.pairwise(sorted(stamps))) == pytest.approx(
        limiter.interval
    )


def test_idle_time_is_not_banked_into_a_burst() -> None:
    vt = VirtualTime()
    limiter = local(vt, 10)
    stamps: list[float] = []

    async def scenario() -> None:
        await limiter.acquire()
        await vt.sleep(600)  # a long idle stretch
        for _ in range(15):
            await limiter.acquire()
            stamps.append(vt.now)

    asyncio.run(vt.run(scenario()))
    assert max_in_window(stamps, 60.0) <= 10


def test_ban_pauses_every_waiter_until_its_end() -> None:
    vt = VirtualTime()
    limiter = local(vt, 60)
    stamps: list[float] = []

    async def worker() -> None:
        for _ in range(10):
            await limiter.acquire()
            stamps.append(vt.now)

    async def banner() -> None:
        await vt.sleep(3.0)
        await limiter.ban(vt.at(100.0))
        assert await limiter.banned_until() == vt.at(100.0)

    asyncio.run(vt.run(banner(), *(worker() for _ in range(4))))
    assert len(stamps) == 40
    assert not [s for s in stamps if 3.0 < s < 100.0]
    assert any(s >= 100.0 for s in stamps)
    assert asyncio.run(limiter.banned_until()) is None
    # An earlier ban never shortens a later one.
    asyncio.run(limiter.ban(vt.at(500.0)))
    asyncio.run(limiter.ban(vt.at(200.0)))
    assert asyncio.run(limiter.banned_until()) == vt.at(500.0)


def test_real_time_concurrent_requests_stay_within_a_short_window() -> None:
    limiter = LocalRateLimiter(20, window_seconds=0.5, safety=0.05)
    stamps: list[float] = []

    async def worker() -> None:
        for _ in range(6):
            await limiter.acquire()
            stamps.append(time.monotonic())

    async def main() -> None:
        await asyncio.gather(*(worker() for _ in range(10)))

    began = time.monotonic()
    asyncio.run(main())
    assert max_in_window(stamps, 0.5) <= 20
    assert time.monotonic() - began >= 59 * limiter.interval - 0.01


def test_bad_limits_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        LocalRateLimiter(0)
    with pytest.raises(ConfigError):
        LocalRateLimiter(10, window_seconds=0)


# -- Redis --------------------------------------------------------------------------------

_CHILD = """
import asyncio, json, sys
from gridvault.sources.ratelimit import RedisRateLimiter
url, namespace, limit, window, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
import redis
clock = redis.Redis.from_url(url)
async def main():
    limiter = RedisRateLimiter(url, limit, namespace=namespace, window_seconds=window, safety=0.05)
    stamps = []
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(count):
        await limiter.acquire()
        seconds, micros = clock.time()
        stamps.append(seconds + micros / 1e6)
    await limiter.aclose()
    print(json.dumps(stamps), flush=True)
asyncio.run(main())
"""


def _redis_time(url: str) -> float:
    client = redis.Redis.from_url(url)
    try:
        seconds, micros = client.time()
        return float(seconds + micros / 1e6)
    finally:
        client.close()


@pytest.mark.redis
def test_redis_budget_is_shared_by_two_processes(redis_url: str) -> None:
    namespace = token_namespace("two-process-token")
    limit, window, each = 10, 1.0, 15
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _CHILD,
                redis_url,
                namespace,
                str(limit),
                str(window),
                str(each),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    stamps: list[float] = []
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        for child in children:  # start both together
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        for child in children:
            out, _ = child.communicate(timeout=30)
            assert child.returncode == 0
            stamps.extend(json.loads(out.strip().splitlines()[-1]))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    assert len(stamps) == 2 * each
    assert max_in_window(stamps, window) <= limit
    # One budget: 30 requests at 10 per second take ~3 s, not the ~1.5 s of two budgets.
    interval = window * 1.05 / limit
    assert max(stamps) - min(stamps) >= (2 * each - 1) * interval - 0.05


@pytest.mark.redis
def test_redis_ban_is_shared_and_keys_never_hold_the_token(redis_url: str) -> None:
    token = "very-secret-token-abc"  # noqa: S105 - a fake token for leak checks
    namespace = token_namespace(token)

    async def scenario() -> tuple[float, datetime | None]:
        first = RedisRateLimiter(redis_url, 100, namespace=namespace, window_seconds=1.0)
        second = RedisRateLimiter(redis_url, 100, namespace=namespace, window_seconds=1.0)
        other = RedisRateLimiter(redis_url, 100, namespace=token_namespace("x"), window_seconds=1.0)
        try:
            await first.acquire()
            until = datetime.fromtimestamp(_redis_time(redis_url), UTC) + timedelta(seconds=0.6)
            await first.ban(until)
            seen = await second.banned_until()
            assert await other.banned_until() is None
            began = time.monotonic()
            await second.acquire()
            return time.monotonic() - began, seen
        finally:
            for limiter in (first, second, other):
                await limiter.aclose()

    waited, seen = asyncio.run(scenario())
    assert seen is not None
    assert waited >= 0.5
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        keys = client.keys("*")
        assert keys
        assert all(token not in key for key in keys)
        assert all(namespace in key or token_namespace("x") in key for key in keys)
        assert all(client.pttl(key) > 0 for key in keys)  # everything expires on its own
    finally:
        client.close()


def test_redis_down_is_a_clear_config_error() -> None:
    async def scenario() -> None:
        limiter = RedisRateLimiter(
            "redis://:pw-secret@127.0.0.1:1/0", 10, namespace="n", window_seconds=1.0
        )
        try:
            await limiter.check()
        finally:
            await limiter.aclose()

    with pytest.raises(ConfigError, match="Redis") as caught:
        asyncio.run(scenario())
    assert "pw-secret" not in str(caught.value)


def test_build_limiter_follows_the_settings(redis_url: str) -> None:
    plain = build_limiter(Settings(entsoe_rate_limit=123, redis_url=None))
    assert isinstance(plain, LocalRateLimiter)
    assert plain.limit == 123
    shared = build_limiter(
        Settings(entsoe_rate_limit=77, redis_url=redis_url, entsoe_token="tok-1")  # noqa: S106
    )
    assert isinstance(shared, RedisRateLimiter)
    assert shared.limit == 77
    assert all(token_namespace("tok-1") in key for key in shared.keys)
    asyncio.run(shared.aclose())


def test_token_namespace_is_a_stable_hash() -> None:
    assert token_namespace(None) == "anonymous"
    assert token_namespace("abc") == token_namespace("abc") != token_namespace("abd")
    assert "abc" not in token_namespace("abc")
