"""Cameras that deliver encoded H.264, composed like picamera2: camera → encoder → output.

A `Camera` captures raw pictures at its own pace on its own thread and hands
them to a `VideoEncoder`; every access unit the encoder produces goes to the
`FrameOutput` given to `start()`. Nothing is decoded or re-encoded after that:
the media layer only packetizes. Back-ends:

- `SimulatedCamera`: draws `appliance.devices.testpattern` and encodes it with
  `LibavH264Encoder`, so tests exercise the same packet path as hardware.
  It can be unplugged and plugged in again, for tests of camera failure.
- `appliance.devices.camera_picamera2` (Pi 4 hardware encoder, Pi 5 libav)
  and `appliance.devices.camera_v4l2` (USB cameras through PyAV, passing the
  camera's own H.264 through) implement the same interface.

Contract for every back-end: Annex B access units, SPS/PPS before every
keyframe, no B-frames, pts in a 90 kHz clock that keeps running across
stop/start, the first frame after `start()` is a keyframe, and a stopped
camera captures nothing.

Health: real devices go missing. A `SupervisedCamera` runs capture sessions
on its own thread; when one fails (cannot open, error, no picture for
`stall_timeout`) it reports `CameraHealth(ok=False, detail)` to its health
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

import av
import numpy as np
import numpy.typing as npt

from appliance.devices.testpattern import TestPattern

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


@dataclass(frozen=True)
class Rung:
    """One picture format the camera can send: size and frame rate."""

    width: int
    height: int
    fps: float

    @property
    def pixel_rate(self) -> float:
        return self.width * self.height * self.fps


class QualityLadder:
    """Bitrate first, then size, then frame rate, as the target bitrate falls.

    A rung is used while the bitrate gives its pixels at least `BITS_PER_PIXEL`
    (below that x264 or a hardware encoder smears a 720p picture worse than a
    360p one looks scaled up); a higher rung is taken again only with
    `UP_MARGIN` to spare, so the size does not flap around a threshold. Rungs:
    full size at full rate, half size, half size at half rate, quarter size at
    half rate — none below `min_height` lines or `min_fps` (the provisioning
    file's bounds). At 1280×720@30 the size halves under about 830 kbit/s.
    """

    BITS_PER_PIXEL = 0.03
    UP_MARGIN = 1.25

    def __init__(self, width: int, height: int, fps: float, min_height: int = 180,
                 min_fps: float = 15.0) -> None:
        def even(v: float) -> int:
            return max(2, int(v) // 2 * 2)

        candidates = [Rung(width, height, fps), Rung(even(width / 2), even(height / 2), fps),
                      Rung(even(width / 2), even(height / 2), fps / 2),
                      Rung(even(width / 4), even(height / 4), fps / 2)]
        self.rungs = [candidates[0]] + [
            r for r in candidates[1:] if r.height >= min_height and r.fps >= min_fps]

    @property
    def top(self) -> Rung:
        return self.rungs[0]

    def need(self, rung: Rung) -> float:
        return rung.pixel_rate * self.BITS_PER_PIXEL

    def rung_for(self, bps: int, current: Rung) -> Rung:
        here = self.rungs.index(current) if current in self.rungs else 0
        for i, rung in enumerate(self.rungs):
            margin = self.UP_MARGIN if i < here else 1.0
            if bps >= self.need(rung) * margin or i == len(self.rungs) - 1:
                return rung
        return self.rungs[-1]


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


# -- H.264 access units from devices ---------------------------------------------------

NAL_SLICE, NAL_IDR, NAL_SPS, NAL_PPS = 1, 5, 7, 8
START_CODE = b"\x00\x00\x00\x01"


def nal_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream, without their start codes."""
    units, i = [], data.find(b"\x00\x00\x01")
    while i >= 0:
        start = i + 3
        i = data.find(b"\x00\x00\x01", start)
        end = len(data) if i < 0 else i - (data[i - 1] == 0)  # a 4-byte start code's zero
        if end > start:
            units.append(data[start:end])
    return units


class ParameterSets:
    """Makes a device's H.264 output meet the camera contract.

    Encoders differ: some send SPS/PPS once, or in a buffer of their own with
    no picture (picamera2 drops those). This keeps the latest SPS and PPS and
    puts them in front of every IDR that lacks them, decides "keyframe" from
    the NAL types rather than a driver flag, and swallows header-only units.
    """

    def __init__(self) -> None:
        self.sps: bytes | None = None
        self.pps: bytes | None = None

    def access_unit(self, data: bytes, pts: int, capture_time: float) -> EncodedFrame | None:
        if not data.startswith((START_CODE, b"\x00\x00\x01")):
            raise CameraError("the camera's H.264 is not an Annex B byte stream")
        units = nal_units(data)
        types = [unit[0] & 0x1F for unit in units]
        for unit, kind in zip(units, types, strict=True):
            if kind == NAL_SPS:
                self.sps = unit
            elif kind == NAL_PPS:
                self.pps = unit
        if not {NAL_SLICE, NAL_IDR} & set(types):
            return None  # parameter sets only: kept for the next keyframe
        keyframe = NAL_IDR in types
        if keyframe and not (NAL_SPS in types and NAL_PPS in types):
            if self.sps is None or self.pps is None:
                return None  # undecodable until the encoder has told us its parameters
            data = START_CODE + self.sps + START_CODE + self.pps + data
        return EncodedFrame(data, pts, keyframe, capture_time)


# -- cameras -------------------------------------------------------------------------------


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


class SupervisedCamera(Camera):
    """A camera whose capture sessions run on a thread that survives their failures.

    A back-end implements `_session`: open the device, capture and `_deliver`
    until `stopping` is set, close; raise on failure. A failed session is
    reported (health) and retried after 1, 2, 4 … `retry_max` seconds.
    """

    retry_initial = 1.0
    retry_max = 30.0
    stall_timeout = 3.0  # a running session without a picture for this long has failed

    def __init__(
        self,
        width: int,
        height: int,
        fps: float,
        bitrate: int,
        bounds: BitrateBounds | None = None,
    ) -> None:
        super().__init__(width, height, fps, bitrate, bounds)
        self._thread: threading.Thread | None = None
        self._closing: threading.Thread | None = None  # a stopped session still closing
        self._stopping = threading.Event()
        self.sessions = 0  # opened so far (1 + reopen attempts)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, output: FrameOutput) -> None:
        self.output = output  # a running camera is handed over, starting with a keyframe
        self.request_keyframe()
        if self.running:
            return
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._supervise, args=(self._stopping, self._closing),
            name=type(self).__name__, daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop capturing. Waits briefly (the event loop calls this); a device that takes
        longer to close finishes on its own thread, and the next start waits for it."""
        thread, self._thread = self._thread, None
        self.output = None  # nothing more is delivered from now on
        self._stopping.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=0.5)
            self._closing = thread if thread.is_alive() else None

    @abstractmethod
    def _session(self, stopping: threading.Event) -> None:
        """One capture session: open, deliver until `stopping`, close; raise on failure."""

    def _supervise(self, stopping: threading.Event, closing: threading.Thread | None) -> None:
        if closing is not None:
            closing.join()  # the previous session still holds the device
        delay = self.retry_initial
        while not stopping.is_set():
            self.sessions += 1
            self._last_picture = time.monotonic()
            try:
                self._session(stopping)
                return
            except Exception as exc:  # a camera must never take the service down
                detail = str(exc) or type(exc).__name__
                if not isinstance(exc, CameraError):
                    log.exception("%s: capture failed", type(self).__name__)
                self._report_failure(detail)
            stopping.wait(delay)
            delay = min(delay * 2, self.retry_max)

    def _wait_while_pictures_come(self, stopping: threading.Event) -> None:
        """For sessions whose device delivers on its own threads: watch for stalls."""
        while not stopping.wait(0.25):
            quiet = time.monotonic() - self._last_picture
            if quiet > self.stall_timeout:
                raise CameraError(f"no picture from the camera for {quiet:.0f} s")


class SimulatedCamera(SupervisedCamera):
    """The moving test pattern (capture time in the picture), encoded by x264.

    Captures on its own thread at `fps`, stamping each picture with
    `time.time()` just before it is drawn, like a sensor's exposure time.
    `unplug()` makes it fail like a camera pulled out (health listeners hear
    it, capture retries), `plug_in()` brings it back.
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
        keyframe_interval: float = 3.0,
        bounds: BitrateBounds | None = None,
    ) -> None:
        super().__init__(width, height, fps, bitrate, bounds)
        self.keyframe_interval = keyframe_interval
        self._pattern = TestPattern(width, height)
        self._preview: TestPattern | None = None  # the self-view's, at tile size
        self._encoder = LibavH264Encoder(
            width, height, fps, self.bitrate, keyframe_interval, self.bounds.maximum
        )
        self._encoding = self.rung  # the rung the encoder is open for
        self.present = True

    def preview_rgb(self, width: int, height: int) -> npt.NDArray[np.uint8] | None:
        if not self.running:
            return None
        if self._preview is None or self._preview.width != width or self._preview.height != height:
            self._preview = TestPattern(width, height)
        return self._preview.render_rgb(time.time() * 1000)

    def unplug(self) -> None:
        self.present = False

    def plug_in(self) -> None:
        self.present = True

    def request_keyframe(self) -> None:
        self._encoder.request_keyframe()

    def _apply_bitrate(self, bps: int) -> None:
        self._encoder.set_bitrate(bps)

    def _apply_rung(self, rung: Rung) -> bool:
        return True  # the capture thread reopens its encoder at the next picture

    def _follow_rung(self) -> None:
        """On the capture thread: draw and encode at the rung's size (a new encoder
        starts with an IDR and its SPS; receivers follow a size change at a keyframe)."""
        rung = self.rung
        if (rung.width, rung.height) == (self._encoding.width, self._encoding.height):
            self._encoding = rung
            return
        self._pattern = TestPattern(rung.width, rung.height)
        self._encoder = LibavH264Encoder(rung.width, rung.height, rung.fps, self.bitrate,
                                         self.keyframe_interval, self.bounds.maximum)
        self._encoding = rung

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

    def _session(self, stopping: threading.Event) -> None:
        if not self.present:
            raise CameraError("simulated camera: not connected")
        self._encoder.request_keyframe()  # a new session starts decodable
        next_at = time.monotonic()
        while not stopping.is_set():
            if not self.present:
                raise CameraError("simulated camera: disconnected")
            self._follow_rung()
            interval = 1.0 / self._encoding.fps
            try:
                for unit in self.encode(self.capture_frame()):
                    self._deliver(unit)
            except Exception:  # one bad picture is not a failed camera
                self.errors += 1
                if self.errors in (1, 10) or self.errors % 1000 == 0:
                    log.exception("simulated camera: frame failed (%d so far)", self.errors)
            next_at += interval
            delay = next_at - time.monotonic()
            if delay < -interval:  # fell behind (CPU starved): skip, don't burst
                next_at = time.monotonic()
                delay = 0.0
            stopping.wait(max(0.0, delay))
