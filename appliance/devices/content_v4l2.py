"""The HDMI input: a USB (UVC) capture dongle through PyAV's v4l2 demuxer.

Cheap HDMI-to-USB grabbers (MacroSilicon MS2109/MS2130 and the like) are UVC
devices offering MJPEG (1080p at up to 30–60 fps) and raw YUYV (1080p at 5–10 fps
over USB 2). Content needs a few frames a second, so the dongle is asked for the
configured rate, and whatever it delivers is thinned to that rate before decoding
(a dropped MJPEG packet costs nothing; a decoded 1080p JPEG costs a Pi 4 ~10 ms).
The picture is scaled to the configured size where the dongle's differs, and encoded
by `appliance.devices.content_encoder` (hardware where present).

Formats are tried in this order (`input_format = "auto"`): MJPEG at the rate, YUYV at
the rate, then MJPEG and the dongle's default at the dongle's own rate. The dongle
is found and watched by `appliance.devices.v4l2_watch` (plugged in = a capture node
of the UVC driver is present with a signal).

`source` (a `CaptureSource`) lets a file or an FFmpeg test source stand in for the
dongle, read in real time: how the tests run this path on a machine without one.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import av

from appliance.devices.camera import BitrateBounds, CameraError
from appliance.devices.camera_v4l2 import FFMPEG_INPUT_FORMATS, CaptureSource, open_first
from appliance.devices.content import ContentSource, Presence
from appliance.devices.content_encoder import EncoderChoice
from appliance.devices.v4l2_watch import CaptureDeviceWatch, CaptureInfo, Probe, probe_v4l2

log = logging.getLogger(__name__)

ContentFormat = Literal["auto", "mjpeg", "yuyv"]
INTRA_CODECS = frozenset({"mjpeg", "rawvideo"})


def capture_candidates(device: str, width: int, height: int, fps: float,
                       input_format: ContentFormat) -> list[CaptureSource]:
    """What to ask the dongle for, in order (see the module's docstring)."""
    size = {"video_size": f"{width}x{height}"}
    rate = {"framerate": f"{fps:g}"}
    formats = ("mjpeg", "yuyv") if input_format == "auto" else (input_format,)
    wanted = [size | rate | {"input_format": FFMPEG_INPUT_FORMATS[f]} for f in formats]
    fallback = [size | {"input_format": FFMPEG_INPUT_FORMATS[f]} for f in formats]
    if input_format == "auto":
        fallback.append(dict(size))  # the dongle's default format and rate
    return [CaptureSource(device, "v4l2", options) for options in wanted + fallback]


class FrameThinner:
    """Lets through at most `fps` pictures a second of a faster stream, evenly."""

    def __init__(self, fps: float) -> None:
        self.interval = 1.0 / fps
        self.next_at: float | None = None

    def take(self, now: float) -> bool:
        """Whether the picture arriving at `now` is one to send."""
        if self.next_at is not None and now < self.next_at - self.interval * 0.1:
            return False
        last = self.next_at
        start = now if last is None or now - last > self.interval else last  # no catching up
        self.next_at = start + self.interval
        return True


class V4l2ContentSource(ContentSource):
    """An HDMI capture dongle (or a stand-in `source`) as the room's content input."""

    def __init__(self, device: str = "auto", width: int = 1920, height: int = 1080,
                 fps: float = 5.0, bitrate: int = 1_500_000,
                 bounds: BitrateBounds | None = None, *, input_format: ContentFormat = "auto",
                 keyframe_interval: float = 10.0, encoder: EncoderChoice = "auto",
                 encoder_threads: int = 2, exclude: Iterable[str] = (),
                 source: CaptureSource | None = None, dev_dir: Path = Path("/dev"),
                 probe: Probe = probe_v4l2, rescan_s: float = 2.0) -> None:
        super().__init__(width, height, fps, bitrate, bounds,
                         keyframe_interval=keyframe_interval, encoder=encoder,
                         encoder_threads=encoder_threads)
        self.device = device
        self.input_format: ContentFormat = input_format
        self.source = source
        self.opened: CaptureSource | None = None  # what the current session asked for
        self.opened_format: str | None = None  # the codec FFmpeg found: mjpeg, rawvideo
        self.captured = 0  # pictures the dongle delivered (before thinning)
        self._found: CaptureInfo | None = None
        self._watcher = CaptureDeviceWatch(device, self._device_changed, dev_dir=dev_dir,
                                           probe=probe, exclude=exclude, rescan_s=rescan_s)

    # -- presence ---------------------------------------------------------------------

    def _watch(self) -> None:
        self._watcher.start()

    def _unwatch(self) -> None:
        self._watcher.stop()

    def _device_changed(self, info: CaptureInfo | None) -> None:
        self._found = info
        self._set_presence(Presence(True, info.detail) if info else Presence(False))

    # -- capture ----------------------------------------------------------------------

    def candidates(self) -> list[CaptureSource]:
        if self.source is not None:
            return [self.source]
        found = self._found
        if found is None:
            raise CameraError("content input: no capture device plugged in")
        return capture_candidates(found.path, self.width, self.height, self.fps,
                                  self.input_format)

    def _open(self) -> tuple[av.container.InputContainer, CaptureSource]:
        return open_first(self.candidates(), "content input")

    def _session(self, stopping: threading.Event) -> None:
        container, source = self._open()
        self.opened = source
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            self.opened_format = stream.codec_context.name
            log.info("content input %s: %s %dx%d, sent at %g fps", source.url,
                     self.opened_format, stream.codec_context.width,
                     stream.codec_context.height, self.fps)
            self._open_encoder()
            self._capture(container, stream, source, stopping)
        except av.error.FFmpegError as exc:
            raise CameraError(f"content input {source.url}: {exc}") from exc
        finally:
            with contextlib.suppress(Exception):
                container.close()

    def _capture(self, container: av.container.InputContainer, stream: av.VideoStream,
                 source: CaptureSource, stopping: threading.Event) -> None:
        thinner = FrameThinner(self.fps)
        # Each MJPEG or raw picture stands alone, so the rate is thinned before decoding;
        # anything else (a dongle's own H.264) must be decoded whole, then thinned.
        intra = self.opened_format in INTRA_CODECS
        for packet in container.demux(stream):
            if stopping.is_set():
                return
            if packet.size == 0:
                continue
            self.captured += 1
            if source.realtime:  # a file reads as fast as it can: at the dongle's pace
                stopping.wait(1.0 / max(1.0, float(stream.average_rate or 30)))
            if intra and not thinner.take(time.monotonic()):
                continue  # not decoded at all
            for frame in stream.codec_context.decode(packet):
                if not intra and not thinner.take(time.monotonic()):
                    continue
                picture = frame.reformat(width=self.width, height=self.height,
                                         format="yuv420p")
                self._encode_and_deliver(picture, time.time())
        raise CameraError(f"content input {source.url}: the stream ended")
