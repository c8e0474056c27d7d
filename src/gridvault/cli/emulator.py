"""``gridvault emulator``: run the ENTSO-E API emulator on loopback until Ctrl-C.

Point a client (ours, entsoe-py, curl) at the printed base URL with the printed token. It
replays the bundled real responses by default and, with ``--synthetic``, answers any area
and window of the catalog with generated documents (``mRID`` ``SYNTHETIC-…``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridvault.demo import ENTSOE_DIR
from gridvault.emulator import EmulatorConfig, FaultSpec
from gridvault.emulator.config import DEFAULT_TOKEN
from gridvault.emulator.server import Emulator
from gridvault.errors import InputError


def register(app: typer.Typer) -> None:
    @app.command("emulator")
    def emulator(
        port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.")] = 8765,
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        data: Annotated[
            Path | None,
            typer.Option(
                "--data",
                help="Directory of recorded responses to replay (default: the bundled recordings).",
                show_default=False,
            ),
        ] = None,
        no_replay: Annotated[
            bool, typer.Option("--no-replay", help="Replay nothing (synthetic data only).")
        ] = False,
        synthetic: Annotated[
            bool, typer.Option("--synthetic", help="Generate documents for any request.")
        ] = False,
        faults: Annotated[
            str,
            typer.Option(
                help='Injected faults, e.g. "latency=0.05,5xx=0.1,429=0.02,truncate=0.05,'
                'malformed=0.05,reset=0.05,ack=0.02,seed=7" (ack: an error acknowledgement '
                "instead of the answer, inside the ZIP when zipped)."
            ),
        ] = "",
        token: Annotated[
            str, typer.Option(help="The securityToken clients must send.")
        ] = DEFAULT_TOKEN,
        no_token: Annotated[
            bool, typer.Option("--no-token", help="Accept requests without a token.")
        ] = False,
        rate_limit: Annotated[
            int, typer.Option(help="Requests per token per sliding minute before a ban.")
        ] = 400,
        ban_seconds: Annotated[float, typer.Option(help="Length of a rate-limit ban.")] = 600.0,
        gaps: Annotated[float, typer.Option(help="Synthetic: share of days missing.")] = 0.0,
        revision: Annotated[int, typer.Option(help="Synthetic: revision of the values.")] = 1,
    ) -> None:
        """Serve an offline ENTSO-E Transparency Platform API (token, rate limit, faults)."""
        if data is not None and not data.is_dir():
            raise InputError(f"--data {data} is not a directory")
        if not 0.0 <= gaps <= 1.0:
            raise InputError(f"--gaps {gaps} is not between 0 and 1")
        if revision < 1 or rate_limit < 1:
            raise InputError("--revision and --rate-limit must be at least 1")
        config = EmulatorConfig(
            token=None if no_token else token,
            data_dir=None if no_replay else (data or ENTSOE_DIR),
            synthetic=synthetic,
            faults=FaultSpec.parse(faults),
            rate_limit=rate_limit,
            ban_seconds=ban_seconds,
            gaps=gaps,
            revision=revision,
            host=host,
            port=port,
        )
        try:
            server = Emulator(config)
        except OSError as exc:
            raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        echo = typer.echo
        echo(f"ENTSO-E API emulator at {server.base_url}")
        echo(f"token: {config.token}" if config.token else "token: (none required)")
        echo(f"replay: {config.data_dir or 'off'}; synthetic: {'on' if synthetic else 'off'}")
        echo(f"faults: {config.faults.describe()}; rate limit: {rate_limit}/min per token")
        echo("Ctrl-C to stop.")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            echo("stopped")
        finally:
            server.stop()
