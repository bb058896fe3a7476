"""CPU of the video receive path per remote tile: decode once, convert once per shown frame.

    .venv/bin/python tests/bench/bench_receive_path.py [--frames N]

For each incoming stream (H.264 and VP8, 1280×720 and 640×360, the test pattern
with sensor-like noise) the exact per-frame work of the appliance:
- `decode`: aiortc's own decoder classes (what RTCRtpReceiver's decoder thread
  runs; H.264 through FFmpeg, VP8 through libvpx);
- `convert`: what `FrameSlot.rgb(w, h)` computes, the YUV→RGB conversion and
  scaling to the tile, which the screen asks for at most once per frame and size
  (`TileConverter`: one kept libswscale context per size); and, for the 640×360
  tile, the same through a new context per frame as before 2026-12-05
  (`convert_fresh_context_per_frame`).

CPU is process CPU time per frame ("ms"); `cores_at_30fps` is the share of one
core a tile costs when it shows every frame of a 30 fps stream. Prints JSON.
"""

from __future__ import annotations

import argparse
import fractions
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aiortc.codecs.h264 import H264Decoder
from aiortc.codecs.vpx import Vp8Decoder
from aiortc.jitterbuffer import JitterFrame

from appliance.devices.testpattern import TestPattern
from appliance.media.slots import TileConverter

TILES = [(1920, 1080), (960, 540), (640, 360), (480, 270), (320, 180)]
FPS = 30


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    mean = statistics.fmean(samples)
    return {"mean_ms": round(mean * 1000, 3),
            "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 3),
            "cores_at_30fps": round(mean * FPS, 3)}


def pictures(width: int, height: int, count: int) -> list[av.VideoFrame]:
    pattern, rng = TestPattern(width, height), np.random.default_rng(1)
    frames = []
    for i in range(count):
        planes = pattern.render_i420(1_790_000_000_000.0 + i * 1000 / FPS).astype(np.int16)
        planes += rng.normal(0, 4, planes.shape).astype(np.int16)  # sensor noise
        frame = av.VideoFrame.from_ndarray(np.clip(planes, 0, 255).astype(np.uint8),
                                           format="yuv420p")
        frame.pts = i
        frames.append(frame)
    return frames


def encode(codec: str, frames: list[av.VideoFrame], bitrate: int) -> list[bytes]:
    """The stream a participant would send (browser-like real-time settings)."""
    ctx = av.CodecContext.create("libx264" if codec == "h264" else "libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
    ctx.time_base = fractions.Fraction(1, FPS)
    ctx.bit_rate = bitrate
    ctx.options = ({"preset": "veryfast", "tune": "zerolatency", "profile": "baseline"}
                   if codec == "h264" else {"deadline": "realtime", "cpu-used": "8",
                                            "lag-in-frames": "0"})
    out = [bytes(p) for f in frames for p in ctx.encode(f)]
    out += [bytes(p) for p in ctx.encode(None)]
    return out


def convert_fresh_context(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """What `FrameSlot.rgb` did before 2026-12-05: a new libswscale context (and its
    slice threads) for every new frame."""
    return np.asarray(frame.to_ndarray(format="rgb24", width=width, height=height), np.uint8)


def convert_times(frames: list[av.VideoFrame], width: int, height: int,
                  fresh: bool) -> list[float]:
    """CPU per conversion, the way FrameSlot converts now (`TileConverter`) or did."""
    converter, samples = TileConverter(), []
    for frame in frames:
        started = time.process_time()
        if fresh:
            convert_fresh_context(frame, width, height)
        else:
            converter.rgb(frame, (width, height))
        samples.append(time.process_time() - started)
    return samples


def bench_stream(codec: str, width: int, height: int, count: int) -> dict[str, Any]:
    units = encode(codec, pictures(width, height, count), bitrate=1_500_000 * width // 1280)
    decoder = H264Decoder() if codec == "h264" else Vp8Decoder()
    decode: list[float] = []
    decoded: list[av.VideoFrame] = []
    for i, data in enumerate(units):
        started = time.process_time()
        frames = decoder.decode(JitterFrame(data=data, timestamp=i * 3000))
        decode.append(time.process_time() - started)
        decoded += [f for f in frames if isinstance(f, av.VideoFrame)]
    convert = {f"{w}x{h}": summary(convert_times(decoded, w, h, fresh=False)) for w, h in TILES}
    fresh = {f"{w}x{h}": summary(convert_times(decoded, w, h, fresh=True))
             for w, h in TILES[2:3]}  # the 2×2 grid's tile, for comparison
    per_tile = {size: round(statistics.fmean(decode) * 1000 + c["mean_ms"], 3)
                for size, c in convert.items()}
    return {"decode": summary(decode), "convert": convert,
            "convert_fresh_context_per_frame": fresh,
            "kbit_per_s": round(sum(map(len, units)) * 8 * FPS / len(units) / 1000),
            "per_tile_cpu_ms_per_frame": per_tile}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    args = parser.parse_args()
    result: dict[str, Any] = {
        "benchmark": "receive_path",
        "frames": args.frames,
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(),
                 "python": platform.python_version()},
        "loadavg_1m_before": round(os.getloadavg()[0], 2),
    }
    for codec in ("h264", "vp8"):
        for width, height in ((1280, 720), (640, 360)):
            result[f"{codec}_{width}x{height}"] = bench_stream(codec, width, height, args.frames)
    result["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
