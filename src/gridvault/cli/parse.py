"""``gridvault parse entsoe FILE...``: print what ENTSO-E files hold, without a store.

Reads API responses a user downloaded or the archive kept (XML or ZIP, any file name;
directories are walked for ``*.xml``/``*.zip``) with the same parser the collectors use and
prints one record per value (or per outage availability interval) as JSON lines or CSV.
Output is streamed document by document. A "no matching data" acknowledgement prints
nothing. A file that cannot be read gets one line on stderr naming it (and its ZIP member);
the other files are still printed and the exit code is 4.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from gridvault.errors import ParseError
from gridvault.timegrid import rfc3339

if TYPE_CHECKING:
    import pyarrow as pa

#: Value records: the interval, the value and what it is, then the series dimensions.
VALUE_FIELDS: tuple[str, ...] = (
    "interval_start",
    "interval_end",
    "value",
    "measure",
    "dataset",
    "document_type",
    "process_type",
    "business_type",
    "resolution",
    "unit",
    "curve_type",
    "area",
    "in_domain",
    "out_domain",
    "psr_type",
    "sequence",
    "contract_type",
    "auction_type",
    "direction",
    "category",
    "resource",
    "resource_name",
    "document_mrid",
    "revision_number",
    "created_at",
    "publish_time",
)

#: Outage records: one availability interval of an outage event.
OUTAGE_FIELDS: tuple[str, ...] = (
    "interval_start",
    "interval_end",
    "available_capacity",
    "unit",
    "dataset",
    "document_type",
    "process_type",
    "business_type",
    "doc_status",
    "area",
    "in_domain",
    "out_domain",
    "resource",
    "resource_name",
    "resource_location",
    "psr_type",
    "nominal_power",
    "event_start",
    "event_end",
    "reason_code",
    "reason_text",
    "document_mrid",
    "revision_number",
    "timeseries_mrid",
    "created_at",
)

_SUFFIXES = (".xml", ".zip")


class OutputFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


def register(app: typer.Typer) -> None:
    parse_app = typer.Typer(
        help="Print what downloaded or archived source files hold (no store needed).",
        no_args_is_help=True,
    )

    @parse_app.command("entsoe")
    def entsoe(
        paths: Annotated[
            list[Path],
            typer.Argument(
                help="ENTSO-E API responses (XML or ZIP) or directories of them.",
                show_default=False,
            ),
        ],
        output_format: Annotated[
            OutputFormat,
            typer.Option("--format", "-f", help="jsonl: one JSON object per line; csv."),
        ] = OutputFormat.jsonl,
    ) -> None:
        """Print one record per value (or per outage interval) of ENTSO-E files.

        Times are UTC (RFC 3339, ``Z``). JSON lines omit fields a document does not have;
        CSV has a fixed header (values, or outage events when the first document is an
        outage document) with empty cells instead.
        """
        try:
            failures = print_entsoe(paths, output_format, sys.stdout, sys.stderr)
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, like other Unix tools.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(code=0) from None
        if failures:
            typer.echo(
                f"error: {failures} input{'s' if failures > 1 else ''} could not be read",
                err=True,
            )
            raise typer.Exit(code=ParseError.exit_code)

    app.add_typer(parse_app, name="parse")


def print_entsoe(paths: list[Path], output_format: OutputFormat, out: TextIO, err: TextIO) -> int:
    """Print every file's records to ``out``; returns how many files/members failed."""
    # Imported here: lxml and pyarrow load only when this command runs, not for every CLI call.
    from gridvault.entsoe.parser import iter_payloads, parse_document  # noqa: PLC0415

    writer = _Writer(output_format, out)
    failures = 0
    for path in _files(paths, err):
        if path is None:
            failures += 1
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            err.write(f"error: {path}: {exc.strerror or exc}\n")
            failures += 1
            continue
        try:
            for name, payload in iter_payloads(data, source_name=str(path)):
                try:
                    document = parse_document(payload, source_name=name)
                except ParseError as exc:
                    err.write(f"error: {exc}\n")
                    failures += 1
                    continue
                if document.values.num_rows:
                    failures += not writer.write("values", document.values, name, err)
                if document.outages.num_rows:
                    failures += not writer.write("outages", document.outages, name, err)
        except ParseError as exc:  # the ZIP itself (bomb, unreadable, bad member)
            err.write(f"error: {exc}\n")
            failures += 1
    out.flush()
    return failures


def _files(paths: list[Path], err: TextIO) -> Iterator[Path | None]:
    """The files to read: given files as they are, directories walked for XML/ZIP files;
    None (after a message on ``err``) for a path that does not exist."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _SUFFIXES
            )
        elif path.exists():
            yield path
        else:
            err.write(f"error: {path}: no such file or directory\n")
            yield None


class _Writer:
    """Streams records as JSON lines or CSV (one header, fixed by the first record kind)."""

    def __init__(self, output_format: OutputFormat, out: TextIO) -> None:
        self.format = output_format
        self.out = out
        self.csv_kind: str | None = None
        self.csv: Any = None

    def write(self, kind: str, table: pa.Table, source: str | None, err: TextIO) -> bool:
        fields = VALUE_FIELDS if kind == "values" else OUTAGE_FIELDS
        if self.format is OutputFormat.csv:
            if self.csv_kind is None:
                self.csv_kind = kind
                self.csv = csv.writer(self.out, lineterminator="\n")
                self.csv.writerow(fields)
            elif self.csv_kind != kind:
                err.write(
                    f"error: {source}: holds {kind} but this CSV holds {self.csv_kind}; "
                    "read such files separately or use --format jsonl\n"
                )
                return False
        for batch in table.select(list(fields)).to_batches(max_chunksize=4096):
            for record in batch.to_pylist():
                self._record(fields, record)
        return True

    def _record(self, fields: tuple[str, ...], record: dict[str, Any]) -> None:
        for name, value in record.items():
            if isinstance(value, datetime):
                record[name] = rfc3339(value)
        if self.format is OutputFormat.csv:
            self.csv.writerow(["" if record[name] is None else record[name] for name in fields])
            return
        compact = {
            name: value
            for name, value in record.items()
            if value is not None or name in ("value", "available_capacity")
        }
        self.out.write(json.dumps(compact, ensure_ascii=False) + "\n")
