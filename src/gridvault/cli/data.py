"""``gridvault import`` and ``gridvault query``: saved files in, records out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from gridvault.cli.common import services, time_arg
from gridvault.entsoe.areas import lookup_area
from gridvault.errors import InputError
from gridvault.output import FORMATS, write
from gridvault.pipeline.files import input_files
from gridvault.pipeline.ingest import ingest_payload
from gridvault.query import QuerySpec, run_query
from gridvault.store import UpsertResult


def _split(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _filters(items: list[str]) -> dict[str, str]:
    result = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"--filter takes NAME=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        result[name.strip()] = value.strip()
    return result


def register(app: typer.Typer) -> None:
    importer = typer.Typer(
        help="Load saved responses and exports into the store.", no_args_is_help=True
    )

    @importer.command("entsoe")
    def import_entsoe(
        ctx: typer.Context,
        paths: Annotated[
            list[Path],
            typer.Argument(
                help="Files, ZIPs or directories of ENTSO-E API responses and website CSV exports."
            ),
        ],
    ) -> None:
        """Import saved ENTSO-E responses (XML, ZIP) and website CSV exports.

        Idempotent: importing the same files again reports everything unchanged. A file
        that cannot be read is reported with its reason and stores nothing; the other
        files are still imported, and the exit code is non-zero.
        """
        store = services(ctx).store
        totals: dict[str, UpsertResult] = {}
        failures = 0
        files = 0
        for path in input_files(paths):
            files += 1
            outcome = ingest_payload(store, path.read_bytes(), name=str(path))
            if not outcome.ok:
                failures += 1
                typer.echo(f"error: {outcome.error}", err=True)
                continue
            for dataset, counts in outcome.per_dataset.items():
                totals[dataset] = totals.get(dataset, UpsertResult()) + counts
            if outcome.outages.total:
                totals["outage events"] = (
                    totals.get("outage events", UpsertResult()) + outcome.outages
                )
        width = max((len(name) for name in totals), default=7)
        typer.echo(f"{'dataset':<{width}}  {'inserted':>9} {'updated':>9} {'unchanged':>9}")
        for dataset, counts in sorted(totals.items()):
            typer.echo(
                f"{dataset:<{width}}  {counts.inserted:>9} {counts.updated:>9} {counts.unchanged:>9}"
            )
        typer.echo(f"{files} file(s), {failures} failed")
        if failures:
            raise typer.Exit(code=4)

    app.add_typer(importer, name="import")

    @app.command("query")
    def query(
        ctx: typer.Context,
        dataset: Annotated[
            str, typer.Argument(help="Dataset name, e.g. day_ahead_prices, load_actual.")
        ],
        area: Annotated[
            list[str],
            typer.Option(
                "--area",
                "-a",
                help="Area code or EIC (DE_LU, 10Y1001A1001A82H); repeat or comma-separate.",
            ),
        ],
        start: Annotated[
            str,
            typer.Option(
                help="Start (inclusive). With Z/offset exact; naive = the area's local time."
            ),
        ],
        end: Annotated[str, typer.Option(help="End (exclusive), same rules as --start.")],
        to: Annotated[
            str | None, typer.Option("--to", help="For border datasets: the area the flow goes to.")
        ] = None,
        resample: Annotated[
            str | None, typer.Option(help="Bucket: 15min, 30min, 1h … 12h, 1d, 1w, 1mo, 1q, 1y.")
        ] = None,
        agg: Annotated[
            str, typer.Option(help="mean (time-weighted), min, max, sum, first, last, ohlc, count.")
        ] = "mean",
        tz: Annotated[
            str | None,
            typer.Option(
                help="Time zone for output times and calendar buckets (default: UTC out, area's days for buckets)."
            ),
        ] = None,
        as_of: Annotated[
            str | None,
            typer.Option("--as-of", help="Return what was known at this time (revision history)."),
        ] = None,
        filters: Annotated[
            list[str] | None,
            typer.Option("--filter", help="Dimension filter NAME=VALUE, e.g. psr_type=B16."),
        ] = None,
        fmt: Annotated[
            str, typer.Option("--format", help="csv, jsonl or parquet (binary, to stdout).")
        ] = "csv",
    ) -> None:
        """Read stored data back: one record per value (or per bucket when resampling)."""
        if fmt not in FORMATS:
            raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        if fmt == "parquet" and sys.stdout.isatty():
            raise InputError(
                "Parquet is binary and would garble this terminal: redirect it to a file, "
                "e.g. `gridvault query ... --format parquet > prices.parquet`"
            )
        areas = _split(area)
        local_tz = lookup_area(areas[0]).tz if areas else "UTC"
        spec = QuerySpec(
            dataset=dataset,
            areas=areas,
            start=time_arg(start, local_tz),
            end=time_arg(end, local_tz),
            area_to=to,
            filters=_filters(filters or []),
            resample=resample,
            agg=agg,
            tz=tz,
            as_of=time_arg(as_of, local_tz) if as_of else None,
        )
        table = run_query(services(ctx).store, spec)
        write(table, fmt, sys.stdout, sys.stdout.buffer if fmt == "parquet" else None, tz)
