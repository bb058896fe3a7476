"""Raspberry Pi camera modules through picamera2: encoded H.264, no work in Python per frame.

picamera2's own composition does the job — camera → encoder → output: the
sensor's YUV420 frames go to picamera2's `H264Encoder`, which is the
hardware V4L2 encoder on a Pi 4 (VC4) and libav's x264 on a Pi 5 (no
hardware encoder; picamera2 sets ultrafast/zerolatency there), and every
access unit arrives at `_Output.outputframe` on the encoder's thread, from
where it goes to the camera's `FrameOutput` untouched (only SPS/PPS are made
to precede every keyframe, see `ParameterSets`).

The self-view comes from picamera2's second, small "lores" stream (the ISP
scales it, no decoding): the newest lores picture is kept, at most 15 a
second, and turned into RGB at tile size only when the screen asks.

Keyframe requests call the encoder's `force_key_frame()`. Bitrate changes
while recording have no picamera2 API; `_set_encoder_bitrate` is the one
place that reaches into the encoder for it (the V4L2 bitrate control on the
hardware encoder's device, the codec context on libav).

picamera2 (Debian package python3-picamera2, which brings libcamera's
Python bindings) is imported only when a session starts, so this module
imports anywhere; without it the camera reports a failure like a missing one.
"""

from __future__ import annotations

import fcntl
import logging
import struct
import threading
import time
from typing import Any, Literal

import av
import numpy as np
import numpy.typing as npt

from appliance.devices.camera import BitrateBounds, CameraError
from appliance.devices.camera_supervised import SupervisedCamera
from appliance.devices.h264 import ParameterSets

log = logging.getLogger(__name__)

Exposure = Literal["normal", "short", "long"]
EncoderChoice = Literal["auto", "hardware", "libav"]

PREVIEW_FPS = 15  # the self-view is a small tile: no need for every frame
VIDIOC_S_CTRL = 0xC008561C  # linux/videodev2.h
V4L2_CID_MPEG_VIDEO_BITRATE = 0x009909CF


def _import_picamera2() -> tuple[Any, Any, Any, Any]:
    """(Picamera2, picamera2.encoders, picamera2.outputs.Output, libcamera) or CameraError."""
    try:
        import libcamera
        import picamera2
        import picamera2.encoders
        from picamera2.outputs import Output
    except ImportError as exc:
        raise CameraError(
            f"picamera2 is not available ({exc}); install python3-picamera2") from exc
    return picamera2.Picamera2, picamera2.encoders, Output, libcamera


def _set_encoder_bitrate(encoder: Any, bps: int) -> bool:
    """Change a running picamera2 encoder's bitrate (no public API for it).

    The hardware encoder keeps its V4L2 device in `encoder.vd`; libav's keeps
    its stream in `encoder._stream` and libx264 reconfigures on the next frame.
    """
    device = getattr(encoder, "vd", None)
    if device is not None and not device.closed:
        fcntl.ioctl(device, VIDIOC_S_CTRL, struct.pack("Ii", V4L2_CID_MPEG_VIDEO_BITRATE, bps))
        return True
    stream = getattr(encoder, "_stream", None)
    if stream is not None:
        stream.codec_context.bit_rate = bps
        return True
    return False


