"""Where a process's resident memory is: for the soak's per-minute record.

RSS alone cannot tell a leak from an allocator keeping freed pages. This splits
it by who holds the pages:

- `heap_rss_mib`, `anon_big_rss_mib`, `anon_small_rss_mib`, `file_rss_mib`: the
  kernel's view from /proc/self/smaps — the brk heap, anonymous maps of at least
  1 MiB (glibc's mmapped chunks, thread arenas, pymalloc arenas), smaller
  anonymous maps, and mapped files (libraries);
- `malloc_used_mib` / `malloc_free_mib`: glibc's own books (mallinfo2) — bytes in
  live chunks, and bytes freed but kept (fragmentation, or not yet trimmed);
- `pymalloc_arenas` / `pymalloc_used_mib`: Python's small-object allocator, whose
  arenas are mmapped directly and so invisible to malloc's books.

A live-memory leak shows as `malloc_used_mib` or `pymalloc_used_mib` growing; an
allocator holding freed memory as `malloc_free_mib` or arenas outgrowing use.

`fix_mmap_threshold` sets up glibc as a comparison in bench_heap.py and soak_call.py
does (not as the appliance runs: see docs/performance.md, "Memory in a long call").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import sys
import tempfile
from functools import cache
from pathlib import Path

MIB = 1024 * 1024
M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
_MAP_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


def fix_mmap_threshold(threshold: int) -> bool:
    """mallopt(M_MMAP_THRESHOLD, threshold): blocks this big or bigger are mapped from the
    kernel for their life, and glibc no longer raises the threshold as it frees them."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))


def smaps_rss_mib() -> dict[str, float]:
    totals = {"heap_rss_mib": 0.0, "anon_big_rss_mib": 0.0, "anon_small_rss_mib": 0.0,
              "file_rss_mib": 0.0}
    key = None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        header = _MAP_HEADER.match(line)
        if header:
            start, end, path = int(header[1], 16), int(header[2], 16), header[3]
            key = _map_kind(end - start, path)
        elif line.startswith("Rss:") and key is not None:
            totals[key] += int(line.split()[1]) / 1024
    return {name: round(value, 1) for name, value in totals.items()}


def _map_kind(size: int, path: str) -> str | None:
    if path == "[heap]":
        return "heap_rss_mib"
    if path.startswith("["):  # stacks, vdso, vvar
        return None
    if path:
        return "file_rss_mib"
    return "anon_big_rss_mib" if size >= MIB else "anon_small_rss_mib"


def malloc_books_mib() -> dict[str, float]:
    mallinfo2 = getattr(_libc(), "mallinfo2", None)
    if mallinfo2 is None:
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return {"malloc_used_mib": round((info.uordblks + info.hblkhd) / MIB, 1),
            "malloc_free_mib": round(info.fordblks / MIB, 1)}


def malloc_arenas_mib() -> list[dict[str, float]]:
    """Per glibc arena (0 is the main thread's heap): memory it holds and how much is free.

    From malloc_info(3)'s XML; a thread arena (the codec and executor threads') whose
    `system` grows while `free` grows with it is fragmentation, not live memory.
    """
    libc = _libc()
    if libc is None or not hasattr(libc, "malloc_info") or not hasattr(libc, "open_memstream"):
        return []
    buf, size = ctypes.c_char_p(), ctypes.c_size_t()
    libc.open_memstream.restype = ctypes.c_void_p
    libc.open_memstream.argtypes = [ctypes.POINTER(ctypes.c_char_p),
                                    ctypes.POINTER(ctypes.c_size_t)]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    stream = libc.open_memstream(ctypes.byref(buf), ctypes.byref(size))
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    xml = (buf.value or b"").decode()
    libc.free.argtypes = [ctypes.c_char_p]
    libc.free(buf)
    arenas = []
    for heap in re.findall(r'<heap nr="\d+">(.*?)</heap>', xml, re.S):
        free = sum(int(n) for n in re.findall(r'<total type="(?:fast|rest)" count="\d+" '
                                              r'size="(\d+)"', heap))
        system = re.search(r'<system type="current" size="(\d+)"', heap)
        arenas.append({"system_mib": round(int(system[1]) / MIB, 1) if system else 0.0,
                       "free_mib": round(free / MIB, 1)})
    return arenas


def pymalloc_stats() -> dict[str, float]:
    """From sys._debugmallocstats, which writes to the C-level stderr."""
    if not hasattr(sys, "_debugmallocstats"):
        return {}
    with tempfile.TemporaryFile(mode="w+") as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(capture.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read()
    arenas = re.search(r"# arenas allocated current\s*=\s*([\d,]+)", text)
    used = re.search(r"# bytes in allocated blocks\s*=\s*([\d,]+)", text)
    if not arenas or not used:
        return {}
    return {"pymalloc_arenas": int(arenas[1].replace(",", "")),
            "pymalloc_used_mib": round(int(used[1].replace(",", "")) / MIB, 1)}


def memory_breakdown() -> dict[str, object]:
    return {**smaps_rss_mib(), **malloc_books_mib(), **pymalloc_stats(),
            "malloc_arenas": malloc_arenas_mib()}
