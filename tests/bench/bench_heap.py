"""The malloc heap in a call: what grows it, and what the two remedies tried would cost.

    .venv/bin/python tests/bench/bench_heap.py      # part of `make bench`

Each case runs in fresh interpreters, alternately; `fixed` is glibc with its mmap
threshold fixed at 128 KiB (every block that big mapped from the kernel for its life;
tests/bench/memory_breakdown.py), the remedy tried before uvloop.

1. `packets`: tests/support/packets_in_bursts.py — datagrams from a real UDP socket on
   127.0.0.1 queued as aioice queues them, a 1.4 MB picture per burst of 50, every
   25th packet kept alive — on asyncio's loop (with glibc's threshold and the fixed
   one) and on the appliance's (uvloop): heap growth and CPU per datagram.
2. `video`: the receive path's work per 720p H.264 frame — decode, then convert to a
   960×540 tile as `FrameSlot.rgb` does — in CPU ms.
3. `trim_stall`: `malloc_trim(0)` in a thread on a fragmented heap (as the appliance
   did in session 2): how long the main thread's own allocations wait meanwhile.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ROUNDS = 3

VIDEO = """
import json, sys, time
import av
from appliance.devices.testpattern import TestPattern
from tests.bench.memory_breakdown import fix_mmap_threshold

if sys.argv[1] == "fixed":
    assert fix_mmap_threshold(128 * 1024)
pattern, encoder = TestPattern(1280, 720), av.CodecContext.create("libx264", "w")
encoder.width, encoder.height, encoder.pix_fmt = 1280, 720, "yuv420p"
encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
packets = []
for i in range(150):
    frame = av.VideoFrame.from_ndarray(pattern.render_i420(i * 33.3), format="yuv420p")
    frame.pts = i
    packets += encoder.encode(frame)
decoder = av.CodecContext.create("h264", "r")
decode_s = convert_s = 0.0
for packet in packets:
    start = time.process_time()
    frames = decoder.decode(packet)
    decoded = time.process_time()
    for frame in frames:
        frame.to_ndarray(format="rgb24", width=960, height=540)
    decode_s += decoded - start
    convert_s += time.process_time() - decoded
print(json.dumps({"decode_ms": decode_s / len(packets) * 1000,
                  "convert_ms": convert_s / len(packets) * 1000}))
"""

TRIM_STALL = """
import ctypes, json, threading, time
libc = ctypes.CDLL("libc.so.6")
libc.malloc_trim.argtypes = [ctypes.c_size_t]
# 800 MB of 2 KB blocks, every 8th kept: a heap with many free pages between survivors.
blocks = [bytearray(2000) for _ in range(400_000)]
kept = blocks[::8]
del blocks

def longest_gap_ms(trim):
    took = []
    worker = threading.Thread(target=lambda: took.append(timed_trim())) if trim else None
    gaps, start = [], time.perf_counter()
    last = start
    if worker:
        worker.start()
    while time.perf_counter() - start < 0.5:
        block = bytes(700)  # a malloc beyond pymalloc, as the event loop makes many
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    if worker:
        worker.join()
    return max(gaps) * 1000, (took[0] if took else 0.0)

def timed_trim():
    start = time.perf_counter()
    libc.malloc_trim(0)
    return (time.perf_counter() - start) * 1000

without, _ = longest_gap_ms(False)
during, trim_ms = longest_gap_ms(True)
print(json.dumps({"longest_wait_ms_without": without, "longest_wait_ms_during_trim": during,
                  "trim_ms": trim_ms}))
"""


PACKETS = ["-m", "tests.support.packets_in_bursts"]
PACKET_CASES = {"asyncio": [*PACKETS, "asyncio"],
                "asyncio, fixed": [*PACKETS, "asyncio", "--mmap-threshold-kib", "128"],
                "appliance (uvloop)": [*PACKETS, "appliance"]}
VIDEO_CASES = {"glibc": ["-c", VIDEO, "glibc"], "fixed": ["-c", VIDEO, "fixed"]}


def run(args: list[str]) -> dict[str, float]:
    """One case in a fresh interpreter; its JSON line."""
    done = subprocess.run([sys.executable, *args], cwd=REPO, check=True,
                          capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    result: dict[str, float] = json.loads(done.stdout)
    return result


def alternately(cases: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Each case ROUNDS times, taking turns (so a noisy moment hits all alike); medians."""
    runs: dict[str, list[dict[str, float]]] = {case: [] for case in cases}
    for _ in range(ROUNDS):
        for case, args in cases.items():
            runs[case].append(run(args))
    return {case: {key: round(statistics.median(r[key] for r in case_runs), 2)
                   for key in case_runs[0] if isinstance(case_runs[0][key], int | float)}
            for case, case_runs in runs.items()}


def main() -> None:
    packets, video = alternately(PACKET_CASES), alternately(VIDEO_CASES)
    stall = alternately({"trim": ["-c", TRIM_STALL]})["trim"]
    print("packets (median of 3)   heap growth   CPU per datagram", file=sys.stderr)
    for case, p in packets.items():
        print(f"  {case:<20} {p['heap_growth_mib']:>8.1f} MiB {p['cpu_us_per_datagram']:>10.1f} µs",
              file=sys.stderr)
    for allocator, v in video.items():
        print(f"720p H.264 frame, {allocator}: decode {v['decode_ms']:.2f} ms, convert to "
              f"960×540 {v['convert_ms']:.2f} ms", file=sys.stderr)
    print(f"malloc_trim in a thread: {stall['trim_ms']:.0f} ms; the main thread's longest "
          f"wait {stall['longest_wait_ms_during_trim']:.0f} ms "
          f"(without a trim {stall['longest_wait_ms_without']:.1f} ms)", file=sys.stderr)
    result: dict[str, Any] = {"benchmark": "heap", "packets": packets, "video": video,
                              "trim_stall": stall}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