class Picamera2Camera(SupervisedCamera):
    """A Raspberry Pi camera module (libcamera) delivering H.264 from picamera2's encoder."""

    def __init__(
        self,
        width: int = 1280,
        height: int = 720,
        fps: float = 30.0,
        bitrate: int = 1_500_000,
        *,
        bounds: BitrateBounds | None = None,
        keyframe_interval: float = 2.0,
        camera_index: int = 0,
        rotation: int = 0,
        hflip: bool = False,
        vflip: bool = False,
        exposure: Exposure = "normal",
        encoder: EncoderChoice = "auto",
    ) -> None:
        super().__init__(width, height, fps, bitrate, bounds)
        if rotation not in (0, 90, 180, 270):
            raise ValueError(f"rotation must be 0, 90, 180 or 270, got {rotation}")
        self.camera_index = camera_index
        self.rotation = rotation
        self.hflip, self.vflip = hflip, vflip
        self.exposure: Exposure = exposure
        self.encoder_choice: EncoderChoice = encoder
        self.keyframe_interval = keyframe_interval
        self.encoder_name: str | None = None  # the encoder class of the current session
        self._encoder: Any = None
        self.lores_size = lores_size(width, height)
        self._lores: npt.NDArray[np.uint8] | None = None  # newest YUV420 self-view picture
        self._lores_at = 0.0
        self._preview: tuple[npt.NDArray[np.uint8], int, int, npt.NDArray[np.uint8]] | None = None

    def preview_rgb(self, width: int, height: int) -> npt.NDArray[np.uint8] | None:
        lores = self._lores
        if lores is None:
            return None
        cached = self._preview
        if cached is not None and cached[0] is lores and cached[1:3] == (width, height):
            return cached[3]
        frame = av.VideoFrame.from_ndarray(lores, format="yuv420p")
        scaled = frame.reformat(width=width, height=height, format="rgb24")
        rgb = np.asarray(scaled.to_ndarray(), dtype=np.uint8)
        self._preview = (lores, width, height, rgb)
        return rgb

    def _keep_lores(self, request: Any) -> None:
        """picamera2's post_callback, on its camera thread: keep the newest lores picture."""
        now = time.monotonic()
        if now - self._lores_at < 1 / PREVIEW_FPS:
            return
        self._lores_at = now
        width, height = self.lores_size
        # YUV420 as (height·3/2, stride): rows may be padded beyond the width.
        self._lores = np.ascontiguousarray(request.make_array("lores")[: height * 3 // 2, :width])

    def request_keyframe(self) -> None:
        encoder = self._encoder
        if encoder is not None:
            encoder.force_key_frame()

    def _apply_bitrate(self, bps: int) -> None:
        encoder = self._encoder
        if encoder is None:
            return
        try:
            _set_encoder_bitrate(encoder, bps)
        except OSError as exc:
            log.warning("camera: bitrate change to %d refused: %s", bps, exc)

    def _session(self, stopping: threading.Event) -> None:
        picamera2_class, encoders, output_base, libcamera = _import_picamera2()
        if self.rotation in (90, 270):
            raise CameraError(f"rotation {self.rotation} is not possible with a Pi camera "
                              "module (the ISP flips, it cannot turn): use 0 or 180")
        cameras = picamera2_class.global_camera_info()
        if self.camera_index >= len(cameras):
            raise CameraError(f"no camera module at index {self.camera_index} "
                              f"({len(cameras)} found)")
        camera = picamera2_class(self.camera_index)
        try:
            camera.configure(self._configuration(camera, libcamera))
            encoder = self._make_encoder(encoders)
            self._encoder = encoder
            camera.post_callback = self._keep_lores
            camera.start_recording(encoder, _output_class(output_base)(self))
            log.info("camera %d: %dx%d@%g, %s, %d kbit/s", self.camera_index, self.width,
                     self.height, self.fps, self.encoder_name, self.bitrate // 1000)
            try:
                self._wait_while_pictures_come(stopping)
            finally:
                self._encoder, self._lores = None, None
                camera.stop_recording()
        finally:
            camera.close()

    def _configuration(self, camera: Any, libcamera: Any) -> Any:
        flip_both = self.rotation == 180
        transform = libcamera.Transform(hflip=int(self.hflip != flip_both),
                                        vflip=int(self.vflip != flip_both))
        frame_us = round(1_000_000 / self.fps)
        modes = libcamera.controls.AeExposureModeEnum
        exposure = {"normal": modes.Normal, "short": modes.Short, "long": modes.Long}
        return camera.create_video_configuration(
            main={"size": (self.width, self.height), "format": "YUV420"},
            lores={"size": self.lores_size, "format": "YUV420"},  # the self-view
            transform=transform,
            controls={"FrameDurationLimits": (frame_us, frame_us),
                      "AeExposureMode": exposure[self.exposure]},
            buffer_count=4,  # fewer buffers in flight: less latency
        )

    def _make_encoder(self, encoders: Any) -> Any:
        hardware = encoders.H264Encoder is not encoders.LibavH264Encoder  # VC4: a Pi 4
        if self.encoder_choice == "hardware" and not hardware:
            raise CameraError("this Pi has no hardware H.264 encoder (a Pi 5?): "
                              "use encoder \"auto\"")
        use_hardware = hardware and self.encoder_choice != "libav"
        kind = encoders.H264Encoder if use_hardware else encoders.LibavH264Encoder
        self.encoder_name = "hardware H.264" if use_hardware else "libav x264"
        # repeat: SPS/PPS with every keyframe; iperiod: the keyframe interval in frames.
        return kind(bitrate=self.bitrate, repeat=True,
                    iperiod=max(1, round(self.keyframe_interval * self.fps)),
                    framerate=self.fps, profile="baseline")

    def _deliver_from_encoder(self, units: ParameterSets, data: bytes,
                              timestamp_us: int | None, anchor: list[float]) -> None:
        """An access unit from picamera2's encoder thread, onto the camera's 90 kHz clock.

        picamera2 stamps units in µs from the session's first sensor timestamp;
        `anchor` ([pts, wall clock] at that moment) is set by the first unit.
        """
        timestamp_us = timestamp_us or 0
        if not anchor:
            anchor.extend((self.pts_now() - timestamp_us * 0.09, time.time() - timestamp_us / 1e6))
        pts = round(anchor[0] + timestamp_us * 0.09)
        unit = units.access_unit(data, pts, anchor[1] + timestamp_us / 1e6)
        if unit is not None:
            self._deliver(unit)


def lores_size(width: int, height: int) -> tuple[int, int]:
    """The self-view stream: a quarter of the picture's width, at most 640, same aspect,
    even sizes (YUV420)."""
    w = min(640, width // 4) // 2 * 2
    return max(2, w), max(2, round(w * height / width / 2) * 2)


def _output_class(base: type) -> type:
    """A picamera2 Output subclass forwarding to a Picamera2Camera (made once picamera2 loads)."""

    class _Output(base):
        def __init__(self, camera: Picamera2Camera) -> None:
            super().__init__()
            self.camera = camera
            self.units = ParameterSets()
            self.anchor: list[float] = []

        def outputframe(self, frame: bytes, keyframe: bool = True, timestamp: int | None = None,
                        packet: Any = None, audio: bool = False) -> None:
            if audio:
                return
            try:
                self.camera._deliver_from_encoder(self.units, bytes(frame), timestamp, self.anchor)
            except CameraError as exc:
                self.camera.errors += 1
                log.warning("camera: %s", exc)

    return _Output

