"""API keys of the REST API: create, list, revoke, verify.

A key is ``gvk_`` followed by 43 URL-safe characters from :func:`secrets.token_urlsafe`
(256 random bits). Only its sha256 is stored: with that much entropy a plain hash cannot
be reversed or guessed, so no slow password hash is needed, and verifying a request costs
one indexed lookup. The key itself is returned once, by :func:`create_key`, and is never
stored, logged or shown again.

Scopes: ``read`` may read data; ``admin`` may also manage keys (and, later, jobs).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gridvault.errors import InputError
from gridvault.store.base import Store

SCOPES = ("read", "admin")
KEY_PREFIX = "gvk_"
#: Highest per-key rate limit (requests per window); the column is a 32-bit integer.
MAX_RATE_LIMIT = 1_000_000
_MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key (without the key): who it is, what it may do, whether it still works."""

    key_id: int
    name: str
    scope: str
    rate_limit: int | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        """True when this key may act with ``scope`` (admin implies read)."""
        return self.active and self.scope in ("admin", scope)


def hash_key(key: str) -> str:
    """The stored form of a key: hex sha256 of its UTF-8 bytes."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random key (256 bits of entropy)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _row(row: tuple[Any, ...]) -> ApiKey:
    return ApiKey(
        key_id=int(row[0]),
        name=str(row[1]),
        scope=str(row[2]),
        rate_limit=None if row[3] is None else int(row[3]),
        created_at=_aware(row[4]) or datetime.now(UTC),
        revoked_at=_aware(row[5]),
    )


_COLUMNS = "key_id, name, scope, rate_limit, created_at, revoked_at"


def create_key(
    store: Store, name: str, scope: str = "read", *, rate_limit: int | None = None
) -> tuple[ApiKey, str]:
    """Register a new key; returns its record and the key itself (shown once, never stored).

    Names identify keys for people (``keys list``, ``keys revoke NAME``), so two active keys
    may not share one.
    """
    name = name.strip()
    if not name or len(name) > _MAX_NAME:
        raise InputError(f"a key name must be 1 to {_MAX_NAME} characters")
    if scope not in SCOPES:
        raise InputError(f"unknown scope {scope!r}; use one of {', '.join(SCOPES)}")
    if rate_limit is not None and not 1 <= rate_limit <= MAX_RATE_LIMIT:
        raise InputError(f"a key's rate limit must be 1 to {MAX_RATE_LIMIT:,} requests per window")
    key = new_key()
    now = datetime.now(UTC)
    with store.session(write=True) as db:
        clash = db.fetchall(
            "SELECT key_id FROM api_keys WHERE name = ? AND revoked_at IS NULL", (name,)
        )
        if clash:
            raise InputError(
                f"an active key named {name!r} exists (id {clash[0][0]}); revoke it first or "
                "choose another name"
            )
        rows = db.fetchall(
            "INSERT INTO api_keys (name, scope, key_hash, rate_limit, created_at) "
            f"VALUES (?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
            (name, scope, hash_key(key), rate_limit, now),
        )
    return _row(rows[0]), key


def list_keys(store: Store, *, include_revoked: bool = True) -> list[ApiKey]:
    """Every key, oldest first (never the keys themselves: they are not stored)."""
    where = "" if include_revoked else "WHERE revoked_at IS NULL"
    with store.session() as db:
        rows = db.fetchall(f"SELECT {_COLUMNS} FROM api_keys {where} ORDER BY key_id")
    return [_row(row) for row in rows]


def revoke_key(store: Store, which: str | int) -> ApiKey:
    """Revoke the active key with this id or name; the key stops working at once.

    Revoking is final (create a new key instead of reviving one). An unknown or already
    revoked key is an :class:`InputError`.
    """
    text = str(which).strip()
    now = datetime.now(UTC)
    with store.session(write=True) as db:
        if text.isdigit():
            rows = db.fetchall(f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = ?", (int(text),))
        else:
            rows = db.fetchall(
                f"SELECT {_COLUMNS} FROM api_keys WHERE name = ? ORDER BY revoked_at IS NULL DESC, "
                "key_id DESC",
                (text,),
            )
        if not rows:
            raise InputError(f"no API key with id or name {text!r}; see `gridvault keys list`")
        found = _row(rows[0])
        if not found.active:
            raise InputError(f"API key {found.key_id} ({found.name!r}) is already revoked")
        db.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ?", (now, found.key_id))
    return ApiKey(found.key_id, found.name, found.scope, found.rate_limit, found.created_at, now)


def verify_key(store: Store, key: str) -> ApiKey | None:
    """The active key record for a presented key, or None (unknown or revoked)."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    with store.session() as db:
        rows = db.fetchall(
            f"SELECT {_COLUMNS} FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
            (hash_key(key),),
        )
    return _row(rows[0]) if rows else None


def count_active_keys(store: Store) -> int:
    with store.session() as db:
        rows = db.fetchall("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL")
    return int(rows[0][0])


__all__ = [
    "KEY_PREFIX",
    "MAX_RATE_LIMIT",
    "SCOPES",
    "ApiKey",
    "count_active_keys",
    "create_key",
    "hash_key",
    "list_keys",
    "new_key",
    "revoke_key",
    "verify_key",
]
