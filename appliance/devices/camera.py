"""Cameras that deliver encoded H.264, composed like picamera2: camera → encoder → output.

A `Camera` captures raw pictures at its own pace on its own thread and hands
them to a `VideoEncoder`; every access unit the encoder produces goes to the
`FrameOutput` given to `start()`. Nothing is decoded or re-encoded after that:
the media layer only packetizes. Back-ends:

- `SimulatedCamera`: draws `appliance.media.testpattern` and encodes it with
  `LibavH264Encoder`, so tests exercise the same packet path as hardware.
- picamera2 (Pi 4 hardware encoder, Pi 5 libav) and V4L2/USB (PyAV, the
  camera's own H.264 where it has one) implement the same `Camera` interface.

Contract for every back-end: Annex B access units, SPS/PPS before every
keyframe, no B-frames, pts in a 90 kHz clock that keeps running across
stop/start, the first frame after `start()` is a keyframe, and a stopped
camera captures nothing.
"""

from __future__ import annotations

import fractions
import logging
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol

import av
import numpy as np
import numpy.typing as npt

from appliance.media.testpattern import TestPattern

log = logging.getLogger(__name__)

PTS_CLOCK_HZ = 90_000
PTS_TIME_BASE = fractions.Fraction(1, PTS_CLOCK_HZ)


@dataclass(frozen=True)
class EncodedFrame:
    """One H.264 access unit as it leaves the encoder."""

    data: bytes  # Annex B byte stream; SPS/PPS included when keyframe
    pts: int  # 90 kHz clock
    keyframe: bool
    capture_time: float  # wall clock (time.time()) when the picture was taken


class FrameOutput(Protocol):
    """Where a camera delivers access units; called on the camera's thread."""

    def output_frame(self, frame: EncodedFrame) -> None: ...


@dataclass(frozen=True)
class BitrateBounds:
    """The range `Camera.set_bitrate` keeps to, whatever the far end estimates."""

    minimum: int
    maximum: int

    def clamp(self, bps: int) -> int:
        return max(self.minimum, min(self.maximum, int(bps)))


class VideoEncoder(ABC):
    """Raw pictures in, access units out (picamera2's encoder role)."""

    @abstractmethod
    def encode(self, frame: av.VideoFrame, capture_time: float) -> list[EncodedFrame]:
        """Encode one picture whose pts is already in the 90 kHz clock."""

    @abstractmethod
    def request_keyframe(self) -> None:
        """Make the next encoded picture an IDR with SPS/PPS in front."""

    @abstractmethod
    def set_bitrate(self, bps: int) -> None:
        """Change the target bitrate from the next picture on."""


class LibavH264Encoder(VideoEncoder):
    """x264 through PyAV, tuned for real-time WebRTC.

    ultrafast + zerolatency (one picture in, one access unit out), constrained
    baseline, no B-frames, a fixed keyframe interval without scene cuts, and
    forced keyframes on request. Bitrate changes are applied by libx264's
    reconfigure, without reopening the encoder.
    """

    def __init__(
        self,
        width: int,
        height: int,
        fps: float,
        bitrate: int,
        keyframe_interval: float = 3.0,
        max_bitrate: int | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._keyframe_requested = True
        self._bitrate = int(bitrate)
        gop = max(1, round(keyframe_interval * fps))
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height = width, height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = PTS_TIME_BASE
        ctx.framerate = fractions.Fraction(fps).limit_denominator(1001)
        ctx.gop_size = gop
        ctx.max_b_frames = 0
        ctx.bit_rate = self._bitrate
        max_bitrate = max(self._bitrate, max_bitrate or self._bitrate)
        ctx.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            "forced-idr": "1",
            # VBV caps bursts at the ceiling; the ABR target moves under it.
            "maxrate": str(max_bitrate),
            "bufsize": str(max_bitrate // 2),
            # repeat-headers: SPS/PPS in-band before every IDR, for late joiners.
            "x264-params": f"scenecut=0:min-keyint={gop}:repeat-headers=1",
        }
        self._ctx = ctx
        self._applied_bitrate = self._bitrate

    def request_keyframe(self) -> None:
        with self._lock:
            self._keyframe_requested = True

    def set_bitrate(self, bps: int) -> None:
        with self._lock:
            self._bitrate = int(bps)

    @property
    def bitrate(self) -> int:
        return self._bitrate

    def encode(self, frame: av.VideoFrame, capture_time: float) -> list[EncodedFrame]:
        with self._lock:
            force, self._keyframe_requested = self._keyframe_requested, False
            bitrate = self._bitrate
        if bitrate != self._applied_bitrate:
            self._ctx.bit_rate = bitrate  # libx264 reconfigures on the next frame
            self._applied_bitrate = bitrate
        frame.pict_type = av.video.frame.PictureType.I if force else av.video.frame.PictureType.NONE
        frame.time_base = PTS_TIME_BASE
        return [
            EncodedFrame(bytes(p), int(p.pts or 0), bool(p.is_keyframe), capture_time)
            for p in self._ctx.encode(frame)
        ]


class Camera(ABC):
    """A capture device delivering encoded H.264 to a `FrameOutput`."""

    def __init__(
        self,
        width: int,
        height: int,
        fps: float,
        bitrate: int,
        bounds: BitrateBounds | None = None,
    ) -> None:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"camera size must be positive and even, got {width}×{height}")
        if not 0 < fps <= 120:
            raise ValueError(f"camera fps must be in (0, 120], got {fps}")
        self.width = width
        self.height = height
        self.fps = fps
        self.bounds = bounds or BitrateBounds(min(150_000, bitrate), bitrate)
        self.bitrate = self.bounds.clamp(bitrate)
        self.output: FrameOutput | None = None  # where frames go while running
        self.errors = 0  # frames lost to capture/encode failures
        self._pts_epoch = time.monotonic()

    def pts_now(self) -> int:
        """The 90 kHz clock: monotonic, shared by every start/stop of this camera."""
        return round((time.monotonic() - self._pts_epoch) * PTS_CLOCK_HZ)

    @property
    @abstractmethod
    def running(self) -> bool: ...

    @abstractmethod
    def start(self, output: FrameOutput) -> None:
        """Begin capturing into `output` (set as `self.output`); the first unit is a keyframe.

        Starting with another output while running hands the camera over to it.
        """

    @abstractmethod
    def stop(self) -> None:
        """Stop capturing (the sensor is idle); safe to call when stopped."""

    @abstractmethod
    def request_keyframe(self) -> None: ...

    def set_bitrate(self, bps: int) -> int:
        """Ask for a new bitrate; returns the one applied (within `bounds`)."""
        self.bitrate = self.bounds.clamp(bps)
        self._apply_bitrate(self.bitrate)
        return self.bitrate

    @abstractmethod
    def _apply_bitrate(self, bps: int) -> None: ...


