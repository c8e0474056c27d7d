"""``gridvault emulator``: bad options fail in one line; a real run serves until Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime

import httpx2 as httpx
import pytest

from gridvault.cli.main import main
from gridvault.entsoe.catalog import get_dataset, request_params


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--faults", "bogus=1"], "bad fault spec item 'bogus=1'"),
        (["--faults", "5xx=3"], "not between 0 and 1"),
        (["--data", "/nonexistent/recordings"], "is not a directory"),
        (["--gaps", "2"], "--gaps"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["emulator", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ")
    assert message in err
    assert "\n" not in err


def test_emulator_serves_replay_and_synthetic_until_interrupted() -> None:
    command = [
        sys.executable,
        "-c",
        "from gridvault.cli.main import main; main()",
        "emulator",
        "--port",
        "0",
        "--synthetic",
        "--token",
        "t0k",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("ENTSO-E API emulator at http://127.0.0.1:")
        base_url = first.rsplit(" ", 1)[1].strip()
        assert process.stdout.readline().strip() == "token: t0k"
        params = request_params(
            get_dataset("day_ahead_prices"),
            "NL",
            None,
            datetime(2024, 9, 1, 22, tzinfo=UTC),
            datetime(2024, 9, 2, 22, tzinfo=UTC),
        )
        with httpx.Client(timeout=10) as client:
            replayed = client.get(base_url, params=params | {"securityToken": "t0k"})
            params["periodEnd"] = "202409032200"
            generated = client.get(base_url, params=params | {"securityToken": "t0k"})
            refused = client.get(base_url, params=params | {"securityToken": "emulator-token"})
        assert replayed.status_code == 200
        assert b"8c6f96f960dd43d8825846643f939b37" in replayed.content  # the recorded mRID
        assert b"<mRID>SYNTHETIC-" in generated.content
        assert refused.status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "stopped" in out
