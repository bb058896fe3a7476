"""glibc's malloc_trim gives a fragmented heap's free pages back (appliance/service/heap.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appliance.service.heap import malloc_trim, trim_heap_periodically


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(malloc_trim() is None, reason="not glibc")
def test_trimming_returns_the_free_pages_of_a_fragmented_heap() -> None:
    trim = malloc_trim()
    assert trim is not None
    trim()
    # 60 MiB of 4 KiB blocks from malloc (bytes beyond pymalloc's 512), then all but
    # every 64th freed: the survivors pin the heap, so glibc keeps the pages in between.
    blocks = [bytes(4000) for _ in range(15_000)]
    kept = blocks[::64]
    del blocks
    fragmented = rss_kib()
    assert trim() == 1
    assert fragmented - rss_kib() > 30 * 1024  # most of the 60 MiB went back
    assert len(kept) == 235  # the survivors stayed alive through the trim


async def test_the_trimming_task_runs_until_cancelled() -> None:
    task = asyncio.create_task(trim_heap_periodically(interval_s=0.01))
    await asyncio.sleep(0.1)
    assert not task.done()  # trimming, not returned early (glibc here)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
