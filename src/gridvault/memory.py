"""The process's C allocator: keep freed buffers for reuse while working, hand them back idle.

A read of a year of 50 series allocates and frees buffers of 0.1-30 MB over and over
(DuckDB's result, NumPy arrays, the API's 1 MiB writes). With its defaults glibc's malloc
serves each from fresh pages: its mmap threshold starts at 128 KiB and only rises after
such a buffer is freed, and it trims a heap's free top back to the system from 128 KiB on.
Every read then faults its pages in again: 16-18k page faults for that year, a quarter to
a third of the store's CPU for it (``bench/allocator.py``).

:func:`tune_allocator` sets a fixed mmap threshold and trim threshold once per process (the
store calls it when it is opened): buffers below 64 MiB come from the heap and stay there
for the next read. Memory then stays nearer the working set's high-water mark instead of
falling back between reads. :func:`release_unused`, which the API calls once it has been
idle for a while, hands back Arrow's cached memory and what ``malloc_trim`` can: the free
chunks inside malloc's heaps, not the free top of a thread's arena, which stays until that
arena's next ``free`` (the API server idles ~80 MiB above glibc's defaults after big
answers).

Nothing is changed where the C library is not glibc, or when ``GLIBC_TUNABLES`` already
sets a ``glibc.malloc`` tunable: whoever set it decides.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import threading

import pyarrow as pa

#: mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Buffers below this come from the heap (reused) instead of fresh mmap'd pages.
MMAP_THRESHOLD = 64 << 20
#: Free memory at a heap's top kept for reuse instead of trimmed back.
TRIM_THRESHOLD = 256 << 20

_lock = threading.Lock()
_tuned: bool | None = None


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """glibc, or None when the process's C library is another (musl, macOS, Windows)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not all(hasattr(libc, f) for f in ("gnu_get_libc_version", "mallopt", "malloc_trim")):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.malloc_trim.restype = ctypes.c_int
    return libc


def tune_allocator() -> bool:
    """Set glibc's mmap and trim thresholds (once per process). True when they are set:
    glibc, and no ``glibc.malloc`` tunable in ``GLIBC_TUNABLES``."""
    global _tuned  # noqa: PLW0603 - one setting per process
    with _lock:
        if _tuned is None:
            libc = _glibc()
            chosen = "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", "")
            _tuned = (
                libc is not None
                and not chosen
                and bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
                and bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
            )
        return _tuned


def release_unused() -> None:
    """Hand the memory the allocators keep for reuse back to the system: Arrow's pool and,
    on glibc, the free memory of malloc's heaps (``malloc_trim``)."""
    pa.default_memory_pool().release_unused()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "release_unused", "tune_allocator"]
