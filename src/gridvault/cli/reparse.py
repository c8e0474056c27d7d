"""``gridvault reparse``: parse archived payloads again (after a parser fix) and store them."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from gridvault.cli.common import services
from gridvault.entsoe.catalog import get_dataset
from gridvault.errors import InputError
from gridvault.pipeline.reparse import OUTCOME_CHOICES, ReparseResult, reparse_archive


def _line(result: ReparseResult) -> str:
    head = f"#{result.archive_id} {result.sha256[:12]} {result.dataset or '-'} {result.name}"
    if result.skipped:
        return f"{head}: skipped ({result.skipped})"
    if result.error:
        return f"{head}: {result.before} → {result.after}: still fails: {result.error}"
    points = result.points
    text = (
        f"{head}: {result.before} → {result.after}: {result.values} value(s), inserted "
        f"{points.inserted}, updated {points.updated}, unchanged {points.unchanged}"
    )
    if result.outages.total:
        text += f", outage rows {result.outages.total}"
    if result.kept_newer:
        text += f", {result.kept_newer} kept (a later fetch stored them)"
    return text


def _record(result: ReparseResult) -> dict[str, object]:
    points = result.points
    return {
        "archive_id": result.archive_id,
        "sha256": result.sha256,
        "dataset": result.dataset,
        "name": result.name,
        "before": result.before,
        "after": result.after,
        "values": result.values,
        "inserted": points.inserted,
        "updated": points.updated,
        "unchanged": points.unchanged,
        "outage_rows": result.outages.total,
        "kept_newer": result.kept_newer,
        "error": result.error,
        "skipped": result.skipped,
    }


def register(app: typer.Typer) -> None:
    @app.command("reparse")
    def reparse_command(
        ctx: typer.Context,
        outcome: Annotated[
            str,
            typer.Option(
                help="Which archived payloads: quarantined (failed to parse), error "
                "(refusals) or all."
            ),
        ] = "quarantined",
        dataset: Annotated[
            str | None, typer.Option(help="Only payloads requested for this dataset.")
        ] = None,
        limit: Annotated[int, typer.Option(min=1, help="At most this many payloads.")] = 10_000,
        fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    ) -> None:
        """Parse archived payloads again with this version's parser and store what now parses.

        Run it after upgrading gridvault when a parser fix concerns payloads that were
        quarantined. Idempotent (stored values come out unchanged), reports per payload,
        and never replaces a value that a later fetch of another document stored. Payloads
        that still fail stay archived with the new reason.
        """
        if outcome not in OUTCOME_CHOICES:
            raise InputError(
                f"unknown --outcome {outcome!r}; use one of {', '.join(OUTCOME_CHOICES)}"
            )
        if fmt not in ("text", "json"):
            raise InputError(f"unknown format {fmt!r}; use text or json")
        name = get_dataset(dataset).name if dataset else None
        results = reparse_archive(services(ctx).store, outcome=outcome, dataset=name, limit=limit)
        if fmt == "json":
            typer.echo(json.dumps([_record(r) for r in results], indent=2))
            return
        for result in results:
            typer.echo(_line(result))
        stored = sum(1 for r in results if r.ok and not r.skipped)
        failing = sum(1 for r in results if r.error)
        skipped = sum(1 for r in results if r.skipped)
        typer.echo(
            f"{len(results)} payload(s): {stored} parsed and stored, {failing} still failing, "
            f"{skipped} skipped"
        )
