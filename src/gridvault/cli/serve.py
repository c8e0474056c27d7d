"""``gridvault serve``: the REST API (and, in embedded mode, the background services)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from gridvault.api.app import create_app
from gridvault.api.server import is_loopback, uvicorn_config
from gridvault.api.state import ApiOptions, BackgroundService
from gridvault.cli.common import services
from gridvault.errors import GridvaultError, InputError
from gridvault.pipeline.collect import check_token
from gridvault.schedule.config import load_schedule
from gridvault.schedule.scheduler import Scheduler
from gridvault.settings import Settings
from gridvault.store import Store


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise GridvaultError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def _scheduler(settings: Settings, store: Store, path: Path | None) -> list[BackgroundService]:
    """The embedded scheduler, or nothing (with the reason) when it cannot fetch."""
    config = load_schedule(path)  # a broken schedule file stops here, clearly
    try:
        check_token(settings)
    except GridvaultError as exc:
        typer.echo(f"scheduler off: {exc}", err=True)
        return []
    typer.echo(f"scheduler on: {len(config.jobs)} job(s) from {config.source}")
    return [Scheduler(settings, store, config)]


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        ctx: typer.Context,
        host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
        no_auth: Annotated[
            bool,
            typer.Option(
                "--no-auth",
                help="Serve without API keys (demos). Refused on a non-loopback address "
                "unless --force-no-auth.",
            ),
        ] = False,
        force_no_auth: Annotated[
            bool,
            typer.Option("--force-no-auth", help="Allow --no-auth on a non-loopback address."),
        ] = False,
        rate_limit: Annotated[
            int,
            typer.Option(
                min=1, help="Requests per minute per API key (a key may carry its own limit)."
            ),
        ] = 600,
        scheduler: Annotated[
            bool | None,
            typer.Option(
                "--scheduler/--no-scheduler",
                help="Run the collection schedule in this process (default: on with the "
                "embedded DuckDB store, where only this process may write; with PostgreSQL "
                "run `gridvault run` separately).",
            ),
        ] = None,
        schedule: Annotated[
            Path | None,
            typer.Option(help="Schedule file (TOML); default: the shipped schedule."),
        ] = None,
    ) -> None:
        """Serve the REST API under /v1 (OpenAPI docs at /docs, metrics at /metrics).

        Runs ONE worker process: the embedded DuckDB file admits a single process, which serves the API and (in embedded mode) runs the background services. For more throughput use PostgreSQL and run several `gridvault serve` replicas (GRIDVAULT_REDIS_URL shares their rate limits and cache).

        Clients send an API key in the X-API-Key header: create one first with `gridvault keys create --name NAME` (with DuckDB, while the server is stopped; or through POST /v1/keys with an admin key).
        """
        if no_auth and not is_loopback(host) and not force_no_auth:
            raise InputError(
                f"refusing to serve without authentication on {host}, which is not a loopback "
                "address: bind --host 127.0.0.1, drop --no-auth, or add --force-no-auth"
            )
        svc = services(ctx)
        store = svc.store  # open (and migrate) now: a bad database fails here, clearly
        sock = _listen(host, port)
        background: list[BackgroundService] = []
        if scheduler if scheduler is not None else store.backend == "duckdb":
            background.extend(_scheduler(svc.settings, store, schedule))
        api = create_app(
            svc,
            auth=not no_auth,
            background=background,
            options=ApiOptions(rate_limit=rate_limit),
        )
        shown = f"[{host}]" if ":" in host else host
        typer.echo(
            f"gridvault API on http://{shown}:{port}/v1 (docs: http://{shown}:{port}/docs), "
            f"store: {store.backend}, one worker"
        )
        if no_auth:
            typer.echo(
                "WARNING: authentication is OFF (--no-auth): every request is served without "
                "an API key, including key administration",
                err=True,
            )
        server = uvicorn.Server(uvicorn_config(api, host, port, log_level=svc.settings.log_level))
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
