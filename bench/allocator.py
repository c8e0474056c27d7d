"""bench/allocator: what the process's allocator settings (gridvault.memory) change.

The same work in processes that differ only in glibc malloc's settings: *tuned* (what
``open_store`` sets: buffers below 64 MiB from the heap, 256 MiB of free heap kept) and
*defaults* (glibc's own, chosen by setting an inert ``glibc.malloc`` tunable, which
gridvault leaves alone). Runs alternate between the two, so both see the same machine.

* store: a DuckDB read of one year of 15-minute data for 50 series (the bench/api query),
  in a fresh process per run: CPU, wall time and page faults per read (median of 5 after
  2 warm-up reads).
* api: two ``gridvault serve`` processes, one per setting, on copies of the same file;
  requests alternate between them (raw JSON rows and series layout, hourly JSON, Arrow):
  the server's CPU per answer and the latency, medians, and the servers' resident memory
  after the answers and after a second idle.

Figures are tuned ÷ defaults: below 1 the settings help.

Measured 2026-12-02 at b12ac1e, before the API's 16 MiB gathers (2 cores, DuckDB,
``--rounds 6 --requests 8``), tuned ÷ defaults:

================  ==============================  =========================
work              CPU                             wall / latency p50
================  ==============================  =========================
store read        0.75x (106 / 140 ms)            0.72x (56 / 78 ms)
raw JSON (rows)   0.99x (670 / 675 ms)            1.05x (535 / 511 ms)
raw JSON series   1.03x (520 / 505 ms)            1.00x (350 / 350 ms)
hourly JSON       0.95x (345 / 365 ms)            0.99x (240 / 242 ms)
raw Arrow         0.89x (160 / 180 ms)            0.90x (114 / 127 ms)
================  ==============================  =========================

Page faults per store read: 165 against 15,806. The servers' RSS after the answers /
idle: tuned 447 / 440 MiB, defaults 369 / 358 MiB. The difference is the free tops of the
threads' malloc arenas: ``malloc_trim`` returns free chunks inside a heap but leaves a
thread arena's top to that arena's next ``free``, which keeps it under the trim threshold.
Tried and not kept: two arenas at most (``arena_max=2``; eight threads encoding in one
process then kept 23 MiB above the defaults after a trim instead of 84) cost the API 1-6 %
more CPU and 4-9 % more latency (paired, two servers).

Usage: .venv/bin/python bench/allocator.py [--rounds 4] [--requests 6] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from api import DATASET, T0, RawClient, free_port, load, rss_bytes, wait_ready
from gridvault.store import open_store

SETTINGS = {"tuned": None, "defaults": "glibc.malloc.perturb=0"}
SHAPES = {
    "raw JSON": "format=json",
    "raw JSON series": "format=json&layout=series",
    "hourly JSON": "format=json&resample=1h",
    "raw Arrow": "format=arrow",
}

_READS = textwrap.dedent(
    """
    import json, resource, statistics, sys, time
    from datetime import datetime, timedelta, timezone
    from gridvault.store import open_store
    store = open_store(sys.argv[1])
    ids = [s.series_id for s in store.find_series(dataset=sys.argv[2])]
    start = datetime.fromisoformat(sys.argv[3])
    end = start + timedelta(days=int(sys.argv[4]))
    columns = ["series_id", "interval_start", "interval_end", "value", "flags"]
    def usage():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime, r.ru_minflt
    cpu, wall, faults = [], [], []
    for i in range(7):
        (c0, f0), w0 = usage(), time.perf_counter()
        store.read(ids, start, end, columns=columns)
        (c1, f1), w1 = usage(), time.perf_counter()
        if i >= 2:
            cpu.append(c1 - c0); wall.append(w1 - w0); faults.append(f1 - f0)
    med = statistics.median
    print(json.dumps({"cpu": med(cpu), "wall": med(wall), "faults": med(faults)}))
    """
)


def env_for(setting: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "GRIDVAULT_REDIS_URL")
    }
    if SETTINGS[setting] is not None:
        env["GLIBC_TUNABLES"] = str(SETTINGS[setting])
    return env


def store_run(url: str, setting: str, days: int) -> dict[str, float]:
    command = [sys.executable, "-c", _READS, url, DATASET, T0.isoformat(), str(days)]
    done = subprocess.run(command, env=env_for(setting), capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return result


def process_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def servers(folder: Path, source: Path) -> Iterator[dict[str, tuple[str, int]]]:
    """One ``gridvault serve`` per setting, each on its own copy of ``source``."""
    processes: dict[str, subprocess.Popen[bytes]] = {}
    bases: dict[str, tuple[str, int]] = {}
    try:
        for setting in SETTINGS:
            copy = folder / f"{setting}.duckdb"
            shutil.copy(source, copy)
            port = free_port()
            env = {**env_for(setting), "GRIDVAULT_DATABASE_URL": f"duckdb:///{copy}"}
            env["GRIDVAULT_LOG_LEVEL"] = "WARNING"
            command = [sys.executable, "-m", "gridvault.cli.main", "serve", "--port", str(port)]
            processes[setting] = subprocess.Popen(
                [*command, "--no-auth", "--rate-limit", "1000000"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            bases[setting] = (f"http://127.0.0.1:{port}", processes[setting].pid)
        for setting, (base, _) in bases.items():
            wait_ready(base, processes[setting], f"the {setting} server")
        yield bases
    finally:
        for process in processes.values():
            process.terminate()
            process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="store runs per setting")
    parser.add_argument("--requests", type=int, default=6, help="API answers per shape and setting")
    parser.add_argument("--days", type=int, default=366)
    parser.add_argument("--quick", action="store_true", help="a tiny run (figures mean nothing)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.requests, args.days = 1, 2, 20
    med = statistics.median

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "bench.duckdb"
        store = open_store(f"duckdb:///{path}")
        load(store, DATASET, "DE_LU", series=50, start=T0, days=args.days)
        store.close()
        print(f"store: 50 series × {args.days} days of 15-minute values (DuckDB)")

        runs: dict[str, list[dict[str, float]]] = {s: [] for s in SETTINGS}
        for i in range(args.rounds):
            for setting in list(SETTINGS)[:: 1 if i % 2 == 0 else -1]:
                runs[setting].append(store_run(f"duckdb:///{path}", setting, args.days))
        print()
        print(f"{'store read':<16} {'CPU ms':>8} {'wall ms':>8} {'faults':>8}")
        for setting, results in runs.items():
            cpu = med(r["cpu"] for r in results) * 1000
            wall = med(r["wall"] for r in results) * 1000
            faults = med(r["faults"] for r in results)
            print(f"{setting:<16} {cpu:8.0f} {wall:8.0f} {faults:8.0f}")
        t, d = runs["tuned"], runs["defaults"]
        print(
            f"{'tuned/defaults':<16} {med(r['cpu'] for r in t) / med(r['cpu'] for r in d):7.2f}x"
            f" {med(r['wall'] for r in t) / med(r['wall'] for r in d):7.2f}x"
        )

        end = T0 + timedelta(days=args.days)
        query = f"area=DE_LU&start={T0:%Y-%m-%dT%H:%MZ}&end={end:%Y-%m-%dT%H:%MZ}"
        print()
        print(
            f"{'API answer':<16} {'tuned CPU':>9} {'defaults':>9} {'ratio':>6} | "
            f"{'tuned p50':>9} {'defaults':>9} {'ratio':>6}"
        )
        with servers(folder, path) as bases:
            clients = {s: RawClient(base, "none") for s, (base, _) in bases.items()}
            for name, extra in SHAPES.items():
                target = f"/v1/datasets/{DATASET}/data?{query}&{extra}"
                cpu_of: dict[str, list[float]] = {s: [] for s in SETTINGS}
                wall_of: dict[str, list[float]] = {s: [] for s in SETTINGS}
                for client in clients.values():
                    client.get(target)  # warm-up
                for i in range(args.requests):
                    for setting in list(SETTINGS)[:: 1 if i % 2 == 0 else -1]:
                        pid = bases[setting][1]
                        before, began = process_cpu(pid), time.perf_counter()
                        status, _, _ = clients[setting].get(target)
                        wall_of[setting].append(time.perf_counter() - began)
                        cpu_of[setting].append(process_cpu(pid) - before)
                        if status != 200:
                            raise SystemExit(f"{name}: HTTP {status}")
                ct, cd = med(cpu_of["tuned"]) * 1000, med(cpu_of["defaults"]) * 1000
                wt, wd = med(wall_of["tuned"]) * 1000, med(wall_of["defaults"]) * 1000
                print(
                    f"{name:<16} {ct:7.0f}ms {cd:7.0f}ms {ct / cd:5.2f}x | "
                    f"{wt:7.0f}ms {wd:7.0f}ms {wt / wd:5.2f}x"
                )
            busy = {s: rss_bytes(pid) >> 20 for s, (_, pid) in bases.items()}
            time.sleep(2.5)  # the API hands memory back after a second without streams
            idle = {s: rss_bytes(pid) >> 20 for s, (_, pid) in bases.items()}
        print()
        for setting in SETTINGS:
            print(
                f"server RSS {setting:<9} after the answers {busy[setting]:5d} MiB, "
                f"idle {idle[setting]:5d} MiB"
            )


if __name__ == "__main__":
    main()
