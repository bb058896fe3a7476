"""A long simulated call: does latency or memory grow? Prints per-minute figures and JSON.

    scripts/in-netns .venv/bin/python tests/bench/soak_call.py [--minutes 60] [--loss 1]

Not part of `make bench` (it takes an hour by default). The call is
tests/bench/media_call.py's: the appliance's H.264 passthrough camera at
1280×720@30 and three microphones (one clicking for mouth-to-ear, two whose
sample clocks are +200 and −200 ppm off) through two aiortc peers into the
appliance's receive path (FrameSlot, RemoteAudioMixer with drift compensation).
--loss drops that % of UDP packets at random (nftables in the netns). The call runs on
the appliance's event loop (uvloop; --loop asyncio for comparison) and glibc's
allocator as the appliance uses it; --mmap-threshold-kib N fixes glibc's mmap
threshold instead, for comparison (bench_heap.py). Each minute's memory is split by
who holds it (tests/bench/memory_breakdown.py).

Every minute (stderr): video capture→decoded p50/p95, audio mouth-to-ear
p50/p95, each source's jitter-buffer fill and rate adjustment, underruns and
dropped audio so far, RSS and CPU. At the end (stdout, JSON): the series, and
for each figure the first fifth of the run against the last fifth and a
least-squares slope per hour. "No growth" means those slopes stay near zero
and the last fifth looks like the first.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from appliance.service.runtime import run_event_loop
from tests.bench.media_call import (
    MediaCall,
    cpu_seconds,
    percentile,
    rss_mib,
    sample_for,
    udp_loss,
)
from tests.bench.memory_breakdown import fix_mmap_threshold, memory_breakdown

ALLOCATOR_ENV = ("LD_PRELOAD", "GLIBC_TUNABLES", "PYTHONMALLOC")
FIGURES = ("video_p50_ms", "audio_p50_ms", "audio_buffered_ms", "rss_mib")


def minute_record(call: MediaCall, minute: int, clicks_before: int, cpu_before: float,
                  wall_before: float) -> dict[str, Any]:
    audio = call.audio_state()
    mouth = call.mouth_to_ear_ms(since=clicks_before)
    video = call.video_delays_ms
    buffered = list(audio["buffered_ms"].values())
    return {
        "minute": minute,
        "video_p50_ms": _round(percentile(video, 0.5)),
        "video_p95_ms": _round(percentile(video, 0.95)),
        "audio_p50_ms": _round(percentile(mouth, 0.5)),
        "audio_p95_ms": _round(percentile(mouth, 0.95)),
        "audio_buffered_ms": round(float(np.mean(buffered)), 1) if buffered else None,
        "rate_adjust_ppm": audio["rate_adjust_ppm"],
        "underruns_total": audio["underruns"],
        "dropped_ms_total": audio["dropped_ms"],
        "concealed_ms_total": audio["concealed_ms"],
        "loop_lag_p99_ms": _round(percentile(call.loop_lag_ms, 0.99)),
        "loop_lag_max_ms": _round(max(call.loop_lag_ms, default=None)),
        "rss_mib": round(rss_mib(), 1),
        **memory_breakdown(),
        "gc_objects": len(gc.get_objects()),
        "cpu_cores": round((cpu_seconds() - cpu_before) / (time.monotonic() - wall_before), 3),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def trend(series: list[dict[str, Any]], key: str) -> dict[str, float | None]:
    points = [(r["minute"], r[key]) for r in series if r[key] is not None]
    if len(points) < 3:
        return {"first_fifth": None, "last_fifth": None, "slope_per_hour": None}
    minutes, values = np.array(points, dtype=float).T
    fifth = max(1, len(values) // 5)
    slope = float(np.polyfit(minutes, values, 1)[0]) * 60
    return {"first_fifth": round(float(np.median(values[:fifth])), 1),
            "last_fifth": round(float(np.median(values[-fifth:])), 1),
            "slope_per_hour": round(slope, 2)}


async def soak(minutes: int) -> dict[str, Any]:
    call = MediaCall()
    await call.start()
    await sample_for(call, 5.0)  # settle before the first minute counts
    series = []
    for minute in range(1, minutes + 1):
        call.video_delays_ms.clear()
        call.loop_lag_ms.clear()
        clicks, cpu, wall = len(call.detector.heard), cpu_seconds(), time.monotonic()
        await sample_for(call, 60.0)
        measuring = time.monotonic()
        record = minute_record(call, minute, clicks, cpu, wall)
        # This runs on the call's loop: its own stall, so it can be told from the call's.
        record["record_ms"] = round((time.monotonic() - measuring) * 1000, 1)
        series.append(record)
        print(json.dumps(record), file=sys.stderr, flush=True)
    await call.stop()
    return {"series": series, "trends": {key: trend(series, key) for key in FIGURES}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--loss", type=float, default=0.0, help="%% of UDP packets dropped")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                        help="event loop (uvloop: the appliance's, appliance.service.runtime)")
    parser.add_argument("--mmap-threshold-kib", type=int, default=0,
                        help="fix glibc's mmap threshold (0: glibc's own, as the appliance runs)")
    args = parser.parse_args()
    if os.environ.get("SALON_IN_NETNS") != "1":
        raise SystemExit("soak_call: run it under scripts/in-netns (aioice skips lo)")
    threshold_fixed = bool(args.mmap_threshold_kib) and fix_mmap_threshold(
        args.mmap_threshold_kib * 1024)
    started = time.time()
    result = {
        "benchmark": "soak_call",
        "minutes": args.minutes,
        "loss_percent": args.loss,
        "loop": args.loop,
        "mmap_threshold_kib": args.mmap_threshold_kib if threshold_fixed else None,
        "allocator_env": {k: v for k, v in os.environ.items()
                          if k in ALLOCATOR_ENV or k.startswith("MALLOC_")},
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(),
                 "python": platform.python_version()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
    }
    with udp_loss(args.loss):
        run = run_event_loop if args.loop == "uvloop" else asyncio.run
        result.update(run(soak(args.minutes)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
