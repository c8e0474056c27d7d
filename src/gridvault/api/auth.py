"""API keys on requests: the ``X-API-Key`` header, scopes, and the per-key rate limit.

Every ``/v1`` request authenticates (unless the app was built with ``auth=False``), then
counts against its key's rate limit. A verified key is remembered for a few seconds
(:attr:`ApiOptions.key_cache_seconds`) so a burst of requests costs one store lookup; the
key itself is only ever held as its sha256.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from gridvault.api.state import ApiState, api_state
from gridvault.store import Store
from gridvault.store.api_keys import ApiKey, hash_key, verify_key

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="An API key from `gridvault keys create` (scope read or admin).",
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a key, or everyone when authentication is off."""

    name: str
    scope: str
    key_id: int | None = None
    rate_limit: int | None = None

    def allows(self, scope: str) -> bool:
        return self.scope in ("admin", scope)

    @property
    def bucket(self) -> str:
        return f"key:{self.key_id}"


ANONYMOUS = Principal("anonymous (authentication off)", "admin")


class KeyVerifier:
    """Looks keys up in the store, remembering answers (also negative ones) briefly."""

    def __init__(self, store: Callable[[], Store], ttl_seconds: float) -> None:
        self._store = store
        self.ttl_seconds = ttl_seconds
        self._known: dict[str, tuple[float, ApiKey | None]] = {}

    async def verify(self, key: str) -> ApiKey | None:
        digest = hash_key(key)
        now = time.monotonic()
        cached = self._known.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await anyio.to_thread.run_sync(verify_key, self._store(), key)
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[digest] = (now + self.ttl_seconds, found)
        return found

    def forget(self) -> None:
        """Drop remembered answers (after a key was revoked)."""
        self._known.clear()


def _client_bucket(request: Request) -> str:
    return f"ip:{request.client.host if request.client else 'unknown'}"


async def authenticate(
    request: Request,
    state: Annotated[ApiState, Depends(api_state)],
    key: Annotated[str | None, Security(api_key_header)] = None,
) -> Principal:
    """The caller, after its key was checked and its request counted against its limit."""
    if not state.auth:
        principal = ANONYMOUS
        bucket = _client_bucket(request)
    else:
        if not key:
            raise HTTPException(
                401,
                "missing API key: send it in the X-API-Key header "
                "(create one with `gridvault keys create --name NAME`)",
                headers={"WWW-Authenticate": "APIKey"},
            )
        record = await state.keys.verify(key.strip())
        if record is None:
            raise HTTPException(
                401, "invalid or revoked API key", headers={"WWW-Authenticate": "APIKey"}
            )
        principal = Principal(record.name, record.scope, record.key_id, record.rate_limit)
        bucket = principal.bucket
    request.state.principal = principal.name
    limit = principal.rate_limit or state.options.rate_limit
    window = state.options.rate_window_seconds
    decision = await state.limiter.hit(bucket, limit, window)
    if not decision.allowed:
        state.metrics.rate_limited.inc()
        raise HTTPException(
            429,
            f"rate limit exceeded: {limit} requests per {window} s for "
            f"{principal.name!r}; retry in {decision.retry_after} s",
            headers={"Retry-After": str(decision.retry_after)},
        )
    return principal


async def require_read(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    """Any valid key (read or admin)."""
    return principal


async def require_admin(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    """An admin key."""
    if not principal.allows("admin"):
        raise HTTPException(403, f"this needs an admin key; {principal.name!r} has scope read")
    return principal


__all__ = [
    "ANONYMOUS",
    "KeyVerifier",
    "Principal",
    "api_key_header",
    "authenticate",
    "require_admin",
    "require_read",
]
