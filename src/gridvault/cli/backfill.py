"""``gridvault backfill`` (fill the gaps of a range, resumably) and ``gridvault jobs`` (the ledger).

``backfill`` plans only the missing windows, stores them as the chunks of a plan in the job
ledger, and works them with ``--workers`` concurrent chunks under the shared rate limit,
with a progress bar and ETA on a terminal (a line every 15 s otherwise). Killed at any
moment, the same command resumes the same plan. Failed chunks are retried with backoff;
those out of attempts are listed with their reason and the exit code is 5.

``jobs`` shows the plans and failed chunks; ``jobs list`` any chunks by state or plan;
``jobs retry`` puts failed chunks back to pending; ``jobs cancel`` stops a plan's pending
chunks (so an overlapping backfill can start).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from gridvault.cli.common import services
from gridvault.errors import InputError, UpstreamError
from gridvault.pipeline import parsing
from gridvault.pipeline.backfill import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_WORKERS,
    BackfillPlan,
    BackfillReport,
    Backoff,
    plan_backfill,
    resume_plan,
    work_plan,
)
from gridvault.pipeline.collect import WindowResult, check_token
from gridvault.pipeline.coverage import GAP_KINDS, GAP_TEXT, UPSTREAM_KINDS
from gridvault.store import Store
from gridvault.store import plans as ledger
from gridvault.store.model import JOB_STATES, Job
from gridvault.timegrid import rfc3339

EXIT_CHUNKS_FAILED = UpstreamError.exit_code

_HELP = """Fetch the missing parts of DATASET for the areas and range into the store, resumably.

Only missing windows are planned: intervals never fetched or whose fetch failed (those the upstream answered "no data" for are skipped unless --refetch-empty). They are cut into chunks no longer than one request may cover (or --window) and written to the job ledger as a plan, then worked by --workers concurrent chunks under the shared rate limit.

Resumable: stop or kill it at any moment and run the same command again (or `gridvault backfill --plan ID`): it takes up the same plan, takes over the chunks the dead run held, and finishes every chunk once; values already stored are never duplicated. Failed chunks are retried with backoff; those out of attempts are listed with their reason (exit code 5) and retried by the next run of the command.

A range overlapping the open chunks of another plan is refused (resume or cancel that one). Ranges over 30 years are refused.

