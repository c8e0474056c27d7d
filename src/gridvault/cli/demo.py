"""``gridvault demo``: the offline demo on the embedded store.

1. Imports the bundled real data (28 ENTSO-E API responses, FI/SK website CSV exports)
   through the same pipeline as live collection and reads some of it back (coverage of the
   FI day-ahead prices with their real gaps, yearly OHLC, the first 15-minute SDAC day).
   Running it again is idempotent and says so.
2. Unless ``--no-serve``: starts the ENTSO-E emulator on loopback (synthetic documents,
   marked ``SYNTHETIC-`` in their mRID), the scheduler with the demo schedule against it so
   data keeps arriving, and serves the API and dashboard on 127.0.0.1 without keys.

The demo keeps its own DuckDB file (``demo.duckdb`` in the data directory) unless
GRIDVAULT_DATABASE_URL is set, so synthetic data never mixes into a real store by accident.
"""

from __future__ import annotations

import secrets
import socket
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated

import typer
import uvicorn
from pydantic import SecretStr

from gridvault.api.app import create_app
from gridvault.api.server import uvicorn_config
from gridvault.cli.common import services
from gridvault.demo import ENTSOE_DIR, TIMESERIES_DIR
from gridvault.emulator import EmulatorConfig, running_emulator
from gridvault.logs import register_secret
from gridvault.pipeline.files import input_files
from gridvault.pipeline.ingest import ingest_payload
from gridvault.query import QuerySpec, run_query
from gridvault.schedule.config import parse_schedule
from gridvault.schedule.scheduler import Scheduler
from gridvault.services import Services
from gridvault.settings import default_data_dir, load_settings
from gridvault.store import UpsertResult
from gridvault.timegrid import zone

DEMO_SCHEDULE = resources.files("gridvault.schedule").joinpath("demo.toml")


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        ctx: typer.Context,
        quiet: Annotated[bool, typer.Option(help="Only the summary lines.")] = False,
        serve: Annotated[
            bool,
            typer.Option(
                "--serve/--no-serve",
                help="After loading, serve the API and dashboard with emulator-fed collection.",
            ),
        ] = True,
        port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 8000,
    ) -> None:
        """The offline demo: load the bundled real data, then serve it (API + dashboard) while
        a scheduler keeps collecting from the built-in ENTSO-E emulator. Ctrl-C stops it."""
        if "database_url" not in load_settings().model_fields_set:
            ctx.find_root().meta["settings_overrides"] = {
                "database_url": "duckdb:///" + str(default_data_dir() / "demo.duckdb").lstrip("/")
            }
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
        total = UpsertResult.combined(totals.values())
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
        if not serve:
            echo(
                "try: gridvault query day_ahead_prices --area FI --start 2019-10-27 --end 2019-10-28"
            )
            return
        _serve_demo(svc, port)


def _where(url: str) -> str:
    from gridvault.store.postgres_store import redact_url  # noqa: PLC0415

    return redact_url(url)


def _serve_demo(svc: Services, port: int) -> None:
    """Emulator + scheduler + API/dashboard in this process until Ctrl-C."""
    token = secrets.token_urlsafe(16)
    config = EmulatorConfig(token=token, synthetic=True, data_dir=ENTSOE_DIR)
    with running_emulator(config) as emulator:
        settings = svc.settings.model_copy(
            update={"entsoe_base_url": emulator.base_url, "entsoe_token": SecretStr(token)}
        )
        register_secret(token)
        # Everything this process collects comes from the emulator: the scheduler's runs
        # and what POST /v1/collect and /v1/backfill start (they read the app's settings).
        svc.settings = settings
        schedule = parse_schedule(DEMO_SCHEDULE.read_text("utf-8"), source="demo.toml (built in)")
        scheduler = Scheduler(settings, svc.store, schedule)
        api = create_app(svc, auth=False, background=[scheduler])
        sock = socket.socket(socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.bind(("127.0.0.1", 0))  # the asked port is busy: any free one
        sock.listen(128)  # accept (queue) connections from the moment the URL is printed
        bound = sock.getsockname()[1]
        url = f"http://127.0.0.1:{bound}"
        typer.echo(
            f"emulator: {emulator.base_url} (synthetic ENTSO-E data); scheduler: "
            f"{len(schedule.jobs)} demo jobs collecting into the store\n"
            f"dashboard: {url}/   API: {url}/v1/datasets   docs: {url}/docs   "
            f"metrics: {url}/metrics\n"
            "authentication is OFF for the demo (loopback only). Ctrl-C stops it."
        )
        server = uvicorn.Server(uvicorn_config(api, "127.0.0.1", bound, log_level="warning"))
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
