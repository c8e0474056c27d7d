"""Entry point of the ``gridvault`` command.

Each sub-command lives in its own module of this package and registers itself on the
shared Typer app through a ``register(app)`` function listed in :data:`COMMAND_MODULES`.
Expected failures (:class:`~gridvault.errors.GridvaultError`) become one line on stderr
and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from gridvault.errors import GridvaultError
from gridvault.logs import redact

COMMAND_MODULES: tuple[str, ...] = (
    "gridvault.cli.db",
    "gridvault.cli.demo",
    "gridvault.cli.parse",
    "gridvault.cli.data",
    "gridvault.cli.collect",
    "gridvault.cli.coverage",
    "gridvault.cli.backfill",
    "gridvault.cli.emulator",
    "gridvault.cli.serve",
    "gridvault.cli.keys",
    "gridvault.cli.run",
    "gridvault.cli.status",
    "gridvault.cli.reparse",
)


def build_app() -> typer.Typer:
    """The Typer application with every sub-command registered."""
    app = typer.Typer(
        name="gridvault",
        help=(
            "gridvault: collect European power-market data (ENTSO-E), keep it complete and "
            "revision-aware in DuckDB or PostgreSQL, and get it back.\n\n"
            "The store is chosen by GRIDVAULT_DATABASE_URL (default: a DuckDB file in your "
            "data directory). Start with `gridvault demo`."
        ),
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(app)
    return app


def main(argv: list[str] | None = None) -> None:
    """Run the command line; map expected errors to a one-line message and exit code.

    Typer runs in standalone mode, so usage errors print their help hint and exit 2;
    our own :class:`GridvaultError` passes through it and is reported here.
    """
    app = build_app()
    try:
        app(args=argv, prog_name="gridvault")
    except GridvaultError as exc:
        typer.echo(f"error: {redact(str(exc))}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
