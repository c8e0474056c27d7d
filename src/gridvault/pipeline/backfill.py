"""Backfill: plan only the missing windows, keep them in the job ledger, work them resumably.

:func:`plan_backfill` computes the coverage of the asked dataset/areas/range
(:mod:`gridvault.pipeline.coverage`), keeps the gaps worth fetching (never fetched or
failed; upstream "no data" only with ``refetch_empty``), cuts them into request windows no
longer than the dataset allows and stores them as the chunks of a *plan* in the job ledger,
all in one transaction. The plan id is a hash of what was asked, so running the same
command again finds the same plan and resumes it — on PostgreSQL also from another
machine — instead of planning anew. A plan whose chunks are all done is finished; the same
command then makes a new generation from the coverage of that moment (usually: nothing to
do). A different plan overlapping the open chunks of an active one is refused, naming it.

:func:`work_plan` works a plan with ``workers`` concurrent chunks under the shared rate
limiter: each worker claims a chunk (a lease, renewed while it works), collects the window
with :func:`~gridvault.pipeline.collect.collect_window` (fetch every page, archive, parse,
upsert, record the window outcome) and completes it, or fails it with exponential backoff
(``retry_after``); a chunk out of attempts stays ``failed`` with its reason until retried.

Why nothing is lost or done twice, whatever kills the process:

* chunks are planned and stored before any request; a chunk is ``done`` only after its
  data is committed, and only by the holder of its lease;
* a killed worker leaves ``running`` leases: the next run takes them over at once when the
  holder is provably dead (the same host and a dead pid; any other process for a DuckDB
  file, which one process holds at a time), else when the lease expires;
* a chunk interrupted mid-way is collected again; the upsert is idempotent, so its rows are
  not duplicated (and unchanged values cost no write).

DuckDB allows one process per file: a backfill there runs in one process (``workers``
concurrent chunks). Several processes, on one or many machines, need PostgreSQL (claims
use ``FOR UPDATE SKIP LOCKED``) and should share the request budget through Redis
(``GRIDVAULT_REDIS_URL``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import os
import random
import shlex
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import httpx2

from gridvault.entsoe.catalog import Dataset, get_dataset
from gridvault.errors import GridvaultError, InputError, StoreError
from gridvault.logs import get_logger
from gridvault.pipeline import parsing
from gridvault.pipeline.collect import (
    WindowJob,
    WindowResult,
    build_client,
    check_token,
    collect_window,
    record_result,
    store_call,
)
from gridvault.pipeline.coverage import (
    GAP_KINDS,
    AreaRange,
    area_coverage,
    needed_spans,
    resolve_ranges,
    unfetched_spans,
)
from gridvault.pipeline.series_map import SOURCE
from gridvault.settings import Settings
from gridvault.sources.entsoe_client import EntsoeClient, RetryPolicy
from gridvault.sources.ratelimit import RateLimiter, build_limiter
from gridvault.sources.windows import TimeWindow, plan_windows
from gridvault.store import Store, UpsertResult
from gridvault.store import plans as ledger
from gridvault.store.base import now_utc
from gridvault.store.collection_state import window_outcomes
from gridvault.store.model import Job, JobSpec
from gridvault.timegrid import parse_resolution, rfc3339, step

log = get_logger("gridvault.backfill")

DEFAULT_WORKERS = 8
DEFAULT_LEASE_SECONDS = 180.0
DEFAULT_MAX_ATTEMPTS = 5
# A chunk leased to this run for longer than this without a worker on it lost its claim's
# answer (a claim is answered within milliseconds once committed).
ORPHAN_GRACE_SECONDS = 5.0
# Two needed spans closer than this share a request when the window limit allows: a request
# slot (0.15 s at ENTSO-E's 400/minute) costs more than re-reading a few stored days, which
# the idempotent upsert counts unchanged. Paged datasets answer one TimeSeries per day, so
# there a hole costs pages: only holes up to a day are bridged.
_BRIDGE = timedelta(days=31)
_BRIDGE_PAGED = timedelta(days=1)

P = ParamSpec("P")
T = TypeVar("T")


class PlanConflictError(InputError):
    """The asked range overlaps the open chunks of another active plan."""


class BackfillStoreError(StoreError):
    """The store stopped answering in the middle of a backfill."""


@dataclass(frozen=True)
class Backoff:
    """Delay before a failed chunk may be claimed again: ``min(cap, base * 2**(n-1))`` after
    the n-th attempt, of which the last ``jitter`` fraction is random."""

    base: float = 5.0
    cap: float = 300.0
    jitter: float = 0.5

    def delay(self, attempt: int, rng: random.Random) -> float:
        nominal: float = min(self.cap, self.base * 2.0 ** max(attempt - 1, 0))
        return nominal * (1 - self.jitter * rng.random())


@dataclass
class BackfillPlan:
    """A plan made or found by :func:`plan_backfill`.

    ``record`` is None when nothing needed fetching (no plan is stored) and for a dry run.
    ``chunks`` are the chunks planned now (empty when an existing plan was resumed).
    ``missing`` counts the missing intervals by kind at planning time.
    """

    dataset: Dataset
    record: ledger.PlanRecord | None
    chunks: list[JobSpec] = field(default_factory=list)
    resumed: bool = False
    retried: int = 0
    refetch_empty: bool = False
    missing: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GAP_KINDS, 0))
    notes: list[str] = field(default_factory=list)

    @property
    def plan_id(self) -> str | None:
        return self.record.plan_id if self.record else None


@dataclass
class BackfillReport:
    """What one :func:`work_plan` run did, and the state of the plan when it ended."""

    plan_id: str
    owner: str
    total: int = 0
    done_before: int = 0
    done: int = 0
    retried: int = 0
    lost: int = 0
    taken_over: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    failed_jobs: list[Job] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    bans: int = 0
    points: UpsertResult = field(default_factory=UpsertResult)
    elapsed: float = 0.0

    @property
    def finished(self) -> bool:
        """Every chunk of the plan is done."""
        return self.counts.get("done", 0) == self.total

    @property
    def ok(self) -> bool:
        return not self.failed_jobs and self.finished


ChunkCallback = Callable[[Job, WindowResult | None, str], None]


# -- planning -----------------------------------------------------------------------------------


def new_owner() -> str:
    """A lease owner id: ``host:pid:random`` (the pid tells a dead holder on this host)."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def _base_id(
    dataset: Dataset, ranges: Sequence[AreaRange], window: str | None, refetch_empty: bool
) -> str:
    asked = {
        "dataset": dataset.name,
        "ranges": sorted(
            [r.spec.label, rfc3339(r.start), rfc3339(r.requested_end)] for r in ranges
        ),
        "window": window,
        "refetch_empty": refetch_empty,
    }
    digest = hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()
    return f"bf-{digest[:10]}"


