"""Collect ENTSO-E data: plan windows, fetch, archive, parse, validate, upsert.

:func:`plan_collect` checks everything a user typed (dataset, areas or ``FROM>TO`` pairs,
times, a future window for actuals) and splits the range into request windows *before*
any request is sent. :func:`collect_window` is the unit of work — one area (pair) and one
window, every ``offset`` page of it — and is what a backfill worker calls per job chunk.
:func:`collect` runs many windows with bounded concurrency; :func:`run_collect` builds the
limiter and client from the settings around it.

Every response is archived before it is parsed (:func:`~gridvault.pipeline.ingest.ingest_payload`
stores payload, values and archive row in one transaction; an unreadable payload is kept
as ``quarantined``). Refusals that came with a body (an acknowledgement other than "no
matching data", a 4xx page) are archived too, with outcome ``error``. A failed window is
recorded with its reason and never stops the others; the windows that succeeded stay
stored, so a re-run only has to fill the gaps (upserts are idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar
from urllib.parse import urlparse

import httpx2

from gridvault.entsoe.areas import lookup_area
from gridvault.entsoe.catalog import ACTUAL, BALANCING, Dataset, get_dataset
from gridvault.errors import ConfigError, GridvaultError, InputError, StoreError
from gridvault.logs import bound, get_logger, redact
from gridvault.pipeline import parsing
from gridvault.pipeline.ingest import IngestOutcome, ingest_payload
from gridvault.pipeline.parsing import prepare_elsewhere
from gridvault.pipeline.series_map import SOURCE
from gridvault.settings import Settings
from gridvault.sources.entsoe_client import (
    EntsoeClient,
    EntsoeRequestError,
    RawResponse,
    RetryPolicy,
)
from gridvault.sources.ratelimit import RateLimiter, build_limiter
from gridvault.sources.windows import TimeWindow, plan_windows
from gridvault.store import Store, UpsertResult
from gridvault.store.collection_state import record_window
from gridvault.timegrid import parse_time, rfc3339, utc

log = get_logger("gridvault.collect")

#: Seconds a store write of a window is retried after a lost connection (a database restart).
STORE_PATIENCE = 10.0
P = ParamSpec("P")
T = TypeVar("T")

# Data that exists only once it happened: a window entirely in the future is a mistake.
ACTUAL_KINDS = (ACTUAL, BALANCING)
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class AreaSpec:
    """One area, or for border datasets one ``FROM>TO`` pair (codes as entsoe-py spells them)."""

    area: str
    area_to: str | None = None

    @property
    def label(self) -> str:
        return f"{self.area}>{self.area_to}" if self.area_to else self.area

    @property
    def tz(self) -> str:
        """The time zone naive user times are read in: the (FROM) area's."""
        return lookup_area(self.area).tz


@dataclass(frozen=True)
class WindowJob:
    """One unit of collection: a dataset, an area (pair), a request window."""

    dataset: Dataset
    area: AreaSpec
    window: TimeWindow
    extra: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return f"{self.dataset.name} {self.area.label} {self.window}"

    @classmethod
    def create(
        cls,
        dataset: str | Dataset,
        area: str,
        area_to: str | None,
        start: datetime,
        end: datetime,
        *,
        extra: Mapping[str, str] | None = None,
    ) -> WindowJob:
        """A job from plain values (e.g. a job-ledger row); the window must fit the
        dataset's limit (plan longer ranges with :func:`plan_collect`)."""
        chosen = get_dataset(dataset) if isinstance(dataset, str) else dataset
        spec = AreaSpec(lookup_area(area).code, lookup_area(area_to).code if area_to else None)
        if chosen.border != (spec.area_to is not None):
            raise InputError(
                f"{chosen.name} needs {'a FROM>TO pair' if chosen.border else 'a single area'}"
            )
        windows = plan_windows(start, end, chosen.window_limit)
        if len(windows) != 1:
            raise InputError(
                f"{rfc3339(start)}..{rfc3339(end)} is longer than one {chosen.name} request "
                f"may cover ({chosen.window_limit})"
            )
        return cls(chosen, spec, windows[0], _extra_items(extra))


