"""Giving freed memory back to the system: glibc's `malloc_trim`, now and then.

In a long call the event loop's thread frees most of what it allocates (RTP
packets, audio chunks, frames), but glibc keeps freed heap pages for reuse, and
under CPU contention — bursts of packets and frames — the main heap's RSS kept
growing by ~1 MiB a minute without any live object growing (docs/performance.md).
`malloc_trim(0)` returns every free page inside the heap; calling it every
TRIM_INTERVAL_S held RSS flat in the same starved call. Not glibc (musl, macOS):
nothing to do.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

TRIM_INTERVAL_S = 30.0


def malloc_trim() -> Callable[[], int] | None:
    """glibc's malloc_trim(0) as a callable returning 1 if memory was released, or None."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is None:
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: int(trim(0))


async def trim_heap_periodically(interval_s: float = TRIM_INTERVAL_S) -> None:
    """Run until cancelled; a no-op where the C library has no malloc_trim."""
    trim = malloc_trim()
    if trim is None:
        log.info("no malloc_trim in this C library: freed heap pages stay with the process")
        return
    while True:
        await asyncio.sleep(interval_s)
        # In a thread (ctypes lets the GIL go): a trim walks the whole heap, 3 ms for a
        # 115 MiB one here and 40 ms when it returns a lot, which the loop must not wait.
        await asyncio.to_thread(trim)
