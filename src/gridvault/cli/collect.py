"""``gridvault collect DATASET --area … --start … --end …``: fetch from ENTSO-E into the store.

Everything typed is checked before the first request (dataset, areas, times, a future
window for actual data, the token). A progress bar is drawn only when stdout is a
terminal; the summary is always printed. Failed windows are listed with their reason and
the exit code is 5; the windows that succeeded stay stored, so running the same command
again fills only what is missing (unchanged values cost nothing).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from gridvault.cli.common import services
from gridvault.errors import InputError, UpstreamError
from gridvault.pipeline.collect import (
    CollectPlan,
    CollectReport,
    WindowResult,
    check_token,
    describe_window,
    plan_collect,
    run_collect,
)
from gridvault.timegrid import rfc3339

EXIT_WINDOWS_FAILED = UpstreamError.exit_code

_HELP = """Fetch DATASET from the ENTSO-E API, archive, parse, validate and store it.

Areas are codes as entsoe-py spells them (DE_LU, NL, DK_1) or EIC codes. Border datasets (physical_flows, scheduled_exchanges, ntc_*, outages_transmission) take FROM>TO pairs, e.g. --area 'DE_LU>NL,NL>DE_LU' (quote them: > is a redirection in the shell).

Times: start inclusive, end exclusive; with Z or an offset they are exact, without one they are the area's local time (2024-01-01 for NL is 2023-12-31T23:00Z).

The token comes from GRIDVAULT_ENTSOE_TOKEN (or ENTSOE_API_KEY), the endpoint from GRIDVAULT_ENTSOE_BASE_URL, the request budget from GRIDVAULT_ENTSOE_RATE_LIMIT (default 350/minute, shared through Redis when GRIDVAULT_REDIS_URL is set).

Exit code 5 when any window failed (they are listed with their reason); 2 for bad input or settings.
"""


def register(app: typer.Typer) -> None:
    @app.command("collect", help=_HELP)
    def collect_command(
        ctx: typer.Context,
        dataset: Annotated[
            str,
            typer.Argument(
                help="Dataset name, e.g. day_ahead_prices, load_actual, physical_flows."
            ),
        ],
        area: Annotated[
            list[str],
            typer.Option(
                "--area",
                "-a",
                help="Area code or EIC, e.g. NL; FROM>TO pairs for border datasets, e.g. 'DE_LU>NL'. Repeat or comma-separate.",
            ),
        ],
        start: Annotated[str, typer.Option(help="Start (inclusive), e.g. 2024-01-01.")],
        end: Annotated[str, typer.Option(help="End (exclusive), same rules as --start.")],
        concurrency: Annotated[
            int, typer.Option(min=1, max=256, help="Windows fetched at the same time.")
        ] = 8,
        window: Annotated[
            str | None,
            typer.Option(
                help="Split into windows no longer than this ISO duration (P1D, P1M); "
                "default: the longest the dataset allows."
            ),
        ] = None,
        param: Annotated[
            list[str] | None,
            typer.Option(
                "--param",
                help="Extra query parameter NAME=VALUE, e.g. psrType=B16 or processType=A51 "
                "(contracted_reserves: aFRR).",
            ),
        ] = None,
    ) -> None:
        plan = plan_collect(dataset, area, start, end, max_window=window, extra=_params(param))
        settings = services(ctx).settings
        check_token(settings)
        for note in plan.notes:
            typer.echo(f"note: {note}", err=True)
        store = services(ctx).store
        with _progress(plan) as advance:
            report = asyncio.run(
                run_collect(settings, store, plan, concurrency=concurrency, on_result=advance)
            )
        _print_summary(plan, report)
        if not report.ok:
            raise typer.Exit(code=EXIT_WINDOWS_FAILED)


def _params(items: list[str] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InputError(f"--param takes NAME=VALUE, got {item!r}")
        params[name.strip()] = value.strip()
    return params


@contextmanager
def _progress(plan: CollectPlan) -> Iterator[Callable[[WindowResult], None] | None]:
    """A rich progress bar over the windows when stdout is a terminal, else nothing."""
    if not sys.stdout.isatty():
        yield None
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
        TimeRemainingColumn(),
    ) as progress:
        task = progress.add_task(plan.dataset.name, total=len(plan.jobs), status="")
        failed = 0

        def advance(result: WindowResult) -> None:
            nonlocal failed
            failed += 0 if result.ok else 1
            status = f"[red]{failed} failed" if failed else ""
            progress.update(task, advance=1, status=status)

        yield advance


def _print_summary(plan: CollectPlan, report: CollectReport) -> None:
    retries = f"{report.retries} retr{'y' if report.retries == 1 else 'ies'}"
    typer.echo(
        f"{plan.dataset.name}: {len(plan.areas)} area(s), {report.windows} window(s), "
        f"{report.requests} request(s) ({retries}, {report.bans} ban(s)) "
        f"in {report.elapsed:.1f} s"
    )
    rows = dict(report.per_dataset)
    if report.outages.total:
        rows["outage events"] = report.outages
    width = max((len(name) for name in rows), default=7)
    typer.echo(f"{'dataset':<{width}}  {'inserted':>9} {'updated':>9} {'unchanged':>9}")
    for name, counts in sorted(rows.items()):
        typer.echo(
            f"{name:<{width}}  {counts.inserted:>9} {counts.updated:>9} {counts.unchanged:>9}"
        )
    typer.echo(f"empty windows (no matching data): {report.empty_windows}")
    typer.echo(f"failed windows: {len(report.failures)}")
    for failure in report.failures:
        typer.echo(
            f"  {failure.area} {describe_window(failure.window_start, failure.window_end)} "
            f"[{failure.kind}] {failure.reason}"
        )
    if report.failures:
        first = min(failure.window_start for failure in report.failures)
        typer.echo(
            f"the other windows are stored; run the command again (from {rfc3339(first)}) "
            "to fill the gaps",
            err=True,
        )