@dataclass
class WindowResult:
    """What collecting one window did. ``error_kind``: retryable, permanent, banned, parse,
    store or internal."""

    job: WindowJob
    responses: int = 0
    per_dataset: dict[str, UpsertResult] = field(default_factory=dict)
    outages: UpsertResult = field(default_factory=UpsertResult)
    values: int = 0
    archive_ids: list[int] = field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None
    status_codes: dict[int, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def outcome(self) -> str:
        """``failed``, ``no_data`` or ``data`` — what the window ledger records."""
        if not self.ok:
            return "failed"
        return "no_data" if self.empty else "data"

    @property
    def points(self) -> UpsertResult:
        return UpsertResult.combined(self.per_dataset.values())

    @property
    def empty(self) -> bool:
        """Succeeded with nothing in it ("no matching data")."""
        return self.ok and self.values == 0 and self.outages.total == 0

    def _add(self, outcome: IngestOutcome) -> None:
        self.values += outcome.values
        self.outages = self.outages + outcome.outages
        for name, counts in outcome.per_dataset.items():
            self.per_dataset[name] = self.per_dataset.get(name, UpsertResult()) + counts
        if outcome.archive_id is not None:
            self.archive_ids.append(outcome.archive_id)


@dataclass(frozen=True)
class WindowFailure:
    """A window that could not be collected: a recorded gap, to be retried later."""

    area: str
    window_start: datetime
    window_end: datetime
    reason: str
    kind: str


@dataclass
class CollectReport:
    """The summary of one run."""

    dataset: str
    windows: int = 0
    requests: int = 0
    retries: int = 0
    bans: int = 0
    per_dataset: dict[str, UpsertResult] = field(default_factory=dict)
    outages: UpsertResult = field(default_factory=UpsertResult)
    empty_windows: int = 0
    failures: list[WindowFailure] = field(default_factory=list)
    elapsed: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def points(self) -> UpsertResult:
        return UpsertResult.combined(self.per_dataset.values())

    def add(self, result: WindowResult) -> None:
        self.windows += 1
        for name, counts in result.per_dataset.items():
            self.per_dataset[name] = self.per_dataset.get(name, UpsertResult()) + counts
        self.outages = self.outages + result.outages
        if result.empty:
            self.empty_windows += 1
        if result.error is not None:
            self.failures.append(
                WindowFailure(
                    result.job.area.label,
                    result.job.window.start,
                    result.job.window.end,
                    result.error,
                    result.error_kind or "error",
                )
            )


@dataclass(frozen=True)
class CollectPlan:
    """Checked input and the windows to fetch, made before any request."""

    dataset: Dataset
    areas: tuple[AreaSpec, ...]
    jobs: tuple[WindowJob, ...]
    notes: tuple[str, ...] = ()


# -- planning (no I/O) ----------------------------------------------------------------------


def parse_areas(dataset: Dataset, texts: Sequence[str]) -> list[AreaSpec]:
    """Areas from ``--area`` values: comma-separated; ``FROM>TO`` pairs for border datasets."""
    specs: list[AreaSpec] = []
    for text in (part.strip() for value in texts for part in value.split(",")):
        if not text:
            continue
        if dataset.border:
            if text.count(">") != 1:
                raise InputError(
                    f"{dataset.name} is a flow between two areas: give FROM>TO pairs "
                    f"such as DE_LU>NL, got {text!r}"
                )
            source, target = (part.strip() for part in text.split(">"))
            spec = AreaSpec(lookup_area(source).code, lookup_area(target).code)
            if spec.area == spec.area_to:
                raise InputError(f"{text!r}: a border needs two different areas")
        else:
            if ">" in text:
                raise InputError(
                    f"{dataset.name} is for single areas; {text!r} looks like a FROM>TO pair"
                )
            spec = AreaSpec(lookup_area(text).code)
        if spec not in specs:
            specs.append(spec)
    if not specs:
        raise InputError("give at least one area with --area")
    return specs


def _extra_items(extra: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    items = tuple(sorted((extra or {}).items()))
    for name, _value in items:
        if name.lower() == "securitytoken":
            raise InputError("the token comes from the settings, never from a query parameter")
    return items


def _time(value: str | datetime, tz: str) -> datetime:
    return parse_time(value, tz) if isinstance(value, str) else utc(value)


def plan_collect(
    dataset_name: str,
    areas: Sequence[str],
    start: str | datetime,
    end: str | datetime,
    *,
    max_window: str | None = None,
    now: datetime | None = None,
    extra: Mapping[str, str] | None = None,
) -> CollectPlan:
    """Check the input and plan the windows; raises :class:`InputError` on anything wrong.

    Text times without offset are wall-clock times of each area (of the FROM area for a
    pair). For actual and balancing data a window that starts in the future is refused and
    one that ends in the future is cut at the current minute. ``extra`` adds or overrides
    query parameters (``psrType``, another ``processType`` for contracted reserves).
    """
    dataset = get_dataset(dataset_name)
    specs = parse_areas(dataset, areas)
    moment = utc(now) if now else datetime.now(UTC)
    cutoff = moment.replace(second=0, microsecond=0)
    jobs: list[WindowJob] = []
    notes: list[str] = []
    extra_items = _extra_items(extra)
    for spec in specs:
        first, last = _time(start, spec.tz), _time(end, spec.tz)
        if last <= first:
            raise InputError(f"end {rfc3339(last)} is not after start {rfc3339(first)}")
        if dataset.kind in ACTUAL_KINDS:
            if first >= cutoff:
                raise InputError(
                    f"{dataset.name} holds {dataset.kind} data, which does not exist yet for a "
                    f"window starting {rfc3339(first)} (now is {rfc3339(moment)})"
                )
            if last > cutoff:
                notes.append(
                    f"{spec.label}: end {rfc3339(last)} is in the future; collecting up to "
                    f"{rfc3339(cutoff)}"
                )
                last = cutoff
        for window in plan_windows(first, last, dataset.window_limit, max_window=max_window):
            jobs.append(WindowJob(dataset, spec, window, extra_items))
    return CollectPlan(dataset, tuple(specs), tuple(jobs), tuple(notes))


def check_token(settings: Settings) -> None:
    """Refuse to start without a token, unless the endpoint is a local emulator."""
    if settings.entsoe_token is not None and settings.entsoe_token.get_secret_value():
        return
    host = urlparse(settings.entsoe_base_url).hostname or ""
    if host in _LOOPBACK:
        return
    raise ConfigError(
        f"no ENTSO-E API token for {settings.entsoe_base_url}: set GRIDVAULT_ENTSOE_TOKEN "
        "(or ENTSOE_API_KEY); ask for one at transparency@entsoe.eu"
    )


# -- the unit of work ------------------------------------------------------------------------


def _archive_refusal(store: Store, response: RawResponse, dataset: str, reason: str) -> int:
    record = store.archive_payload(
        response.content,
        source=SOURCE,
        request=response.request_record(),
        dataset=dataset,
        http_status=response.status,
        content_type=response.content_type,
        fetched_at=response.fetched_at,
        outcome="error",
        error=reason,
    )
    return record.archive_id


async def store_call(patience: float, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """A blocking store call in a thread. A :class:`StoreError` (a dropped connection, a
    database restarting) is retried with backoff for ``patience`` seconds, then raised. Only
    for calls that are one transaction, which trying again cannot write twice."""
    deadline = time.monotonic() + patience
    delay = 0.1
    while True:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except StoreError as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("store call failed, retrying", reason=str(exc), wait_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


def record_result(store: Store, result: WindowResult) -> None:
    """Keep the window's outcome and counters (coverage, status, metrics read them)."""
    job = result.job
    points = result.points
    record_window(
        store,
        dataset=job.dataset.name,
        area=job.area.area,
        area_to=job.area.area_to,
        window_start=job.window.start,
        window_end=job.window.end,
        outcome=result.outcome,
        points=result.values,
        inserted=points.inserted,
        updated=points.updated,
        unchanged=points.unchanged,
        requests=max(result.responses, 1),
        status_codes=result.status_codes,
        http_status=next(reversed(result.status_codes), None),
        error=result.error,
    )


async def collect_window(
    client: EntsoeClient,
    store: Store,
    job: WindowJob,
    *,
    store_patience: float = STORE_PATIENCE,
    record: bool = True,
) -> WindowResult:
    """Fetch every page of one window, archive and ingest each; never raises for the window.

    Returns what was stored; on failure ``error``/``error_kind`` say why, and the pages
    ingested before the failure stay stored. A store that fails is tried again for
    ``store_patience`` seconds (a database restart loses no window). ``record=False``
    leaves :func:`record_result` to the caller (a backfill records the window in the
    transaction that completes its chunk).
    """
    result = WindowResult(job)
    dataset = job.dataset
    with bound(source=SOURCE, dataset=dataset.name, area=job.area.label):
        try:
            pages = client.pages(
                dataset, job.area.area, job.area.area_to, job.window, extra=dict(job.extra)
            )
            async with contextlib.aclosing(pages):
                async for page in pages:
                    result.responses += 1
                    result.status_codes[page.status] = result.status_codes.get(page.status, 0) + 1
                    prepared = await prepare_elsewhere(
                        page.content, page.name, dataset=dataset.name
                    )
                    outcome = await store_call(
                        store_patience,
                        ingest_payload,
                        store,
                        page.content,
                        name=page.name,
                        request=page.request_record(),
                        http_status=page.status,
                        content_type=page.content_type,
                        dataset=dataset.name,
                        prepared=prepared,
                    )
                    result._add(outcome)
                    if outcome.error is not None:
                        result.error = f"unreadable response, quarantined: {outcome.error}"
                        result.error_kind = "parse"
                        break
        except EntsoeRequestError as exc:
            result.error, result.error_kind = exc.reason, exc.kind
            if exc.status is not None:
                result.status_codes[exc.status] = result.status_codes.get(exc.status, 0) + 1
            if exc.response is not None:
                archive_id = await store_call(
                    store_patience, _archive_refusal, store, exc.response, dataset.name, exc.reason
                )
                result.archive_ids.append(archive_id)
        except GridvaultError as exc:
            result.error, result.error_kind = redact(str(exc)), "store"
        except Exception as exc:  # a bug must not lose the other windows; it is reported
            log.exception("window failed unexpectedly", window=str(job.window))
            result.error = redact(f"internal error: {type(exc).__name__}: {exc}")
            result.error_kind = "internal"
        try:
            if record:
                await store_call(store_patience, record_result, store, result)
        except GridvaultError as exc:  # bookkeeping never turns a stored window into a failure
            log.warning(
                "could not record the window outcome", window=str(job.window), reason=str(exc)
            )
        if result.error is not None:
            log.warning(
                "window failed", window=str(job.window), kind=result.error_kind, reason=result.error
            )
        else:
            log.debug(
                "window collected",
                window=str(job.window),
                responses=result.responses,
                values=result.values,
            )
    return result


# -- many windows ----------------------------------------------------------------------------


async def collect(
    client: EntsoeClient,
    store: Store,
    jobs: Sequence[WindowJob],
    *,
    concurrency: int = 8,
    on_result: Callable[[WindowResult], None] | None = None,
) -> CollectReport:
    """Collect ``jobs`` with at most ``concurrency`` windows in flight (the rate limiter
    paces requests across all of them). ``on_result`` is called after each window."""
    if concurrency < 1:
        raise InputError(f"--concurrency must be at least 1, got {concurrency}")
    report = CollectReport(dataset=jobs[0].dataset.name if jobs else "")
    queue: asyncio.Queue[WindowJob] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    before = (client.stats.requests, client.stats.retries, client.stats.bans)
    began = time.monotonic()

    async def worker() -> None:
        while True:
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            result = await collect_window(client, store, job)
            report.add(result)
            if on_result is not None:
                on_result(result)

    workers = [asyncio.create_task(worker()) for _ in range(min(concurrency, len(jobs)))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
    report.elapsed = time.monotonic() - began
    report.requests = client.stats.requests - before[0]
    report.retries = client.stats.retries - before[1]
    report.bans = client.stats.bans - before[2]
    # Report failures in time order per area, not in completion order.
    report.failures.sort(key=lambda failure: (failure.area, failure.window_start))
    return report


def build_client(
    settings: Settings,
    limiter: RateLimiter,
    *,
    concurrency: int = 8,
    retry: RetryPolicy | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> EntsoeClient:
    """The ENTSO-E client for these settings (token, base URL, timeout) and limiter."""
    return EntsoeClient(
        token=settings.entsoe_token,
        base_url=settings.entsoe_base_url,
        limiter=limiter,
        timeout=httpx2.Timeout(settings.entsoe_timeout, connect=min(10.0, settings.entsoe_timeout)),
        retry=retry,
        max_connections=max(concurrency, 1),
        transport=transport,
    )


async def run_collect(
    settings: Settings,
    store: Store,
    plan: CollectPlan,
    *,
    concurrency: int = 8,
    on_result: Callable[[WindowResult], None] | None = None,
    limiter: RateLimiter | None = None,
    retry: RetryPolicy | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> CollectReport:
    """Run a plan with the limiter and client the settings describe.

    The token and the limiter (a configured Redis must answer) are checked before the
    first request. A limiter passed in is used as is and not closed.
    """
    check_token(settings)
    parsing.configure(settings.parse_processes)
    own_limiter = limiter is None
    active = limiter or build_limiter(settings)
    try:
        await active.check()
        client = build_client(
            settings, active, concurrency=concurrency, retry=retry, transport=transport
        )
        async with client:
            report = await collect(
                client, store, plan.jobs, concurrency=concurrency, on_result=on_result
            )
    finally:
        if own_limiter:
            await active.aclose()
    report.dataset = plan.dataset.name
    report.notes.extend(plan.notes)
    return report


def describe_window(start: datetime, end: datetime) -> str:
    """``2024-01-01T00:00Z..2025-01-01T00:00Z`` for summaries."""
    return f"{rfc3339(start)}..{rfc3339(end)}"


__all__ = [
    "ACTUAL_KINDS",
    "AreaSpec",
    "CollectPlan",
    "CollectReport",
    "WindowFailure",
    "WindowJob",
    "WindowResult",
    "build_client",
    "check_token",
    "collect",
    "collect_window",
    "describe_window",
    "parse_areas",
    "plan_collect",
    "run_collect",
    "store_call",
]
