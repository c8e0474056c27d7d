"""Backfill plans and the ledger queries a backfill needs beyond :class:`Store`'s job API.

A plan is one row of ``backfill_plans`` (what was asked: dataset, areas, range, options,
the command that resumes it) plus its chunks, the rows of ``jobs`` with its ``plan_id``.
The job life cycle itself (enqueue, claim with a lease, renew, complete, fail with
backoff, retry) is :class:`~gridvault.store.base.Store`'s; here are the plan rows, the
per-plan counts, the overlap check against other *active* plans (pending or running
chunks), the release of leases whose holder is known to be dead, and the wake-up hint an
idle worker sleeps on.

Functions use the store's sessions, so they run inside the caller's transaction when
there is one (planning runs in one write transaction).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gridvault.store.base import Session, Store, _aware, now_utc
from gridvault.store.model import JOB_STATES
from gridvault.timegrid import utc

#: The job ledger ``kind`` of backfill chunks.
BACKFILL_KIND = "backfill"
ACTIVE_STATES = ("pending", "running")


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """One stored backfill plan."""

    plan_id: str
    base_id: str
    generation: int
    dataset: str
    areas: tuple[str, ...]
    range_start: datetime
    range_end: datetime
    options: dict[str, Any]
    command: str
    chunks: int
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class PlanActivity:
    """What is left of a plan right now, for an idle worker deciding to wait or to stop."""

    pending: int
    running: int
    failed: int
    #: The earliest time a pending chunk may be claimed (None: one is claimable now).
    next_claimable: datetime | None
    #: The earliest lease expiry among running chunks (another worker's, or a dead one's).
    next_lease_expiry: datetime | None

    @property
    def open(self) -> bool:
        """True while some chunk is pending or running."""
        return self.pending + self.running > 0


_COLUMNS = (
    "plan_id, base_id, generation, dataset, areas, range_start, range_end, options, command, "
    "chunks, created_at, created_by"
)


def _record(row: tuple[Any, ...]) -> PlanRecord:
    return PlanRecord(
        plan_id=row[0],
        base_id=row[1],
        generation=int(row[2]),
        dataset=row[3],
        areas=tuple(part for part in str(row[4]).split(",") if part),
        range_start=_aware(row[5]) or now_utc(),
        range_end=_aware(row[6]) or now_utc(),
        options=json.loads(row[7]) if row[7] else {},
        command=row[8],
        chunks=int(row[9]),
        created_at=_aware(row[10]) or now_utc(),
        created_by=row[11],
    )


def lock_planning(db: Session, backend: str, key: str) -> None:
    """Serialise planning of one dataset across processes (PostgreSQL; a DuckDB file has
    one writing process, whose write transactions are already serialised)."""
    if backend == "postgres":
        db.fetchall("SELECT pg_advisory_xact_lock(hashtext(?))", (f"gridvault.backfill:{key}",))


def insert_plan(store: Store, record: PlanRecord) -> None:
    with store.session(write=True) as db:
        db.execute(
            f"INSERT INTO backfill_plans ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.plan_id,
                record.base_id,
                record.generation,
                record.dataset,
                ",".join(record.areas),
                utc(record.range_start),
                utc(record.range_end),
                json.dumps(record.options, sort_keys=True),
                record.command,
                record.chunks,
                utc(record.created_at),
                record.created_by,
            ),
        )


def get_plan(store: Store, plan_id: str) -> PlanRecord | None:
    with store.session() as db:
        rows = db.fetchall(f"SELECT {_COLUMNS} FROM backfill_plans WHERE plan_id = ?", (plan_id,))
    return _record(rows[0]) if rows else None


def latest_plan(store: Store, base_id: str) -> PlanRecord | None:
    """The newest generation of the plans made for one request."""
    with store.session() as db:
        rows = db.fetchall(
            f"SELECT {_COLUMNS} FROM backfill_plans WHERE base_id = ? "
            "ORDER BY generation DESC LIMIT 1",
            (base_id,),
        )
    return _record(rows[0]) if rows else None


def list_plans(store: Store, *, limit: int = 100) -> list[PlanRecord]:
    """Plans, newest first."""
    with store.session() as db:
        rows = db.fetchall(
            f"SELECT {_COLUMNS} FROM backfill_plans ORDER BY created_at DESC, plan_id LIMIT ?",
            (int(limit),),
        )
    return [_record(row) for row in rows]


def plan_counts(store: Store, plan_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Chunks per state of each plan (every state present, zero when none)."""
    result = {plan_id: dict.fromkeys(JOB_STATES, 0) for plan_id in plan_ids}
    if not plan_ids:
        return result
    marks = ", ".join("?" for _ in plan_ids)
    with store.session() as db:
        rows = db.fetchall(
            f"SELECT plan_id, state, count(*) FROM jobs WHERE plan_id IN ({marks}) "
            "GROUP BY plan_id, state",
            list(plan_ids),
        )
    for plan_id, state, count in rows:
        result[str(plan_id)][str(state)] = int(count)
    return result


