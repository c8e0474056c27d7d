"""Large payloads prepared in worker processes: the same tables, flags and archive bytes as
in process, parse errors reported as in process, other failures left to the caller, and no
worker outlives a killed collector."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import zstandard

from gridvault.emulator.query import read_query
from gridvault.emulator.synthetic import generate
from gridvault.entsoe.areas import lookup_area
from gridvault.pipeline import parsing
from gridvault.pipeline.ingest import prepare_payload


def _year_of_load() -> bytes:
    eic = lookup_area("DE_LU").eic
    request = read_query(
        {
            "documentType": "A65",
            "processType": "A16",
            "outBiddingZone_Domain": eic,
            "periodStart": "202212312300",
            "periodEnd": "202312312300",
        }
    )
    payload = generate(request, revision=1, gaps=0.0, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert payload is not None
    return payload.body


@pytest.fixture
def one_worker() -> Iterator[None]:
    parsing.configure(1)
    yield
    parsing.shutdown()
    parsing.configure(None)


def test_a_large_payload_comes_back_prepared_exactly_as_in_process(one_worker: None) -> None:
    data = _year_of_load()
    assert len(data) >= parsing.PARALLEL_MIN_BYTES
    prepared = asyncio.run(parsing.prepare_elsewhere(data, "load.xml", dataset="load_actual"))
    assert prepared is not None
    assert prepared.error is None
    expected = prepare_payload(data, "load.xml", dataset="load_actual")
    assert prepared.rows == 35_040
    assert prepared.mapped.values.equals(expected.mapped.values)
    assert prepared.mapped.keys == expected.mapped.keys
    assert prepared.mapped.key_index.equals(expected.mapped.key_index)
    assert prepared.flags.equals(expected.flags)
    assert prepared.blob.sha256 == expected.blob.sha256
    assert zstandard.ZstdDecompressor().decompress(prepared.blob.compressed) == data
    assert prepared.outages is None or prepared.outages.num_rows == 0


def test_small_payloads_and_a_disabled_pool_are_left_to_the_caller_errors_come_back(
    one_worker: None,
) -> None:
    data = _year_of_load()
    # Too small to be worth the copy.
    assert asyncio.run(parsing.prepare_elsewhere(data[:1000], "small.xml")) is None
    # Malformed: reported as a parse error, word for word as in process (then quarantined).
    broken = data[: len(data) // 2]
    prepared = asyncio.run(parsing.prepare_elsewhere(broken, "broken.xml"))
    assert prepared is not None
    assert prepared.error is not None
    assert prepared.error == prepare_payload(broken, "broken.xml").error
    assert "broken.xml" in prepared.error
    # An error acknowledgement: reported the same way, with its reason.
    ack = (
        b'<?xml version="1.0" encoding="UTF-8"?><Acknowledgement_MarketDocument '
        b'xmlns="urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0">'
        + b"<!-- padding -->"
        * 5000
        + b"<Reason><code>999</code><text>Something is wrong</text></Reason>"
        b"</Acknowledgement_MarketDocument>"
    )
    refused = asyncio.run(parsing.prepare_elsewhere(ack, "ack.xml"))
    assert refused is not None
    assert refused.error is not None
    assert refused.error == prepare_payload(ack, "ack.xml").error
    assert "Something is wrong" in refused.error
    parsing.configure(0)
    assert asyncio.run(parsing.prepare_elsewhere(data, "load.xml")) is None


def test_payloads_are_prepared_in_process_while_the_workers_start(one_worker: None) -> None:
    data = _year_of_load()
    parsing.warm_up()
    # The worker is still importing (a fresh process needs ~0.5 s): not worth waiting for.
    assert asyncio.run(parsing.prepare_elsewhere(data, "load.xml")) is None
    for task in parsing._workers.warming:
        task.result(timeout=60)
    prepared = asyncio.run(parsing.prepare_elsewhere(data, "load.xml"))
    assert prepared is not None
    assert prepared.rows == 35_040


_CHILD = """
import asyncio, sys
from gridvault.pipeline import parsing
data = open(sys.argv[1], "rb").read()
parsing.configure(1)
assert asyncio.run(parsing.prepare_elsewhere(data, "load.xml")) is not None
pool = parsing._workers.pool
print(*[p.pid for p in pool._processes.values()], flush=True)
sys.stdin.read()
"""


def test_workers_exit_when_the_collector_is_killed(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "load.xml")
    with open(path, "wb") as file:
        file.write(_year_of_load())
    with subprocess.Popen(
        [sys.executable, "-c", _CHILD, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        pids = [int(p) for p in child.stdout.readline().split()]
        assert pids, "the child started no worker"
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    alive = set(pids)
    for _ in range(200):  # each worker checks its parent twice a second
        alive = {pid for pid in alive if _running(pid)}
        if not alive:
            break
        time.sleep(0.1)
    assert not alive, f"workers {sorted(alive)} outlived their killed parent"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie awaiting its reaper counts as gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[-1][0] != "Z"
