"""Response cache for hot queries: Redis when configured, else an in-process LRU.

Entries are whole response bodies keyed by a hash of the request *and* of
:meth:`Store.last_changed` of the series involved. New data for a series changes that time,
so the next request computes a new key and the stale entry is never read again (it ages out
by TTL in Redis, by LRU in process): invalidation without a purge protocol, and correct
across API replicas sharing one Redis. Keys also carry a fingerprint of gridvault's code:
after an upgrade that writes answers differently (a row's resolution, say), neither an
entry in Redis nor a client's ``ETag`` hands out a body the running code would not write,
and replicas of two versions during a rolling deploy keep apart.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import gridvault
from gridvault.logs import get_logger

log = get_logger("gridvault.api.cache")


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """A response body with its media type and the headers that belong to the body."""

    media_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        head = json.dumps({"media_type": self.media_type, "headers": self.headers})
        return head.encode() + b"\n" + self.body

    @classmethod
    def from_bytes(cls, data: bytes) -> CachedResponse:
        head, _, body = data.partition(b"\n")
        meta = json.loads(head)
        return cls(
            str(meta["media_type"]), body, {str(k): str(v) for k, v in meta["headers"].items()}
        )


def code_fingerprint(root: Path | None = None) -> str:
    """A hash of the version and every Python source file of gridvault (under ``root``,
    the installed package by default): any change to the code gives another."""
    root = root or Path(gridvault.__file__).parent
    digest = hashlib.sha256(gridvault.__version__.encode())
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@functools.cache
def running_code() -> str:
    """The running code's fingerprint (computed once; the app's startup does it, so no
    request reads the source files)."""
    return code_fingerprint()


def cache_key(*parts: Any) -> str:
    """A stable key for the given parts and the running code (JSON-encoded, hashed)."""
    text = json.dumps([running_code(), *parts], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class ResponseCache(Protocol):
    backend: str

    async def get(self, key: str) -> CachedResponse | None: ...

    async def set(self, key: str, value: CachedResponse) -> None: ...

    async def close(self) -> None: ...


class MemoryCache:
    """An LRU bounded by total body bytes, with a TTL for memory hygiene."""

    backend = "memory"

    def __init__(self, max_bytes: int = 64 << 20, ttl_seconds: float = 3600) -> None:
        self.max_bytes = max_bytes
        self.ttl_seconds = ttl_seconds
        self._entries: OrderedDict[str, tuple[float, CachedResponse]] = OrderedDict()
        self._size = 0

    async def get(self, key: str) -> CachedResponse | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires < time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: CachedResponse) -> None:
        size = len(value.body)
        if size > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (time.monotonic() + self.ttl_seconds, value)
        self._size += size
        while self._size > self.max_bytes and self._entries:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        _, value = self._entries.pop(key)
        self._size -= len(value.body)

    async def close(self) -> None:
        self._entries.clear()
        self._size = 0


class RedisCache:
    """Entries in Redis under ``gridvault:cache:<hash>`` with a TTL; errors degrade to a miss."""

    backend = "redis"

    def __init__(self, client: Any, ttl_seconds: int = 3600) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds

    async def get(self, key: str) -> CachedResponse | None:
        try:
            data = await self.client.get(f"gridvault:cache:{key}")
        except Exception as exc:  # a cache must never fail a request
            log.warning("cache read failed", error=str(exc))
            return None
        return CachedResponse.from_bytes(data) if data is not None else None

    async def set(self, key: str, value: CachedResponse) -> None:
        try:
            await self.client.set(f"gridvault:cache:{key}", value.to_bytes(), ex=self.ttl_seconds)
        except Exception as exc:
            log.warning("cache write failed", error=str(exc))

    async def close(self) -> None:
        return None


__all__ = ["CachedResponse", "MemoryCache", "RedisCache", "ResponseCache", "cache_key"]
