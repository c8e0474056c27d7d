"""How a streamed body is cut into writes, and memory handed back on long streams
(:mod:`gridvault.api.responses`)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator

import pyarrow as pa
import pytest

from gridvault.api import responses
from gridvault.api.responses import (
    _GATHER_BYTES,
    _LONG_STREAM_BYTES,
    _RELEASE_BYTES,
    _SMALL_BYTES,
    _WRITE_BYTES,
    _gather,
    _IdleRelease,
    _pipelined,
    _writes,
)
from gridvault.api.streaming import Piece


def test_gather_takes_about_its_limit_of_pieces_in_order_and_joins_small_ones() -> None:
    big = memoryview(bytes(range(256)) * (_SMALL_BYTES // 256 * 3))
    pieces: list[Piece] = [b"head", b"er", big, b"pad", big, *([b"x" * 1000] * 2000), b"end"]
    body = iter(pieces)
    groups = []
    while (group := _gather(body, limit=_WRITE_BYTES)) is not None:
        groups.append(group)
    assert _gather(body) is None
    assert b"".join(b"".join(g) for g in groups) == b"".join(pieces)
    assert groups[0][:3] == [b"header", big, b"pad"]
    sizes = [sum(memoryview(p).nbytes for p in g) for g in groups]
    assert all(size >= _WRITE_BYTES for size in sizes[:-1])
    assert all(size < _WRITE_BYTES + 3 * _SMALL_BYTES for size in sizes)
    small = [[memoryview(p).nbytes < _SMALL_BYTES for p in g] for g in groups]
    assert not any(a and b for flags in small for a, b in itertools.pairwise(flags))


def test_an_empty_body_is_one_empty_gather_then_none() -> None:
    assert _gather(iter([])) is None
    body = iter([b""])
    assert _gather(body) == [b""]
    assert _gather(body) is None


def test_the_next_gather_is_produced_once_the_one_before_is_sent() -> None:
    """Pieces are produced while nothing else is unsent but their own gather's."""
    per_gather = _GATHER_BYTES // _WRITE_BYTES
    produced = consumed = 0
    unsent: list[int] = []  # bytes produced and not yet sent, as each piece is produced

    def body() -> Iterator[Piece]:
        nonlocal produced
        for _ in range(3 * per_gather):
            unsent.append(produced - consumed)
            produced += _WRITE_BYTES
            yield bytes(_WRITE_BYTES)

    async def drain() -> None:
        nonlocal consumed
        async for write in _pipelined(b"[", body()):
            consumed += memoryview(write).nbytes - (write == b"[")

    asyncio.run(drain())
    assert consumed == produced == 3 * _GATHER_BYTES
    assert unsent == [i % per_gather * _WRITE_BYTES for i in range(3 * per_gather)]


def test_writes_are_views_of_at_most_a_write() -> None:
    piece = bytes(5 * _WRITE_BYTES // 2)
    writes = list(_writes(piece))
    assert [memoryview(w).nbytes for w in writes] == [_WRITE_BYTES, _WRITE_BYTES, _WRITE_BYTES // 2]
    assert all(isinstance(w, memoryview) for w in writes)


def releases_of_a_stream(monkeypatch: pytest.MonkeyPatch, nbytes: int) -> list[int]:
    """Bytes sent when each release of a ``nbytes`` stream (in 1 MiB writes) was made."""
    releases: list[int] = []
    sent = [0]

    class Pool:
        def release_unused(self) -> None:
            releases.append(sent[0])

    monkeypatch.setattr(pa, "default_memory_pool", Pool)
    piece = bytes(_WRITE_BYTES)
    count = nbytes // _WRITE_BYTES

    async def drain() -> int:
        total = 0
        async for write in _pipelined(piece, iter([piece] * (count - 1))):
            total += memoryview(write).nbytes
            sent[0] = total
        return total

    assert asyncio.run(drain()) == count * _WRITE_BYTES
    return releases


def test_a_long_stream_returns_freed_memory_every_release_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nbytes = _LONG_STREAM_BYTES + 2 * _RELEASE_BYTES + 5 * _WRITE_BYTES
    releases = releases_of_a_stream(monkeypatch, nbytes)
    assert len(releases) == 3
    # The first once the stream is long, then one after each more interval of bytes.
    gaps = [b - a for a, b in itertools.pairwise([0, *releases])]
    intervals = [_LONG_STREAM_BYTES, _RELEASE_BYTES, _RELEASE_BYTES]
    assert all(i <= gap <= i + 2 * _WRITE_BYTES for gap, i in zip(gaps, intervals, strict=True))


def test_a_shorter_stream_leaves_the_memory_to_the_idle_release(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert releases_of_a_stream(monkeypatch, _LONG_STREAM_BYTES - _WRITE_BYTES) == []


def test_memory_is_handed_back_once_no_stream_has_run_for_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    releases: list[float] = []

    class Pool:
        def release_unused(self) -> None:
            releases.append(time.monotonic())

    monkeypatch.setattr(pa, "default_memory_pool", Pool)
    idle = _IdleRelease(0.05)
    monkeypatch.setattr(responses, "_idle_release", idle)

    async def stream() -> None:
        async for _ in _pipelined(b"x", iter([b"y"])):
            pass

    async def main() -> None:
        await stream()
        await stream()  # streams that follow each other keep the cached memory
        await asyncio.sleep(0.01)
        assert releases == []
        idle.started()  # a stream runs longer than the delay: nothing is released under it
        await asyncio.sleep(0.12)
        assert releases == []
        idle.ended()
        ended = time.monotonic()
        for _ in range(200):  # idle for longer than the delay: one release (in a thread)
            await asyncio.sleep(0.01)
            if releases:
                break
        assert len(releases) == 1
        assert releases[0] - ended >= 0.04  # not before the delay (less a scheduling margin)
        await asyncio.sleep(0.1)
        assert len(releases) == 1
        assert idle.active == 0

    asyncio.run(main())
