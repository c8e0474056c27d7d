"""``gridvault keys``: create, list and revoke API keys of the REST API."""

from __future__ import annotations

from typing import Annotated

import typer

from gridvault.cli.common import services
from gridvault.store.api_keys import SCOPES, create_key, list_keys, revoke_key


def register(app: typer.Typer) -> None:
    keys = typer.Typer(
        help="API keys of the REST API (stored as hashes: a key is shown once, at creation).",
        no_args_is_help=True,
    )

    @keys.command("create")
    def create(
        ctx: typer.Context,
        name: Annotated[str, typer.Option(help="Who or what uses the key, e.g. 'dashboard'.")],
        scope: Annotated[
            str, typer.Option(help=f"{' or '.join(SCOPES)}: admin may also manage keys.")
        ] = "read",
        rate_limit: Annotated[
            int | None,
            typer.Option(min=1, help="Requests per minute for this key (default: the server's)."),
        ] = None,
    ) -> None:
        """Create a key and print it (on the last line). It cannot be shown again."""
        record, key = create_key(services(ctx).store, name, scope, rate_limit=rate_limit)
        typer.echo(
            f"created API key {record.key_id} {record.name!r} (scope {record.scope}); send it "
            "in the X-API-Key header. Store it now: it is not shown again."
        )
        typer.echo(key)

    @keys.command("list")
    def list_command(ctx: typer.Context) -> None:
        """Every key: id, name, scope, rate limit, created, revoked (never the key itself)."""
        found = list_keys(services(ctx).store)
        if not found:
            typer.echo("no API keys; create one with `gridvault keys create --name NAME`")
            return
        width = max(len(k.name) for k in found)
        typer.echo(
            f"{'id':>4}  {'name':<{width}}  {'scope':<5}  {'limit':>6}  created               revoked"
        )
        for k in found:
            limit = str(k.rate_limit) if k.rate_limit else "-"
            revoked = f"{k.revoked_at:%Y-%m-%d %H:%MZ}" if k.revoked_at else "-"
            typer.echo(
                f"{k.key_id:>4}  {k.name:<{width}}  {k.scope:<5}  {limit:>6}  "
                f"{k.created_at:%Y-%m-%d %H:%MZ}     {revoked}"
            )

    @keys.command("revoke")
    def revoke(
        ctx: typer.Context,
        key: Annotated[str, typer.Argument(help="The key's id or name (see `keys list`).")],
    ) -> None:
        """Revoke a key: requests with it are refused from now on."""
        record = revoke_key(services(ctx).store, key)
        typer.echo(f"revoked API key {record.key_id} {record.name!r}")

    app.add_typer(keys, name="keys")
