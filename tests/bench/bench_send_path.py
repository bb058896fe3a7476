"""CPU per frame of the video send path at 1280×720@30, passthrough vs aiortc's encoder; JSON.

    .venv/bin/python tests/bench/bench_send_path.py [--frames N] [--width W --height H]

Both paths get the same pictures (the simulated camera's test pattern, plain
and with sensor-like noise, which is what makes real video expensive):

- `passthrough`: the appliance's path. The camera stand-in draws and encodes
  (x264 ultrafast/zerolatency, as a Pi 5 would; a Pi 4 encodes in hardware),
  measured separately as `camera_draw` and `camera_encode`; then what runs
  per frame in the event loop: `EncodedVideoTrack`'s packet wrapping plus
  aiortc's `H264Encoder.pack` (`track_and_packetize`).
- `aiortc_encode`: a plain VideoFrame track; aiortc's own `H264Encoder.encode`
  (its libx264 defaults) encodes and packetizes every frame.

CPU is process CPU time (all threads: x264 runs several) around each step,
so "ms" are CPU-ms per frame; `cores_at_fps` is the share of one core the
step would take at the configured rate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aiortc.codecs.h264 import H264Encoder

from appliance.devices.camera import EncodedFrame
from appliance.devices.camera_simulated import SimulatedCamera
from appliance.media.video import access_unit_packet


def _summary(samples: list[float], fps: float) -> dict[str, float]:
    ordered = sorted(samples)
    mean = statistics.fmean(samples)
    return {
        "mean_ms": round(mean * 1000, 3),
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 3),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 3),
        "cores_at_fps": round(mean * fps, 3),
    }


def _cpu(step: Callable[[], Any]) -> tuple[float, Any]:
    start = time.process_time()
    result = step()
    return time.process_time() - start, result


def _pictures(camera: SimulatedCamera, count: int, noise: bool) -> list[av.VideoFrame]:
    """The camera's pictures, made up front so drawing is not charged to encoders."""
    rng = np.random.default_rng(1)
    frames = []
    for i in range(count):
        frame = camera.capture_frame()
        frame.pts = round(i * 90_000 / camera.fps)  # as if captured in real time
        if noise:
            planes = frame.to_ndarray()
            grain = rng.normal(0, 4, planes.shape)
            planes = np.clip(planes + grain, 0, 255).astype(np.uint8)
            noisy = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            noisy.pts, noisy.time_base, noisy.opaque = frame.pts, frame.time_base, frame.opaque
            frame = noisy
        frames.append(frame)
    return frames


def bench_content(
    width: int, height: int, fps: float, bitrate: int, frames: int, noise: bool
) -> dict[str, object]:
    camera = SimulatedCamera(width, height, fps, bitrate)
    camera.capture_frame()  # warm-up: the first picture prepares the colour bars
    draw = [_cpu(camera.capture_frame)[0] for _ in range(frames)]
    pictures = _pictures(camera, frames, noise)

    encode: list[float] = []
    packetize: list[float] = []
    payloads = 0
    sizes = 0
    packer = H264Encoder()
    for picture in pictures:
        cpu, units = _cpu(partial(camera.encode, picture))
        encode.append(cpu)
        for unit in units:
            cpu, (rtp_payloads, _) = _cpu(partial(_track_and_pack, packer, unit))
            packetize.append(cpu)
            payloads += len(rtp_payloads)
            sizes += len(unit.data)

    aiortc_encoder = H264Encoder()
    aiortc_encoder.target_bitrate = bitrate
    own: list[float] = []
    own_payloads = 0
    for picture in pictures:
        cpu, (rtp_payloads, _) = _cpu(partial(aiortc_encoder.encode, picture, False))
        own.append(cpu)
        own_payloads += len(rtp_payloads)

    return {
        "passthrough": {
            "camera_draw": _summary(draw, fps),
            "camera_encode": _summary(encode, fps),
            "track_and_packetize": _summary(packetize, fps),
            "rtp_packets_per_frame": round(payloads / frames, 2),
            "kbit_per_s": round(sizes * 8 * fps / frames / 1000),
        },
        "aiortc_encode": {
            "encode_and_packetize": _summary(own, fps),
            "rtp_packets_per_frame": round(own_payloads / frames, 2),
        },
        # What sending costs once a picture exists: encode + packetize on each path.
        "send_cpu_ms_per_frame": {
            "passthrough": round(
                (statistics.fmean(encode) + statistics.fmean(packetize)) * 1000, 3
            ),
            "aiortc": round(statistics.fmean(own) * 1000, 3),
        },
    }


def _track_and_pack(packer: H264Encoder, unit: EncodedFrame) -> tuple[list[bytes], int]:
    """Exactly the per-frame work of EncodedVideoTrack.recv() and RTCRtpSender."""
    return packer.pack(access_unit_packet(unit))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--bitrate", type=int, default=1_500_000)
    args = parser.parse_args()
    settings = (args.width, args.height, args.fps, args.bitrate, args.frames)
    result = {
        "benchmark": "send_path",
        "size": f"{args.width}x{args.height}",
        "fps": args.fps,
        "bitrate": args.bitrate,
        "frames": args.frames,
        "host": {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "loadavg_1m_before": round(os.getloadavg()[0], 2),
        "pattern": bench_content(*settings, noise=False),
        "noisy_pattern": bench_content(*settings, noise=True),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
