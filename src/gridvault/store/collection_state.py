"""What the collector knows besides the data: window outcomes, freshness, schedule runs.

* :func:`record_window` keeps the latest outcome of every requested window
  (``data`` / ``no_data`` / ``failed``), so coverage can show gaps the upstream answered
  "no data" apart from gaps never fetched, and counts per dataset/area into
  ``collection_status`` (requests, failures, points inserted/updated, HTTP status codes).
* :func:`statuses` is what ``gridvault status``, ``/v1/updates`` and the metrics read.
* :func:`schedule_started` / :func:`schedule_finished` / :func:`schedule_states` persist
  the scheduler's runs across restarts (missed runs are caught up from them).

Functions take a :class:`~gridvault.store.base.Store` and use its sessions, so they run in
the caller's transaction when there is one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gridvault.errors import InputError
from gridvault.store.base import Store, _aware, now_utc
from gridvault.timegrid import utc

OUTCOMES = ("data", "no_data", "failed")


@dataclass(frozen=True, slots=True)
class WindowOutcome:
    """The latest outcome of one fetched window."""

    dataset: str
    area: str
    area_to: str | None
    window_start: datetime
    window_end: datetime
    outcome: str
    points: int
    http_status: int | None
    last_error: str | None
    attempts: int
    fetched_at: datetime
    last_success_at: datetime | None


@dataclass(frozen=True, slots=True)
class CollectionStatus:
    """Monitoring view of one dataset/area (or border)."""

    source: str
    dataset: str
    area: str
    area_to: str | None
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    requests: int
    failures: int
    empty_windows: int
    points_inserted: int
    points_updated: int
    points_unchanged: int
    status_codes: dict[str, int]
    #: The window of the last successful fetch and the rows it inserted and updated.
    last_fetch_start: datetime | None = None
    last_fetch_end: datetime | None = None
    last_fetch_inserted: int | None = None
    last_fetch_updated: int | None = None

    @property
    def healthy(self) -> bool:
        """Last attempt succeeded (or nothing failed yet)."""
        if self.last_failure_at is None:
            return True
        return self.last_success_at is not None and self.last_success_at >= self.last_failure_at


@dataclass(frozen=True, slots=True)
class ScheduleState:
    job_name: str
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_outcome: str | None
    last_error: str | None
    runs: int


def record_window(
    store: Store,
    *,
    dataset: str,
    area: str,
    window_start: datetime,
    window_end: datetime,
    outcome: str,
    area_to: str | None = None,
    points: int = 0,
    inserted: int = 0,
    updated: int = 0,
    unchanged: int = 0,
    requests: int = 1,
    status_codes: Mapping[int, int] | None = None,
    http_status: int | None = None,
    error: str | None = None,
    source: str = "entsoe",
    at: datetime | None = None,
) -> None:
    """Record what one window fetch ended with and add it to the dataset/area counters."""
    if outcome not in OUTCOMES:
        raise InputError(f"unknown window outcome {outcome!r}; use one of {', '.join(OUTCOMES)}")
    now = utc(at) if at else now_utc()
    success = outcome != "failed"
    key = (source, dataset, area, area_to or "")
    with store.session(write=True) as db:
        # A window seen for the first time gets its row as it ends up; one seen before is
        # updated. Concurrent first writers of one window or one dataset/area (several
        # backfill workers on PostgreSQL) meet in ON CONFLICT, not in an error: the loser
        # updates, and the UPDATEs lock the row, so no counter increment is lost.
        window_key = {
            "source": source,
            "dataset": dataset,
            "area": area,
            "area_to": area_to or "",
            "window_start": utc(window_start),
            "window_end": utc(window_end),
        }
        first = {
            **window_key,
            "outcome": outcome,
            "points": points if success else 0,
            "http_status": http_status,
            "last_error": error,
            "attempts": 1,
            "fetched_at": now,
            "last_success_at": now if success else None,
        }
        if not store.insert_absent(db, "fetch_windows", first, list(window_key)):
            db.execute(
                "UPDATE fetch_windows SET outcome = CASE WHEN ? THEN ? ELSE "
                "CASE WHEN last_success_at IS NULL THEN ? ELSE outcome END END, "
                "points = CASE WHEN ? THEN ? ELSE points END, http_status = ?, last_error = ?, "
                "attempts = attempts + 1, fetched_at = ?, "
                "last_success_at = CASE WHEN ? THEN ? ELSE last_success_at END "
                "WHERE source = ? AND dataset = ? AND area = ? AND area_to = ? "
                "AND window_start = ? AND window_end = ?",
                (
                    success,
                    outcome,
                    outcome,
                    success,
                    points,
                    http_status,
                    error,
                    now,
                    success,
                    now,
                    *window_key.values(),
                ),
            )
        status_key = dict(zip(("source", "dataset", "area", "area_to"), key, strict=True))
        status_sql = (
            "SELECT status_codes FROM collection_status WHERE source = ? AND dataset = ? "
            "AND area = ? AND area_to = ?"
        )
        rows = db.fetchall(status_sql, key) if store.serial_writes else []
        if not rows:
            store.insert_absent(db, "collection_status", status_key, list(status_key))
            if not store.serial_writes:
                # Lock the status row before reading the JSON counters it holds.
                db.execute(
                    "UPDATE collection_status SET requests = requests WHERE source = ? "
                    "AND dataset = ? AND area = ? AND area_to = ?",
                    key,
                )
            rows = db.fetchall(status_sql, key)
        codes: dict[str, int] = json.loads(rows[0][0]) if rows else {}
        counted = status_codes if status_codes is not None else {}
        if not counted and http_status is not None:
            counted = {http_status: 1}
        for code, count in counted.items():
            codes[str(code)] = codes.get(str(code), 0) + int(count)
        db.execute(
            "UPDATE collection_status SET last_attempt_at = ?, "
            "last_success_at = CASE WHEN ? THEN ? ELSE last_success_at END, "
            "last_failure_at = CASE WHEN ? THEN last_failure_at ELSE ? END, "
            "last_error = CASE WHEN ? THEN last_error ELSE ? END, "
            "requests = requests + ?, failures = failures + ?, empty_windows = empty_windows + ?, "
            "points_inserted = points_inserted + ?, points_updated = points_updated + ?, "
            "points_unchanged = points_unchanged + ?, status_codes = ?, "
            "last_fetch_start = CASE WHEN ? THEN ? ELSE last_fetch_start END, "
            "last_fetch_end = CASE WHEN ? THEN ? ELSE last_fetch_end END, "
            "last_fetch_inserted = CASE WHEN ? THEN ? ELSE last_fetch_inserted END, "
            "last_fetch_updated = CASE WHEN ? THEN ? ELSE last_fetch_updated END "
            "WHERE source = ? AND dataset = ? AND area = ? AND area_to = ?",
            (
                now,
                success,
                now,
                success,
                now,
                success,
                error,
                requests,
                0 if success else 1,
                1 if outcome == "no_data" else 0,
                inserted,
                updated,
                unchanged,
                json.dumps(codes, sort_keys=True),
                success,
                utc(window_start),
                success,
                utc(window_end),
                success,
                inserted,
                success,
                updated,
                *key,
            ),
        )


def window_outcomes(
    store: Store,
    *,
    dataset: str,
    areas: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    outcome: str | None = None,
    source: str = "entsoe",
) -> list[WindowOutcome]:
    """Recorded windows overlapping ``[start, end)``, oldest first."""
    clauses = ["source = ?", "dataset = ?"]
    params: list[Any] = [source, dataset]
    if areas:
        clauses.append(f"area IN ({', '.join('?' for _ in areas)})")
        params.extend(areas)
    if start is not None:
        clauses.append("window_end > ?")
        params.append(utc(start))
    if end is not None:
        clauses.append("window_start < ?")
        params.append(utc(end))
    if outcome is not None:
        clauses.append("outcome = ?")
        params.append(outcome)
    with store.session() as db:
        rows = db.fetchall(
            "SELECT dataset, area, area_to, window_start, window_end, outcome, points, "
            "http_status, last_error, attempts, fetched_at, last_success_at FROM fetch_windows "
            f"WHERE {' AND '.join(clauses)} ORDER BY area, area_to, window_start",
            params,
        )
    return [
        WindowOutcome(
            r[0],
            r[1],
            r[2] or None,
            _aware(r[3]) or now_utc(),
            _aware(r[4]) or now_utc(),
            r[5],
            int(r[6]),
            r[7],
            r[8],
            int(r[9]),
            _aware(r[10]) or now_utc(),
            _aware(r[11]),
        )
        for r in rows
    ]


def statuses(
    store: Store, *, dataset: str | None = None, source: str | None = None
) -> list[CollectionStatus]:
    """Monitoring rows, by dataset and area."""
    clauses: list[str] = []
    params: list[Any] = []
    if dataset:
        clauses.append("dataset = ?")
        params.append(dataset)
    if source:
        clauses.append("source = ?")
        params.append(source)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    with store.session() as db:
        rows = db.fetchall(
            "SELECT source, dataset, area, area_to, last_attempt_at, last_success_at, "
            "last_failure_at, last_error, requests, failures, empty_windows, points_inserted, "
            "points_updated, points_unchanged, status_codes, last_fetch_start, last_fetch_end, "
            f"last_fetch_inserted, last_fetch_updated FROM collection_status {where} "
            "ORDER BY dataset, area, area_to",
            params,
        )
    return [
        CollectionStatus(
            r[0],
            r[1],
            r[2],
            r[3] or None,
            _aware(r[4]),
            _aware(r[5]),
            _aware(r[6]),
            r[7],
            int(r[8]),
            int(r[9]),
            int(r[10]),
            int(r[11]),
            int(r[12]),
            int(r[13]),
            {k: int(v) for k, v in json.loads(r[14]).items()},
            _aware(r[15]),
            _aware(r[16]),
            None if r[17] is None else int(r[17]),
            None if r[18] is None else int(r[18]),
        )
        for r in rows
    ]


def schedule_started(store: Store, job_name: str, at: datetime | None = None) -> None:
    now = utc(at) if at else now_utc()
    with store.session(write=True) as db:
        if not db.fetchall("SELECT 1 FROM schedule_state WHERE job_name = ?", (job_name,)):
            db.execute("INSERT INTO schedule_state (job_name) VALUES (?)", (job_name,))
        db.execute(
            "UPDATE schedule_state SET last_started_at = ?, runs = runs + 1 WHERE job_name = ?",
            (now, job_name),
        )


def schedule_finished(
    store: Store, job_name: str, outcome: str, error: str | None = None, at: datetime | None = None
) -> None:
    now = utc(at) if at else now_utc()
    with store.session(write=True) as db:
        db.execute(
            "UPDATE schedule_state SET last_finished_at = ?, last_outcome = ?, last_error = ? "
            "WHERE job_name = ?",
            (now, outcome, error, job_name),
        )


def schedule_states(store: Store) -> dict[str, ScheduleState]:
    with store.session() as db:
        rows = db.fetchall(
            "SELECT job_name, last_started_at, last_finished_at, last_outcome, last_error, runs "
            "FROM schedule_state ORDER BY job_name"
        )
    return {
        r[0]: ScheduleState(r[0], _aware(r[1]), _aware(r[2]), r[3], r[4], int(r[5])) for r in rows
    }


__all__ = [
    "CollectionStatus",
    "ScheduleState",
    "WindowOutcome",
    "record_window",
    "schedule_finished",
    "schedule_started",
    "schedule_states",
    "statuses",
    "window_outcomes",
]