DuckDB allows one process per file: there a backfill runs in one process. With PostgreSQL any number of processes on any machines can work one plan (run the same command, or --plan ID): chunks are leased, never taken twice, and an expired lease is taken over; set GRIDVAULT_REDIS_URL so they share one request budget.
"""


def register(app: typer.Typer) -> None:
    @app.command("backfill", help=_HELP)
    def backfill_command(
        ctx: typer.Context,
        dataset: Annotated[
            str | None, typer.Argument(help="Dataset name, e.g. day_ahead_prices.")
        ] = None,
        area: Annotated[
            list[str] | None,
            typer.Option("--area", "-a", help="Area(s), e.g. NL,BE; FROM>TO pairs for borders."),
        ] = None,
        start: Annotated[
            str | None, typer.Option(help="Start (inclusive), e.g. 2015-01-01.")
        ] = None,
        end: Annotated[str | None, typer.Option(help="End (exclusive).")] = None,
        workers: Annotated[
            int, typer.Option(min=1, max=256, help="Chunks worked at the same time.")
        ] = DEFAULT_WORKERS,
        window: Annotated[
            str | None,
            typer.Option(
                help="Chunks no longer than this ISO duration (P1M); default: the "
                "longest one request may cover."
            ),
        ] = None,
        refetch_empty: Annotated[
            bool,
            typer.Option(
                "--refetch-empty", help="Also fetch again what the upstream had no data for."
            ),
        ] = False,
        plan: Annotated[
            str | None,
            typer.Option("--plan", help="Resume (or join) an existing plan by its id."),
        ] = None,
        dry_run: Annotated[
            bool,
            typer.Option("--dry-run", help="Show the chunks that would be planned; fetch nothing."),
        ] = False,
        lease_seconds: Annotated[
            float, typer.Option(hidden=True, min=0.1, help="Lease of a claimed chunk.")
        ] = DEFAULT_LEASE_SECONDS,
        retry_base: Annotated[
            float, typer.Option(hidden=True, min=0.0, help="First retry delay of a failed chunk.")
        ] = Backoff.base,
    ) -> None:
        context = services(ctx)
        store = context.store
        if plan is not None:
            if dataset or area or start or end or dry_run:
                raise InputError("give either --plan ID or DATASET --area --start --end, not both")
            found = resume_plan(store, plan)
        else:
            if not dataset or not area or start is None or end is None:
                raise InputError(
                    "give DATASET --area AREA --start START --end END (or --plan ID to resume)"
                )
            if not dry_run:
                check_token(context.settings)
            found = plan_backfill(
                store,
                dataset,
                area,
                start,
                end,
                window=window,
                refetch_empty=refetch_empty,
                dry_run=dry_run,
            )
        _print_plan(store, found, dry_run=dry_run)
        if found.record is None or dry_run:
            return
        with _progress(found) as (started, advance):
            report = asyncio.run(
                work_plan(
                    context.settings,
                    store,
                    found.record.plan_id,
                    workers=workers,
                    lease_seconds=lease_seconds,
                    backoff=Backoff(base=retry_base),
                    on_chunk=advance,
                    on_start=started,
                )
            )
        parsing.shutdown()  # the workers exit while the report prints and the store closes
        _print_report(found, report)
        if report.failed_jobs:
            raise typer.Exit(code=EXIT_CHUNKS_FAILED)

    app.add_typer(_jobs_app(), name="jobs")


# -- backfill output ----------------------------------------------------------------------------


def _n(value: int) -> str:
    return f"{value:,}"


def _describe(record: ledger.PlanRecord) -> str:
    return (
        f"{record.dataset} {','.join(record.areas)} "
        f"{rfc3339(record.range_start)}..{rfc3339(record.range_end)}"
    )


def _print_plan(store: Store, found: BackfillPlan, *, dry_run: bool) -> None:
    echo = typer.echo
    for note in found.notes:
        echo(f"note: {note}", err=True)
    record = found.record
    if found.resumed and record is not None:
        counts = store.job_counts(record.plan_id)
        retried = f"; {found.retried} failed chunk(s) retried" if found.retried else ""
        echo(
            f"{'would resume' if dry_run else 'resuming'} plan {record.plan_id} "
            f"({_describe(record)}): "
            f"{counts['done']} of {sum(counts.values())} chunk(s) done{retried}"
        )
        return
    planned_kinds = [k for k in GAP_KINDS if found.refetch_empty or k not in UPSTREAM_KINDS]
    planned = {k: found.missing[k] for k in planned_kinds if found.missing[k]}
    skipped = 0 if found.refetch_empty else sum(found.missing[k] for k in UPSTREAM_KINDS)
    if found.chunks:
        head = f"planned {record.plan_id}:" if record else "would plan"
        detail = ", ".join(f"{_n(v)} {GAP_TEXT[k]}" for k, v in planned.items())
        echo(
            f"{head} {len(found.chunks)} chunk(s) of {found.dataset.name}"
            + (f" for {_n(sum(planned.values()))} missing interval(s): {detail}" if detail else "")
        )
    else:
        echo(
            f"nothing to backfill: every expected interval of {found.dataset.name} in the "
            "range is stored" + (" or known to be missing upstream" if skipped else "")
        )
    if skipped:
        echo(
            f"not planned: {_n(skipped)} interval(s) the upstream has no data for "
            "(--refetch-empty fetches them again)"
        )
    if dry_run:
        for chunk in found.chunks[:50]:
            label = f"{chunk.area}>{chunk.area_to}" if chunk.area_to else chunk.area
            echo(f"  {label} {rfc3339(chunk.window_start)}..{rfc3339(chunk.window_end)}")
        if len(found.chunks) > 50:
            echo(f"  … {len(found.chunks) - 50} more")


Started = Callable[[BackfillReport], None]
Advance = Callable[[Job, WindowResult | None, str], None]


@contextmanager
def _progress(found: BackfillPlan) -> Iterator[tuple[Started, Advance]]:
    """A progress bar with ETA on a terminal; elsewhere a line on stderr every 15 s."""
    name = found.record.plan_id if found.record else found.dataset.name
    state = {"total": 0, "done": 0, "failed": 0, "retrying": 0}
    if not sys.stdout.isatty():
        began = time.monotonic()
        last = [began]

        def started_plain(report: BackfillReport) -> None:
            state["total"], state["done"] = report.total, report.done_before

        def advance_plain(_job: Job, _result: WindowResult | None, outcome: str) -> None:
            _count(state, outcome)
            now = time.monotonic()
            if now - last[0] >= 15:
                last[0] = now
                typer.echo(f"{name}: {_status(state, now - began)}", err=True)

        yield started_plain, advance_plain
        return
    from rich.progress import (  # noqa: PLC0415 - only on a terminal
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    ) as progress:
        task = progress.add_task(name, total=None, status="")

        def started(report: BackfillReport) -> None:
            state["total"], state["done"] = report.total, report.done_before
            progress.update(task, total=report.total, completed=report.done_before)

        def advance(_job: Job, _result: WindowResult | None, outcome: str) -> None:
            _count(state, outcome)
            status = []
            if state["retrying"]:
                status.append(f"[yellow]{state['retrying']} retrying")
            if state["failed"]:
                status.append(f"[red]{state['failed']} failed")
            progress.update(
                task,
                completed=state["done"] + state["failed"],
                status=" ".join(status),
            )

        yield started, advance


def _count(state: dict[str, int], outcome: str) -> None:
    if outcome == "done":
        state["done"] += 1
    elif outcome == "failed":
        state["failed"] += 1
    elif outcome == "pending":
        state["retrying"] += 1


def _status(state: dict[str, int], elapsed: float) -> str:
    finished = state["done"] + state["failed"]
    left = max(state["total"] - finished, 0)
    rate = finished / elapsed if elapsed > 0 else 0.0
    eta = f", ETA {left / rate:.0f} s" if rate > 0 and left else ""
    return (
        f"{finished}/{state['total']} chunk(s) finished ({state['failed']} failed, "
        f"{state['retrying']} retried){eta}"
    )


def _print_report(found: BackfillPlan, report: BackfillReport) -> None:
    echo = typer.echo
    counts = report.counts
    if report.taken_over:
        echo(f"took over {report.taken_over} chunk(s) left running by a dead process")
    echo(
        f"this run: {report.done} chunk(s) done, {report.retried} retried after a failure, "
        f"{report.requests} request(s) ({report.retries} retries, {report.bans} ban(s)), "
        f"{_n(report.points.total)} value(s) ({_n(report.points.inserted)} new) "
        f"in {report.elapsed:.1f} s"
    )
    if report.lost:
        echo(f"{report.lost} chunk(s) were finished by another worker after their lease expired")
    echo(
        f"plan {report.plan_id}: "
        + ", ".join(f"{counts.get(state, 0)} {state}" for state in JOB_STATES)
    )
    if report.failed_jobs:
        echo(f"failed chunks: {len(report.failed_jobs)}")
        for job in report.failed_jobs[:50]:
            echo(f"  {_job_line(job)}")
        if len(report.failed_jobs) > 50:
            echo(f"  … {len(report.failed_jobs) - 50} more (`gridvault jobs list --state failed`)")
        echo(
            f"the other chunks are stored; run the command again (or `gridvault backfill --plan "
            f"{report.plan_id}`) to retry the failed ones",
            err=True,
        )
    elif report.finished and found.record is not None:
        echo(f"plan {report.plan_id} finished")


def _label(job: Job) -> str:
    return f"{job.area}>{job.area_to}" if job.area_to else job.area


def _job_line(job: Job) -> str:
    text = (
        f"#{job.job_id} {job.dataset} {_label(job)} "
        f"{rfc3339(job.window_start)}..{rfc3339(job.window_end)} {job.state} "
        f"attempts {job.attempts}/{job.max_attempts}"
    )
    if job.state == "running" and job.lease_owner:
        until = rfc3339(job.lease_expires_at) if job.lease_expires_at else "?"
        text += f" leased by {job.lease_owner} until {until}"
    if job.state == "pending" and job.not_before:
        text += f" not before {rfc3339(job.not_before)}"
    if job.last_error:
        text += f" — {job.last_error}"
    return text


# -- gridvault jobs ------------------------------------------------------------------------------


def _jobs_app() -> typer.Typer:
    jobs_app = typer.Typer(
        help="The job ledger. Alone: the backfill plans with their chunk counts, then the "
        "failed chunks with their reason and attempts.",
        invoke_without_command=True,
    )

    @jobs_app.callback()
    def overview(
        ctx: typer.Context,
        limit: Annotated[int, typer.Option(min=1, help="Plans shown.")] = 20,
    ) -> None:
        """Plans with their chunk counts, then the failed chunks with reason and attempts."""
        if ctx.invoked_subcommand is not None:
            return
        store = services(ctx).store
        records = ledger.list_plans(store, limit=limit)
        if not records:
            typer.echo("no backfill plans")
        counts = ledger.plan_counts(store, [r.plan_id for r in records])
        for record in records:
            c = counts[record.plan_id]
            typer.echo(
                f"{record.plan_id}  {_describe(record)}  {c['done']}/{sum(c.values())} done, "
                f"{c['pending']} pending, {c['running']} running, {c['failed']} failed"
            )
        failed = store.jobs(state="failed", limit=51)
        if failed:
            typer.echo("")
            typer.echo("failed chunks:")
            for job in failed[:50]:
                typer.echo(f"  {job.plan_id} {_job_line(job)}")
            if len(failed) > 50:
                typer.echo("  … more: `gridvault jobs list --state failed`")

    @jobs_app.command("list")
    def list_jobs(
        ctx: typer.Context,
        state: Annotated[
            str | None, typer.Option(help=f"Only chunks in this state ({', '.join(JOB_STATES)}).")
        ] = None,
        plan: Annotated[str | None, typer.Option(help="Only chunks of this plan.")] = None,
        limit: Annotated[int, typer.Option(min=1, help="At most this many rows.")] = 100,
        output_format: Annotated[
            str, typer.Option("--format", "-f", help="text or json.")
        ] = "text",
    ) -> None:
        """Chunks of the ledger, oldest window first: state, attempts, lease, last error."""
        if output_format not in ("text", "json"):
            raise InputError(f"--format must be text or json, got {output_format!r}")
        found = services(ctx).store.jobs(state=state, plan_id=plan, limit=limit)
        if output_format == "json":
            typer.echo(json.dumps([_job_json(job) for job in found], indent=2))
            return
        if not found:
            typer.echo("no chunks")
        for job in found:
            typer.echo(f"{job.plan_id} {_job_line(job)}")

    @jobs_app.command("retry")
    def retry_jobs(
        ctx: typer.Context,
        plan: Annotated[str | None, typer.Option(help="Only this plan's failed chunks.")] = None,
    ) -> None:
        """Put failed chunks back to pending with fresh attempts."""
        store = services(ctx).store
        count = store.retry_failed_jobs(plan)
        typer.echo(f"{count} failed chunk(s) back to pending")
        if count:
            target = f"--plan {plan}" if plan else "--plan ID (see `gridvault jobs`)"
            typer.echo(f"work them with `gridvault backfill {target}`")

    @jobs_app.command("cancel")
    def cancel_plan(
        ctx: typer.Context,
        plan: Annotated[str, typer.Argument(help="The plan id (see `gridvault jobs`).")],
    ) -> None:
        """Stop a plan: its pending chunks become failed ("cancelled"); running ones finish."""
        store = services(ctx).store
        if ledger.get_plan(store, plan) is None and not store.jobs(plan_id=plan, limit=1):
            raise InputError(f"no plan {plan!r}; `gridvault jobs` lists the plans")
        count = ledger.cancel_plan(store, plan, "cancelled by an operator (gridvault jobs cancel)")
        typer.echo(
            f"{count} pending chunk(s) of {plan} cancelled (`gridvault jobs retry` undoes it)"
        )

    return jobs_app


def _job_json(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "plan_id": job.plan_id,
        "kind": job.kind,
        "dataset": job.dataset,
        "area": job.area,
        "area_to": job.area_to,
        "window_start": rfc3339(job.window_start),
        "window_end": rfc3339(job.window_end),
        "state": job.state,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "last_error": job.last_error,
        "lease_owner": job.lease_owner,
        "lease_expires_at": rfc3339(job.lease_expires_at) if job.lease_expires_at else None,
        "not_before": rfc3339(job.not_before) if job.not_before else None,
        "result": job.result,
    }
