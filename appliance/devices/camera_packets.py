"""A simulated hardware encoder: the test pattern's H.264 access units, encoded once.

On a Pi 4 the camera's pictures are encoded by the VideoCore's H.264 block and
picamera2 hands the appliance finished access units; the ARM cores only pass
them on. `PacketReplayCamera` reproduces that cost profile on any machine: a
short clip of the test pattern is encoded once (x264 through PyAV) — ahead of
time with `PacketClip.encode(...).save(path)`, or at the first start — and
then its access units are handed over at the frame rate like a hardware
encoder's output. Nothing is drawn or encoded while it runs.

The clip is `keyframe_interval` long (its first picture an IDR, the rest P),
and also holds every picture encoded as an IDR on its own, so a keyframe
request is answered at once with the current picture, like `picamera2`'s
encoder: the pictures that follow predict from a slightly different
reference until the loop starts again, which at this quality does not show.

Each picture carries its place in the loop as its time stamp (ms within the
loop, in the test pattern's code), and pictures are handed over when the
wall clock is at that place in the loop: `(now − stamp) mod loop` is then
glass-to-glass latency, as the live pattern's absolute stamp is
(`loop_latency_ms`). The bitrate is the clip's: `set_bitrate` is recorded
but cannot change packets already encoded.
"""

from __future__ import annotations

import fractions
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from appliance.devices.camera import PTS_TIME_BASE, BitrateBounds, CameraError, EncodedFrame
from appliance.devices.camera_supervised import SupervisedCamera
from appliance.devices.testpattern import TestPattern

CLIP_CRF = 23  # constant quality: an IDR of a picture looks like its P version


@dataclass(frozen=True)
class PacketClip:
    """One loop of the pattern as access units: in order (`stream`) and all-IDR (`idr`)."""

    width: int
    height: int
    fps: float
    stream: list[bytes]  # stream[0] is an IDR; the rest predict from their predecessor
    idr: list[bytes]  # idr[i]: picture i alone, SPS/PPS in front

    @property
    def frames(self) -> int:
        return len(self.stream)

    @property
    def loop_ms(self) -> float:
        return self.frames * 1000.0 / self.fps

    def stamp_ms(self, index: int) -> int:
        """The time stamp drawn into picture `index`: its place in the loop, in whole ms
        (rounded down: a stamp is never later than the moment the picture stands for)."""
        return math.floor(index * 1000.0 / self.fps)

    @classmethod
    def encode(cls, width: int, height: int, fps: float, seconds: float = 2.0) -> PacketClip:
        """Draw and encode one loop (a second or two of CPU at 720p: do it ahead)."""
        frames = max(1, round(seconds * fps))
        pattern = TestPattern(width, height)
        pictures = [pattern.render_i420(math.floor(i * 1000.0 / fps)) for i in range(frames)]
        return cls(width, height, fps, _x264(pictures, width, height, fps, gop=frames),
                   _x264(pictures, width, height, fps, gop=1))

    def save(self, path: Path) -> None:
        """As a .npz: sizes, and each stream's bytes with their offsets (no pickle)."""
        arrays: dict[str, Any] = {
            "size": np.array([self.width, self.height]),
            "fps_millis": np.array([round(self.fps * 1000)]),
        }
        for name in ("stream", "idr"):
            units: list[bytes] = getattr(self, name)
            arrays[name] = np.frombuffer(b"".join(units), np.uint8)
            arrays[f"{name}_ends"] = np.cumsum([len(u) for u in units])
        with path.open("wb") as out:
            np.savez(out, **arrays)

    @classmethod
    def load(cls, path: Path) -> PacketClip:
        try:
            with np.load(path, allow_pickle=False) as z:
                width, height = (int(v) for v in z["size"])
                fps = int(z["fps_millis"][0]) / 1000
                units = {name: _split(bytes(z[name]), z[f"{name}_ends"])
                         for name in ("stream", "idr")}
        except (OSError, KeyError, ValueError) as exc:
            raise CameraError(f"packet clip {path}: cannot read it ({exc})") from exc
        if not units["stream"] or len(units["stream"]) != len(units["idr"]):
            raise CameraError(f"packet clip {path}: its two streams do not match")
        return cls(width, height, fps, units["stream"], units["idr"])


def _split(data: bytes, ends: npt.NDArray[np.int64]) -> list[bytes]:
    starts = [0, *ends[:-1].tolist()]
    return [data[a:b] for a, b in zip(starts, ends.tolist(), strict=True)]


