"""bench_pi_call's soak: the same call held for N minutes, the appliance sampled each minute.

Each minute is one of bench_pi_call's steady-state windows (CPU, PSS, pictures shown per
tile, the room's audio concealment, the event loop's lateness over that minute) plus the
appliance's thread count and open file descriptors. The summary compares the first
fifth of the run with the last fifth and fits a least-squares slope per hour to each
figure: "nothing growing" means slopes near zero and the last fifth like the first.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import psutil

FIGURES = ("pss_mib", "threads", "open_fds", "loop_p99_ms", "cpu_percent_of_one_core",
           "audio_concealed_percent", "min_fps_shown")


def process_counts(pid: int) -> dict[str, int]:
    proc = psutil.Process(pid)
    return {"threads": proc.num_threads(), "open_fds": proc.num_fds()}


def minute_sample(minute: int, steady: dict[str, Any], pid: int) -> dict[str, Any]:
    """The figures a soak follows, from one steady-state window of bench_pi_call."""
    app = steady["appliance"]
    loop = app.get("event_loop_lateness") or {}
    shown = [v for v in (app.get("fps_shown") or {}).values() if v is not None]
    return {"minute": minute, "pss_mib": app.get("pss_end_mib"), **process_counts(pid),
            "loop_p50_ms": loop.get("late_p50_ms"), "loop_p99_ms": loop.get("late_p99_ms"),
            "loop_max_ms": loop.get("late_max_ms"),
            "loop_stalls_since_start": loop.get("stalls_over_50ms"),
            "cpu_percent_of_one_core": app.get("cpu_percent_of_one_core"),
            "audio_concealed_percent": app.get("audio_concealed_percent"),
            "fps_shown": app.get("fps_shown"), "min_fps_shown": min(shown) if shown else None,
            "screen_pictures_per_s": app.get("screen_pictures_per_s"),
            "throttled_s": app.get("throttled_s"),
            "loadavg_1m": round(os.getloadavg()[0], 2)}


def trend(series: list[dict[str, Any]], key: str) -> dict[str, Any]:
    points = [(s["minute"], float(s[key])) for s in series if s.get(key) is not None]
    if len(points) < 2:
        return {"points": len(points)}
    x, y = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    fifth = max(1, len(points) // 5)
    return {"first_fifth": round(float(y[:fifth].mean()), 2),
            "last_fifth": round(float(y[-fifth:].mean()), 2),
            "min": round(float(y.min()), 2), "max": round(float(y.max()), 2),
            "slope_per_hour": round(float(np.polyfit(x, y, 1)[0]) * 60, 3)}


async def soak(minutes: int, pid: int,
               window: Callable[[float], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """`window(seconds)` is bench_pi_call's steady state over that many seconds."""
    series = []
    for minute in range(1, minutes + 1):
        sample = minute_sample(minute, await window(60.0), pid)
        series.append(sample)
        print(f"[bench_pi_call] soak minute {minute}: " + ", ".join(
            f"{k} {sample[k]}" for k in ("pss_mib", "threads", "open_fds", "loop_p99_ms",
                                         "cpu_percent_of_one_core", "audio_concealed_percent",
                                         "min_fps_shown", "loadavg_1m")),
              file=sys.stderr, flush=True)
    return {"minutes": minutes, "series": series,
            "trend": {key: trend(series, key) for key in FIGURES}}


def soak_table(s: dict[str, Any]) -> str:
    rows = [f"  soak {s['minutes']} min (first fifth -> last fifth, slope per hour):"]
    for key, t in s["trend"].items():
        if "slope_per_hour" in t:
            rows.append(f"    {key:<26} {t['first_fifth']:>9} -> {t['last_fifth']:<9} "
                        f"[{t['min']} .. {t['max']}]  {t['slope_per_hour']:+}/h")
    return "\n".join(rows)
