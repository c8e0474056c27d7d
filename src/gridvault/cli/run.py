"""``gridvault run``: the collection schedule, until stopped (or ``--once``).

The schedule is a TOML file (``--schedule`` or ``GRIDVAULT_SCHEDULE``; default: the one
shipped with gridvault, see ``docs/schedule.md``). It is checked completely before
anything runs: a broken file is reported with file, line and what is wrong, exit code 2,
and nothing is touched. SIGINT/SIGTERM stop the schedule gracefully: no new run starts and
running ones get ``--stop-grace`` seconds to finish (their windows stay stored either way).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from gridvault.cli.common import services
from gridvault.errors import UpstreamError
from gridvault.pipeline.collect import check_token
from gridvault.schedule.config import ScheduleConfig, format_duration, load_schedule
from gridvault.schedule.scheduler import JobRun, Scheduler, first_due
from gridvault.store.collection_state import schedule_states
from gridvault.timegrid import rfc3339

EXIT_RUN_FAILED = UpstreamError.exit_code

_HELP = """Run the collection schedule: each job fetches its dataset for its areas on its cadence, with jitter, never two runs of one job at once, re-fetching the trailing revision window and catching up what was missed while nothing ran.

--once runs every job that is due (never ran, or missed a tick) once and exits: for cron or a systemd timer. --job NAME runs that job now, due or not. --check only reads and checks the schedule and shows when each job runs next.

Exit code 5 when a run under --once failed (partly); 2 for a bad schedule or settings.
"""


def _print_schedule(schedule: ScheduleConfig, now: datetime, runs: dict[str, datetime]) -> None:
    typer.echo(f"schedule {schedule.source}: {len(schedule.jobs)} job(s)")
    for job in schedule.jobs:
        state = "" if job.enabled else " (disabled)"
        extra = []
        if job.lag:
            extra.append(f"lag {format_duration(job.lag)}")
        if job.revision_window:
            extra.append(f"revision window {format_duration(job.revision_window)}")
        if job.horizon:
            extra.append(f"horizon {format_duration(job.horizon)}")
        typer.echo(
            f"  {job.name}{state}: {job.dataset} for {', '.join(job.areas)}; "
            f"{job.schedule.describe()}, jitter {job.jitter:g} s"
            + (f"; {', '.join(extra)}" if extra else "")
        )
        if job.enabled:
            typer.echo(f"    next run: {rfc3339(runs.get(job.name, job.schedule.next_after(now)))}")


def _print_runs(runs: list[JobRun]) -> None:
    if not runs:
        typer.echo("no job is due")
    for run in runs:
        typer.echo(run.summary())
        for label, (start, end) in sorted(run.ranges.items()):
            typer.echo(f"  {label}: {rfc3339(start)}..{rfc3339(end)}")


async def _run_forever(scheduler: Scheduler) -> bool:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    try:
        return await scheduler.run_until(stop)
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


def register(app: typer.Typer) -> None:
    @app.command("run", help=_HELP)
    def run_command(
        ctx: typer.Context,
        schedule_file: Annotated[
            Path | None,
            typer.Option(
                "--schedule",
                "-s",
                envvar="GRIDVAULT_SCHEDULE",
                help="Schedule TOML file (default: the built-in schedule, docs/schedule.md).",
            ),
        ] = None,
        once: Annotated[
            bool, typer.Option("--once", help="Run every due job once, then exit.")
        ] = False,
        job: Annotated[
            list[str] | None,
            typer.Option("--job", "-j", help="Run this job now (implies --once); repeatable."),
        ] = None,
        check: Annotated[
            bool, typer.Option("--check", help="Check the schedule, show next runs, exit.")
        ] = False,
        concurrency: Annotated[
            int, typer.Option(min=1, max=64, help="Windows fetched at the same time per job.")
        ] = 4,
        metrics_port: Annotated[
            int | None,
            typer.Option(
                min=1,
                max=65535,
                help="Serve Prometheus metrics on http://127.0.0.1:PORT/metrics while running.",
            ),
        ] = None,
        stop_grace: Annotated[
            float,
            typer.Option(min=0, help="Seconds running jobs get to finish after SIGINT/SIGTERM."),
        ] = 30.0,
    ) -> None:
        schedule = load_schedule(schedule_file)
        now = datetime.now(UTC)
        if check:
            _print_schedule(schedule, now, {})
            return
        if job:
            for name in job:
                schedule.job(name)  # unknown names fail before anything runs
        svc = services(ctx)
        check_token(svc.settings)
        store = svc.store
        scheduler = Scheduler(
            svc.settings, store, schedule, concurrency=concurrency, stop_grace=stop_grace
        )
        server = None
        if metrics_port is not None:
            from gridvault.metrics import serve_metrics  # noqa: PLC0415 - only when asked

            try:
                server, _thread = serve_metrics(store, metrics_port)
            except OSError as exc:
                raise UpstreamError(
                    f"cannot serve metrics on 127.0.0.1:{metrics_port}: {exc.strerror}"
                ) from None
            typer.echo(f"metrics on http://127.0.0.1:{metrics_port}/metrics", err=True)
        try:
            if once or job:
                runs = asyncio.run(scheduler.run_once(job or ()))
                _print_runs(runs)
                if any(not run.ok for run in runs):
                    raise typer.Exit(code=EXIT_RUN_FAILED)
                return
            states = schedule_states(store)
            due = {j.name: first_due(j, states.get(j.name), now) for j in schedule.enabled}
            _print_schedule(schedule, now, due)
            typer.echo("running; stop with Ctrl-C (SIGINT) or SIGTERM", err=True)
            if not asyncio.run(_run_forever(scheduler)):
                raise typer.Exit(code=1)
            typer.echo("stopped", err=True)
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()
