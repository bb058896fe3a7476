"""The media figures only a real Raspberry Pi 4/5 can give; run it there, prints JSON.

    sudo -u salon /opt/salon/venv/bin/python tests/bench/pi_media_bench.py \\
        [--camera picamera2|v4l2|none] [--device /dev/video0] [--seconds 20] \\
        [--mic-pcm hw:CARD=ArrayUAC10,DEV=0 --mic-channels 6 --mic-format S16_LE \\
         --mic-rate 16000 --mic-channel 0] [--speaker-pcm default] [--acoustic]

Stop the salon-appliance service first (it holds the camera and the sound card).
Every section runs on its own and says "skipped" with the reason when its
hardware is not there:

- `camera`: the configured back-end at 1280×720@30 (or --width/--height/--fps):
  time from start to the first access unit, access units per second, process
  CPU per frame (Pi 4: the hardware encoder; Pi 5: libav x264 in picamera2),
  frames from a keyframe request to the keyframe, and the bitrate before and
  after halving it (does the encoder follow REMB while recording?).
- `receive_path`: decoding 720p/360p H.264 and VP8 and converting to tile
  sizes, per frame, on this CPU (tests/bench/bench_receive_path.py's code).
- `audio_processing`: AEC3+NS+HPF cost per 10 ms on this CPU, and the synthetic
  room's ERLE (tests/bench/bench_audio_path.py's code).
- `alsa`: capture from --mic-pcm and playback to --speaker-pcm for --seconds:
  overruns, underruns, periods of silence the speaker needed, the period and
  buffer the devices granted.
- `acoustic` (with --acoustic; needs a quiet room): clicks through the speaker
  into the microphone give the real speaker→microphone delay (compare with the
  echo canceller's delay hint), then speech-like far end for 15 s gives the
  real room's ERLE with the software canceller.
- `thermal`: SoC temperature before/after and `vcgencmd get_throttled`.
- `calibration_kernel_ms`: tests/bench/pi_budget.py's kernel timed on this board; its
  ratio to the same figure on the CI machine is the measured Pi-core fraction that
  replaces the published estimate in pi_budget.PUBLISHED.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from appliance.devices.alsa import AlsaMicrophone, AlsaSpeaker
from appliance.devices.audio import CHUNK_SAMPLES, SAMPLE_RATE, Microphone, Samples
from appliance.devices.camera import Camera, EncodedFrame
from appliance.devices.camera_picamera2 import Picamera2Camera
from appliance.devices.camera_v4l2 import V4l2Camera
from appliance.media.aec import EchoCancelledMicrophone, ProcessingStages
from appliance.media.roomsim import level_db, room_response, speech_like
from tests.bench.bench_audio_path import aec_cost, room_quality
from tests.bench.bench_receive_path import bench_stream
from tests.bench.pi_budget import kernel_ms


class Units:
    """A FrameOutput that counts what the camera delivers (camera thread)."""

    def __init__(self) -> None:
        self.units: list[tuple[float, EncodedFrame]] = []
        self.lock = threading.Lock()

    def output_frame(self, frame: EncodedFrame) -> None:
        with self.lock:
            self.units.append((time.monotonic(), frame))

    def since(self, t: float) -> list[tuple[float, EncodedFrame]]:
        with self.lock:
            return [u for u in self.units if u[0] >= t]


def cpu() -> float:
    return time.process_time()


def bench_camera(args: argparse.Namespace) -> dict[str, Any]:
    camera: Camera
    if args.camera == "none":
        return {"skipped": "--camera none"}
    if args.camera == "picamera2":
        camera = Picamera2Camera(args.width, args.height, args.fps, 2_000_000)
    else:
        camera = V4l2Camera(args.device, args.width, args.height, args.fps, 2_000_000)
    out, faults = Units(), []
    camera.add_health_listener(lambda h: faults.append(h.detail) if not h.ok else None)
    began = time.monotonic()
    camera.start(out)
    while not out.since(began) and time.monotonic() - began < 15 and not faults:
        time.sleep(0.01)
    first = out.since(began)
    if not first:
        camera.stop()
        return {"skipped": f"no picture: {faults[-1] if faults else 'timeout'}"}
    result: dict[str, Any] = {"start_to_first_unit_s": round(first[0][0] - began, 3),
                              "encoder": getattr(camera, "encoder_name", None)
                              or getattr(camera, "opened_format", None)}
    time.sleep(2.0)
    t0, c0 = time.monotonic(), cpu()
    time.sleep(args.seconds / 2)
    steady = out.since(t0)
    elapsed, spent = time.monotonic() - t0, cpu() - c0
    result["units_per_s"] = round(len(steady) / elapsed, 2)
    result["process_cpu_ms_per_frame"] = round(spent / max(1, len(steady)) * 1000, 2)
    result["kbit_per_s_at_2000"] = round(sum(len(u.data) for _, u in steady) * 8 / elapsed / 1000)
    waits = []
    for _ in range(5):
        asked = time.monotonic()
        camera.request_keyframe()
        time.sleep(0.5)
        after = [u for _, u in out.since(asked)]
        waits.append(next((i for i, u in enumerate(after) if u.keyframe), None))
    result["frames_from_keyframe_request_to_keyframe"] = waits
    camera.set_bitrate(1_000_000)
    time.sleep(2.0)
    t1 = time.monotonic()
    time.sleep(args.seconds / 2)
    lower = out.since(t1)
    result["kbit_per_s_after_set_bitrate_1000"] = round(
        sum(len(u.data) for _, u in lower) * 8 / (time.monotonic() - t1) / 1000)
    result["self_view"] = self_view_cost(camera)
    camera.stop()
    result["errors"] = camera.errors
    return result


def self_view_cost(camera: Camera, tiles: int = 30) -> dict[str, Any]:
    """The self-view tile (320×180) from the camera's preview: shown at all, and the CPU of
    one conversion (picamera2: its lores stream, YUV420 → RGB at tile size)."""
    spent = []
    for _ in range(tiles):
        time.sleep(1 / 10)  # a new preview picture each time (kept at most 15 a second)
        c0 = cpu()
        tile = camera.preview_rgb(320, 180)
        spent.append(cpu() - c0)
        if tile is None:
            return {"shown": False}
    return {"shown": True, "cpu_ms_per_tile": round(statistics.median(spent) * 1000, 3)}


def bench_receive(frames: int) -> dict[str, Any]:
    return {f"{codec}_{w}x{h}": bench_stream(codec, w, h, frames)
            for codec in ("h264", "vp8") for w, h in ((1280, 720), (640, 360))}


def bench_processing() -> dict[str, Any]:
    return {"aec_cpu_per_10ms": aec_cost(10.0),
            "synthetic_room": room_quality(20.0, room_response())}


async def bench_alsa(args: argparse.Namespace) -> dict[str, Any]:
    if not args.mic_pcm:
        return {"skipped": "no --mic-pcm"}
    mic = AlsaMicrophone(args.mic_pcm, channels=args.mic_channels, sample_format=args.mic_format,
                         rate=args.mic_rate, channels_used=[args.mic_channel])
    speaker = AlsaSpeaker(args.speaker_pcm, rate=args.speaker_rate)
    mic.start()
    speaker.start()
    read, gaps, last = 0, [], time.monotonic()
    deadline = time.monotonic() + args.seconds

    async def play() -> None:
        tone = np.rint(2000 * np.sin(2 * np.pi * 440 * np.arange(CHUNK_SAMPLES) / SAMPLE_RATE))
        while time.monotonic() < deadline:
            await speaker.play(tone.astype(np.int16))

    player = asyncio.ensure_future(play())
    while time.monotonic() < deadline:
        await mic.read()
        now = time.monotonic()
        gaps.append(now - last)
        last, read = now, read + 1
    await player
    mic.stop()
    speaker.stop()
    return {"capture": {"granted": mic.granted, "chunks": read, "overruns": mic.overruns,
                        "dropped_chunks": mic.dropped_chunks, "fault": mic.fault,
                        "max_gap_ms": round(max(gaps[10:], default=0) * 1000, 1)},
            "playback": {"granted": speaker.granted, "underruns": speaker.underruns,
                         "starved_periods": speaker.starved, "fault": speaker.fault,
                         "output_latency_ms": round(speaker.output_latency * 1000, 1)}}


class Tap(Microphone):
    """Passes a microphone through, keeping each raw chunk and when it was read."""

    def __init__(self, inner: Microphone) -> None:
        super().__init__()
        self.inner = inner
        self.chunks: list[tuple[float, Samples]] = []

    @property
    def input_latency(self) -> float:
        return self.inner.input_latency

    def start(self) -> None:
        self.inner.start()
        super().start()

    def stop(self) -> None:
        super().stop()
        self.inner.stop()

    async def _read_chunk(self) -> Samples:
        chunk = await self.inner.read()
        self.chunks.append((time.monotonic(), chunk))
        return chunk


def click_delays(fed: list[float], raw: list[tuple[float, Samples]]) -> list[float]:
    """Speaker hand-over → microphone read, for each click (what AEC3's delay hint means)."""
    delays = []
    for t in fed:
        for read_at, chunk in raw:
            loud = np.flatnonzero(np.abs(chunk) > 3000)
            if read_at > t and loud.size:
                heard = read_at - (CHUNK_SAMPLES - loud[0]) / SAMPLE_RATE
                delays.append(round((heard - t) * 1000, 1))
                break
    return delays


async def bench_acoustic(args: argparse.Namespace) -> dict[str, Any]:
    if not (args.acoustic and args.mic_pcm):
        return {"skipped": "needs --acoustic and --mic-pcm"}
    tap = Tap(AlsaMicrophone(args.mic_pcm, channels=args.mic_channels,
                             sample_format=args.mic_format, rate=args.mic_rate,
                             channels_used=[args.mic_channel]))
    speaker = AlsaSpeaker(args.speaker_pcm, rate=args.speaker_rate)
    mic = EchoCancelledMicrophone(tap, ProcessingStages(), speaker=speaker)
    click = 12000 * np.sin(2 * np.pi * 2000 * np.arange(240) / SAMPLE_RATE)
    clicks = np.zeros(5 * SAMPLE_RATE)
    for k in range(1, 5):
        clicks[k * SAMPLE_RATE : k * SAMPLE_RATE + 240] = click
    far = np.concatenate([clicks, speech_like(15.0, seed=1) * 3000])
    fed: list[float] = []
    speaker.start()
    mic.start()

    async def play() -> None:
        for i in range(0, far.size, CHUNK_SAMPLES):
            chunk = np.rint(far[i : i + CHUNK_SAMPLES]).astype(np.int16)
            if i < clicks.size and np.abs(chunk).max() > 3000:
                fed.append(time.monotonic())
            mic.feed_playback(chunk)
            await speaker.play(chunk)

    player = asyncio.ensure_future(play())
    out: list[Samples] = []
    while not player.done():
        out.append(await mic.read())
    mic.stop()
    speaker.stop()
    captured = np.concatenate([c for _, c in tap.chunks]).astype(np.float64)
    processed = np.concatenate(out).astype(np.float64)
    speech = slice(10 * SAMPLE_RATE, min(captured.size, processed.size))
    return {"speaker_to_mic_delay_ms": click_delays(fed, tap.chunks),
            "aec_delay_hint_ms": mic.echo_delay_ms,
            "room_erle_db": round(level_db(captured[speech]) - level_db(processed[speech]), 1)}


def thermal() -> dict[str, Any]:
    zone = Path("/sys/class/thermal/thermal_zone0/temp")
    result: dict[str, Any] = {"soc_c": round(int(zone.read_text()) / 1000, 1)
                              if zone.exists() else None}
    if shutil.which("vcgencmd"):
        result["throttled"] = subprocess.run(["vcgencmd", "get_throttled"], capture_output=True,
                                             text=True, check=False).stdout.strip()
    return result


def model() -> str:
    path = Path("/proc/device-tree/model")
    return path.read_text().strip("\x00\n") if path.exists() else platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--camera", choices=["picamera2", "v4l2", "none"], default="picamera2")
    parser.add_argument("--device", default="/dev/video0")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--frames", type=int, default=90, help="receive-path frames")
    parser.add_argument("--mic-pcm")
    parser.add_argument("--mic-channels", type=int, default=1)
    parser.add_argument("--mic-format", default="S16_LE")
    parser.add_argument("--mic-rate", type=int, default=48000)
    parser.add_argument("--mic-channel", type=int, default=0)
    parser.add_argument("--speaker-pcm", default="default")
    parser.add_argument("--speaker-rate", type=int, default=48000)
    parser.add_argument("--acoustic", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"benchmark": "pi_media", "model": model(),
                              "cpus": os.cpu_count(), "thermal_before": thermal(),
                              "calibration_kernel_ms": kernel_ms()}
    result["camera"] = bench_camera(args)
    result["receive_path"] = bench_receive(args.frames)
    result["audio_processing"] = bench_processing()
    result["alsa"] = asyncio.run(bench_alsa(args))
    result["acoustic"] = asyncio.run(bench_acoustic(args))
    result["thermal_after"] = thermal()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