def overlapping_active(
    store: Store,
    *,
    dataset: str,
    ranges: Sequence[tuple[str, str | None, datetime, datetime]],
    exclude_base: str | None = None,
) -> dict[str, int]:
    """Plans (other than those of ``exclude_base``) with pending or running chunks of
    ``dataset`` overlapping one of ``ranges`` = ``(area, area_to, start, end)``: plan id →
    how many of its open chunks overlap."""
    if not ranges:
        return {}
    clauses = []
    params: list[Any] = [dataset]
    for area, area_to, start, end in ranges:
        clauses.append("(area = ? AND area_to = ? AND window_start < ? AND window_end > ?)")
        params.extend([area, area_to or "", utc(end), utc(start)])
    sql = (
        "SELECT plan_id, count(*) FROM jobs WHERE dataset = ? AND state IN ('pending', 'running') "
        f"AND ({' OR '.join(clauses)})"
    )
    if exclude_base is not None:
        sql += " AND plan_id NOT IN (SELECT plan_id FROM backfill_plans WHERE base_id = ?)"
        params.append(exclude_base)
    with store.session() as db:
        rows = db.fetchall(f"{sql} GROUP BY plan_id ORDER BY plan_id", params)
    return {str(row[0]): int(row[1]) for row in rows}


def running_owners(store: Store, plan_id: str) -> list[str]:
    """The distinct lease owners of a plan's running chunks."""
    with store.session() as db:
        rows = db.fetchall(
            "SELECT DISTINCT lease_owner FROM jobs WHERE plan_id = ? AND state = 'running' "
            "AND lease_owner IS NOT NULL",
            (plan_id,),
        )
    return sorted(str(row[0]) for row in rows)


def release_leases(store: Store, plan_id: str, owners: Sequence[str]) -> int:
    """Put the running chunks of ``owners`` back to pending (their holders are gone).

    The attempt they were on stays counted: a chunk that keeps killing its worker still
    runs out of attempts."""
    if not owners:
        return 0
    marks = ", ".join("?" for _ in owners)
    with store.session(write=True) as db:
        rows = db.fetchall(
            "UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, "
            f"updated_at = ? WHERE plan_id = ? AND state = 'running' AND lease_owner IN ({marks}) "
            "RETURNING job_id",
            [now_utc(), plan_id, *owners],
        )
    return len(rows)


def release_orphans(
    store: Store, plan_id: str, owner: str, working: Sequence[int], claimed_before: datetime
) -> int:
    """Put back to pending the running chunks leased to ``owner`` (claimed before
    ``claimed_before``) that none of its workers is working on (``working``).

    A claim can commit while its answer is lost (the connection dropped, a database restart):
    the chunk is then leased to a live worker that does not know it, and would wait for its
    lease to expire. The attempt stays counted, as in :func:`release_leases`."""
    params: list[Any] = [now_utc(), plan_id, owner, utc(claimed_before)]
    keep = ""
    if working:
        keep = f" AND job_id NOT IN ({', '.join('?' for _ in working)})"
        params.extend(int(job_id) for job_id in working)
    with store.session(write=True) as db:
        rows = db.fetchall(
            "UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, "
            "updated_at = ? WHERE plan_id = ? AND state = 'running' AND lease_owner = ? "
            f"AND updated_at < ?{keep} RETURNING job_id",
            params,
        )
    return len(rows)


def activity(store: Store, plan_id: str) -> PlanActivity:
    """Pending/running/failed counts and the next moments something becomes claimable."""
    with store.session() as db:
        row = db.fetchall(
            "SELECT count(*) FILTER (WHERE state = 'pending'), "
            "count(*) FILTER (WHERE state = 'running'), count(*) FILTER (WHERE state = 'failed'), "
            "count(*) FILTER (WHERE state = 'pending' AND not_before IS NULL), "
            "min(not_before) FILTER (WHERE state = 'pending'), "
            "min(lease_expires_at) FILTER (WHERE state = 'running') FROM jobs WHERE plan_id = ?",
            (plan_id,),
        )[0]
    pending, running, failed, unblocked = (int(value or 0) for value in row[:4])
    next_claimable = None if unblocked else _aware(row[4])
    return PlanActivity(pending, running, failed, next_claimable, _aware(row[5]))


def cancel_plan(store: Store, plan_id: str, reason: str) -> int:
    """Mark a plan's pending chunks failed with ``reason`` (``gridvault jobs retry`` brings
    them back). Running chunks finish; their holders' results still count."""
    with store.session(write=True) as db:
        rows = db.fetchall(
            "UPDATE jobs SET state = 'failed', last_error = ?, not_before = NULL, updated_at = ? "
            "WHERE plan_id = ? AND state = 'pending' RETURNING job_id",
            (reason, now_utc(), plan_id),
        )
    return len(rows)


__all__ = [
    "ACTIVE_STATES",
    "BACKFILL_KIND",
    "PlanActivity",
    "PlanRecord",
    "activity",
    "cancel_plan",
    "get_plan",
    "insert_plan",
    "latest_plan",
    "list_plans",
    "lock_planning",
    "overlapping_active",
    "plan_counts",
    "release_leases",
    "release_orphans",
    "running_owners",
]
