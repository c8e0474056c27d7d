"""``gridvault coverage DATASET --area … --start … --end …``: what is stored, what is missing, why.

Per series: expected intervals (from its resolution schedule, e.g. hourly then quarter-hourly
day-ahead prices from 2025-10-01, in the area's local calendar), present, missing, and the
gaps, each classified: never fetched, fetch failed, or upstream has no data (answered "no
matching data", or fetched without those intervals). The overall completeness is present ÷
expected over every series. ``--format json`` prints all of it as one JSON document.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from gridvault.cli.common import services
from gridvault.errors import InputError
from gridvault.pipeline.coverage import GAP_KINDS, GAP_TEXT, CoverageReport, dataset_coverage
from gridvault.timegrid import rfc3339

_HELP = """Show which expected intervals of DATASET are stored and which are missing, per series.

Areas as entsoe-py spells them (DE_LU, NL) or EIC codes, comma-separated or repeated; FROM>TO pairs for border datasets (quote them). Times: start inclusive, end exclusive; without Z or an offset they are each area's local time. Actual data counts only up to now.

Gaps are classified: never fetched (`gridvault backfill` fetches them), fetch failed (backfill retries them), upstream has no data (fetched, nothing there; backfill skips them unless --refetch-empty).
"""


def register(app: typer.Typer) -> None:
    @app.command("coverage", help=_HELP)
    def coverage_command(
        ctx: typer.Context,
        dataset: Annotated[str, typer.Argument(help="Dataset name, e.g. day_ahead_prices.")],
        area: Annotated[
            list[str],
            typer.Option("--area", "-a", help="Area(s), e.g. NL,BE; FROM>TO pairs for borders."),
        ],
        start: Annotated[str, typer.Option(help="Start (inclusive), e.g. 2024-01-01.")],
        end: Annotated[str, typer.Option(help="End (exclusive).")],
        output_format: Annotated[
            str, typer.Option("--format", "-f", help="text or json.")
        ] = "text",
        gaps: Annotated[
            int, typer.Option(min=0, help="Gaps listed per series in text output.")
        ] = 10,
    ) -> None:
        if output_format not in ("text", "json"):
            raise InputError(f"--format must be text or json, got {output_format!r}")
        report = dataset_coverage(services(ctx).store, dataset, area, start, end)
        if output_format == "json":
            typer.echo(json.dumps(report.to_json(), indent=2))
            return
        print_report(report, max_gaps=gaps)


def _count(value: int) -> str:
    return f"{value:,}"


def print_report(report: CoverageReport, *, max_gaps: int = 10) -> None:
    """The text form: a headline, one block per series, the gaps by cause."""
    echo = typer.echo
    echo(
        f"{report.dataset}: completeness {report.completeness * 100:.2f} % — "
        f"{_count(report.present)} of {_count(report.expected)} expected intervals stored, "
        f"{_count(report.missing)} missing"
    )
    by_kind = report.missing_by_kind()
    if report.missing:
        echo(
            "missing: "
            + ", ".join(
                f"{_count(by_kind[kind])} {GAP_TEXT[kind]}" for kind in GAP_KINDS if by_kind[kind]
            )
        )
    for note in report.notes:
        echo(f"note: {note}")
    for item in report.series:
        dims = ", ".join(f"{k}={v}" for k, v in sorted(item.dimensions.items())) or "-"
        name = f"series {item.series_id}" if item.series_id is not None else "nothing stored"
        echo("")
        echo(f"{item.label}  [{name}; {dims}]  {rfc3339(item.start)}..{rfc3339(item.end)}")
        echo(
            f"  resolution {item.describe_schedule()}; expected {_count(item.expected)}, "
            f"present {_count(item.present)}, missing {_count(item.missing)} "
            f"({item.completeness * 100:.2f} % complete)"
        )
        for gap in item.gaps[:max_gaps]:
            echo(
                f"  gap {rfc3339(gap.start)}..{rfc3339(gap.end)}  {_count(gap.intervals)} "
                f"interval(s)  {GAP_TEXT[gap.kind]}"
            )
        if len(item.gaps) > max_gaps:
            echo(f"  … {len(item.gaps) - max_gaps} more gap(s) (--gaps N or --format json)")
