"""`gridvault collect` end to end against the emulator: summary, border pairs, failures with
exit code, and bad input refused before any request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gridvault.cli.main import main
from gridvault.emulator import Emulator, EmulatorConfig, running_emulator
from gridvault.store.duckdb_store import DuckDBStore

TOKEN = "cli-collect-token-77"  # noqa: S105 - the emulator token, checked for leaks


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running_emulator(EmulatorConfig(token=TOKEN, synthetic=True, rate_limit=10_000)) as emu:
        yield emu


@pytest.fixture
def env(
    cli_store: Path,
    monkeypatch: pytest.MonkeyPatch,
    use_emulator: Callable[[str, str], None],
    emulator: Emulator,
) -> Path:
    use_emulator(emulator.base_url, TOKEN)
    return cli_store


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(["collect", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_collect_prints_a_summary_and_stores(
    capsys: pytest.CaptureFixture[str], env: Path, emulator: Emulator
) -> None:
    code, out, err = run(
        capsys,
        "day_ahead_prices",
        "--area",
        "NL,BE",
        "--start",
        "2024-09-01",
        "--end",
        "2024-09-03",
    )
    assert code == 0, err
    assert "day_ahead_prices: 2 area(s), 2 window(s), 2 request(s) (0 retries, 0 ban(s))" in out
    assert "day_ahead_prices         96" in out  # 2 areas x 2 days x 24 hours, all new
    assert "empty windows (no matching data): 0" in out
    assert "failed windows: 0" in out
    assert "\r" not in out  # no progress bar off a terminal
    assert TOKEN not in out + err
    with DuckDBStore(env, read_only=True) as store:
        assert len(store.find_series(dataset="day_ahead_prices")) == 2
    code, out, _ = run(
        capsys,
        "day_ahead_prices",
        "--area",
        "NL,BE",
        "--start",
        "2024-09-01",
        "--end",
        "2024-09-03",
    )
    assert code == 0
    assert "day_ahead_prices          0         0        96" in out


def test_border_pairs(capsys: pytest.CaptureFixture[str], env: Path, emulator: Emulator) -> None:
    code, out, err = run(
        capsys,
        "physical_flows",
        "--area",
        "DE_LU>NL,NL>DE_LU",
        "--start",
        "2024-09-02",
        "--end",
        "2024-09-03",
    )
    assert code == 0, err
    assert "physical_flows: 2 area(s)" in out
    assert {r.params["out_Domain"] for r in emulator.served()} == {
        "10Y1001A1001A82H",
        "10YNL----------L",
    }


def test_failed_windows_are_listed_and_exit_non_zero(
    capsys: pytest.CaptureFixture[str],
    env: Path,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRIDVAULT_ENTSOE_TOKEN", "not-the-right-token")
    code, out, err = run(
        capsys,
        "load_actual",
        "--area",
        "NL",
        "--start",
        "2024-09-02",
        "--end",
        "2024-09-04",
        "--window",
        "P1D",
    )
    assert code == 5
    assert "failed windows: 2" in out
    assert "NL 2024-09-01T22:00:00Z..2024-09-02T22:00:00Z [permanent] HTTP 401" in out
    assert "run the command again" in err
    assert "not-the-right-token" not in out + err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["load_actul", "--area", "NL"], "did you mean load_actual"),
        (["load_actual", "--area", "NLL"], "unknown area"),
        (["physical_flows", "--area", "NL"], "FROM>TO"),
        (["load_actual", "--area", "NL", "--window", "P1X"], "ISO 8601"),
    ],
)
def test_bad_input_before_any_request(
    capsys: pytest.CaptureFixture[str],
    env: Path,
    emulator: Emulator,
    args: list[str],
    message: str,
) -> None:
    code, _out, err = run(capsys, *args, "--start", "2024-09-02", "--end", "2024-09-03")
    assert code == 2
    assert message in err
    assert emulator.served() == []


def test_end_before_start_and_future_actuals(
    capsys: pytest.CaptureFixture[str], env: Path, emulator: Emulator
) -> None:
    code, _out, err = run(
        capsys, "load_actual", "--area", "NL", "--start", "2024-09-03", "--end", "2024-09-02"
    )
    assert code == 2
    assert "not after" in err
    code, _out, err = run(
        capsys, "load_actual", "--area", "NL", "--start", "2999-01-01", "--end", "2999-01-02"
    )
    assert code == 2
    assert "does not exist yet" in err
    assert emulator.served() == []


def test_missing_token_for_the_real_endpoint(
    capsys: pytest.CaptureFixture[str],
    env: Path,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GRIDVAULT_ENTSOE_TOKEN")
    monkeypatch.setenv("GRIDVAULT_ENTSOE_BASE_URL", "https://web-api.tp.entsoe.eu/api")
    code, _out, err = run(
        capsys, "load_actual", "--area", "NL", "--start", "2024-09-02", "--end", "2024-09-03"
    )
    assert code == 2
    assert "GRIDVAULT_ENTSOE_TOKEN" in err
    assert emulator.served() == []


def test_extra_query_parameters(
    capsys: pytest.CaptureFixture[str], env: Path, emulator: Emulator
) -> None:
    code, _out, err = run(
        capsys,
        "generation_actual_per_type",
        "--area",
        "NL",
        "--start",
        "2024-09-02",
        "--end",
        "2024-09-03",
        "--param",
        "psrType=B16",
    )
    assert code == 0, err
    assert [r.params.get("psrType") for r in emulator.served()] == ["B16"]
    code, _out, err = run(
        capsys,
        "load_actual",
        "--area",
        "NL",
        "--start",
        "2024-09-02",
        "--end",
        "2024-09-03",
        "--param",
        "oops",
    )
    assert code == 2
    assert "NAME=VALUE" in err


def test_help_documents_border_pairs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(capsys, "--help")
    assert code == 0
    assert "DE_LU>NL,NL>DE_LU" in out