def _command(
    dataset: Dataset,
    areas: Sequence[str],
    start: str | datetime,
    end: str | datetime,
    *,
    window: str | None,
    refetch_empty: bool,
) -> str:
    def text(value: str | datetime) -> str:
        return value if isinstance(value, str) else rfc3339(value)

    parts = [
        "gridvault",
        "backfill",
        dataset.name,
        "--area",
        ",".join(part.strip() for value in areas for part in value.split(",") if part.strip()),
        "--start",
        text(start),
        "--end",
        text(end),
    ]
    if window:
        parts += ["--window", window]
    if refetch_empty:
        parts.append("--refetch-empty")
    return shlex.join(parts)


def chunk_spans(
    spans: Sequence[tuple[datetime, datetime]], dataset: Dataset, max_window: str | None = None
) -> list[TimeWindow]:
    """Request windows covering ``spans`` (sorted, disjoint), each within the dataset's limit.

    A span that starts within reach of the previous window (the limit measured from that
    window's start) and after a short hole (a month; a day for paged datasets) extends that
    window, so scattered small gaps cost one request, not one each. Far-apart spans get
    their own windows: stored data between them is not fetched again.
    """
    size = parse_resolution(dataset.window_limit)
    if max_window is not None:
        smaller = parse_resolution(max_window)
        if smaller.nominal < size.nominal:
            size = smaller
    windows: list[TimeWindow] = []
    for span_start, span_end in spans:
        start = span_start
        if windows:
            last = windows[-1]
            reach = step(last.start, size, 1, "UTC")
            hole = _BRIDGE if dataset.page_size is None else _BRIDGE_PAGED
            bridge = start - last.end <= hole
            if bridge and start < reach:
                windows[-1] = TimeWindow(last.start, min(span_end, reach))
                if span_end <= reach:
                    continue
                start = reach
        windows.extend(plan_windows(start, span_end, size))
    return windows


