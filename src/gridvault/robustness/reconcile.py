"""Did a collection or backfill against the emulator lose nothing and store nothing twice?

:func:`reconcile` looks at a store after a run and at the emulator's served log, window by
planned window:

* **stored** — the window's recorded outcome is ``data`` or ``no_data`` and the values stored
  for it are exactly those a fault-free emulator serves (:func:`reference_values`), and the
  recorded value count equals the points of the last answer served for each of its pages;
* **failed** — the outcome is ``failed`` with a reason, and the emulator did serve a fault or
  a refusal for the window (a backfill chunk is ``failed`` with its reason too);
* **lost** — anything else: no outcome recorded, ``data`` recorded while values are missing
  or differ, a failure without reason, a ``done`` chunk whose window says failed.

**Duplicates** count what was stored twice: rows beyond one per series and interval (the key
forbids them; counted all the same), superseded values in the history (the emulator serves
the same values every time, so any supersession means a value was written twice as two
different ones), and backfill chunks planned twice for one window.

Value datasets only (outage windows record no value counts).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from gridvault.emulator import EmulatorConfig, FaultSpec, ServedRecord, running_emulator
from gridvault.entsoe.catalog import request_params
from gridvault.pipeline.collect import WindowJob, build_client, collect
from gridvault.settings import Settings
from gridvault.sources.entsoe_client import RetryPolicy
from gridvault.sources.ratelimit import LocalRateLimiter
from gridvault.store import Store
from gridvault.store.collection_state import window_outcomes
from gridvault.store.duckdb_store import DuckDBStore
from gridvault.timegrid import utc

#: A stored value: (dataset, area, dimensions as stored, interval start) → value.
ValueKey = tuple[str, str, str, datetime]
Values = dict[ValueKey, float | None]
#: A window: (dataset, area, area_to, start, end).
WindowKey = tuple[str, str, str | None, datetime, datetime]

_GOOD = ("data", "no_data")


@dataclass
class Reconciliation:
    """The verdict on one run (or several runs into one store)."""

    windows: int = 0
    stored: int = 0
    failed: int = 0
    lost: int = 0
    duplicates: int = 0
    requests_served: int = 0
    requests_sent: int | None = None
    faults: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every window accounted for, nothing twice, the request counts agree."""
        return (
            not self.problems
            and self.lost == 0
            and self.duplicates == 0
            and self.stored + self.failed == self.windows
        )

    def __add__(self, other: Reconciliation) -> Reconciliation:
        sent = (
            None
            if self.requests_sent is None and other.requests_sent is None
            else (self.requests_sent or 0) + (other.requests_sent or 0)
        )
        return Reconciliation(
            windows=self.windows + other.windows,
            stored=self.stored + other.stored,
            failed=self.failed + other.failed,
            lost=self.lost + other.lost,
            duplicates=self.duplicates + other.duplicates,
            requests_served=self.requests_served + other.requests_served,
            requests_sent=sent,
            faults=self.faults + other.faults,
            problems=self.problems + other.problems,
        )

    def summary(self) -> str:
        faults = ", ".join(f"{kind} {count}" for kind, count in sorted(self.faults.items()))
        return (
            f"windows {self.windows}: stored {self.stored}, failed and recorded {self.failed}, "
            f"lost {self.lost}; duplicates {self.duplicates}; requests served "
            f"{self.requests_served} (client counted {self.requests_sent}); faults: "
            f"{faults or 'none'}"
        )


