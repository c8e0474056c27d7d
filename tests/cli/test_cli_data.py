"""The CLI end to end on a real store: import, query, demo, db, and bad input."""

from __future__ import annotations

import io
import json
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from gridvault.cli.main import main
from gridvault.demo import ENTSOE_DIR, TIMESERIES_DIR

NL_PRICES = ENTSOE_DIR / "A44_day_ahead_prices_NL_2024-09-02_PT60M.xml"
ES_SWITCH = ENTSOE_DIR / "A44_day_ahead_prices_ES_2025-09-29_to_10-02_PT60M_to_PT15M_switch.xml"
FI_2019 = TIMESERIES_DIR / "entsoe_fi" / "dayahead_prices_FI_2019.csv"


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


def test_import_is_idempotent_and_reports_per_dataset(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "import", "entsoe", str(NL_PRICES), str(FI_2019))
    assert code == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:-1]}
    assert rows["day_ahead_prices"] == [str(24 + 8760), "0", "0"]
    code, out, _ = run(capsys, "import", "entsoe", str(NL_PRICES), str(FI_2019))
    assert code == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:-1]}
    assert rows["day_ahead_prices"] == ["0", "0", str(24 + 8760)]


def test_query_reads_back_exact_values_in_local_and_utc_time(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "import", "entsoe", str(FI_2019))
    # Naive times are the area's local time: FI day 2019-10-27 (25 h) starts 2019-10-26T21:00Z.
    code, out, _ = run(
        capsys,
        "query",
        "day_ahead_prices",
        "--area",
        "fi",
        "--start",
        "2019-10-27",
        "--end",
        "2019-10-28",
        "--format",
        "jsonl",
    )
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 25
    assert records[0]["interval_start"] == "2019-10-26T21:00:00Z"
    assert records[-1]["interval_end"] == "2019-10-27T22:00:00Z"
    assert {r["area"] for r in records} == {"FI"}
    assert {r["unit"] for r in records} == {"EUR/MWh"}
    # The CSV has the autumn hour twice ("27.10.2019 02:00 - 03:00" CEST then CET).
    csv_rows = [line for line in FI_2019.read_text().splitlines() if '"27.10.2019 02:00' in line]
    assert [
        r["value"]
        for r in records
        if r["interval_start"] in ("2019-10-27T00:00:00Z", "2019-10-27T01:00:00Z")
    ] == [float(row.split('","')[1]) for row in csv_rows]
    code, out, _ = run(
        capsys,
        "query",
        "day_ahead_prices",
        "--area",
        "FI",
        "--start",
        "2019-10-27T00:00Z",
        "--end",
        "2019-10-27T02:00Z",
        "--format",
        "csv",
        "--tz",
        "Europe/Helsinki",
    )
    lines = out.splitlines()
    assert lines[0].startswith("interval_start,interval_end,value")
    assert lines[1].startswith("2019-10-27T03:00:00+03:00,2019-10-27T03:00:00+02:00")


def test_rows_show_their_own_resolution_across_the_15_minute_switch(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Real ES day-ahead prices: hourly until the 2025-10-01 delivery day, quarter-hourly from
    # it. One series; its resolution is its newest, PT15M.
    run(capsys, "import", "entsoe", str(ES_SWITCH))
    window = ["--area", "ES", "--start", "2025-09-30T21:00Z", "--end", "2025-09-30T22:30Z"]
    code, out, _ = run(capsys, "query", "day_ahead_prices", *window, "--format", "jsonl")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["interval_start"][11:16], r["resolution"]) for r in rows] == [
        ("21:00", "PT60M"),
        ("22:00", "PT15M"),
        ("22:15", "PT15M"),
    ]


