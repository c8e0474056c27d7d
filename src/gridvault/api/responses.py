"""Building responses: cached and conditional (ETag) answers, streamed bodies.

Cache keys include when the series behind an answer last changed
(:meth:`Store.last_changed`), so a cached answer is never stale: new data means a new key.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Sequence

import anyio.to_thread
import pyarrow as pa
from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from gridvault.api.cache import CachedResponse
from gridvault.api.deps import in_thread
from gridvault.api.state import ApiState
from gridvault.api.streaming import MEDIA_TYPES, Piece
from gridvault.memory import release_unused

#: Largest write handed to the server. The server copies each write once more (HTTP chunk
#: framing) before the kernel copies it: a piece of several MB makes both copies miss the
#: CPU caches and costs fresh pages, three times the CPU of the same bytes in 1 MiB writes.
_WRITE_BYTES = 1 << 20
#: Pieces smaller than this are joined with their neighbours into one write.
_SMALL_BYTES = 1 << 16
#: Bytes produced per trip to the thread pool, then sent before the next trip starts (see
#: :func:`_pipelined`): a stream holds at most this much besides its encoder's slices.
_GATHER_BYTES = 16 << 20
#: A long stream hands the allocator's freed buffers back to the system every this many
#: bytes it sends, once it has sent :data:`_LONG_STREAM_BYTES` (Arrow's allocator keeps
#: them for reuse, and slices of different sizes leave its caches growing with the stream:
#: memory must stay flat over a 10-year range). A release costs well under a millisecond,
#: but the pages it returns are faulted in again by the next allocations (~2 µs per 4 KiB)
#: — of every stream: shorter answers (a year of Arrow or of series-layout JSON) are left
#: to the release when the server goes idle.
_RELEASE_BYTES = 64 << 20
_LONG_STREAM_BYTES = 256 << 20
#: Seconds without any stream after which the allocators' caches are handed back (Arrow's
#: and malloc's, :func:`gridvault.memory.release_unused`): between streams memory returns
#: towards what the server needs idle, while streams that follow each other keep reusing
#: the cached pages instead of faulting in new ones.
_IDLE_RELEASE_SECONDS = 1.0


class _IdleRelease:
    """Hands the allocator's cached memory back once no stream has run for a while.

    Used on the event loop only (streams start and end there), so it needs no lock.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.active = 0
        self.timer: asyncio.TimerHandle | None = None

    def started(self) -> None:
        self.active += 1
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def ended(self) -> None:
        self.active -= 1
        if self.active == 0:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # a stream finalised outside its loop: nothing to schedule
                return
            self.timer = loop.call_later(self.delay, self._release, loop)

    def _release(self, loop: asyncio.AbstractEventLoop) -> None:
        self.timer = None
        if self.active == 0:
            loop.run_in_executor(None, release_unused)


_idle_release = _IdleRelease(_IDLE_RELEASE_SECONDS)


def _writes(piece: Piece) -> Iterator[Piece]:
    """``piece`` in writes of at most :data:`_WRITE_BYTES` (views: nothing is copied)."""
    view = memoryview(piece)
    if view.nbytes <= _WRITE_BYTES:
        yield piece
        return
    for at in range(0, view.nbytes, _WRITE_BYTES):
        yield view[at : at + _WRITE_BYTES]


def _gather(
    body: Iterator[Piece], release: bool = False, limit: int = _GATHER_BYTES
) -> list[Piece] | None:
    """The next pieces of ``body`` up to about ``limit`` bytes (None when it has ended): one
    trip to the thread pool for many pieces (an Arrow batch is a dozen buffers), and pieces
    smaller than :data:`_SMALL_BYTES` joined into one write. ``release``: first return the
    allocator's unused memory to the system."""
    if release:
        pa.default_memory_pool().release_unused()
    pieces: list[Piece] = []
    small: list[Piece] = []
    size = 0
    ended = False
    while size < limit:
        piece = next(body, None)
        if piece is None:
            ended = True
            break
        nbytes = memoryview(piece).nbytes
        if nbytes < _SMALL_BYTES:
            small.append(piece)
        else:
            if small:
                pieces.append(b"".join(small))
                small = []
            pieces.append(piece)
        size += nbytes
    if small:
        pieces.append(b"".join(small))
    return None if ended and not pieces else pieces