def _x264(pictures: list[npt.NDArray[np.uint8]], width: int, height: int, fps: float,
          gop: int) -> list[bytes]:
    """Encode I420 pictures one access unit each (constrained baseline, no B-frames)."""
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = PTS_TIME_BASE
    ctx.framerate = fractions.Fraction(fps).limit_denominator(1001)
    ctx.gop_size, ctx.max_b_frames = gop, 0
    ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline",
                   "crf": str(CLIP_CRF),
                   "x264-params": f"scenecut=0:keyint={gop}:min-keyint={gop}:repeat-headers=1"}
    units: list[bytes] = []
    for i, picture in enumerate(pictures):
        frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
        frame.pts = round(i * 90_000 / fps)
        frame.time_base = PTS_TIME_BASE
        units += [bytes(p) for p in ctx.encode(frame)]
    units += [bytes(p) for p in ctx.encode(None)]
    if len(units) != len(pictures):
        raise CameraError(f"x264 gave {len(units)} access units for {len(pictures)} pictures")
    return units


def loop_latency_ms(now_ms: float, stamp_ms: float, loop_ms: float) -> float:
    """Glass-to-glass latency of a picture of a loop stamped in loop time."""
    return (now_ms - stamp_ms) % loop_ms


class PacketReplayCamera(SupervisedCamera):
    """Hands over a `PacketClip`'s access units at the frame rate, as a hardware encoder.

    `clip_path`: a clip saved ahead (its size and rate must match); without it the
    clip is encoded at the first start.
    """

    retry_initial = 0.2
    retry_max = 2.0

    def __init__(
        self,
        width: int = 1280,
        height: int = 720,
        fps: float = 30.0,
        bitrate: int = 1_500_000,
        *,
        keyframe_interval: float = 2.0,
        clip_path: Path | None = None,
        bounds: BitrateBounds | None = None,
    ) -> None:
        super().__init__(width, height, fps, bitrate, bounds)
        self.keyframe_interval = keyframe_interval
        self.clip_path = clip_path
        self.clip: PacketClip | None = None
        self._keyframe = threading.Event()
        self._preview: TestPattern | None = None

    def request_keyframe(self) -> None:
        self._keyframe.set()

    def _apply_bitrate(self, bps: int) -> None:
        """Recorded only (`self.bitrate`): the clip was encoded at one quality."""

    def preview_rgb(self, width: int, height: int) -> npt.NDArray[np.uint8] | None:
        """The self-view: the pattern drawn at tile size (picamera2's lores stream)."""
        if not self.running:
            return None
        if self._preview is None or (self._preview.width, self._preview.height) != (width, height):
            self._preview = TestPattern(width, height)
        return self._preview.render_rgb(time.time() * 1000 % self._loop_ms())

    def _loop_ms(self) -> float:
        return self.clip.loop_ms if self.clip else self.keyframe_interval * 1000

    def load_clip(self) -> PacketClip:
        """The clip, read or encoded once; checked against this camera's settings."""
        if self.clip is None:
            if self.clip_path is not None:
                clip = PacketClip.load(self.clip_path)
            else:
                clip = PacketClip.encode(self.width, self.height, self.fps,
                                         self.keyframe_interval)
            if (clip.width, clip.height, clip.fps) != (self.width, self.height, self.fps):
                raise CameraError(
                    f"packet clip {self.clip_path} is {clip.width}×{clip.height}@{clip.fps:g}, "
                    f"the camera is set to {self.width}×{self.height}@{self.fps:g}")
            self.clip = clip
        return self.clip

    def next_unit(self, tick: int, continuous: bool) -> EncodedFrame:
        """The access unit for wall-clock frame `tick` (tick × frame time since the epoch).

        An IDR when asked for or when the previous tick was not sent (`continuous`
        false: the next P picture would predict from a picture the far end never got).
        """
        clip = self.load_clip()
        index = tick % clip.frames
        idr = self._keyframe.is_set() or not continuous
        if idr:
            self._keyframe.clear()
        data = clip.idr[index] if idr and index else clip.stream[index]
        capture_time = tick / clip.fps
        return EncodedFrame(data, self.pts_now(), idr or index == 0, capture_time)

    def _session(self, stopping: threading.Event) -> None:
        clip = self.load_clip()
        self._keyframe.set()  # a new session starts decodable
        last_tick: int | None = None
        while not stopping.is_set():
            tick = int(time.time() * clip.fps) + 1  # the next frame time on the wall clock
            if stopping.wait(max(0.0, tick / clip.fps - time.time())):
                return
            self._deliver(self.next_unit(tick, last_tick == tick - 1))
            last_tick = tick
