"""`gridvault backfill`, `coverage` and `jobs` end to end against the emulator: output and exit
codes, failed chunks listed with reason and attempts and retried, bad input refused; a
backfill process killed with SIGKILL at random points and run again finishes every chunk
once with no duplicate or missing row; two processes on PostgreSQL share one plan without
ever taking the same chunk."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gridvault.cli.main import main
from gridvault.emulator import Emulator, EmulatorConfig, running_emulator
from gridvault.pipeline.backfill import plan_backfill
from gridvault.pipeline.coverage import dataset_coverage
from gridvault.store import Store, open_store
from gridvault.store.collection_state import record_window
from gridvault.store.duckdb_store import DuckDBStore
from gridvault.timegrid import parse_time

TOKEN = "cli-backfill-token-31"  # noqa: S105 - the emulator token, checked for leaks
RANGE = ("--start", "2023-01-01", "--end", "2024-01-01")


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running_emulator(EmulatorConfig(token=TOKEN, synthetic=True, rate_limit=100_000)) as emu:
        yield emu


@pytest.fixture
def env(
    cli_store: Path,
    monkeypatch: pytest.MonkeyPatch,
    use_emulator: Callable[[str, str], None],
    emulator: Emulator,
) -> Path:
    use_emulator(emulator.base_url, TOKEN)
    monkeypatch.setenv("GRIDVAULT_LOG_LEVEL", "WARNING")
    return cli_store


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def plan_id_in(text: str) -> str:
    return next(word.rstrip(":") for word in text.split() if word.startswith("bf-"))


def test_backfill_then_coverage_and_jobs(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    args = ("backfill", "load_actual", "--area", "NL", "--start", "2024-01-01")
    code, out, err = run(capsys, *args, "--end", "2024-03-01", "--window", "P1M", "--dry-run")
    assert code == 0, err
    assert "would plan 2 chunk(s)" in out
    assert "  NL 2024-01-31T23:00:00Z..2024-02-29T23:00:00Z" in out
    assert run(capsys, "jobs")[1].startswith("no backfill plans")
    code, out, err = run(capsys, *args, "--end", "2024-03-01", "--window", "P1M")
    assert code == 0, err
    assert "planned bf-" in out
    assert "2 chunk(s) of load_actual for 5,760 missing interval(s): 5,760 never fetched" in out
    assert "this run: 2 chunk(s) done" in out
    assert "0 pending, 0 running, 2 done, 0 failed" in out
    assert "finished" in out
    assert TOKEN not in out + err
    code, out, _ = run(capsys, *args, "--end", "2024-03-01", "--window", "P1M")
    assert code == 0
    assert "nothing to backfill" in out
    code, out, _ = run(
        capsys, "coverage", "load_actual", "--area", "NL,BE", "--start", "2024-01-01", "--end",
        "2024-03-01",
    )  # fmt: skip
    assert code == 0
    assert "completeness 50.00 % — 5,760 of 11,520 expected intervals stored" in out
    assert "missing: 5,760 never fetched" in out
    assert "BE  [nothing stored; -]" in out
    code, out, _ = run(
        capsys, "coverage", "load_actual", "--area", "NL", "--start", "2024-01-01", "--end",
        "2024-03-02", "--format", "json",
    )  # fmt: skip
    payload = json.loads(out)
    assert payload["completeness"] == round(5760 / 5856, 6)
    (series,) = payload["series"]
    assert (series["expected"], series["present"], series["missing"]) == (5856, 5760, 96)
    assert series["resolution"] == [{"from": None, "resolution": "PT15M"}]
    assert series["gaps"] == [
        {
            "start": "2024-02-29T23:00:00Z",
            "end": "2024-03-01T23:00:00Z",
            "intervals": 96,
            "kind": "never_fetched",
        }
    ]
    code, out, _ = run(capsys, "jobs")
    assert code == 0
    assert "load_actual NL 2023-12-31T23:00:00Z..2024-02-29T23:00:00Z  2/2 done" in out
    code, out, _ = run(capsys, "jobs", "list", "--state", "done", "--format", "json")
    rows = json.loads(out)
    assert [(r["state"], r["attempts"], r["result"]["values"]) for r in rows] == [
        ("done", 1, 2976),
        ("done", 1, 2784),
    ]


def test_failed_chunks_are_listed_retried_and_finished(
    capsys: pytest.CaptureFixture[str], env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDVAULT_ENTSOE_TOKEN", "not-the-right-token")
    code, out, err = run(capsys, "backfill", "load_actual", "--area", "NL", *RANGE)
    assert code == 5
    plan_id = plan_id_in(out)
    assert "failed chunks: 1" in out
    assert "failed attempts 1/5 — [permanent] HTTP 401" in out
    assert f"`gridvault backfill --plan {plan_id}`" in err
    code, out, _ = run(capsys, "jobs")
    assert "0/1 done, 0 pending, 0 running, 1 failed" in out
    assert "failed chunks:" in out
    assert "attempts 1/5 — [permanent] HTTP 401" in out
    code, out, _ = run(capsys, "jobs", "list", "--state", "failed")
    assert f"{plan_id} #1 load_actual NL" in out
    assert "not-the-right-token" not in out
    code, out, _ = run(capsys, "jobs", "retry", "--plan", plan_id)
    assert "1 failed chunk(s) back to pending" in out
    monkeypatch.setenv("GRIDVAULT_ENTSOE_TOKEN", TOKEN)
    code, out, err = run(capsys, "backfill", "--plan", plan_id)
    assert code == 0, err
    assert f"resuming plan {plan_id}" in out
    assert "0 pending, 0 running, 1 done, 0 failed" in out


def test_bad_input_is_refused(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    code, _, err = run(
        capsys, "backfill", "day_ahead_prices", "--area", "NL", "--start", "1925-01-01", "--end",
        "2025-01-01",
    )  # fmt: skip
    assert code == 2
    assert "spans 100 years; gridvault plans at most 30 years" in err
    code, _, err = run(capsys, "backfill", "load_actual", "--plan", "bf-x-1")
    assert (code, "either --plan ID or DATASET" in err) == (2, True)
    code, _, err = run(capsys, "backfill", "load_actual", "--area", "NL")
    assert (code, "give DATASET --area AREA --start START --end END" in err) == (2, True)
    code, _, err = run(capsys, "backfill", "--plan", "bf-nope-1")
    assert (code, "no backfill plan 'bf-nope-1'" in err) == (2, True)
    # An active plan (pending chunks) blocks an overlapping one until resumed or cancelled.
    with DuckDBStore(env) as store:
        active = plan_backfill(store, "load_actual", ["NL"], "2023-06-01", "2024-06-01")
    assert active.plan_id is not None
    code, _, err = run(capsys, "backfill", "load_actual", "--area", "BE,NL", *RANGE)
    assert code == 2
    assert f"{active.plan_id} (load_actual NL" in err
    assert f"resume it with `gridvault backfill --plan {active.plan_id}`" in err
    code, out, _ = run(capsys, "jobs", "cancel", active.plan_id)
    assert f"1 pending chunk(s) of {active.plan_id} cancelled" in out
    code, _, err = run(capsys, "backfill", "load_actual", "--area", "BE,NL", *RANGE)
    assert code == 0, err


# -- other processes -----------------------------------------------------------------------------


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gridvault.cli.main", "backfill", *args]


def _env(database_url: str, emulator: Emulator, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GRIDVAULT_", "ENTSOE_"))
    }
    env.update(
        GRIDVAULT_DATABASE_URL=database_url,
        GRIDVAULT_ENTSOE_BASE_URL=emulator.base_url,
        GRIDVAULT_ENTSOE_TOKEN=TOKEN,
        GRIDVAULT_ENTSOE_RATE_LIMIT="6000",
        GRIDVAULT_LOG_LEVEL="WARNING",
        GRIDVAULT_LOG_FORMAT="json",
    )
    env.update(extra)
    return env


def _windows(emulator: Emulator) -> Counter[tuple[str, str, str]]:
    return Counter(
        (r.params["outBiddingZone_Domain"], r.params["periodStart"], r.params["periodEnd"])
        for r in emulator.served()
    )


def _check_store(store: Store, areas: list[str], chunks: int) -> None:
    with store.session() as db:
        rows, keys = db.fetchall(
            "SELECT count(*), count(DISTINCT (series_id, interval_start)) FROM observations"
        )[0]
        jobs, windows, done = db.fetchall(
            "SELECT count(*), count(DISTINCT (area, window_start, window_end)), "
            "count(*) FILTER (WHERE state = 'done') FROM jobs"
        )[0]
    assert rows == keys  # no duplicate rows
    assert (jobs, windows, done) == (chunks, chunks, chunks)  # every chunk once, all done
    coverage = dataset_coverage(store, "load_actual", areas, *RANGE[1::2])
    assert (coverage.missing, coverage.completeness) == (0, 1.0)  # nothing missing


def test_a_second_process_on_a_duckdb_file_is_refused_clearly(
    tmp_path: Path, emulator: Emulator
) -> None:
    path = tmp_path / "busy.duckdb"
    env = _env(f"duckdb:///{path}", emulator)
    with DuckDBStore(path):  # another process's backfill holds the file
        done = subprocess.run(
            _command("load_actual", "--area", "NL", *RANGE),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 3
    assert "in use by another gridvault process (DuckDB allows one writer)" in done.stderr
    assert emulator.served() == []


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_killed_at_random_points_then_run_again_finishes_every_chunk_once(
    tmp_path: Path, emulator: Emulator, seed: int
) -> None:
    rng = random.Random(seed)
    path = tmp_path / "killed.duckdb"
    env = _env(f"duckdb:///{path}", emulator)
    command = _command(
        "load_actual", "--area", "NL,BE", *RANGE, "--window", "P1M", "--workers", "4"
    )
    kills = 0
    log = (tmp_path / "out.txt").open("w")
    for attempt in range(6):
        before = len(emulator.served())
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        # Kill after a random number of this run's requests (0: while starting/planning).
        target = rng.randint(0, 16) if attempt < 2 else None
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            if target is not None and len(emulator.served()) - before >= target:
                time.sleep(rng.uniform(0, 0.03))
                process.kill()
                kills += 1
                break
            time.sleep(0.002)
        code = process.wait(timeout=60)
        if target is None or code == 0:
            assert code == 0, (tmp_path / "out.txt").read_text()
            break
    log.close()
    assert kills >= 1
    served = _windows(emulator)
    assert len(served) == 24  # every window fetched
    # A chunk is fetched again only if it was in flight when its process died.
    assert sum(served.values()) <= 24 + 4 * kills
    with DuckDBStore(path) as store:
        _check_store(store, ["NL", "BE"], 24)


@pytest.mark.postgres
@pytest.mark.redis
def test_two_processes_on_postgres_never_take_the_same_chunk(
    pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    # The emulator bans above 300/minute: the two processes must share one budget (Redis).
    config = EmulatorConfig(token=TOKEN, synthetic=True, rate_limit=300, ban_seconds=60)
    areas = ["NL", "BE", "FR"]
    with running_emulator(config) as emulator, open_store(pg_url) as store:
        # record_window's first write for an area can race between processes (a plain
        # INSERT after a SELECT); seed those rows so this test looks at the claims only.
        for area in areas:
            record_window(
                store, dataset="load_actual", area=area, outcome="no_data",
                window_start=parse_time("2020-01-01"), window_end=parse_time("2020-01-02"),
            )  # fmt: skip
        env = _env(
            pg_url, emulator, GRIDVAULT_REDIS_URL=redis_url, GRIDVAULT_ENTSOE_RATE_LIMIT="300"
        )
        command = _command(
            "load_actual", "--area", ",".join(areas), *RANGE, "--window", "P1M",
            "--workers", "3", "--retry-base", "0.2",
        )  # fmt: skip
        logs = [(tmp_path / f"worker{i}.txt").open("w") for i in range(2)]
        workers = [
            subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT) for log in logs
        ]
        codes = [worker.wait(timeout=90) for worker in workers]
        for log in logs:
            log.close()
        outputs = [(tmp_path / f"worker{i}.txt").read_text() for i in range(2)]
        assert codes == [0, 0], outputs
        assert sum("resuming plan" in text for text in outputs) == 1  # one planned, one joined
        served = _windows(emulator)
        assert len(served) == 36
        assert set(served.values()) == {1}  # no chunk was fetched twice
        assert {r.outcome for r in emulator.served()} == {"data"}  # no ban: one shared budget
        owners = {job.result["owner"] for job in store.jobs() if job.result}
        assert len(owners) == 2  # both processes worked the plan
        _check_store(store, areas, 36)