async def _pipelined(first: Piece, body: Iterator[Piece]) -> AsyncIterator[Piece]:
    """Send ``first``, then the rest of ``body`` in gathers of up to :data:`_GATHER_BYTES`:
    each is produced on the thread pool (reading and encoding, a few slices ahead) and then
    sent in writes of :data:`_WRITE_BYTES`.

    The next gather is not produced while one is sent: on two cores, the encoder's threads
    and the event loop's writes then contend for the cores and the GIL, and the answer
    costs more than the overlap saves. Measured against producing the next 1 MiB while
    sending (paired requests, alternating servers, a year of 50 series; raw Arrow, raw JSON
    series layout, rows layout, hourly JSON): latency with one client 0.92x, 0.86x, 0.93x,
    0.86x (server CPU 0.90-0.98x); p50 with 8 clients 0.88-0.89x, 0.95-1.01x, 1.02-1.04x,
    0.94x. The price is memory: each stream holds up to a gather more, and 8 concurrent
    year-long answers peaked at 180-280 MiB more RSS (rows JSON 1078-1090 MiB against
    795-901). Gathers of 32 MiB were as fast, but a 10-year stream's memory grew by 34-42
    MiB from its first 30 % to its second half (16 MiB: 3-17 MiB, 1 MiB before: flat too).
    """
    idle = _idle_release
    sent = 0
    released = _LONG_STREAM_BYTES - _RELEASE_BYTES  # the first release once the stream is long
    idle.started()
    try:
        pieces: list[Piece] | None = [first]
        while pieces is not None:
            for piece in pieces:
                for write in _writes(piece):
                    sent += memoryview(write).nbytes
                    yield write
            release = sent - released >= _RELEASE_BYTES
            released = sent if release else released
            pieces = await anyio.to_thread.run_sync(_gather, body, release)
    finally:
        if hasattr(body, "close"):
            await anyio.to_thread.run_sync(body.close)
        idle.ended()


async def respond(
    state: ApiState,
    *,
    key: str,
    fmt: str,
    cacheable: bool,
    produce: Iterator[Piece],
    headers: dict[str, str],
) -> Response:
    """The response for a body produced by ``produce``: whole and cached when small,
    streamed otherwise; ``ETag`` from ``key`` either way."""
    etag = f'"{key[:32]}"'
    headers = {**headers, "ETag": etag}
    media_type = MEDIA_TYPES[fmt]
    if cacheable:
        body = b"".join(await in_thread(list, produce))
        if len(body) <= state.options.cache_max_bytes:
            await state.cache.set(key, CachedResponse(media_type, body, headers))
        return Response(body, media_type=media_type, headers={**headers, "X-Cache": "miss"})
    first = await anyio.to_thread.run_sync(next, produce, None)
    return StreamingResponse(
        _pipelined(first or b"", produce), media_type=media_type, headers=headers
    )


async def cached(
    request: Request, state: ApiState, key: str, *, lookup: bool = True
) -> Response | None:
    """A 304 when the client has this version, else a cached response for ``key`` (when
    ``lookup``), else None."""
    etag = f'"{key[:32]}"'
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={"ETag": etag})
    if not lookup or "no-cache" in request.headers.get("cache-control", ""):
        return None
    hit = await state.cache.get(key)
    state.metrics.cache.labels("hit" if hit else "miss").inc()
    if hit is None:
        return None
    return Response(hit.body, media_type=hit.media_type, headers={**hit.headers, "X-Cache": "hit"})


async def json_cached(
    request: Request,
    state: ApiState,
    key: str,
    build: Callable[[], BaseModel | Sequence[BaseModel]],
) -> Response:
    """A JSON answer built by ``build`` (in the thread pool) unless cached under ``key``."""
    if (hit := await cached(request, state, key)) is not None:
        return hit
    value = await in_thread(build)
    if not isinstance(value, BaseModel):
        body = b"[" + b",".join(item.model_dump_json().encode() for item in value) + b"]"
    else:
        body = value.model_dump_json().encode()
    headers = {"ETag": f'"{key[:32]}"'}
    if len(body) <= state.options.cache_max_bytes:
        await state.cache.set(key, CachedResponse("application/json", body, headers))
    return Response(body, media_type="application/json", headers={**headers, "X-Cache": "miss"})


__all__ = ["cached", "json_cached", "respond"]
