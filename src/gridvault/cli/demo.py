"""``gridvault demo``: the offline demo on the embedded store.

It imports the bundled real data (28 ENTSO-E API responses, FI/SK website CSV exports)
through the same pipeline as live collection, then reads some of it back: coverage of the
FI day-ahead prices, monthly OHLC, a DST day. Running it again is idempotent and says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from gridvault.cli.common import services
from gridvault.demo import ENTSOE_DIR, TIMESERIES_DIR
from gridvault.pipeline.files import input_files
from gridvault.pipeline.ingest import ingest_payload
from gridvault.query import QuerySpec, run_query
from gridvault.store import UpsertResult
from gridvault.timegrid import zone


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        ctx: typer.Context,
        quiet: Annotated[bool, typer.Option(help="Only the summary lines.")] = False,
    ) -> None:
        """Load the bundled real data into the store and show what it holds (offline)."""
        svc = services(ctx)
        store = svc.store
        echo = typer.echo
        echo(f"gridvault demo — store: {store.backend} ({_where(svc.settings.database_url)})")
        totals: dict[str, UpsertResult] = {}
        failed = []
        files = list(input_files([ENTSOE_DIR, TIMESERIES_DIR]))
        for path in files:
            outcome = ingest_payload(store, path.read_bytes(), name=path.name)
            if not outcome.ok:
                failed.append(f"{path.name}: {outcome.error}")
            for dataset, counts in outcome.per_dataset.items():
                totals[dataset] = totals.get(dataset, UpsertResult()) + counts
            if outcome.outages.total:
                totals["(outage events)"] = (
                    totals.get("(outage events)", UpsertResult()) + outcome.outages
                )
        total = sum((c for c in totals.values()), UpsertResult())
        echo(
            f"imported {len(files)} bundled files: {total.inserted} values inserted, "
            f"{total.updated} updated, {total.unchanged} unchanged"
            + (" (already loaded: nothing changed)" if total.inserted == total.updated == 0 else "")
        )
        if not quiet:
            for dataset, counts in sorted(totals.items()):
                echo(
                    f"  {dataset:<34} +{counts.inserted:<7} ~{counts.updated:<5} ={counts.unchanged}"
                )
        for line in failed:
            echo(f"  could not read {line}", err=True)

        fi = store.find_series(dataset="day_ahead_prices", area="FI")
        if fi:
            cov = store.coverage(
                fi[0].series_id,
                datetime(2015, 1, 1, tzinfo=UTC),
                datetime(2023, 1, 1, tzinfo=UTC),
                resolution="PT60M",
            )
            echo(
                f"FI day-ahead prices 2015-2022: {cov.present} of {cov.expected} hours present "
                f"({cov.completeness:.2%}), {len(cov.gaps)} gap(s)"
                + (f", first at {cov.gaps[0].start:%Y-%m-%d %H:%MZ}" if cov.gaps else "")
            )
            yearly = run_query(
                store,
                QuerySpec(
                    "day_ahead_prices",
                    ["FI"],
                    datetime(2015, 1, 1, tzinfo=UTC),
                    datetime(2023, 1, 1, tzinfo=UTC),
                    resample="1y",
                    agg="ohlc",
                    tz="Europe/Helsinki",
                ),
            )
            for row in yearly.to_pylist():
                echo(
                    f"  {row['interval_start'].astimezone(zone('Europe/Helsinki')).year}: "
                    f"open {row['open']:.2f}  high {row['high']:.2f}  low {row['low']:.2f}  "
                    f"close {row['close']:.2f} EUR/MWh"
                )
        es = run_query(
            store,
            QuerySpec(
                "day_ahead_prices",
                ["ES"],
                datetime(2025, 9, 30, 22, tzinfo=UTC),
                datetime(2025, 10, 1, 0, tzinfo=UTC),
            ),
        )
        if es.num_rows:
            echo(
                f"ES day-ahead prices on the first 15-minute SDAC day: {es.num_rows} values in the "
                f"first two hours ({es['resolution'][0].as_py()})"
            )
        echo("try: gridvault query day_ahead_prices --area FI --start 2019-10-27 --end 2019-10-28")


def _where(url: str) -> str:
    from gridvault.store.postgres_store import redact_url  # noqa: PLC0415

    return redact_url(url)
