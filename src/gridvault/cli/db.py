"""``gridvault db``: the store itself (migrate, info) and ``gridvault config``."""

from __future__ import annotations

import json

import typer

from gridvault.cli.common import services


def register(app: typer.Typer) -> None:
    db = typer.Typer(
        help="The store: create/upgrade its schema, show what it holds.", no_args_is_help=True
    )

    @db.command("migrate")
    def migrate(ctx: typer.Context) -> None:
        """Create or upgrade the schema (also done automatically whenever the store opens)."""
        store = services(ctx).store
        typer.echo(f"{store.backend} store at schema version {store.schema_version()}")

    @db.command("info")
    def info(ctx: typer.Context) -> None:
        """Backend, schema version and how much the store holds."""
        svc = services(ctx)
        store = svc.store
        with store.session() as session:
            counts = {
                table: int(session.fetchall(f"SELECT count(*) FROM {table}")[0][0])
                for table in (
                    "series",
                    "observations",
                    "observation_history",
                    "outage_events",
                    "archive",
                    "jobs",
                )
            }
        typer.echo(
            json.dumps(
                {"backend": store.backend, "schema_version": store.schema_version(), **counts},
                indent=2,
            )
        )

    app.add_typer(db, name="db")

    @app.command("config")
    def config(ctx: typer.Context) -> None:
        """Show the effective settings (secrets shown as **********)."""
        settings = services(ctx).settings
        typer.echo(json.dumps(settings.model_dump(mode="json"), indent=2, default=str))
