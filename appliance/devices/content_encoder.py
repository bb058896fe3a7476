"""H.264 for content: the Pi 4's hardware encoder where present, else x264 for still pictures.

Content is mostly still text at 1080p and a few frames a second, so the settings
differ from the camera's (`LibavH264Encoder`, ultrafast for 30 fps motion):

- `h264_v4l2m2m` (FFmpeg's V4L2 memory-to-memory encoder: the VideoCore's H.264
  block on a Pi 4, /dev/video11) costs the ARM cores next to nothing. It puts SPS/PPS
  in the codec's extradata rather than before each IDR, so `ParameterSets` adds them.
- `libx264` otherwise, tuned `stillimage` (psychovisual settings that keep text sharp)
  with `zerolatency` (one picture in, one access unit out), preset `veryfast` (text
  needs more than ultrafast's flat blocks, and at 5 fps there is time for it), and at
  most `threads` threads so a room without the hardware block keeps cores for audio.

Both are constrained baseline without B-frames, a long keyframe interval (receivers
ask for one when they need it) and forced IDRs on request. `"auto"` tries the hardware
encoder first and falls back to x264, saying so in the log once.
"""

from __future__ import annotations

import fractions
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Literal

import av

from appliance.devices.camera import PTS_TIME_BASE, CameraError, EncodedFrame
from appliance.devices.encoder import VideoEncoder
from appliance.devices.h264 import ParameterSets

log = logging.getLogger(__name__)

EncoderChoice = Literal["auto", "v4l2m2m", "x264"]
HARDWARE_CODEC = "h264_v4l2m2m"
SOFTWARE_CODEC = "libx264"


def _x264_options(gop: int, max_bitrate: int, threads: int) -> dict[str, str]:
    return {
        "preset": "veryfast",
        "tune": "stillimage,zerolatency",
        "profile": "baseline",
        "forced-idr": "1",
        "threads": str(threads),
        "maxrate": str(max_bitrate),
        "bufsize": str(max_bitrate),  # a slide change may take a second's worth
        "x264-params": f"keyint={gop}:min-keyint={gop}:repeat-headers=1",
    }


def _v4l2m2m_options(gop: int, max_bitrate: int, threads: int) -> dict[str, str]:
    # The bcm2835 encoder takes its bitrate from bit_rate; gop_size sets its
    # keyframe period. Nothing else is worth setting through FFmpeg.
    return {}


CODEC_OPTIONS: Mapping[str, Callable[[int, int, int], dict[str, str]]] = {
    SOFTWARE_CODEC: _x264_options,
    HARDWARE_CODEC: _v4l2m2m_options,
}
CANDIDATES: Mapping[EncoderChoice, tuple[str, ...]] = {
    "auto": (HARDWARE_CODEC, SOFTWARE_CODEC),
    "v4l2m2m": (HARDWARE_CODEC,),
    "x264": (SOFTWARE_CODEC,),
}


class ContentH264Encoder(VideoEncoder):
    """One opened encoder (by FFmpeg codec name) turning I420 pictures into access units."""

    def __init__(self, codec: str, width: int, height: int, fps: float, bitrate: int, *,
                 keyframe_interval: float = 10.0, max_bitrate: int | None = None,
                 threads: int = 2) -> None:
        self.codec = codec
        self._lock = threading.Lock()
        self._keyframe_requested = True
        self._bitrate = self._applied = int(bitrate)
        gop = max(1, round(keyframe_interval * fps))
        ctx = av.CodecContext.create(codec, "w")
        if not isinstance(ctx, av.video.codeccontext.VideoCodecContext):
            raise ValueError(f"{codec} is not a video encoder")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
        ctx.time_base = PTS_TIME_BASE
        ctx.framerate = fractions.Fraction(fps).limit_denominator(1001)
        ctx.gop_size, ctx.max_b_frames, ctx.bit_rate = gop, 0, self._bitrate
        ctx.options = CODEC_OPTIONS[codec](gop, max(self._bitrate, max_bitrate or 0), threads)
        ctx.open()  # now, so a missing hardware encoder is found before the first picture
        self._ctx = ctx
        self._headers = ParameterSets()
        if ctx.extradata:
            self._headers.access_unit(bytes(ctx.extradata), 0, 0.0)  # SPS/PPS, kept

    def request_keyframe(self) -> None:
        with self._lock:
            self._keyframe_requested = True

    def set_bitrate(self, bps: int) -> None:
        with self._lock:
            self._bitrate = int(bps)

    def set_format(self, width: int, height: int, fps: float) -> None:
        """Content keeps the size it opened at: a slide's text must stay legible, so a
        thin link lowers its frame rate and bitrate (the content input's), never its size."""
        if (width, height) != (self._ctx.width, self._ctx.height):
            raise ValueError(f"the content encoder is {self._ctx.width}x{self._ctx.height}; "
                             f"open another for {width}x{height}")

    def encode(self, frame: av.VideoFrame, capture_time: float) -> list[EncodedFrame]:
        with self._lock:
            force, self._keyframe_requested = self._keyframe_requested, False
            bitrate = self._bitrate
        if bitrate != self._applied and self.codec == SOFTWARE_CODEC:
            self._ctx.bit_rate = self._applied = bitrate  # x264 reconfigures in place
        frame.pict_type = (av.video.frame.PictureType.I if force
                           else av.video.frame.PictureType.NONE)
        frame.time_base = PTS_TIME_BASE
        units = []
        for packet in self._ctx.encode(frame):
            unit = self._headers.access_unit(bytes(packet), int(packet.pts or 0), capture_time)
            if unit is not None:
                units.append(unit)
        return units


def open_content_encoder(choice: EncoderChoice, width: int, height: int, fps: float,
                         bitrate: int, *, keyframe_interval: float = 10.0,
                         max_bitrate: int | None = None, threads: int = 2,
                         available: Callable[[str], bool] | None = None,
                         ) -> tuple[ContentH264Encoder, str]:
    """The first encoder of `choice` that opens here, and its codec name.

    `available` (a test's stand-in) says whether FFmpeg has a codec; an encoder that
    FFmpeg has but cannot open (no /dev/video11) is skipped under "auto" as well.
    """
    has = available or (lambda name: name in av.codecs_available)
    problems = []
    for codec in CANDIDATES[choice]:
        if not has(codec):
            problems.append(f"{codec}: not in this FFmpeg")
            continue
        try:
            encoder = ContentH264Encoder(codec, width, height, fps, bitrate,
                                         keyframe_interval=keyframe_interval,
                                         max_bitrate=max_bitrate, threads=threads)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            problems.append(f"{codec}: {exc}")
            continue
        if problems:
            log.info("content encoder: %s (%s)", codec, "; ".join(problems))
        return encoder, codec
    raise CameraError(f"no content encoder for {choice!r}: {'; '.join(problems)}")
