"""Versioned, plain-SQL schema migrations, applied automatically on open.

Files ``sql/<backend>/NNNN_name.sql`` run in order, each in its own transaction, and are
recorded in ``schema_migrations``. Safety against two processes starting at once:
PostgreSQL takes a transaction-scoped advisory lock before looking at the schema; a DuckDB
file has one writing process by construction (the engine's file lock). A store whose
schema is newer than this code refuses to open instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from gridvault.errors import SchemaVersionError

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
#: Arbitrary constant identifying gridvault's migration lock among advisory locks.
ADVISORY_LOCK_KEY = 0x67726964  # "grid"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(backend: str) -> list[Migration]:
    """The migrations shipped for ``backend`` (``duckdb`` or ``postgres``), in order."""
    folder = resources.files("gridvault.store") / "sql" / backend
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def latest_version(backend: str) -> int:
    shipped = migrations(backend)
    return shipped[-1].version if shipped else 0


def check_not_newer(current: int, backend: str, where: str) -> None:
    known = latest_version(backend)
    if current > known:
        raise SchemaVersionError(
            f"{where} has schema version {current}, newer than this gridvault knows ({known}); "
            "upgrade gridvault instead of opening it with an older version"
        )


def split_statements(sql: str) -> list[str]:
    """Split a migration file into statements (our files keep ``;`` out of literals)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]
