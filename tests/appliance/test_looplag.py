"""The event loop's lateness, as /healthz "loop" reports it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time

from appliance.service.looplag import LoopLag


async def test_a_blocked_loop_shows_as_a_stall_and_an_idle_one_does_not() -> None:
    lag = LoopLag(period=0.01)
    assert lag.report() == {"samples": 0}
    task = asyncio.create_task(lag.run())
    await asyncio.sleep(0.2)
    stalls = lag.stalls
    time.sleep(0.12)  # a callback that holds the loop for 120 ms
    await asyncio.sleep(0.05)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    report = lag.report()
    assert lag.stalls > stalls
    assert report["late_max_ms"] >= 100 and report["samples"] >= 5


async def test_garbage_collections_are_timed_while_it_runs() -> None:
    lag = LoopLag(period=0.01)
    task = asyncio.create_task(lag.run())
    await asyncio.sleep(0.02)
    gc.collect()  # a full collection: generation 2
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert lag.report()["gc"]["collections"][2] >= 1
    gc.collect()
    assert lag.gc_pauses[2] == lag.report()["gc"]["collections"][2]  # no longer watching