class SimulatedCamera(Camera):
    """The moving test pattern (capture time in the picture), encoded by x264.

    Captures on its own thread at `fps`, stamping each picture with
    `time.time()` just before it is drawn, like a sensor's exposure time.
    """

    def __init__(
        self,
        width: int = 1280,
        height: int = 720,
        fps: float = 30.0,
        bitrate: int = 1_500_000,
        *,
        keyframe_interval: float = 3.0,
        bounds: BitrateBounds | None = None,
    ) -> None:
        super().__init__(width, height, fps, bitrate, bounds)
        self._pattern = TestPattern(width, height)
        self._encoder = LibavH264Encoder(
            width, height, fps, self.bitrate, keyframe_interval, self.bounds.maximum
        )
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.frames_captured = 0
        self.keyframes_sent = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, output: FrameOutput) -> None:
        if self.running:
            if output is self.output:
                return
            self.stop()  # one consumer at a time: hand the camera over
        self.output = output
        self._stopping.clear()
        self._encoder.request_keyframe()
        self._thread = threading.Thread(
            target=self._capture_loop, args=(output,), name="sim-camera", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        self.output = None
        if thread is not None:
            self._stopping.set()
            thread.join(timeout=2.0)

    def request_keyframe(self) -> None:
        self._encoder.request_keyframe()

    def _apply_bitrate(self, bps: int) -> None:
        self._encoder.set_bitrate(bps)

    def capture_frame(self) -> av.VideoFrame:
        """Draw one picture now (pts on the 90 kHz clock); used by the loop and benchmarks."""
        capture_time = time.time()
        frame = av.VideoFrame.from_ndarray(self._draw(capture_time), format="yuv420p")
        frame.pts = self.pts_now()
        frame.time_base = PTS_TIME_BASE
        frame.opaque = capture_time
        return frame

    def _draw(self, capture_time: float) -> npt.NDArray[np.uint8]:
        return self._pattern.render_i420(capture_time * 1000.0)

    def encode(self, frame: av.VideoFrame) -> list[EncodedFrame]:
        capture_time = frame.opaque if isinstance(frame.opaque, float) else time.time()
        return self._encoder.encode(frame, capture_time)

    def _capture_loop(self, output: FrameOutput) -> None:
        interval = 1.0 / self.fps
        next_at = time.monotonic()
        while not self._stopping.is_set():
            try:
                for unit in self.encode(self.capture_frame()):
                    self.frames_captured += 1
                    self.keyframes_sent += unit.keyframe
                    output.output_frame(unit)
            except Exception:  # a stand-in camera must not take the service down
                self.errors += 1
                if self.errors in (1, 10) or self.errors % 1000 == 0:
                    log.exception("simulated camera: frame failed (%d so far)", self.errors)
            next_at += interval
            delay = next_at - time.monotonic()
            if delay < -interval:  # fell behind (CPU starved): skip, don't burst
                next_at = time.monotonic()
                delay = 0.0
            self._stopping.wait(max(0.0, delay))