def request_key(params: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The request without its page: what identifies a window in the served log."""
    return tuple(sorted((k, v) for k, v in params.items() if k not in ("offset", "securityToken")))


def window_key(job: WindowJob) -> tuple[tuple[str, str], ...]:
    params = request_params(
        job.dataset,
        job.area.area,
        job.area.area_to,
        job.window.start,
        job.window.end,
        extra=dict(job.extra),
    )
    return request_key(params)


def stored_values(store: Store, datasets: Iterable[str]) -> Values:
    """Every stored value of ``datasets``, by series and interval."""
    names = sorted(set(datasets))
    if not names:
        return {}
    marks = ", ".join("?" for _ in names)
    with store.session() as db:
        rows = db.fetchall(
            "SELECT s.dataset, s.area, s.dimensions, o.interval_start, o.value "
            "FROM observations o JOIN series s ON s.series_id = o.series_id "
            f"WHERE s.dataset IN ({marks})",
            names,
        )
    return {(str(r[0]), str(r[1]), str(r[2]), utc(r[3])): r[4] for r in rows}


def _in_window(key: ValueKey, job: WindowJob) -> bool:
    dataset, area, dimensions, start = key
    if dataset != job.dataset.name or area != job.area.area:
        return False
    if job.area.area_to is not None and json.loads(dimensions).get("area_to") != job.area.area_to:
        return False
    return job.window.start <= start < job.window.end


def _window_values(values: Values, job: WindowJob) -> Values:
    return {key: value for key, value in values.items() if _in_window(key, job)}


def reference_values(config: EmulatorConfig, jobs: Sequence[WindowJob]) -> Values:
    """The values a fault-free emulator like ``config`` serves for ``jobs``: collected with
    the real client into a throwaway in-memory store."""
    clean = replace(config, faults=FaultSpec(), port=0, rate_limit=1_000_000)
    with running_emulator(clean) as emulator, DuckDBStore(":memory:") as store:
        settings = Settings(
            entsoe_token=clean.token,
            entsoe_base_url=emulator.base_url,
            redis_url=None,
            database_url="duckdb:///:memory:",
        )

        async def fetch() -> None:
            limiter = LocalRateLimiter(1_000_000, window_seconds=1.0)
            async with build_client(settings, limiter, retry=RetryPolicy(attempts=1)) as client:
                report = await collect(client, store, jobs)
            if not report.ok:
                raise AssertionError(f"the fault-free reference run failed: {report.failures}")

        asyncio.run(fetch())
        return stored_values(store, {job.dataset.name for job in jobs})


def duplicates(store: Store) -> int:
    """Rows stored twice: extra rows per key, superseded values, chunks planned twice."""
    with store.session() as db:
        rows, keys = db.fetchall(
            "SELECT count(*), count(DISTINCT (series_id, interval_start)) FROM observations"
        )[0]
        (history,) = db.fetchall("SELECT count(*) FROM observation_history")[0]
        chunks, distinct_chunks = db.fetchall(
            "SELECT count(*), count(DISTINCT (plan_id, dataset, area, area_to, window_start, "
            "window_end)) FROM jobs"
        )[0]
    return int(rows) - int(keys) + int(history) + int(chunks) - int(distinct_chunks)


def _last_per_page(records: Sequence[ServedRecord]) -> dict[int, ServedRecord]:
    last: dict[int, ServedRecord] = {}
    for record in records:
        last[int(record.params.get("offset", "0") or 0)] = record
    return last


def reconcile(
    store: Store,
    jobs: Sequence[WindowJob],
    served: Sequence[ServedRecord],
    reference: Values,
    *,
    requests_sent: int | None = None,
    plan_ids: Sequence[str] = (),
) -> Reconciliation:
    """Check ``store`` after ``jobs`` were collected (or backfilled as ``plan_ids``) from an
    emulator that served ``served``; ``reference`` is :func:`reference_values` of the jobs."""
    result = Reconciliation(
        windows=len(jobs),
        requests_served=len(served),
        requests_sent=requests_sent,
        faults=Counter(
            r.outcome.removeprefix("fault:")
            for r in served
            if r.outcome.startswith("fault:") or r.outcome == "banned"
        ),
    )
    if requests_sent is not None and requests_sent != len(served):
        result.problems.append(
            f"the client sent {requests_sent} requests, the emulator answered {len(served)}"
        )
    by_window: dict[tuple[tuple[str, str], ...], list[ServedRecord]] = {}
    for record in served:
        by_window.setdefault(request_key(record.params), []).append(record)
    stored = stored_values(store, {job.dataset.name for job in jobs})
    chunk_states = _chunk_states(store, plan_ids)
    outcomes = _outcomes(store, jobs)
    for job in jobs:
        verdict, problem = _judge(
            job,
            outcome=outcomes.get(_window_of(job)),
            records=by_window.get(window_key(job), []),
            stored=_window_values(stored, job),
            expected=_window_values(reference, job),
            chunk_states=chunk_states,
        )
        setattr(result, verdict, getattr(result, verdict) + 1)
        if problem:
            result.problems.append(f"{job}: {problem}")
    result.duplicates = duplicates(store)
    return result


def _window_of(job: WindowJob) -> WindowKey:
    return (job.dataset.name, job.area.area, job.area.area_to, job.window.start, job.window.end)


def _outcomes(store: Store, jobs: Sequence[WindowJob]) -> dict[WindowKey, Any]:
    """Recorded outcomes by window; a collect window and a backfill chunk may share a start
    (a chunk stepped a month in UTC from it ends elsewhere), so the key has both ends."""
    found: dict[WindowKey, Any] = {}
    for dataset in {job.dataset.name for job in jobs}:
        for outcome in window_outcomes(store, dataset=dataset):
            key = (dataset, outcome.area, outcome.area_to or None)
            found[(*key, outcome.window_start, outcome.window_end)] = outcome
    return found


def _chunk_states(store: Store, plan_ids: Sequence[str]) -> dict[WindowKey, tuple[str, str | None]]:
    states: dict[WindowKey, tuple[str, str | None]] = {}
    for plan_id in plan_ids:
        for job in store.jobs(plan_id=plan_id):
            key = (job.dataset, job.area, job.area_to or None, job.window_start, job.window_end)
            states[key] = (job.state, job.last_error)
    return states


def _judge(
    job: WindowJob,
    *,
    outcome: Any,
    records: Sequence[ServedRecord],
    stored: Values,
    expected: Values,
    chunk_states: dict[WindowKey, tuple[str, str | None]],
) -> tuple[str, str | None]:
    """``(stored | failed | lost, problem)`` for one window."""
    if outcome is None:
        return "lost", "no outcome recorded"
    chunk = chunk_states.get(_window_of(job))
    if outcome.outcome == "failed":
        if not outcome.last_error:
            return "lost", "recorded as failed without a reason"
        if chunk is not None and (chunk[0] != "failed" or not chunk[1]):
            return "lost", f"window failed but its chunk is {chunk[0]}"
        if not any(r.outcome not in _GOOD for r in records):
            return "failed", "recorded as failed but the emulator served only good answers"
        return "failed", None
    if chunk is not None and chunk[0] != "done":
        return "lost", f"window stored but its chunk is {chunk[0]}"
    if stored != expected:
        missing = len(expected.keys() - stored.keys())
        different = sum(1 for k in expected.keys() & stored.keys() if stored[k] != expected[k])
        extra = len(stored.keys() - expected.keys())
        return "lost", (
            f"recorded {outcome.outcome} but {missing} values missing, {different} different, "
            f"{extra} unexpected"
        )
    last = _last_per_page(records)
    if not last or any(r.outcome not in _GOOD for r in last.values()):
        return "stored", "stored, but the last answer served for a page was not data"
    served_points = sum(r.points for r in last.values())
    if served_points != outcome.points:
        return "stored", (
            f"the emulator served {served_points} points in the last answers, the window "
            f"recorded {outcome.points}"
        )
    return "stored", None


__all__ = [
    "Reconciliation",
    "Values",
    "duplicates",
    "reconcile",
    "reference_values",
    "request_key",
    "stored_values",
    "window_key",
]