def test_query_resample_and_parquet(
    db_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run(capsys, "import", "entsoe", str(FI_2019))
    code, out, _ = run(
        capsys,
        "query",
        "day_ahead_prices",
        "--area",
        "FI",
        "--start",
        "2019-03-31",
        "--end",
        "2019-04-01",
        "--resample",
        "1d",
        "--agg",
        "ohlc",
        "--format",
        "jsonl",
    )
    assert code == 0
    (day,) = [json.loads(line) for line in out.splitlines()]
    assert day["interval_start"] == "2019-03-30T22:00:00Z"  # Helsinki midnight, EET
    assert day["interval_end"] == "2019-03-31T21:00:00Z"  # 23-hour day
    assert day["count"] == 23
    assert day["resolution"] == "P1D"  # the bucket's; the series is hourly
    target = tmp_path / "out.parquet"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridvault.cli.main",
            "query",
            "day_ahead_prices",
            "--area",
            "FI",
            "--start",
            "2019-01-02",
            "--end",
            "2019-01-03",
            "--format",
            "parquet",
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    target.write_bytes(done.stdout)
    table = pq.read_table(io.BytesIO(done.stdout))
    assert table.num_rows == 24
    assert str(table.schema.field("interval_start").type) == "timestamp[us, tz=UTC]"


def test_parquet_is_not_written_to_a_terminal(db_url: str) -> None:
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [
                *(sys.executable, "-m", "gridvault.cli.main", "query", "day_ahead_prices"),
                *("--area", "FI", "--start", "2019-01-02", "--end", "2019-01-03"),
                *("--format", "parquet"),
            ],
            check=False,
            stdout=follower,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode != 0
    assert "redirect it to a file" in done.stderr


def test_bad_files_are_reported_and_the_others_imported(
    db_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_bytes(NL_PRICES.read_bytes()[:500])
    html = tmp_path / "error.xml"
    html.write_text("<html><body>Service unavailable</body></html>")
    good = tmp_path / "good.xml"
    shutil.copy(NL_PRICES, good)
    code, out, err = run(capsys, "import", "entsoe", str(tmp_path))
    assert code != 0
    assert "broken.xml" in err
    assert "error.xml" in err
    assert "Traceback" not in err
    assert "3 file(s), 2 failed" in out
    code, out, _ = run(
        capsys,
        "query",
        "day_ahead_prices",
        "--area",
        "NL",
        "--start",
        "2024-09-02",
        "--end",
        "2024-09-03",
        "--format",
        "jsonl",
    )
    assert len(out.splitlines()) == 24  # the good file is stored, the broken one not at all


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "query",
                "day_ahead_prices",
                "--area",
                "DE_LUX",
                "--start",
                "2024-01-01",
                "--end",
                "2024-01-02",
            ],
            "did you mean DE_LU",
        ),
        (
            [
                "query",
                "day_ahead_price",
                "--area",
                "DE_LU",
                "--start",
                "2024-01-01",
                "--end",
                "2024-01-02",
            ],
            "day_ahead_prices",
        ),
        (
            [
                "query",
                "day_ahead_prices",
                "--area",
                "DE_LU",
                "--start",
                "2024-01-02",
                "--end",
                "2024-01-01",
            ],
            "not after start",
        ),
        (
            [
                "query",
                "day_ahead_prices",
                "--area",
                "DE_LU",
                "--start",
                "yesterday",
                "--end",
                "2024-01-01",
            ],
            "cannot read 'yesterday'",
        ),
        (
            [
                "query",
                "day_ahead_prices",
                "--area",
                "DE_LU",
                "--start",
                "2024-01-01",
                "--end",
                "2024-01-02",
                "--resample",
                "7min",
            ],
            "unknown resample bucket",
        ),
        (["import", "entsoe", "/nonexistent/file.xml"], "no such file"),
    ],
)
def test_bad_input_is_one_clear_line(
    db_url: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run(capsys, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_unreachable_database_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDVAULT_DATABASE_URL", "postgresql://gv:secretpw@127.0.0.1:1/none")
    code, _, err = run(capsys, "db", "info")
    assert code == 3
    assert "cannot connect to PostgreSQL" in err
    assert "secretpw" not in err
    monkeypatch.setenv("GRIDVAULT_DATABASE_URL", "sqlite:///x.db")
    code, _, err = run(capsys, "db", "info")
    assert code == 2
    assert "must start with duckdb:/// or postgresql://" in err


def test_demo_runs_and_is_idempotent(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo", "--quiet", "--no-serve")
    assert code == 0
    assert "values inserted" in out
    assert "FI day-ahead prices 2015-2022" in out
    code, out, _ = run(capsys, "demo", "--quiet", "--no-serve")
    assert code == 0
    assert "0 values inserted, 0 updated" in out
    code, out, _ = run(capsys, "db", "info")
    info = json.loads(out)
    assert info["backend"] == "duckdb"
    assert info["observations"] > 200_000
    assert info["archive"] > 0


def test_outage_datasets_query_events_without_cancelled_documents(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from gridvault.entsoe.parser import parse_outages

    archive = ENTSOE_DIR / "A80_unavailability_generation_units_BE_2025_59docs.zip"
    code, out, _ = run(capsys, "import", "entsoe", str(archive))
    assert code == 0
    code, out, _ = run(
        capsys,
        "query",
        "outages_generation_units",
        "--area",
        "BE",
        "--start",
        "2020-01-01",
        "--end",
        "2030-01-01",
        "--format",
        "jsonl",
    )
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    parsed = parse_outages(archive.read_bytes()).to_pylist()
    active = [row for row in parsed if row["doc_status"] not in ("A09", "A13")]
    assert 0 < len(events) <= len(active) < len(parsed)
    assert all(e.get("doc_status") not in ("A09", "A13") for e in events)
    assert {e["document_mrid"] for e in events} <= {r["document_mrid"] for r in active}


def test_demo_serves_api_and_dashboard_while_the_scheduler_collects(tmp_path: Path) -> None:
    """The README's main command: load, then serve with emulator-fed collection."""
    import os
    import time
    import urllib.error
    import urllib.request

    env = {**os.environ, "GRIDVAULT_DATABASE_URL": f"duckdb:///{tmp_path / 'demo.duckdb'}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridvault.cli.main", "demo", "--quiet", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        url = ""
        deadline = time.monotonic() + 120
        while not url and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("dashboard: "):
                url = line.split()[1].rstrip("/")
        assert url, "the demo never printed its URL"

        def get(path: str) -> bytes:
            with urllib.request.urlopen(url + path, timeout=30) as response:  # noqa: S310
                return bytes(response.read())

        assert b'"ready"' in get("/health/ready")
        assert b"<html" in get("/").lower()
        latest: dict[str, object] = {}
        while time.monotonic() < deadline:
            try:
                latest = json.loads(get("/v1/datasets/load_actual/latest?area=DE_LU"))
            except urllib.error.HTTPError as exc:  # 404 until the first run has stored it
                exc.close()
                if exc.code != 404:
                    raise
            if latest.get("data"):
                break
            time.sleep(1)
        assert latest.get("data"), "the scheduler delivered no emulator data"
        assert b"gridvault_collection" in get("/metrics")
        # What POST /v1/collect starts comes from the emulator too (it used to ask the real
        # ENTSO-E without a token: 202, then a plan nobody could work).
        request = urllib.request.Request(  # noqa: S310 - loopback
            url + "/v1/collect",
            data=json.dumps(
                {"dataset": "load_actual", "area": "NL", "start": "2024-03-01", "end": "2024-03-03"}
            ).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            plan_id = json.loads(response.read())["plan_id"]
        plan: dict[str, object] = {}
        while time.monotonic() < deadline:
            plan = json.loads(get(f"/v1/jobs?plan_id={plan_id}"))["plans"][0]
            if plan["progress"] == 1.0:
                break
            time.sleep(0.5)
        assert plan.get("progress") == 1.0, plan
        assert plan["counts"] == {"pending": 0, "running": 0, "done": 1, "failed": 0}
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        if proc.stdout is not None:
            proc.stdout.close()