def _needed(
    store: Store, dataset: Dataset, area_range: AreaRange, refetch_empty: bool
) -> tuple[list[tuple[datetime, datetime]], dict[str, int]]:
    missing = dict.fromkeys(GAP_KINDS, 0)
    if area_range.end <= area_range.start:
        return [], missing
    if dataset.outage:
        spec = area_range.spec
        windows = [
            w
            for w in window_outcomes(
                store,
                dataset=dataset.name,
                areas=[spec.area],
                start=area_range.start,
                end=area_range.end,
            )
            if (w.area_to or None) == spec.area_to
        ]
        return unfetched_spans(area_range, windows, refetch_empty=refetch_empty), missing
    items = area_coverage(store, dataset, area_range)
    for item in items:
        for kind, count in item.missing_by_kind().items():
            missing[kind] += count
    return needed_spans(items, refetch_empty=refetch_empty), missing


def plan_backfill(
    store: Store,
    dataset_name: str,
    areas: Sequence[str],
    start: str | datetime,
    end: str | datetime,
    *,
    window: str | None = None,
    refetch_empty: bool = False,
    dry_run: bool = False,
    now: datetime | None = None,
    created_by: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> BackfillPlan:
    """Find the plan for this request (resuming it) or plan the missing windows anew.

    Resuming puts the plan's failed chunks back to pending with fresh attempts. Raises
    :class:`PlanConflictError` when the range overlaps open chunks of another plan, and
    :class:`~gridvault.errors.InputError` for bad input (a range over 30 years, an unknown
    area, end before start, actual data in the future).
    """
    dataset = get_dataset(dataset_name)
    if window is not None:
        parse_resolution(window)
    ranges, notes = resolve_ranges(dataset, areas, start, end, now=now)
    base_id = _base_id(dataset, ranges, window, refetch_empty)
    with store.session(write=not dry_run) as db:
        if not dry_run:
            ledger.lock_planning(db, store.backend, dataset.name)
        latest = ledger.latest_plan(store, base_id)
        if latest is not None:
            counts = store.job_counts(latest.plan_id)
            if counts["pending"] + counts["running"] + counts["failed"] > 0:
                retried = 0 if dry_run else store.retry_failed_jobs(latest.plan_id)
                return BackfillPlan(dataset, latest, resumed=True, retried=retried, notes=notes)
        overlapping = ledger.overlapping_active(
            store,
            dataset=dataset.name,
            ranges=[(r.spec.area, r.spec.area_to, r.start, r.end) for r in ranges],
            exclude_base=base_id,
        )
        if overlapping:
            raise PlanConflictError(_conflict_message(store, overlapping))
        plan_id = f"{base_id}-{latest.generation + 1 if latest else 1}"
        chunks: list[JobSpec] = []
        missing = dict.fromkeys(GAP_KINDS, 0)
        for area_range in ranges:
            spans, counts_by_kind = _needed(store, dataset, area_range, refetch_empty)
            for kind, count in counts_by_kind.items():
                missing[kind] += count
            spec = area_range.spec
            chunks.extend(
                JobSpec(
                    plan_id=plan_id,
                    kind=ledger.BACKFILL_KIND,
                    source=SOURCE,
                    dataset=dataset.name,
                    area=spec.area,
                    area_to=spec.area_to,
                    window_start=w.start,
                    window_end=w.end,
                    max_attempts=max_attempts,
                )
                for w in chunk_spans(spans, dataset, window)
            )
        record = ledger.PlanRecord(
            plan_id=plan_id,
            base_id=base_id,
            generation=latest.generation + 1 if latest else 1,
            dataset=dataset.name,
            areas=tuple(r.spec.label for r in ranges),
            range_start=min(r.start for r in ranges),
            range_end=max(r.requested_end for r in ranges),
            options={"window": window, "refetch_empty": refetch_empty},
            command=_command(
                dataset, areas, start, end, window=window, refetch_empty=refetch_empty
            ),
            chunks=len(chunks),
            created_at=now_utc(),
            created_by=created_by or new_owner(),
        )
        made = BackfillPlan(
            dataset, record, chunks, missing=missing, notes=notes, refetch_empty=refetch_empty
        )
        if dry_run or not chunks:
            made.record = None
            return made
        ledger.insert_plan(store, record)
        store.enqueue_jobs(chunks)
    log.info("backfill planned", plan=plan_id, chunks=len(chunks), dataset=dataset.name)
    return made


def _conflict_message(store: Store, overlapping: dict[str, int]) -> str:
    lines = ["this range overlaps chunks of another backfill still pending or running:"]
    for plan_id, count in overlapping.items():
        record = ledger.get_plan(store, plan_id)
        if record is None:
            lines.append(f"  {plan_id}: {count} open chunk(s)")
            continue
        lines.append(
            f"  {plan_id} ({record.dataset} {','.join(record.areas)} "
            f"{rfc3339(record.range_start)}..{rfc3339(record.range_end)}): {count} open "
            f"chunk(s); resume it with `gridvault backfill --plan {plan_id}` "
            f"or stop it with `gridvault jobs cancel {plan_id}`"
        )
    return "\n".join(lines)


def resume_plan(store: Store, plan_id: str) -> BackfillPlan:
    """An existing plan by id, its failed chunks put back to pending (``--plan``)."""
    record = ledger.get_plan(store, plan_id)
    if record is None:
        raise InputError(f"no backfill plan {plan_id!r}; `gridvault jobs` lists the plans")
    retried = store.retry_failed_jobs(plan_id)
    return BackfillPlan(get_dataset(record.dataset), record, resumed=True, retried=retried)


# -- working ------------------------------------------------------------------------------------


def is_dead_owner(owner: str, backend: str) -> bool:
    """True when the process that holds a lease is known to be gone.

    DuckDB: a file has one process; any other process's lease is dead. PostgreSQL: only on
    this host can we look, and a lease whose pid no longer runs is dead; elsewhere the
    lease has to expire.
    """
    host, _, rest = owner.partition(":")
    pid_text = rest.split(":", 1)[0]
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    if backend == "duckdb":
        return True
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _summary(result: WindowResult, owner: str) -> dict[str, Any]:
    points = result.points
    return {
        "owner": owner,
        "outcome": result.outcome,
        "responses": result.responses,
        "values": result.values,
        "inserted": points.inserted,
        "updated": points.updated,
        "unchanged": points.unchanged,
        "outages": result.outages.total,
    }


def _recorded(store: Store, result: WindowResult, settle: Callable[[], T]) -> T:
    """Record the window and settle its chunk (complete or fail it) in one transaction."""
    with store.session(write=True):
        record_result(store, result)
        return settle()


class _Run:
    """One process's share of a plan: ``workers`` asyncio tasks and their bookkeeping."""

    def __init__(
        self,
        store: Store,
        plan_id: str,
        owner: str,
        *,
        lease_seconds: float,
        backoff: Backoff,
        poll_seconds: float,
        store_patience: float,
        on_chunk: ChunkCallback | None,
    ) -> None:
        self.store = store
        self.plan_id = plan_id
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.backoff = backoff
        self.poll_seconds = poll_seconds
        self.store_patience = store_patience
        self.on_chunk = on_chunk
        self.report = BackfillReport(plan_id, owner)
        #: Set (and replaced by a fresh one) when a worker finishes a chunk: workers with
        #: nothing to claim wait on it. An event, not a Condition: waiting takes no lock,
        #: so a shutdown that cancels every task at once cannot leave one held (a
        #: Condition waited on through ``wait_for`` could, on Python 3.11).
        self.changed = asyncio.Event()
        #: The chunks this run's workers are working on right now.
        self.working: set[int] = set()
        self.rng = random.Random()  # noqa: S311 - jitter, not cryptography

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A store call in a thread; a failing store is retried briefly (a dropped pooled
        connection is replaced), then the run stops with :class:`BackfillStoreError`."""
        try:
            return await store_call(self.store_patience, fn, *args, **kwargs)
        except StoreError as exc:
            raise BackfillStoreError(
                f"the store stopped answering ({exc}); the backfill stopped. Nothing is "
                "lost: finished chunks are recorded and the others stay in the job "
                f"ledger. Run the same command again (or `gridvault backfill --plan "
                f"{self.plan_id}`) once the database is back"
            ) from None

    def notify(self) -> None:
        """Wake the workers waiting for a change."""
        self.changed.set()
        self.changed = asyncio.Event()

    async def worker(self, client: EntsoeClient) -> None:
        while True:
            changed = self.changed  # a chunk finished from now on ends the wait below
            claimed = await self.call(
                self.store.claim_jobs,
                self.owner,
                limit=1,
                lease_seconds=self.lease_seconds,
                plan_id=self.plan_id,
            )
            if claimed:
                self.working.add(claimed[0].job_id)
                try:
                    await self.run_chunk(client, claimed[0])
                finally:
                    self.working.discard(claimed[0].job_id)
                self.notify()
                continue
            state = await self.call(ledger.activity, self.store, self.plan_id)
            if not state.open:
                return
            if state.running > len(self.working) and await self.release_orphans():
                continue
            wait = self.poll_seconds
            now = now_utc()
            for moment in (state.next_claimable, state.next_lease_expiry):
                if moment is not None:
                    wait = min(wait, max(0.02, (moment - now).total_seconds() + 0.01))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await changed.wait()

    async def release_orphans(self) -> int:
        """Chunks leased to this run that none of its workers holds (their claim committed
        but its answer was lost) go back to pending now, not when their lease expires."""
        released = await self.call(
            ledger.release_orphans,
            self.store,
            self.plan_id,
            self.owner,
            sorted(self.working),
            now_utc() - timedelta(seconds=ORPHAN_GRACE_SECONDS),
        )
        if released:
            log.warning("took back chunks whose claim was lost", plan=self.plan_id, chunks=released)
        return released

    async def renew(self, job: Job) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                kept = await asyncio.to_thread(
                    self.store.renew_lease, job.job_id, self.owner, self.lease_seconds
                )
            except GridvaultError as exc:
                log.warning("could not renew a lease", job=job.job_id, reason=str(exc))
                continue
            if not kept:
                log.warning("lease lost to another worker", job=job.job_id)
                return

    async def run_chunk(self, client: EntsoeClient, job: Job) -> None:
        try:
            window_job = WindowJob.create(
                job.dataset, job.area, job.area_to, job.window_start, job.window_end
            )
        except GridvaultError as exc:
            state = await self.call(
                self.store.fail_job, job.job_id, self.owner, f"[permanent] {exc}"
            )
            self._finished(job, None, state or "lost")
            return
        renewer = asyncio.create_task(self.renew(job))
        try:
            result = await collect_window(
                client, self.store, window_job, store_patience=self.store_patience, record=False
            )
        except Exception as exc:  # collect_window reports failures; this is a bug: retry
            log.exception("chunk failed unexpectedly", job=job.job_id)
            result = WindowResult(window_job)
            result.error = f"internal error: {type(exc).__name__}: {exc}"
            result.error_kind = "internal"
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        if result.ok:
            done = functools.partial(
                self.store.complete_job, job.job_id, self.owner, _summary(result, self.owner)
            )
            kept = await self.call(_recorded, self.store, result, done)
            self._finished(job, result, "done" if kept else "lost")
            return
        kind = result.error_kind or "error"
        retry_after = None if kind == "permanent" else self.backoff.delay(job.attempts, self.rng)
        failed = functools.partial(
            self.store.fail_job,
            job.job_id,
            self.owner,
            f"[{kind}] {result.error}",
            retry_after=retry_after,
        )
        state = await self.call(_recorded, self.store, result, failed)
        self._finished(job, result, state or "lost")

    def _finished(self, job: Job, result: WindowResult | None, state: str) -> None:
        report = self.report
        if state == "done":
            report.done += 1
        elif state == "pending":
            report.retried += 1
        elif state == "lost":
            report.lost += 1
            log.warning("chunk finished after its lease was taken over", job=job.job_id)
        if result is not None:
            report.points = report.points + result.points
        if self.on_chunk is not None:
            self.on_chunk(job, result, state)


async def _until_first_error(tasks: Sequence[asyncio.Task[None]]) -> None:
    pending: set[asyncio.Task[None]] = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            error = task.exception()
            if error is not None:
                raise error


async def work_plan(
    settings: Settings,
    store: Store,
    plan_id: str,
    *,
    workers: int = DEFAULT_WORKERS,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    backoff: Backoff | None = None,
    on_chunk: ChunkCallback | None = None,
    on_start: Callable[[BackfillReport], None] | None = None,
    limiter: RateLimiter | None = None,
    retry: RetryPolicy | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    owner: str | None = None,
    poll_seconds: float = 1.0,
    store_patience: float = 10.0,
) -> BackfillReport:
    """Work a plan's chunks until none is pending or running; returns what happened.

    Failed chunks with attempts left go back to pending after a backoff and are worked
    again in this run; out of attempts they stay ``failed`` (listed in the report). A store
    that stops answering ends the run with :class:`BackfillStoreError` (nothing is lost:
    run again). A limiter passed in is used as is and not closed.
    """
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if lease_seconds <= 0:
        raise InputError(f"the lease must be positive, got {lease_seconds} s")
    check_token(settings)
    parsing.configure(settings.parse_processes)
    parsing.warm_up()  # a backfill's first answers are large ones, many at once
    run = _Run(
        store,
        plan_id,
        owner or new_owner(),
        lease_seconds=lease_seconds,
        backoff=backoff or Backoff(),
        poll_seconds=poll_seconds,
        store_patience=store_patience,
        on_chunk=on_chunk,
    )
    report = run.report
    counts = await run.call(store.job_counts, plan_id)
    report.total = sum(counts.values())
    report.done_before = counts["done"]
    holders = await run.call(ledger.running_owners, store, plan_id)
    dead = [holder for holder in holders if is_dead_owner(holder, store.backend)]
    if dead:
        report.taken_over = await run.call(ledger.release_leases, store, plan_id, dead)
        log.info("took over chunks of a dead worker", plan=plan_id, chunks=report.taken_over)
    if on_start is not None:
        on_start(report)
    own_limiter = limiter is None
    active = limiter or build_limiter(settings)
    began = time.monotonic()
    try:
        await active.check()
        client = build_client(
            settings, active, concurrency=workers, retry=retry, transport=transport
        )
        async with client:
            tasks = [asyncio.create_task(run.worker(client)) for _ in range(workers)]
            try:
                await _until_first_error(tasks)
            except BaseException as exc:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                if not isinstance(exc, StoreError):
                    # Interrupted (Ctrl-C) or a bug: hand our chunks back at once rather
                    # than leaving them to lease expiry. A vanished store cannot be told.
                    with contextlib.suppress(GridvaultError):
                        ledger.release_leases(store, plan_id, [run.owner])
                raise
            report.requests = client.stats.requests
            report.retries = client.stats.retries
            report.bans = client.stats.bans
    finally:
        if own_limiter:
            await active.aclose()
    report.elapsed = time.monotonic() - began
    report.counts = await run.call(store.job_counts, plan_id)
    report.total = sum(report.counts.values())
    report.failed_jobs = await run.call(store.jobs, state="failed", plan_id=plan_id)
    return report


__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_WORKERS",
    "BackfillPlan",
    "BackfillReport",
    "BackfillStoreError",
    "Backoff",
    "PlanConflictError",
    "chunk_spans",
    "is_dead_owner",
    "new_owner",
    "plan_backfill",
    "resume_plan",
    "work_plan",
]
