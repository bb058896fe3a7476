"""USB (UVC) and other V4L2 cameras through PyAV.

A camera that outputs H.264 itself is passed through untouched: PyAV only
demuxes, nothing is decoded. Otherwise the camera's MJPEG (what most USB
cameras offer at 720p30) or raw YUYV is decoded, scaled, rotated or flipped
as configured, and encoded by x264 (ultrafast, zerolatency) —
`LibavH264Encoder`, as the simulated camera uses.

With `input_format="auto"` the camera is asked for H.264, then MJPEG, then
its default. Keyframe requests and bitrate changes reach a passthrough
camera through the standard V4L2 codec controls when its driver has them
(most UVC drivers do not: the camera's own keyframe interval then applies,
which the log says once).

`CaptureSource` lets anything FFmpeg can open stand in for the device (a
file, a `lavfi` test source), read in real time: how the tests run the
PyAV path on machines without a camera.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

import av
import numpy as np

from appliance.devices.camera import PTS_TIME_BASE, BitrateBounds, CameraError
from appliance.devices.camera_supervised import SupervisedCamera
from appliance.devices.encoder import LibavH264Encoder
from appliance.devices.h264 import ParameterSets

log = logging.getLogger(__name__)

InputFormat = Literal["auto", "h264", "mjpeg", "yuyv"]
Rotation = Literal[0, 90, 180, 270]

# FFmpeg's names for the V4L2 pixel formats, in the order "auto" tries them.
FFMPEG_INPUT_FORMATS = {"h264": "h264", "mjpeg": "mjpeg", "yuyv": "yuyv422"}
AUTO_ORDER = ("h264", "mjpeg", None)  # None: whatever the camera gives by default

# linux/videodev2.h: VIDIOC_S_CTRL and the codec controls a passthrough camera may have.
VIDIOC_S_CTRL = 0xC008561C
V4L2_CID_MPEG_VIDEO_BITRATE = 0x009909CF
V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME = 0x009909E5


@dataclass(frozen=True)
class CaptureSource:
    """What PyAV opens: a V4L2 device, or a stand-in (file, lavfi) read at `fps`."""

    url: str
    demuxer: str | None
    options: dict[str, str] = field(default_factory=dict)
    realtime: bool = False  # True for stand-ins: pace the reads to the frame rate


def set_v4l2_control(device: str, control: int, value: int) -> bool:
    """Set one V4L2 control on `device`; False if the driver does not have it."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.ioctl(fd, VIDIOC_S_CTRL, struct.pack("Ii", control, value))
        return True
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTTY, errno.EACCES, errno.EBUSY):
            log.debug("%s: control %#x: %s", device, control, exc)
        return False
    finally:
        os.close(fd)


