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
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import sys
import tempfile
from pathlib import Path

MIB = 1024 * 1024
_MAP_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


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
    name = ctypes.util.find_library("c")
    mallinfo2 = getattr(ctypes.CDLL(name), "mallinfo2", None) if name else None
    if mallinfo2 is None:
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return {"malloc_used_mib": round((info.uordblks + info.hblkhd) / MIB, 1),
            "malloc_free_mib": round(info.fordblks / MIB, 1)}


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


def memory_breakdown() -> dict[str, float]:
    return {**smaps_rss_mib(), **malloc_books_mib(), **pymalloc_stats()}
