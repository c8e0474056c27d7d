"""Prepare large payloads in worker processes, so collection is not bound to one core.

Collection runs many windows at once in one process: the event loop fetches, threads archive
and upsert, and preparing a payload for the store (hashing and compressing it for the
archive, parsing, mapping to series, validating: a year of quarter-hour values is ~0.15 s of
lxml, zstd and Arrow work) would hold the interpreter lock most of the time. Payloads of
:data:`PARALLEL_MIN_BYTES` or more are therefore prepared in a small process pool
(``spawn``ed, so no lock held by another thread at fork time can hang a worker), and the
:class:`~gridvault.pipeline.ingest.Prepared` payload comes back by pickle; smaller ones are
not worth the copy and are prepared where they are ingested.

A document that does not parse comes back with its :class:`~gridvault.errors.ParseError`
message (it is quarantined as usual). Any other failure in a worker (an error
acknowledgement, a bug) is not reported there: the payload is prepared again in the calling
process, which raises it with its full context. A pool that
breaks (a worker killed) is replaced on the next payload; until then payloads are parsed in
the calling process. Nothing is stored by a worker, and a worker exits within half a second
of its parent (a ``kill -9`` of the collector leaves no process behind).

``GRIDVAULT_PARSE_PROCESSES`` sets the pool size; the default is one process per core but
one, at most four (0 turns the pool off, as on a single core).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import TYPE_CHECKING

from gridvault.logs import get_logger

if TYPE_CHECKING:
    from gridvault.pipeline.ingest import Prepared

log = get_logger("gridvault.parsing")

#: Payloads at least this large are prepared in a worker process (a page of 100 days of
#: hourly prices is ~0.2 MB, a year of quarter-hour load ~2.5 MB; below ~50 kB the copies
#: and the hand-over cost about what parsing does).
PARALLEL_MIN_BYTES = 64 * 1024
#: At most this many worker processes by default.
MAX_DEFAULT_PROCESSES = 4


def default_processes() -> int:
    """One worker per core but one (the calling process works too), at most four."""
    return max(0, min(MAX_DEFAULT_PROCESSES, (os.cpu_count() or 1) - 1))


class _Workers:
    """The process's one pool, started when the first large payload needs it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pool: ProcessPoolExecutor | None = None
        self.processes: int | None = None
        self.warmed: ProcessPoolExecutor | None = None
        #: The warm-up's tasks; until they are done the workers are still importing.
        self.warming: list[Future[None]] = []

    def configure(self, processes: int | None) -> None:
        wanted = default_processes() if processes is None else max(0, processes)
        with self.lock:
            if wanted != self.processes:
                self._stop()
            self.processes = wanted

    def executor(self) -> ProcessPoolExecutor | None:
        with self.lock:
            if self.processes is None:
                self.processes = default_processes()
            if self.processes == 0:
                return None
            if self.pool is None:
                self.pool = ProcessPoolExecutor(
                    max_workers=self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_exit_with_parent,
                    initargs=(os.getpid(),),
                )
            return self.pool

    def discard(self, pool: ProcessPoolExecutor) -> None:
        with self.lock:
            if self.pool is pool:
                self._stop()

    def stop(self) -> None:
        with self.lock:
            self._stop()

    def _stop(self) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


_workers = _Workers()


def configure(processes: int | None) -> None:
    """Set the pool size (None: :func:`default_processes`); a running pool of another size
    is shut down and the next large payload starts one of the new size."""
    _workers.configure(processes)


def warm_up() -> None:
    """Start the worker processes now, in the background: each spends ~0.5 s importing the
    parser, which the first large payloads would otherwise wait for (at the start of a
    backfill, a dozen of them arrive within a second). Once per pool."""
    pool = _workers.executor()
    with _workers.lock:
        if pool is None or _workers.warmed is pool:
            return
        _workers.warmed = pool
        _workers.warming = [pool.submit(_ready) for _ in range(_workers.processes or 0)]


def _warming() -> bool:
    """Whether the workers are still starting (payloads are then prepared in process: a
    worker still importing would keep them waiting)."""
    return any(not task.done() for task in _workers.warming)


def shutdown() -> None:
    """Stop the worker processes (they are started again when needed)."""
    _workers.stop()


async def prepare_elsewhere(
    data: bytes, name: str, *, dataset: str | None = None, known_at: datetime | None = None
) -> Prepared | None:
    """The payload prepared by a worker process (:func:`~gridvault.pipeline.ingest.prepare_payload`
    with the ENTSO-E parser), or None: too small to be worth it, no pool, or the worker
    failed otherwise than on a parse error (the caller prepares it itself then)."""
    if len(data) < PARALLEL_MIN_BYTES:
        return None
    pool = _workers.executor()
    if pool is None or _warming():
        return None
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(pool, _prepare_or_none, data, name, dataset, known_at)
    except BrokenProcessPool:
        log.warning("a parse worker died; starting a new pool", payload=name)
        _workers.discard(pool)
        return None


def _exit_with_parent(parent: int) -> None:
    """In the worker: exit as soon as the collecting process is gone (a ``kill -9`` of it
    must not leave workers behind; they would wait on their queue for ever)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="gridvault-parent-watch", daemon=True).start()


def _ready() -> None:
    """In the worker: import what preparing a payload needs."""
    import gridvault.pipeline.ingest  # noqa: F401, PLC0415


def _prepare_or_none(
    data: bytes, name: str, dataset: str | None, known_at: datetime | None
) -> Prepared | None:
    """In the worker: the prepared payload, or None when preparing it raised."""
    from gridvault.pipeline.ingest import prepare_payload  # noqa: PLC0415

    try:
        return prepare_payload(data, name, dataset=dataset, known_at=known_at)
    except Exception:  # the caller prepares it again and reports it with its context
        return None
