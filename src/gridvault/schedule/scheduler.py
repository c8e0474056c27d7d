"""Run the collection schedule: cadences, jitter, no overlap, catch-up, revisions.

A small asyncio scheduler (one task per running job, one loop task), so it runs inside
``gridvault serve`` (a background service: ``start``/``stop``/``alive``) or alone under
``gridvault run``. Its clock is injectable (:class:`ManualClock`), so hours of schedule
run in milliseconds in tests.

What one run of a job fetches, per area (:func:`collection_range`): from the first gap in
the windows collected within ``max_catch_up`` (the last ``lag`` of each collected window
counts as incomplete: ENTSO-E publishes late) or from ``now - max(revision_window, lag)``,
whichever is earlier, up to ``now + horizon`` (actual data: up to now). So

* revisions are caught: the trailing ``revision_window`` is fetched again on every run and
  the store keeps each superseded value in its history (``query --as-of``);
* downtime is caught up: the first run after a restart starts at the end of what was
  collected before, however many ticks were missed (they are coalesced into one run);
* a failed window is a gap, so the next run fetches it again.

No overlap: a tick that comes while the same job is still running in this process is
skipped (and counted); across processes a run claims the job in ``schedule_state`` first
and a claim younger than ``stale_after`` blocks another (a crashed run's claim expires).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import httpx2

from gridvault.errors import GridvaultError, InputError
from gridvault.logs import bound, get_logger, redact
from gridvault.pipeline.collect import (
    ACTUAL_KINDS,
    AreaSpec,
    CollectPlan,
    CollectReport,
    WindowJob,
    plan_collect,
    run_collect,
)
from gridvault.schedule.config import JobConfig, ScheduleConfig
from gridvault.settings import Settings
from gridvault.sources.entsoe_client import RetryPolicy
from gridvault.sources.ratelimit import RateLimiter, build_limiter
from gridvault.store import Store
from gridvault.store.base import _aware
from gridvault.store.collection_state import (
    ScheduleState,
    WindowOutcome,
    schedule_finished,
    schedule_states,
    window_outcomes,
)
from gridvault.timegrid import rfc3339, utc

log = get_logger("gridvault.schedule")

#: A claim older than this without a finish belongs to a run that died; it no longer blocks.
DEFAULT_STALE_AFTER = timedelta(hours=6)


# -- clocks ------------------------------------------------------------------------------------


class Clock(Protocol):
    """Where the scheduler gets the time and how it waits."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass
class _Sleeper:
    deadline: datetime
    future: asyncio.Future[None]


