"""`gridvault run`, `status` and `reparse` end to end against the emulator: a broken schedule
refused before anything runs, the revision flow with `query --as-of`, the status report,
SIGTERM handled gracefully."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gridvault.cli.main import main
from gridvault.demo import ENTSOE_DIR
from gridvault.emulator import Emulator, EmulatorConfig, running_emulator
from gridvault.store.duckdb_store import DuckDBStore
from gridvault.timegrid import rfc3339

TOKEN = "cli-run-token-314"  # noqa: S105 - the emulator token, checked for leaks
SCHEDULE = """\
[defaults]
jitter = 0

[[job]]
name = "load"
dataset = "load_actual"
areas = ["NL"]
cadence = "*/15 *"
lag = "PT1H"
revision_window = "P1D"

[[job]]
name = "prices"
dataset = "day_ahead_prices"
areas = ["NL", "BE"]
cadence = "20 13"
horizon = "P2D"
revision_window = "P1D"
"""


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


@pytest.fixture
def schedule_file(tmp_path: Path) -> Path:
    path = tmp_path / "schedule.toml"
    path.write_text(SCHEDULE, encoding="utf-8")
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_broken_schedule_is_refused_before_anything_runs(
    capsys: pytest.CaptureFixture[str], env: Path, emulator: Emulator, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(SCHEDULE.replace('cadence = "20 13"', 'cadence = "20 25"'), encoding="utf-8")
    code, out, err = cli(capsys, "run", "--schedule", str(broken), "--once")
    assert code == 2
    assert out == ""
    assert f"{broken}:16: job 'prices': cadence: hour field '25': values must lie in 0..23" in err
    assert "Traceback" not in err
    assert not env.exists()  # the store was not even opened
    assert emulator.served() == []
    broken.write_text("[[job]\n", encoding="utf-8")
    code, _, err = cli(capsys, "run", "--schedule", str(broken), "--check")
    assert code == 2
    assert f"{broken}:1:" in err
    assert "not valid TOML" in err


def test_check_shows_the_default_schedule(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    code, out, _ = cli(capsys, "run", "--check")
    assert code == 0
    assert "schedule default.toml (built in): 7 job(s)" in out
    assert "load_actual: load_actual for DE_LU, FR, NL, ES, PL; cron '5,20,35,50 *'" in out
    assert "next run:" in out
    assert not env.exists()


def query_values(
    capsys: pytest.CaptureFixture[str], start: str, end: str, *extra: str
) -> list[str]:
    code, out, err = cli(
        capsys, "query", "load_actual", "--area", "NL", "--start", start, "--end", end, *extra
    )
    assert code == 0, err
    return [row["value"] for row in csv.DictReader(io.StringIO(out))]


def test_revisions_status_and_as_of_end_to_end(
    capsys: pytest.CaptureFixture[str], env: Path, emulator: Emulator, schedule_file: Path
) -> None:
    code, out, err = cli(capsys, "run", "--schedule", str(schedule_file), "--once")
    assert code == 0, err
    assert "load: ok, 1 area(s), 1 window(s)" in out
    assert "prices: ok, 2 area(s), 2 window(s)" in out
    assert TOKEN not in out + err
    now = datetime.now(UTC)
    start, end = rfc3339(now - timedelta(hours=20)), rfc3339(now - timedelta(hours=2))
    first = query_values(capsys, start, end)
    assert len(first) == 72
    known = rfc3339(datetime.now(UTC))  # after the first run, before the revision
    time.sleep(0.01)

    emulator.config.revision = 2
    code, out, err = cli(capsys, "run", "--schedule", str(schedule_file), "--job", "load")
    assert code == 0, err
    revised_line = next(line for line in out.splitlines() if line.startswith("load: ok"))
    updated = int(revised_line.split("updated ")[1].split(",")[0])
    assert updated > 0
    second = query_values(capsys, start, end)
    assert second != first
    assert query_values(capsys, start, end, "--as-of", known) == first

    code, out, _ = cli(capsys, "status")
    assert code == 0
    assert "load_actual" in out
    assert "day_ahead_prices" in out
    assert "load: ok" in out
    assert "2 run(s)" in out
    code, out, _ = cli(capsys, "status", "--format", "json", "--dataset", "load_actual")
    report = json.loads(out)
    (row,) = report["collection"]
    assert row["area"] == "NL"
    assert row["revisions"] == row["points_updated"] == updated
    assert row["status_codes"] == {"200": 2}
    assert row["failures"] == 0
    assert row["healthy"] is True
    assert 0 <= row["freshness_lag_seconds"] < 3 * 3600
    jobs = {item["job"]: item for item in report["schedule"]}
    assert jobs["load"]["runs"] == 2
    assert jobs["load"]["last_outcome"] == "ok"
    assert jobs["load"]["running"] is False
    code, _, err = cli(capsys, "status", "--format", "yaml")
    assert code == 2
    assert "unknown format" in err


def test_reparse_reports_per_payload(
    capsys: pytest.CaptureFixture[str], env: Path, tmp_path: Path
) -> None:
    data = (ENTSOE_DIR / "A44_day_ahead_prices_NL_2024-09-02_PT60M.xml").read_bytes()
    truncated = tmp_path / "truncated.xml"
    truncated.write_bytes(data[:1500])
    code, _, _ = cli(capsys, "import", "entsoe", str(truncated))
    assert code == 4
    code, out, _ = cli(capsys, "reparse")
    assert code == 0
    assert f"{truncated}: quarantined → quarantined: still fails:" in out
    assert "1 payload(s): 0 parsed and stored, 1 still failing, 0 skipped" in out
    code, out, _ = cli(capsys, "reparse", "--outcome", "all", "--format", "json")
    (record,) = json.loads(out)
    assert record["after"] == "quarantined"
    code, _, err = cli(capsys, "reparse", "--outcome", "pending")
    assert code == 2
    assert "use one of quarantined, error, all" in err
    with DuckDBStore(env, read_only=True) as store:
        assert [r.parse_outcome for r in store.archive_records()] == ["quarantined"]


def test_sigterm_stops_the_schedule_gracefully(
    env: Path, emulator: Emulator, schedule_file: Path
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "gridvault.cli.main", "run", "--schedule", str(schedule_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if len({r.dataset for r in emulator.served()}) == 2:
                break
            time.sleep(0.05)
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "next run:" in out
    assert "stopped" in err
    with DuckDBStore(env, read_only=True) as store:
        from gridvault.store.collection_state import schedule_states

        states = schedule_states(store)
    assert set(states) == {"load", "prices"}
    assert all(state.last_finished_at is not None for state in states.values())
