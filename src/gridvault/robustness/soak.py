"""A bounded soak: a few concurrent API readers over real HTTP (loopback), the server's memory
sampled meanwhile.

Each reader cycles through :func:`read_mix` (raw, resampled and Arrow data, latest, coverage,
updates) until ``seconds`` have passed or it made ``max_requests``; any answer other than 200
is an error (with its body kept for the report). The server's resident memory is read from
``/proc/<pid>/status`` (Linux) every ``sample_seconds``. Latencies are recorded, never judged:
timing goals live in benches.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx2

from gridvault.emulator import EmulatorConfig, FaultSpec, running_emulator
from gridvault.errors import GridvaultError
from gridvault.pipeline.backfill import BackfillReport, plan_backfill, work_plan
from gridvault.pipeline.collect import plan_collect, run_collect
from gridvault.robustness.servers import free_port
from gridvault.settings import Settings
from gridvault.store import open_store
from gridvault.store.api_keys import create_key

#: One read: a path and its query parameters.
Read = tuple[str, dict[str, Any]]


def read_mix(dataset: str, area: str, start: str, end: str, coverage_areas: str) -> list[Read]:
    """The reads a soak cycles through, for one stored dataset/area and range."""
    data = f"/v1/datasets/{dataset}/data"
    window = {"area": area, "start": start, "end": end}
    return [
        (data, window),
        (data, {**window, "resample": "1h", "agg": "mean"}),
        (data, {**window, "format": "arrow"}),
        (f"/v1/datasets/{dataset}/latest", {"area": area}),
        (
            f"/v1/datasets/{dataset}/coverage",
            {"area": coverage_areas, "start": start, "end": end},
        ),
        ("/v1/updates", {"dataset": dataset}),
    ]


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (0 when it cannot be read)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


@dataclass
class SoakResult:
    """What a soak saw: requests, errors, latencies (s) and RSS samples (bytes)."""

    requests: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile latency in seconds (0 without requests)."""
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else 0.0
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q) - 1]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    def rss_halves(self) -> tuple[int, int]:
        """The largest RSS of the first and of the second half of the samples."""
        if len(self.rss) < 2:
            return (self.rss[0], self.rss[0]) if self.rss else (0, 0)
        middle = len(self.rss) // 2
        return max(self.rss[:middle]), max(self.rss[middle:])

    def memory_flat(self, *, ratio: float = 1.3, slack: int = 64 << 20) -> bool:
        """True when the second half never exceeds the first half's peak by more than
        ``ratio`` times plus ``slack`` bytes (caches and arenas settle in the first half)."""
        first, second = self.rss_halves()
        return second <= first * ratio + slack

    def summary(self) -> str:
        first, second = self.rss_halves()
        return (
            f"{self.requests} requests in {self.seconds:.1f} s, {self.errors} errors, "
            f"p50 {self.p50 * 1000:.1f} ms, p99 {self.p99 * 1000:.1f} ms, RSS peak "
            f"{first / 2**20:.0f} MiB (first half) → {second / 2**20:.0f} MiB (second half)"
        )


def soak(
    base_url: str,
    api_key: str,
    reads: Sequence[Read],
    *,
    server_pid: int,
    clients: int = 4,
    seconds: float = 10.0,
    max_requests: int = 100_000,
    sample_seconds: float = 0.1,
) -> SoakResult:
    """Run ``clients`` readers against ``base_url`` for at most ``seconds`` (and at most
    ``max_requests`` each), sampling the RSS of ``server_pid``."""
    result = SoakResult()
    lock = threading.Lock()
    began = time.monotonic()
    deadline = began + seconds
    finished = threading.Event()

    def reader(index: int) -> None:
        with httpx2.Client(
            base_url=base_url, headers={"X-API-Key": api_key}, timeout=30, trust_env=False
        ) as client:
            for n in range(max_requests):
                if time.monotonic() >= deadline:
                    return
                path, params = reads[(index + n) % len(reads)]
                started = time.perf_counter()
                try:
                    response = client.get(path, params=params)
                    failure = (
                        None
                        if response.status_code == 200
                        else f"{path}: HTTP {response.status_code} {response.text[:200]}"
                    )
                except httpx2.HTTPError as exc:
                    failure = f"{path}: {type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - started
                with lock:
                    result.requests += 1
                    result.latencies.append(elapsed)
                    if failure is not None:
                        result.errors += 1
                        if len(result.error_samples) < 10:
                            result.error_samples.append(failure)

    def sampler() -> None:
        while not finished.wait(sample_seconds):
            result.rss.append(rss_bytes(server_pid))

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(clients)]
    watcher = threading.Thread(target=sampler)
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    finished.set()
    watcher.join(timeout=5)
    result.seconds = time.monotonic() - began
    return result


