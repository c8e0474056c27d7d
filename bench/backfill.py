"""bench/backfill: a resumable backfill against the synthetic emulator, then the same killed twice.

Backfills day-ahead prices and actual load for ten bidding zones over ten years
(2015..2025, local time) into a fresh store, with the client budget AND the emulator's ban
threshold both at ``--limit`` requests/minute (default 1,200). Both datasets are planned
(only missing windows: all of them here) and worked at the same time by one process
sharing one rate limiter — the library calls ``gridvault backfill`` makes, in a child
process the bench can kill. Prints:

1. wall time of the backfill ÷ the minimum the rate limit allows for the requests the
   emulator served (``requests × 60 / limit``) — goal <= 1.1;
2. the same with the child killed with SIGKILL twice at random moments and restarted each
   time (the restart resumes the same plans and takes over the dead run's chunks), plus
   duplicate rows (stored rows − distinct keys), duplicate chunks, missing intervals
   (coverage of both datasets; the emulator has no gaps, so every expected interval must
   be stored) and rows differing from run 1 — goal: 0 and 0 (issue 5's goals for this run;
   its ratio, which includes two process start-ups, is shown next to the first).

The wall time includes each child's start-up (imports, store and planning until its first
request reaches the emulator; printed). The full run is 500 requests (ten years of prices are four
offset pages a year) and 4.4 million values. ``--quick`` (four areas, two years, 300/minute:
40 requests, ~25 s in all) checks the correctness figures; its ratio is dominated by the
start-up of each run and is printed for information only.

Measured (2 CPUs, DuckDB, this bench's defaults unless said):

* 1,200/minute: 2.18 uninterrupted, 2.31 killed twice; 0 duplicate rows, 0 missing. Not
  request-bound at that rate on 2 CPUs: parsing, validating, archiving and upserting 4.4 M
  values costs ~41 s of CPU (a year of quarter-hour load, 35 k values: ~0.28 s; a page of
  100 days of prices: ~0.03 s), against 25 s of request pacing. The backfill's own ledger
  work (claim, complete, progress check: ~7.5 ms a chunk on DuckDB) is ~3 % of it.
* 400/minute (ENTSO-E's limit per token): 1.038 uninterrupted, 1.063 killed twice
  (572 requests: the chunks in flight at each kill are fetched again); 0 and 0.
* After parse worker processes, the plain-append upsert, bytecode compiled at set-up and
  the vectorised emulator, measured next to the code before them on a machine loaded by
  other benchmarks and a test run (load average 8.7-9.7, ``nice -n -19``): 5.74 → 4.47
  uninterrupted (143.6 s → 111.8 s), 6.16 → 3.50 killed twice; 0 and 0 in both.
* Quiet machine (load average < 1 before each run, ``nice -n -10``), 2026-12-02. Code of
  that morning (commit 391c431): 1.354 uninterrupted (33.8 s), 1.231 killed twice. The
  serial resource was the store's write lock (held 24.5 s of a 29.5 s run), and the first
  seconds' burst of answers queued behind one parse worker that was still importing.
  After payloads are prepared (hashed, compressed, parsed, mapped, validated) outside the
  lock, DuckDB inserts without ON CONFLICT where writes are serialised, the window recorded
  in its chunk's completing transaction, the parse workers warmed up at the start and
  one-series documents mapped without grouping — five runs (seeds 1-4 and one more):

  ==================  =====  =====  =====  =====  =====
  uninterrupted       1.069  1.107  1.070  1.073  1.074
  killed twice        1.120  1.119  1.140  1.136  1.121
  ==================  =====  =====  =====  =====  =====

  Then payloads prepared in process while the parse workers start and one TLS context per
  process (seeds 5-9 and a copy of the bench that also timed the requests):

  ==================  =====  =====  =====  =====  =====  =====  =====
  uninterrupted       1.067  1.065  1.141  1.122  1.078  1.055  1.121
  killed twice        1.132  1.123  1.121  1.188  1.135  1.121  1.121
  ==================  =====  =====  =====  =====  =====  =====  =====

  (1.141 ran right after bench/api on PostgreSQL, whose server was still busy; 1.122 next
  to it.) Over the twelve runs the uninterrupted ratio's median is 1.073, 8 of 12 at or
  under 1.1: the same code spreads 1.055-1.141 with the machine (a shared VM). The first
  ~13 s, when both datasets' workers fetch and the year-long load documents come, need
  ~1.8 of the 2 CPUs, so a slower moment there delays requests; and the start-up to the
  first request varies 0.6-1.5 s: the backfill's imports take 0.35 s from a warm page
  cache, 0.77 s from a cold one (the VM's kdamond reclaims idle pages between runs).
  0 duplicate rows, 0 missing intervals, 0 duplicated chunks in every run. Uninterrupted:
  ~0.8 s from process start to the first request (0.45 s of it imports), the requests then
  at the limiter's pace (1 % margin: 25.2 s for 500), ~0.7 s from the last answer to the
  exit (store checkpoint 0.15 s, interpreter teardown ~0.3 s). Killed twice: each restart
  adds another ~0.8 s start-up and a second burst of large answers (1.12-1.14). CPU of the
  backfilling process and its parse worker: 31.8-33.3 s → 23.2-24.1 s for the 4.4 M values.

Usage: .venv/bin/python bench/backfill.py [--quick] [--limit 1200] [--workers 16]
       [--seed 1] [--database-url postgresql://…]   (default: fresh DuckDB files)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gridvault.emulator.config import ServedRecord

DATASETS = ("day_ahead_prices", "load_actual")
AREAS = ("DE_LU", "FR", "NL", "BE", "AT", "ES", "PL", "CZ", "DK_1", "FI")
QUICK_AREAS = AREAS[:4]
TOKEN = "bench-token"  # noqa: S105 - the emulator's token, not a secret


@dataclass
class Phase:
    wall: float
    requests: int
    runs: int
    kills: int
    #: Seconds from each process start to its first request (imports, store, planning).
    startup: float


def child(args: argparse.Namespace) -> int:
    """Plan both datasets (or find the plans) and work them with one shared limiter."""
    from gridvault.logs import configure_logging
    from gridvault.pipeline import parsing
    from gridvault.pipeline.backfill import plan_backfill, work_plan
    from gridvault.settings import Settings
    from gridvault.sources.ratelimit import build_limiter
    from gridvault.store import open_store

    configure_logging("WARNING", "console")
    settings = Settings(
        database_url=args.url,
        entsoe_token=TOKEN,
        entsoe_base_url=args.base_url,
        entsoe_rate_limit=args.limit,
        redis_url=None,
    )
    with open_store(args.url) as store:
        plans = [
            plan_backfill(store, name, args.areas.split(","), args.start, args.end)
            for name in DATASETS
        ]

        async def work() -> bool:
            limiter = build_limiter(settings)
            try:
                reports = await asyncio.gather(
                    *(
                        work_plan(
                            settings,
                            store,
                            plan.record.plan_id,
                            workers=args.workers,
                            limiter=limiter,
                        )
                        for plan in plans
                        if plan.record is not None
                    )
                )
            finally:
                await limiter.aclose()
            return all(report.ok for report in reports)

        ok = asyncio.run(work())
        parsing.shutdown()  # as `gridvault backfill` does before it closes the store
    return 0 if ok else 1


@contextmanager
def fresh_store(database_url: str | None, folder: Path, name: str) -> Iterator[str]:
    """A new empty DuckDB file, or a new PostgreSQL database on the given server."""
    if database_url is None or database_url.startswith("duckdb"):
        yield f"duckdb:///{folder / f'{name}.duckdb'}"
        return
    import psycopg

    db = f"gv_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')
    try:
        yield f"{database_url.rsplit('/', 1)[0]}/{db}"
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def run_phase(
    command: list[str], served: Callable[[], list[ServedRecord]], kill_after: list[float]
) -> Phase:
    """Run the child until it exits 0; SIGKILL it ``kill_after[i]`` seconds into run i."""
    began = time.perf_counter()
    runs = kills = 0
    startup = 0.0
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    while True:
        runs += 1
        started = time.perf_counter()
        started_at = datetime.now(UTC)
        before = len(served())
        process = subprocess.Popen(command, env=env)
        deadline = started + kill_after[kills] if kills < len(kill_after) else None
        while process.poll() is None:
            if deadline is not None and time.perf_counter() >= deadline:
                process.kill()
                process.wait()
                kills += 1
                print(
                    f"    killed run {runs} after {time.perf_counter() - started:.1f} s "
                    f"({len(served())} requests served so far)"
                )
                break
            time.sleep(0.01)
        # Start-up: until this run's first request reached the emulator (its arrival time).
        records = served()
        if len(records) > before:
            startup += (records[before].at - started_at).total_seconds()
        if process.returncode == 0:
            return Phase(time.perf_counter() - began, len(records), runs, kills, startup)
        if kills < runs:
            raise SystemExit(f"the backfill exited with {process.returncode}")
        if runs > 10:
            raise SystemExit("the backfill did not finish in 10 runs")


def check(url: str) -> dict[str, int]:
    """Duplicate rows and chunks, missing intervals, and rows, in the finished store."""
    from gridvault.pipeline.coverage import dataset_coverage
    from gridvault.store import open_store

    with open_store(url) as store:
        with store.session() as db:
            rows, keys = db.fetchall(
                "SELECT count(*), count(DISTINCT (series_id, interval_start)) FROM observations"
            )[0]
            chunks, distinct_chunks, not_done = db.fetchall(
                "SELECT count(*), count(DISTINCT (dataset, area, area_to, window_start, "
                "window_end)), count(*) FILTER (WHERE state <> 'done') FROM jobs"
            )[0]
        missing = sum(
            dataset_coverage(store, name, ARGS.areas.split(","), ARGS.start, ARGS.end).missing
            for name in DATASETS
        )
    return {
        "rows": int(rows),
        "duplicate_rows": int(rows) - int(keys),
        "chunks": int(chunks),
        "duplicate_chunks": int(chunks) - int(distinct_chunks),
        "chunks_not_done": int(not_done),
        "missing": int(missing),
    }


ARGS = argparse.Namespace()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 areas, 2 years, 300/min")
    parser.add_argument("--limit", type=int, default=None, help="requests per minute")
    parser.add_argument("--workers", type=int, default=16, help="chunks in flight per dataset")
    parser.add_argument("--seed", type=int, default=1, help="chooses the kill moments")
    parser.add_argument("--database-url", default=None, help="default: fresh DuckDB files")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--areas", default=",".join(AREAS), help=argparse.SUPPRESS)
    parser.add_argument("--start", default="2015-01-01", help=argparse.SUPPRESS)
    parser.add_argument("--end", default="2025-01-01", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.areas, args.start, args.end = ",".join(QUICK_AREAS), "2023-01-01", "2025-01-01"
    args.limit = args.limit or (300 if args.quick else 1200)
    ARGS.__dict__.update(vars(args))
    if args.child:
        return child(args)

    from gridvault.emulator import EmulatorConfig, running_emulator

    areas = args.areas.split(",")
    print(
        f"bench/backfill — {'quick' if args.quick else 'full'}: {', '.join(DATASETS)} for "
        f"{len(areas)} areas, {args.start}..{args.end}, limit {args.limit}/min, "
        f"{args.workers} workers per dataset"
    )
    rng = random.Random(args.seed)
    config = EmulatorConfig(token=TOKEN, synthetic=True, rate_limit=args.limit, ban_seconds=60.0)
    results: list[tuple[str, Phase, dict[str, int]]] = []
    with tempfile.TemporaryDirectory() as folder, running_emulator(config) as emulator:
        first_wall = 0.0
        for label, kills in (("uninterrupted", 0), ("killed twice", 2)):
            emulator.reset_log()
            with fresh_store(args.database_url, Path(folder), label.replace(" ", "_")) as url:
                command = [
                    sys.executable,
                    __file__,
                    "--child",
                    "--url",
                    url,
                    "--base-url",
                    emulator.base_url,
                    "--limit",
                    str(args.limit),
                    "--workers",
                    str(args.workers),
                    "--areas",
                    args.areas,
                    "--start",
                    args.start,
                    "--end",
                    args.end,
                ]
                # Kill moments: somewhere in the first half of what is left to do.
                moments = [rng.uniform(0.15, 0.5) * first_wall for _ in range(kills)]
                print(f"  {label}:")
                phase = run_phase(command, emulator.served, moments)
                bans = sum(1 for r in emulator.served() if r.outcome == "banned")
                found = check(url)
                found["bans"] = bans
                first_wall = first_wall or phase.wall
                results.append((label, phase, found))

    baseline_rows = results[0][2]["rows"]
    ok = True
    for label, phase, found in results:
        minimum = phase.requests * 60.0 / args.limit
        ratio = phase.wall / minimum if minimum else float("nan")
        print(f"  {label}")
        print(f"    runs / kills             {phase.runs} / {phase.kills}")
        print(f"    requests served          {phase.requests} (bans: {found['bans']})")
        print(
            f"    wall time                {phase.wall:.1f} s (minimum at the limit {minimum:.1f} s)"
        )
        goal = "(goal <= 1.1)" if label == "uninterrupted" else "(restarts included)"
        print(f"    wall ÷ minimum           {ratio:.3f}   {goal}")
        print(
            f"    start-up and planning    {phase.startup:.1f} s (until each run's first request)"
        )
        print(f"    rows stored              {found['rows']:,} (run 1: {baseline_rows:,})")
        print(f"    duplicate rows           {found['duplicate_rows']}   (goal 0)")
        print(f"    missing intervals        {found['missing']}   (goal 0)")
        print(
            f"    chunks                   {found['chunks']} ({found['duplicate_chunks']} "
            f"duplicated, {found['chunks_not_done']} not done)"
        )
        # The ratio's goal is the uninterrupted run's (issue 5); killed twice, the goals are
        # 0 duplicate and 0 missing rows, and its ratio (two restarts included) is shown.
        timed = label == "uninterrupted" and not args.quick
        ok = ok and (not timed or ratio <= 1.1) and found["bans"] == 0
        ok = ok and found["duplicate_rows"] == 0 and found["missing"] == 0
        ok = ok and found["duplicate_chunks"] == 0 and found["chunks_not_done"] == 0
        ok = ok and found["rows"] == baseline_rows
    scope = " (quick: correctness only)" if args.quick else ""
    print(f"  result                     {'OK' if ok else 'BELOW GOAL'}{scope}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
