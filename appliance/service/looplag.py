"""How late the event loop runs what is due: the figure that explains bursty audio.

Everything the network and the microphone track need runs on one asyncio loop;
when a callback (or another thread holding the GIL, or a CPU quota) keeps it
busy, RTP packets leave in bursts and the far end's jitter buffer grows. A
`LoopLag` task asks to wake every `period` (50 ms: 20 wake-ups a second, little for a
loop that is short of CPU) and records how late it woke; /healthz
"loop" reports the last minute's percentiles and the stalls over 50 ms, and the
garbage collector's pauses (which stop every Python thread) beside them.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import time
from typing import Any

import numpy as np

STALL_MS = 50.0


class LoopLag:
    """Samples the loop's lateness; `report()` is the /healthz section."""

    def __init__(self, period: float = 0.05, window_s: float = 60.0) -> None:
        self.period = period
        self._late_ms: collections.deque[float] = collections.deque(
            maxlen=max(1, round(window_s / period)))
        self.stalls = 0  # wake-ups later than STALL_MS, since start
        self.worst_ms = 0.0
        self.gc_pauses = [0, 0, 0]  # collections per generation, since start
        self.gc_max_ms = [0.0, 0.0, 0.0]
        self.gc_total_ms = 0.0
        self._gc_started = 0.0

    def watch_gc(self) -> None:
        """Time every collection (gc.callbacks; stop with `unwatch_gc`)."""
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def unwatch_gc(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        generation = min(2, max(0, info.get("generation", 0)))
        pause = 1000 * (time.perf_counter() - self._gc_started)
        self.gc_pauses[generation] += 1
        self.gc_max_ms[generation] = max(self.gc_max_ms[generation], pause)
        self.gc_total_ms += pause

    async def run(self) -> None:
        self.watch_gc()
        try:
            while True:
                due = time.monotonic() + self.period
                await asyncio.sleep(self.period)
                self.note(1000 * (time.monotonic() - due))
        finally:
            self.unwatch_gc()

    def note(self, late_ms: float) -> None:
        late_ms = max(0.0, late_ms)
        self._late_ms.append(late_ms)
        self.stalls += late_ms > STALL_MS
        self.worst_ms = max(self.worst_ms, late_ms)

    def report(self) -> dict[str, Any]:
        if not self._late_ms:
            return {"samples": 0}
        late = np.fromiter(self._late_ms, float)
        p50, p99 = np.percentile(late, [50, 99])
        return {"samples": int(late.size), "late_p50_ms": round(float(p50), 1),
                "late_p99_ms": round(float(p99), 1),
                "late_max_ms": round(float(late.max()), 1),
                "stalls_over_50ms": self.stalls, "worst_ms": round(self.worst_ms, 1),
                "gc": {"collections": list(self.gc_pauses),
                       "max_pause_ms": [round(ms, 1) for ms in self.gc_max_ms],
                       "total_pause_ms": round(self.gc_total_ms, 1)}}