# -- the scenario the suite and bench/robustness run -----------------------------------------

SOAK_TOKEN = "soak-token"  # noqa: S105 - the emulator's token, not a secret
#: What the backfill writes while the readers read (24 monthly chunks).
BACKFILL = ("load_actual", ("NL", "BE"), "2022-01-01", "2023-01-01", "P1M")


@contextlib.contextmanager
def serve_process(database_url: str, *, log: IO[str] | None = None) -> Iterator[tuple[str, int]]:
    """``gridvault serve`` in a child process on a free loopback port (no scheduler, no
    practical rate limit); yields its base URL and pid once it answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRIDVAULT_", "ENTSOE_"))}
    env.update(
        GRIDVAULT_DATABASE_URL=database_url,
        GRIDVAULT_LOG_LEVEL="WARNING",
        GRIDVAULT_LOG_FORMAT="json",
    )
    command = [
        sys.executable,
        "-m",
        "gridvault.cli.main",
        "serve",
        "--port",
        str(port),
        "--no-scheduler",
        "--rate-limit",
        "100000000",
    ]
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        command, env=env, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise GridvaultError(f"gridvault serve exited with {process.returncode}")
            with contextlib.suppress(httpx2.HTTPError):
                if httpx2.get(f"{url}/health/live", timeout=2, trust_env=False).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise GridvaultError("gridvault serve did not answer within 60 s")
            time.sleep(0.05)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def soak_while_backfilling(
    database_url: str, *, seconds: float, clients: int, log: IO[str] | None = None
) -> tuple[SoakResult, BackfillReport]:
    """Serve ``database_url`` (PostgreSQL) from a child process and read it with ``clients``
    readers for ``seconds`` while a backfill writes through the emulator in this process.

    The emulator's latency spreads the backfill over the soak; the readers read the range
    being written (every write changes what the cache may serve)."""
    dataset, areas, start, end, window = BACKFILL
    chunks = 12 * len(areas)
    workers = 2
    config = EmulatorConfig(
        token=SOAK_TOKEN,
        synthetic=True,
        rate_limit=1_000_000,
        faults=FaultSpec(latency=max(0.0, 0.8 * seconds * workers / chunks - 0.1)),
    )
    with running_emulator(config) as emulator, open_store(database_url) as store:
        settings = Settings(
            database_url=database_url,
            entsoe_token=SOAK_TOKEN,
            entsoe_base_url=emulator.base_url,
            entsoe_rate_limit=10_000,
            redis_url=None,
        )
        _, api_key = create_key(store, f"soak-{os.urandom(4).hex()}", "read")
        # One month stored up front: every read has data from the first request on.
        first = plan_collect(dataset, [areas[0]], start, "2022-02-01", max_window=window)
        asyncio.run(run_collect(settings, store, first))
        plan = plan_backfill(store, dataset, list(areas), start, end, window=window)
        if plan.record is None:
            raise GridvaultError("nothing to backfill: the store is not fresh")
        plan_id = plan.record.plan_id
        reports: list[BackfillReport] = []
        writer = threading.Thread(
            target=lambda: reports.append(
                asyncio.run(work_plan(settings, store, plan_id, workers=workers))
            ),
            name="soak-backfill",
        )
        with serve_process(database_url, log=log) as (url, pid):
            writer.start()
            reads = read_mix(dataset, areas[0], start, "2022-03-01", areas[0])
            result = soak(url, api_key, reads, server_pid=pid, clients=clients, seconds=seconds)
            writer.join(timeout=120)
        if not reports:
            raise GridvaultError("the backfill did not finish within two minutes of the soak")
        return result, reports[0]


__all__ = [
    "Read",
    "SoakResult",
    "read_mix",
    "rss_bytes",
    "serve_process",
    "soak",
    "soak_while_backfilling",
]
