"""``gridvault keys`` and ``gridvault serve`` from the command line (serve as a process)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from gridvault.api.server import is_loopback
from gridvault.cli.main import main
from gridvault.store import open_store
from gridvault.store.api_keys import verify_key


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"duckdb:///{tmp_path / 'cli.duckdb'}"
    monkeypatch.setenv("GRIDVAULT_DATABASE_URL", url)
    monkeypatch.setenv("GRIDVAULT_LOG_FORMAT", "json")
    return url


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_keys_create_list_revoke(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "keys", "create", "--name", "analyst", "--scope", "admin")
    assert code == 0
    key = out.splitlines()[-1]
    assert key.startswith("gvk_")
    assert "shown again" in out
    with open_store(db_url) as store:
        found = verify_key(store, key)
    assert found is not None
    assert (found.name, found.scope) == ("analyst", "admin")
    code, out, _ = run(capsys, "keys", "list")
    assert code == 0
    assert "analyst" in out
    assert key not in out
    code, out, _ = run(capsys, "keys", "revoke", "analyst")
    assert (code, out.strip()) == (0, f"revoked API key {found.key_id} 'analyst'")
    with open_store(db_url) as store:
        assert verify_key(store, key) is None
    code, _, err = run(capsys, "keys", "revoke", "analyst")
    assert code == 2
    assert "already revoked" in err


def test_keys_create_refuses_an_unknown_scope(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "keys", "create", "--name", "x", "--scope", "root")
    assert code == 2
    assert "unknown scope 'root'; use one of read, admin" in err


def test_keys_create_refuses_a_rate_limit_the_store_cannot_hold(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """4294967295 overflowed the 32-bit column: a 500 from POST /v1/keys (found by the fuzzer)."""
    code, _, err = run(capsys, "keys", "create", "--name", "x", "--rate-limit", "4294967295")
    assert code == 2
    assert "rate limit must be 1 to 1,000,000 requests per window" in err


@pytest.mark.parametrize(
    "host",
    [
        "0.0.0.0",  # noqa: S104 - refused, never bound
        "::",
        "",  # the empty host binds every interface
        "192.0.2.10",
        "::ffff:127.0.0.1",  # loopback in effect, but not said so: refused (safe side)
        "example.org",
        "localhost.example.org",
        "127.0.0.1.example.org",
    ],
)
def test_serve_refuses_auth_off_on_a_public_address(
    db_url: str, capsys: pytest.CaptureFixture[str], host: str
) -> None:
    code, _, err = run(capsys, "serve", "--host", host, "--no-auth")
    assert code == 2
    assert f"refusing to serve without authentication on {host}," in err
    assert "--force-no-auth" in err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        (" LOCALHOST ", True),
        ("0.0.0.0", False),  # noqa: S104
        ("::", False),
        ("", False),
        ("10.0.0.1", False),
        ("localhost.example.org", False),
    ],
)
def test_which_addresses_count_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serve_help_says_one_worker(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "serve", "--help")
    assert code == 0
    assert "ONE worker" in out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served(db_url: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = _free_port()
    env = {**os.environ, "GRIDVAULT_DATABASE_URL": db_url, "GRIDVAULT_LOG_FORMAT": "json"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gridvault.cli.main", "serve", "--port", str(port), "--no-auth"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx2.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_runs_the_api_and_says_auth_is_off(
    served: tuple[str, subprocess.Popen[str]],
) -> None:
    url, process = served
    assert httpx2.get(f"{url}/health/ready", timeout=10).json()["status"] == "ready"
    assert httpx2.get(f"{url}/v1/areas", timeout=10).status_code == 200
    process.terminate()
    out, err = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert process.returncode in (0, -15)
    assert "Application shutdown complete" in err or "shutdown" in err.lower()
    assert f"gridvault API on {url}/v1" in out
    assert "authentication is OFF" in err


def test_serve_reports_a_busy_port(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        code, _, err = run(capsys, "serve", "--port", str(busy.getsockname()[1]))
    assert code == 1
    assert "cannot listen on 127.0.0.1" in err
