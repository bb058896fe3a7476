"""The simulated camera: the moving test pattern, encoded by x264, pluggable for tests
of a failing camera."""

from __future__ import annotations

import logging
import threading
import time

import av
import numpy as np
import numpy.typing as npt

from appliance.devices.camera import PTS_TIME_BASE, BitrateBounds, CameraError, EncodedFrame
from appliance.devices.camera_supervised import SupervisedCamera
from appliance.devices.encoder import LibavH264Encoder
from appliance.devices.ladder import Rung
from appliance.devices.testpattern import TestPattern

log = logging.getLogger("appliance.devices.camera")  # one name for every camera part


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
        return True  # the capture thread follows it at the next picture

    def _follow_rung(self) -> None:
        """On the capture thread: draw at the rung's size and have the encoder encode it
        (x264 reopens there, starting with an IDR and its SPS)."""
        rung = self.rung
        if (rung.width, rung.height) != (self._pattern.width, self._pattern.height):
            self._pattern = TestPattern(rung.width, rung.height)
        self._encoder.set_format(rung.width, rung.height, rung.fps)
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