class ManualClock:
    """A clock that moves only when told (:meth:`advance`), waking sleepers in time order.

    For tests and simulations: a day of 15-minute ticks runs in milliseconds.
    """

    def __init__(self, start: datetime) -> None:
        self._now = utc(start)
        self._sleepers: list[_Sleeper] = []

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` without waking anyone (e.g. between two scheduler lifetimes)."""
        self._now = utc(moment)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append(_Sleeper(self._now + timedelta(seconds=seconds), future))
        await future

    async def settle(self, rounds: int = 50) -> None:
        """Let every task that is ready run (they do no real waiting in between)."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def advance(self, delta: timedelta | float) -> None:
        """Move time forward, stopping at every sleeper's deadline to let it run."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        target = self._now + step
        while True:
            await self.settle()
            self._sleepers = [s for s in self._sleepers if not s.future.done()]
            due = [s for s in self._sleepers if s.deadline <= target]
            if not due:
                break
            self._now = max(self._now, min(s.deadline for s in due))
            for sleeper in due:
                if sleeper.deadline <= self._now:
                    sleeper.future.set_result(None)
        self._now = target
        await self.settle()


# -- what one run does -------------------------------------------------------------------------


@dataclass
class JobRun:
    """What one run of a job did. ``outcome``: ok, partial (some windows failed), failed,
    skipped (another run of the job was in progress) or cancelled (shut down mid-run)."""

    job: str
    dataset: str
    started_at: datetime
    scheduled_for: datetime | None = None
    finished_at: datetime | None = None
    outcome: str = "running"
    error: str | None = None
    ranges: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    windows: int = 0
    requests: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    failed_windows: int = 0
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome in ("ok", "skipped")

    def absorb(self, report: CollectReport) -> None:
        points = report.points
        self.windows += report.windows
        self.requests += report.requests
        self.inserted += points.inserted + report.outages.inserted
        self.updated += points.updated + report.outages.updated
        self.unchanged += points.unchanged + report.outages.unchanged
        self.failed_windows += len(report.failures)
        if report.failures:
            self.outcome = "failed" if len(report.failures) == report.windows else "partial"
            first = report.failures[0]
            more = len(report.failures) - 1
            self.error = f"{first.area}: {first.reason}" + (f" (+{more} more)" if more else "")
        else:
            self.outcome = "ok"

    def summary(self) -> str:
        """One line for people."""
        text = (
            f"{self.job}: {self.outcome}, {len(self.ranges)} area(s), {self.windows} window(s), "
            f"{self.requests} request(s), inserted {self.inserted}, updated {self.updated}, "
            f"unchanged {self.unchanged}, failed windows {self.failed_windows} "
            f"({self.elapsed:.1f} s)"
        )
        return text + (f" — {self.error}" if self.error else "")


def _merge(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def collection_range(
    job: JobConfig,
    spec: AreaSpec,
    outcomes: Sequence[WindowOutcome],
    now: datetime,
    *,
    ran_before: bool,
) -> tuple[datetime, datetime] | None:
    """``[start, end)`` to fetch for one area now (None: nothing to fetch yet).

    ``outcomes`` are the recorded windows of the dataset (any area; filtered here) that end
    after ``now - max_catch_up``. See the module doc for the rule.
    """
    now = utc(now).replace(second=0, microsecond=0)
    floor_limit = now - job.max_catch_up
    lookback_start = now - job.lookback
    mine = [w for w in outcomes if w.area == spec.area and (w.area_to or None) == spec.area_to]
    mine = [w for w in mine if w.window_end > floor_limit]
    if mine:
        covered = _merge(
            [
                (max(w.window_start, floor_limit), w.window_end - job.lag)
                for w in mine
                if w.last_success_at is not None
                and w.window_end - job.lag > max(w.window_start, floor_limit)
            ]
        )
        cursor = max(floor_limit, min(w.window_start for w in mine))
        for span_start, span_end in covered:
            if span_start > cursor:
                break
            cursor = max(cursor, span_end)
        start = min(cursor, lookback_start)
    else:
        # Never collected (start with the trailing window), or not for longer than
        # max_catch_up (catch up as far as allowed; older gaps need `gridvault collect`).
        start = floor_limit if ran_before else lookback_start
    start = start.replace(minute=0, second=0, microsecond=0)
    end = now + job.horizon
    if job.dataset_info.kind in ACTUAL_KINDS:
        end = min(end, now)
    if end <= start:
        return None
    return start, end


def first_due(job: JobConfig, state: ScheduleState | None, now: datetime) -> datetime:
    """When the job should run next after a (re)start: now when it never ran or missed a
    tick while nobody was running it (missed ticks coalesce into one run), else its next
    tick."""
    cadence = job.schedule
    if state is None or state.last_started_at is None:
        return now
    if state.last_started_at < cadence.previous(now):
        return now
    return cadence.next_after(now)


@dataclass(frozen=True)
class Claim:
    """The result of trying to start a run: ``claimed`` or who holds the job."""

    claimed: bool
    previous_start: datetime | None
    running_since: datetime | None = None


def claim_run(store: Store, job_name: str, at: datetime, stale_after: timedelta) -> Claim:
    """Mark the job as started unless a run (of any process) holds it; atomic per engine.

    The conditional UPDATE makes two claimers on PostgreSQL serialise on the row: the
    second sees the first's start and claims nothing.
    """
    at = utc(at)
    with store.session(write=True) as db:
        db.execute(
            "INSERT INTO schedule_state (job_name) VALUES (?) ON CONFLICT DO NOTHING", (job_name,)
        )
        before = db.fetchall(
            "SELECT last_started_at, last_finished_at FROM schedule_state WHERE job_name = ?",
            (job_name,),
        )
        previous = _aware(before[0][0]) if before else None
        rows = db.fetchall(
            "UPDATE schedule_state SET last_started_at = ?, runs = runs + 1 WHERE job_name = ? "
            "AND (last_started_at IS NULL OR (last_finished_at IS NOT NULL AND "
            "last_finished_at >= last_started_at) OR last_started_at < ?) RETURNING job_name",
            (at, job_name, at - stale_after),
        )
    if rows:
        return Claim(True, previous)
    return Claim(False, previous, previous)


# -- the scheduler -----------------------------------------------------------------------------

Runner = Callable[[JobConfig, datetime | None], Awaitable[JobRun]]


class Scheduler:
    """Runs a :class:`ScheduleConfig` against the ENTSO-E API into a store.

    A background service (``start``/``stop``/``alive``) for ``gridvault serve``; ``run_once``
    for ``gridvault run --once`` and cron. ``runner`` replaces the collection (tests).
    """

    name = "scheduler"

    def __init__(
        self,
        settings: Settings,
        store: Store,
        schedule: ScheduleConfig,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        concurrency: int = 4,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        stop_grace: float = 30.0,
        max_sleep: float = 60.0,
        runner: Runner | None = None,
    ) -> None:
        if concurrency < 1:
            raise InputError(f"concurrency must be at least 1, got {concurrency}")
        self.settings = settings
        self.store = store
        self.schedule = schedule
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.concurrency = concurrency
        self.retry = retry
        self.transport = transport
        self.stale_after = stale_after
        self.stop_grace = stop_grace
        self.max_sleep = max_sleep
        self._runner: Runner = runner or self.run_job
        self._given_limiter = limiter
        self._limiter: RateLimiter | None = None
        self._tasks: dict[str, asyncio.Task[JobRun | None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping: asyncio.Event | None = None
        self.next_due: dict[str, datetime] = {}
        self.last_runs: dict[str, JobRun] = {}
        self.skipped_ticks: Counter[str] = Counter()

    # -- background service -------------------------------------------------------------
    async def start(self) -> None:
        """Load the persisted runs, work out what is due (catch-up) and start the loop."""
        if self.alive():
            return
        self._stopping = asyncio.Event()
        states = await asyncio.to_thread(schedule_states, self.store)
        now = self.clock.now()
        self.next_due = {
            job.name: first_due(job, states.get(job.name), now) for job in self.schedule.enabled
        }
        self._open_limiter()
        self._loop_task = asyncio.create_task(self._loop(), name="gridvault-scheduler")
        log.info(
            "scheduler started",
            jobs=len(self.next_due),
            due_now=sum(1 for due in self.next_due.values() if due <= now),
        )

    async def stop(self) -> None:
        """Stop ticking; let running jobs finish for ``stop_grace`` seconds, then cancel them."""
        if self._stopping is not None:
            self._stopping.set()
        if self._loop_task is not None:
            (ended,) = await asyncio.gather(self._loop_task, return_exceptions=True)
            if isinstance(ended, Exception):
                log.error("the scheduler loop had died", error=redact(str(ended)))
            self._loop_task = None
        running = [task for task in self._tasks.values() if not task.done()]
        if running:
            log.info("waiting for running jobs", jobs=len(running), grace_seconds=self.stop_grace)
            _done, pending = await asyncio.wait(running, timeout=self.stop_grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        for task in self._tasks.values():
            failure = None if not task.done() or task.cancelled() else task.exception()
            if failure is not None:
                log.error("a job task failed", task=task.get_name(), error=redact(str(failure)))
        self._tasks.clear()
        await self._close_limiter()
        log.info("scheduler stopped")

    def alive(self) -> bool:
        """True while the loop runs (a crashed loop reports False to /health/ready)."""
        return self._loop_task is not None and not self._loop_task.done()

    async def run_until(self, stop: asyncio.Event) -> bool:
        """Start, run until ``stop`` is set, stop gracefully. False when the loop died."""
        await self.start()
        loop_task = self._loop_task
        if loop_task is None:  # pragma: no cover - start() always creates it
            return False
        waiter = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({waiter, loop_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        died = loop_task.done() and not stop.is_set()
        await self.stop()
        return not died

    # -- one-shot ----------------------------------------------------------------------
    async def run_once(self, names: Sequence[str] = (), *, due_only: bool = True) -> list[JobRun]:
        """Run the named jobs (even when disabled), else every enabled job that is due
        (or every enabled job with ``due_only=False``), all at once, without jitter."""
        now = self.clock.now()
        if names:
            jobs = [self.schedule.job(name) for name in names]
        else:
            states = await asyncio.to_thread(schedule_states, self.store)
            jobs = [
                job
                for job in self.schedule.enabled
                if not due_only or first_due(job, states.get(job.name), now) <= now
            ]
        if not jobs:
            return []
        own = self._limiter is None
        self._open_limiter()
        try:
            runs = await asyncio.gather(*(self._runner(job, None) for job in jobs))
        finally:
            if own:
                await self._close_limiter()
        for run in runs:
            self.last_runs[run.job] = run
        return list(runs)

    # -- one run -----------------------------------------------------------------------
    def jitter_delay(self, job: JobConfig) -> float:
        """Seconds to wait before a scheduled run: uniform in ``[0, job.jitter]``."""
        return self.rng.uniform(0.0, job.jitter) if job.jitter > 0 else 0.0

    def plan(
        self, job: JobConfig, now: datetime, *, ran_before: bool
    ) -> tuple[CollectPlan, dict[str, tuple[datetime, datetime]]]:
        """The windows of one run (reads the recorded windows; no request is sent)."""
        dataset = job.dataset_info
        outcomes = window_outcomes(
            self.store,
            dataset=dataset.name,
            areas=sorted({spec.area for spec in job.area_specs}),
            start=now - job.max_catch_up,
        )
        jobs: list[WindowJob] = []
        notes: list[str] = []
        ranges: dict[str, tuple[datetime, datetime]] = {}
        for spec in job.area_specs:
            span = collection_range(job, spec, outcomes, now, ran_before=ran_before)
            if span is None:
                continue
            plan = plan_collect(
                dataset.name,
                [spec.label],
                span[0],
                span[1],
                max_window=job.max_window,
                now=now,
                extra=job.params,
            )
            ranges[spec.label] = span
            jobs.extend(plan.jobs)
            notes.extend(plan.notes)
        return CollectPlan(dataset, job.area_specs, tuple(jobs), tuple(notes)), ranges

    async def run_job(self, job: JobConfig, scheduled_for: datetime | None = None) -> JobRun:
        """Claim the job, fetch its windows, record the run; never raises (but cancels)."""
        now = self.clock.now()
        run = JobRun(job.name, job.dataset, now, scheduled_for)
        began = time.monotonic()
        with bound(job=job.name, dataset=job.dataset):
            claim = await asyncio.to_thread(claim_run, self.store, job.name, now, self.stale_after)
            if not claim.claimed:
                run.outcome = "skipped"
                since = rfc3339(claim.running_since) if claim.running_since else "?"
                run.error = f"a run of this job started at {since} has not finished"
                run.finished_at = now
                log.warning("run skipped: the previous one is still in progress", since=since)
                return run
            try:
                plan, run.ranges = await asyncio.to_thread(
                    self.plan, job, now, ran_before=claim.previous_start is not None
                )
                if plan.jobs:
                    report = await run_collect(
                        self.settings,
                        self.store,
                        plan,
                        concurrency=self.concurrency,
                        limiter=self._limiter,
                        retry=self.retry,
                        transport=self.transport,
                    )
                    run.absorb(report)
                else:
                    run.outcome = "ok"
            except asyncio.CancelledError:
                run.outcome, run.error = "cancelled", "stopped while running"
                self._finish(run, began)
                raise
            except GridvaultError as exc:
                run.outcome, run.error = "failed", redact(str(exc))
            except Exception as exc:  # a bug must not stop the schedule; it is recorded
                log.exception("run failed unexpectedly")
                run.outcome = "failed"
                run.error = redact(f"internal error: {type(exc).__name__}: {exc}")
            await asyncio.to_thread(self._finish, run, began)
        return run

    def _finish(self, run: JobRun, began: float) -> None:
        run.finished_at = self.clock.now()
        run.elapsed = time.monotonic() - began
        self.last_runs[run.job] = run
        try:
            schedule_finished(self.store, run.job, run.outcome, run.error, at=run.finished_at)
        except GridvaultError as exc:
            log.warning("could not record the run", job=run.job, reason=str(exc))
        level = log.info if run.outcome == "ok" else log.warning
        level(
            "run finished",
            job=run.job,
            outcome=run.outcome,
            windows=run.windows,
            inserted=run.inserted,
            updated=run.updated,
            failed_windows=run.failed_windows,
            error=run.error,
            seconds=round(run.elapsed, 3),
        )

    # -- the loop ------------------------------------------------------------------------
    async def _loop(self) -> None:
        jobs = {job.name: job for job in self.schedule.enabled}
        while self._stopping is not None and not self._stopping.is_set():
            now = self.clock.now()
            for name, job in jobs.items():
                due = self.next_due[name]
                if due > now:
                    continue
                self.next_due[name] = job.schedule.next_after(now)
                task = self._tasks.get(name)
                if task is not None and not task.done():
                    self.skipped_ticks[name] += 1
                    log.warning(
                        "tick skipped: the previous run is still in progress",
                        job=name,
                        tick=rfc3339(due),
                    )
                    continue
                self._tasks[name] = asyncio.create_task(
                    self._delayed(job, due, self.jitter_delay(job)), name=f"gridvault-job-{name}"
                )
            if self.next_due:
                wake = min(self.next_due.values())
                delay = (wake - self.clock.now()).total_seconds()
            else:
                delay = self.max_sleep
            await self._pause(min(max(delay, 0.0), self.max_sleep))

    async def _delayed(self, job: JobConfig, due: datetime, delay: float) -> JobRun | None:
        if delay > 0:
            await self._pause(delay)
            if self._stopping is not None and self._stopping.is_set():
                return None
        return await self._runner(job, due)

    async def _pause(self, seconds: float) -> None:
        """Sleep on the clock, waking early when the scheduler stops."""
        if self._stopping is None or seconds <= 0:
            await asyncio.sleep(0)
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                task.cancel()
            await asyncio.gather(sleeper, stopper, return_exceptions=True)
        failure = None if sleeper.cancelled() else sleeper.exception()
        if failure is not None:
            raise failure

    async def idle(self) -> None:
        """Wait until no job of this scheduler is running (tests, shutdown)."""
        while running := [task for task in self._tasks.values() if not task.done()]:
            await asyncio.gather(*running, return_exceptions=True)

    # -- limiter -------------------------------------------------------------------------
    def _open_limiter(self) -> None:
        if self._limiter is None:
            self._limiter = self._given_limiter or build_limiter(self.settings)

    async def _close_limiter(self) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None and limiter is not self._given_limiter:
            await limiter.aclose()


__all__ = [
    "DEFAULT_STALE_AFTER",
    "Claim",
    "Clock",
    "JobRun",
    "ManualClock",
    "Runner",
    "Scheduler",
    "SystemClock",
    "claim_run",
    "collection_range",
    "first_due",
]