def transform_planes(
    frame: av.VideoFrame, width: int, height: int, rotation: Rotation, hflip: bool, vflip: bool
) -> av.VideoFrame:
    """Scale to the capture size, then rotate/flip the I420 planes (cheap numpy views)."""
    capture_w, capture_h = (height, width) if rotation in (90, 270) else (width, height)
    scaled = frame.reformat(width=capture_w, height=capture_h, format="yuv420p")
    if not (rotation or hflip or vflip):
        return scaled
    packed = scaled.to_ndarray()
    y = packed[:capture_h]
    chroma = packed[capture_h:].reshape(2, capture_h // 2, capture_w // 2)
    planes = [y, chroma[0], chroma[1]]
    turns = {0: 0, 90: -1, 180: 2, 270: 1}[rotation]  # clockwise mounting correction
    for i, plane in enumerate(planes):
        plane = np.rot90(plane, turns) if turns else plane
        if hflip:
            plane = plane[:, ::-1]
        if vflip:
            plane = plane[::-1]
        planes[i] = plane
    out = np.concatenate([planes[0].reshape(-1), planes[1].reshape(-1), planes[2].reshape(-1)])
    return av.VideoFrame.from_ndarray(out.reshape(height * 3 // 2, width), format="yuv420p")


class V4l2Camera(SupervisedCamera):
    """A V4L2 camera (USB webcam, HDMI grabber …) through PyAV."""

    def __init__(
        self,
        device: str = "/dev/video0",
        width: int = 1280,
        height: int = 720,
        fps: float = 30.0,
        bitrate: int = 1_500_000,
        *,
        bounds: BitrateBounds | None = None,
        keyframe_interval: float = 2.0,
        input_format: InputFormat = "auto",
        rotation: Rotation = 0,
        hflip: bool = False,
        vflip: bool = False,
        source: CaptureSource | None = None,
    ) -> None:
        super().__init__(width, height, fps, bitrate, bounds)
        if rotation not in (0, 90, 180, 270):
            raise ValueError(f"rotation must be 0, 90, 180 or 270, got {rotation}")
        self.device = device
        self.input_format = input_format
        self.rotation: Rotation = rotation
        self.hflip, self.vflip = hflip, vflip
        self.source = source
        self.keyframe_interval = keyframe_interval
        self.passthrough = False  # the current session sends the camera's own H.264
        self.opened_format: str | None = None  # codec of the stream opened: h264, mjpeg, …
        self._encoder: LibavH264Encoder | None = None
        self._keyframe_wanted = threading.Event()
        self._warned_no_controls = False

    # -- feedback ---------------------------------------------------------------------

    def request_keyframe(self) -> None:
        encoder = self._encoder
        if encoder is not None and not self.passthrough:
            encoder.request_keyframe()
        else:
            self._keyframe_wanted.set()  # the session forwards it to the device

    def _apply_bitrate(self, bps: int) -> None:
        encoder = self._encoder
        if encoder is not None and not self.passthrough:
            encoder.set_bitrate(bps)
        elif self.passthrough and self.source is None:
            self._control(V4L2_CID_MPEG_VIDEO_BITRATE, bps)

    def _control(self, control: int, value: int) -> None:
        if not set_v4l2_control(self.device, control, value) and not self._warned_no_controls:
            self._warned_no_controls = True
            log.info("%s: no V4L2 codec controls; keyframes and bitrate stay the camera's own",
                     self.device)

    # -- capture ----------------------------------------------------------------------

    def _candidates(self) -> list[CaptureSource]:
        if self.source is not None:
            return [self.source]
        cw, ch = (self.height, self.width) if self.rotation in (90, 270) else (
            self.width, self.height)
        base = {"video_size": f"{cw}x{ch}", "framerate": f"{self.fps:g}"}
        wanted = AUTO_ORDER if self.input_format == "auto" else (self.input_format,)
        return [
            CaptureSource(self.device, "v4l2",
                          base | ({"input_format": FFMPEG_INPUT_FORMATS[f]} if f else {}))
            for f in wanted
        ]

    def _open(self) -> tuple[av.container.InputContainer, CaptureSource]:
        if self.source is None and not os.path.exists(self.device):
            raise CameraError(f"camera {self.device}: not connected")
        problems = []
        for candidate in self._candidates():
            try:
                container = av.open(candidate.url, format=candidate.demuxer,
                                    options=candidate.options, timeout=(5.0, 5.0))
            except (av.error.FFmpegError, OSError) as exc:
                fmt = candidate.options.get("input_format", "default")
                problems.append(f"{fmt}: {exc}")
                continue
            if container.streams.video:
                return container, candidate
            container.close()
            problems.append(f"{candidate.url}: no video stream")
        raise CameraError(f"camera {self.device}: cannot open ({'; '.join(problems)})")

    def _session(self, stopping: threading.Event) -> None:
        container, source = self._open()
        try:
            stream = container.streams.video[0]
            self.opened_format = stream.codec_context.name
            transformed = bool(self.rotation or self.hflip or self.vflip)
            self.passthrough = self.opened_format == "h264" and not transformed
            log.info("camera %s: %s %dx%d, %s", source.url, self.opened_format,
                     stream.codec_context.width, stream.codec_context.height,
                     "passed through" if self.passthrough else "encoded by x264")
            if self.passthrough:
                self._encoder = None
                self._pass_through(container, stream, source, stopping)
            else:
                self._encoder = LibavH264Encoder(
                    self.width, self.height, self.fps, self.bitrate, self.keyframe_interval,
                    self.bounds.maximum)
                self._encode(container, stream, source, stopping)
        except av.error.FFmpegError as exc:
            raise CameraError(f"camera {source.url}: {exc}") from exc
        finally:
            with contextlib.suppress(Exception):
                container.close()

    def _pass_through(
        self, container: av.container.InputContainer, stream: av.VideoStream,
        source: CaptureSource, stopping: threading.Event,
    ) -> None:
        units = ParameterSets()
        pacer = _Pacer(self.fps) if source.realtime else None
        waiting_for_keyframe = True  # the contract: a session starts with a keyframe
        self._keyframe_wanted.set()
        for packet in container.demux(stream):
            if stopping.is_set():
                return
            if packet.size == 0:
                continue
            if self._keyframe_wanted.is_set() and self.source is None:
                self._keyframe_wanted.clear()
                self._control(V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME, 1)
            if pacer is not None:
                pacer.wait(stopping)
            unit = units.access_unit(bytes(packet), self.pts_now(), time.time())
            if unit is None or (waiting_for_keyframe and not unit.keyframe):
                continue
            waiting_for_keyframe = False
            self._deliver(unit)
        raise CameraError(f"camera {source.url}: the stream ended")

    def _encode(
        self, container: av.container.InputContainer, stream: av.VideoStream,
        source: CaptureSource, stopping: threading.Event,
    ) -> None:
        assert self._encoder is not None
        stream.thread_type = "AUTO"
        pacer = _Pacer(self.fps) if source.realtime else None
        self._encoder.request_keyframe()
        for frame in container.decode(stream):
            if stopping.is_set():
                return
            if pacer is not None:
                pacer.wait(stopping)
            capture_time = time.time()
            picture = transform_planes(frame, self.width, self.height, self.rotation,
                                       self.hflip, self.vflip)
            picture.pts, picture.time_base = self.pts_now(), PTS_TIME_BASE
            for unit in self._encoder.encode(picture, capture_time):
                self._deliver(unit)
        raise CameraError(f"camera {source.url}: the stream ended")


class _Pacer:
    """Real-time pacing for stand-in sources that read faster than a camera."""

    def __init__(self, fps: float) -> None:
        self.interval = 1.0 / fps
        self.next_at = time.monotonic()

    def wait(self, stopping: threading.Event) -> None:
        self.next_at += self.interval
        delay = self.next_at - time.monotonic()
        if delay < -self.interval:
            self.next_at = time.monotonic()
        elif delay > 0:
            stopping.wait(delay)
