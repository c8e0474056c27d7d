"""bench/ingest: bulk upsert throughput of both store adapters against the bare engine.

Loads N observations of S 15-minute series three times — first load, the same batches
again (all unchanged), then with 1 % of the values changed — into each adapter, and next to
it the bare engine in the same run (DuckDB: plain INSERT from Arrow into a keyed table;
PostgreSQL: binary COPY into a keyed table). Prints points/s and the ratios the foundation
issue sets as goals:

* first load >= 0.5x the bare engine
* unchanged re-load >= 1x the first load (unchanged rows must be cheap)
* peak memory bounded (batches are generated and written one at a time)

Usage: .venv/bin/python bench/ingest.py [--points 2000000] [--series 200] [--batch 100000]
       [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import psycopg
import pyarrow as pa

from gridvault.store import SeriesKey, Store
from gridvault.store.duckdb_store import DuckDBStore
from gridvault.store.pgcopy import encode
from gridvault.store.postgres_store import PostgresStore

T0_US = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
STEP_US = 15 * 60 * 1_000_000


def batches(
    series_ids: list[int], points_per_series: int, series_per_batch: int, changed: float, seed: int
) -> Iterator[pa.Table]:
    """Deterministic batches; ``changed`` = share of values altered (same positions per run)."""
    rng = np.random.default_rng(seed)
    for offset in range(0, len(series_ids), series_per_batch):
        chunk = series_ids[offset : offset + series_per_batch]
        n = len(chunk) * points_per_series
        sid = np.repeat(np.array(chunk, dtype=np.int64), points_per_series)
        pos = np.tile(np.arange(points_per_series, dtype=np.int64), len(chunk))
        starts = T0_US + pos * STEP_US
        values = np.round(50 + 30 * np.sin(pos / 96 * 2 * np.pi) + sid % 7, 3)
        if changed:
            mask = rng.random(n) < changed
            values = np.where(mask, values + 1.0, values)
        yield pa.table(
            {
                "series_id": sid,
                "interval_start": pa.array(starts, pa.timestamp("us", tz="UTC")),
                "interval_end": pa.array(starts + STEP_US, pa.timestamp("us", tz="UTC")),
                "value": values,
                "publish_time": pa.nulls(n, pa.timestamp("us", tz="UTC")),
                "flags": pa.array(np.zeros(n, dtype=np.int32)),
                "document_id": pa.array(["bench-doc"] * n, pa.string()),
            }
        )


def timed(label: str, total: int, work: Callable[[], object]) -> float:
    started = time.perf_counter()
    result = work()
    elapsed = time.perf_counter() - started
    rate = total / elapsed
    print(f"  {label:<34} {elapsed:7.2f} s  {rate:>12,.0f} points/s  {result or ''}")
    return rate


def run_store(store: Store, args: argparse.Namespace) -> dict[str, float]:
    keys = [
        SeriesKey("bench", "bench", f"A{i:03d}", {"measure": "quantity"}, "MW", "PT15M")
        for i in range(args.series)
    ]
    ids = store.ensure_series(keys)
    per_series = args.points // args.series
    total = per_series * args.series
    per_batch = max(1, args.batch // per_series)

    def load(changed: float, seed: int) -> str:
        ins = upd = same = 0
        for batch in batches(ids, per_series, per_batch, changed, seed):
            result = store.upsert_observations(batch)
            ins, upd, same = ins + result.inserted, upd + result.updated, same + result.unchanged
        return f"(+{ins} ~{upd} ={same})"

    return {
        "first": timed(f"{store.backend}: first load", total, lambda: load(0.0, 1)),
        "unchanged": timed(f"{store.backend}: unchanged re-load", total, lambda: load(0.0, 1)),
        "changed": timed(f"{store.backend}: 1% changed", total, lambda: load(0.01, 2)),
    }


def bare_duckdb(path: Path, args: argparse.Namespace) -> float:
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE bare (series_id BIGINT, interval_start TIMESTAMPTZ, interval_end TIMESTAMPTZ, "
        "value DOUBLE, publish_time TIMESTAMPTZ, flags INTEGER, document_id VARCHAR, "
        "PRIMARY KEY (series_id, interval_start))"
    )
    per_series = args.points // args.series
    ids = list(range(1, args.series + 1))

    def load() -> None:
        for batch in batches(ids, per_series, max(1, args.batch // per_series), 0.0, 1):
            con.register("b", batch)
            con.execute("INSERT INTO bare SELECT * FROM b")
            con.unregister("b")

    rate = timed("duckdb: bare INSERT into keyed table", per_series * args.series, load)
    con.close()
    return rate


def bare_postgres(url: str, args: argparse.Namespace) -> float:
    per_series = args.points // args.series
    ids = list(range(1, args.series + 1))
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE bare (series_id BIGINT, interval_start TIMESTAMPTZ, "
            "interval_end TIMESTAMPTZ, value DOUBLE PRECISION, publish_time TIMESTAMPTZ, "
            "flags INTEGER, document_id TEXT, PRIMARY KEY (series_id, interval_start))"
        )
        conn.commit()

        def load() -> None:
            for batch in batches(ids, per_series, max(1, args.batch // per_series), 0.0, 1):
                with conn.cursor().copy("COPY bare FROM STDIN (FORMAT BINARY)") as copy:
                    copy.write(encode(batch))
                conn.commit()

        return timed("postgres: bare binary COPY into keyed table", per_series * args.series, load)


def report(name: str, bare: float, rates: dict[str, float]) -> None:
    first_ratio = rates["first"] / bare
    unchanged_ratio = rates["unchanged"] / rates["first"]
    print(
        f"  {name}: first load / bare = {first_ratio:.2f}x (goal >= 0.5)   "
        f"unchanged / first = {unchanged_ratio:.2f}x (goal >= 1.0)   "
        f"1% changed / first = {rates['changed'] / rates['first']:.2f}x"
    )


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--points", type=int, default=2_000_000)
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    print(f"bench/ingest: {args.points:,} points, {args.series} series, batches of ~{args.batch:,}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bare = bare_duckdb(folder / "bare.duckdb", args)
        with DuckDBStore(folder / "store.duckdb") as store:
            rates = run_store(store, args)
        report("duckdb", bare, rates)
        print(f"  peak RSS so far: {peak_mb():.0f} MB")
    if not args.skip_postgres:
        name = f"gv_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.postgres_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = args.postgres_url.rsplit("/", 1)[0] + f"/{name}"
        try:
            bare = bare_postgres(url, args)
            with PostgresStore(url) as store:
                rates = run_store(store, args)
            report("postgres", bare, rates)
        finally:
            with psycopg.connect(args.postgres_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(
        f"  peak RSS: {peak_mb():.0f} MB (one batch of {args.batch:,} rows is ~{args.batch * 60 / 1e6:.0f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
