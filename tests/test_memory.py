"""The allocator settings of gridvault.memory, each in a fresh Python process (they are
process-wide and can be set once)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from gridvault.memory import _glibc

pytestmark = pytest.mark.skipif(_glibc() is None, reason="the settings are glibc's")

#: Reads 2 M rows sorted into Arrow a few times (DuckDB's threads allocate and free the
#: sort's and the result's buffers), counting the page faults of the later reads, then holds
#: 200 MiB in 1 MiB buffers, frees them and reports the resident memory before and after
#: ``release_unused``.
_PROGRAM = textwrap.dedent(
    """
    import json, resource
    from gridvault import memory
    from gridvault.store import open_store

    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()

    store = open_store("duckdb://:memory:")  # the store sets what the process keeps
    with store.session() as db:
        db.cursor.execute(
            "CREATE TEMP TABLE t AS SELECT i % 50 AS s, i AS t, random() AS v "
            "FROM range(2000000) r(i)"
        )
        for _ in range(2):  # the first reads set up what later reads reuse
            db.fetch_arrow("SELECT * FROM t ORDER BY s, t")
        before = faults()
        for _ in range(3):
            db.fetch_arrow("SELECT * FROM t ORDER BY s, t")
        faulted = (faults() - before) // 3
    store.close()
    held = [bytearray(b"y" * (1 << 20)) for _ in range(200)]
    del held
    kept = rss()
    memory.release_unused()
    print(json.dumps({"tuned": memory.tune_allocator(), "faults": faulted,
                      "kept": kept, "released": rss()}))
    """
)


def run(tunables: str | None) -> dict[str, int]:
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    if tunables is not None:
        env["GLIBC_TUNABLES"] = tunables
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, int] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_a_store_process_reuses_freed_buffers_instead_of_faulting_in_new_pages() -> None:
    tuned = run(None)
    # The same program where someone else chose malloc's settings: glibc's defaults here.
    untuned = run("glibc.malloc.perturb=0")
    assert tuned["tuned"]
    assert not untuned["tuned"]
    # glibc's defaults: each read faults in most of its ~60 MB again (13k pages measured);
    # tuned, the later reads reuse what the first ones freed (1-2k).
    assert untuned["faults"] >= 6000
    assert tuned["faults"] * 4 <= untuned["faults"]


def test_release_unused_hands_the_kept_memory_back() -> None:
    tuned = run(None)
    # 200 MiB of freed buffers stay with the process (under the trim threshold) until
    # released.
    assert tuned["kept"] - tuned["released"] >= 150 << 20
