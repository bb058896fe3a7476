"""Cameras that deliver encoded H.264, composed like picamera2: camera → encoder → output.

A `Camera` captures raw pictures at its own pace on its own thread and hands
them to a `VideoEncoder`; every access unit the encoder produces goes to the
`FrameOutput` given to `start()`. Nothing is decoded or re-encoded after that:
the media layer only packetizes. Back-ends:

- `SimulatedCamera` (`camera_simulated.py`): draws `appliance.devices.testpattern`
  and encodes it with `LibavH264Encoder` (`encoder.py`), so tests exercise the same
  packet path as hardware. It can be unplugged and plugged in again, for tests of
  camera failure.
- `appliance.devices.camera_picamera2` (Pi 4 hardware encoder, Pi 5 libav)
  and `appliance.devices.camera_v4l2` (USB cameras through PyAV, passing the
  camera's own H.264 through) implement the same interface.

Contract for every back-end: Annex B access units, SPS/PPS before every
keyframe, no B-frames, pts in a 90 kHz clock that keeps running across
stop/start, the first frame after `start()` is a keyframe, and a stopped
camera captures nothing.

This module is the interface; `h264.py` makes a device's own H.264 meet the
contract (parameter sets before every keyframe).

Health: real devices go missing. A `SupervisedCamera` (`camera_supervised.py`) runs
capture sessions on its own thread; when one fails (cannot open, error, no picture
for `stall_timeout`) it reports `CameraHealth(ok=False, detail)` to its health
listeners and retries with backoff; the first picture after that reports
`CameraHealth(ok=True)`. The app turns these into the room's
`CameraFailed`/`CameraRecovered` events.
"""


from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from appliance.devices.ladder import QualityLadder, Rung

log = logging.getLogger("appliance.devices.camera")  # one name for every camera part

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



class CameraError(RuntimeError):
    """A camera could not be opened, or stopped delivering; the message says what happened."""


@dataclass(frozen=True)
class CameraHealth:
    """What a camera's health listeners hear: it failed (with why), or works again."""

    ok: bool
    detail: str = ""


HealthListener = Callable[[CameraHealth], None]


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
        self.ladder = QualityLadder(width, height, fps)
        self.rung = self.ladder.top  # what the camera sends now
        self.rung_changes = 0
        self.output: FrameOutput | None = None  # where frames go while running
        self.errors = 0  # frames lost to capture/encode failures
        self.fault: str | None = None  # why the camera is not working, while it is not
        self.frames_captured = 0
        self.keyframes_sent = 0
        self._listeners: list[HealthListener] = []
        self._health_lock = threading.Lock()
        self._last_picture = time.monotonic()
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

    def preview_rgb(self, width: int, height: int) -> npt.NDArray[np.uint8] | None:
        """The room's own picture at tile size for its self-view, where the back-end has
        one without decoding (picamera2's lores stream; the simulated pattern). None
        shows the placeholder — always so while the camera is off."""
        return None

    def set_ladder(self, min_height: int, min_fps: float) -> None:
        """Let the camera step down in size and frame rate, to these bounds at most."""
        self.ladder = QualityLadder(self.width, self.height, self.fps, min_height, min_fps)
        self.rung = self.ladder.top

    def set_bitrate(self, bps: int) -> int:
        """Ask for a new bitrate; returns the one applied (within `bounds`). A back-end
        that can change its picture (`_apply_rung`) also follows the ladder."""
        self.bitrate = self.bounds.clamp(bps)
        self._apply_bitrate(self.bitrate)
        rung = self.ladder.rung_for(self.bitrate, self.rung)
        if rung != self.rung and self._apply_rung(rung):
            log.info("camera: %d kbit/s -> %dx%d@%g", self.bitrate // 1000, rung.width,
                     rung.height, rung.fps)
            self.rung = rung
            self.rung_changes += 1
        return self.bitrate

    @abstractmethod
    def _apply_bitrate(self, bps: int) -> None: ...

    def _apply_rung(self, rung: Rung) -> bool:
        """Send pictures of this size and rate from now on; False: this back-end cannot
        (it keeps its format and only its bitrate follows)."""
        return False

    # -- health ---------------------------------------------------------------------

    def add_health_listener(
        self, listener: HealthListener, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        """Call `listener` when the camera fails or recovers.

        Without `loop` it runs on the camera's thread; with one it runs in that
        event loop (what the app wants: it dispatches room events from there).
        """
        if loop is None:
            self._listeners.append(listener)
            return

        def in_loop(health: CameraHealth) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(listener, health)

        self._listeners.append(in_loop)

    def _report_failure(self, detail: str) -> None:
        with self._health_lock:
            was_ok, self.fault = self.fault is None, detail
        if was_ok:
            log.warning("camera failed: %s", detail)
            self._tell(CameraHealth(False, detail))

    def _report_recovered(self) -> None:
        with self._health_lock:
            failed, self.fault = self.fault is not None, None
        if failed:
            log.info("camera works again")
            self._tell(CameraHealth(True))

    def _tell(self, health: CameraHealth) -> None:
        for listener in list(self._listeners):
            try:
                listener(health)
            except Exception:
                log.exception("camera health listener failed")

    def _deliver(self, unit: EncodedFrame) -> None:
        """Hand one access unit to the current output (the capture thread calls this)."""
        output = self.output
        if output is None:
            return
        self.frames_captured += 1
        self.keyframes_sent += unit.keyframe
        self._last_picture = time.monotonic()
        if self.fault is not None:
            self._report_recovered()
        output.output_frame(unit)
