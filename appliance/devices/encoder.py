"""The H.264 encoder of the cameras that encode in software (the simulated camera, a
V4L2 camera without H.264 of its own): x264 through PyAV, in picamera2's encoder role."""

from __future__ import annotations

import fractions
import threading
from abc import ABC, abstractmethod

import av

from appliance.devices.camera import PTS_TIME_BASE, EncodedFrame


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

    @abstractmethod
    def set_format(self, width: int, height: int, fps: float) -> None:
        """Encode pictures of this size and frame rate from the next one on."""


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
        self._keyframe_interval = keyframe_interval
        self._max_bitrate = max(self._bitrate, max_bitrate or self._bitrate)
        self.format = (width, height, float(fps))  # what the encoder is open for
        self._wanted_format = self.format
        self._ctx = self._open(width, height, fps)
        self._applied_bitrate = self._bitrate

    def _open(self, width: int, height: int, fps: float) -> av.video.codeccontext.VideoCodecContext:
        gop = max(1, round(self._keyframe_interval * fps))
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height = width, height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = PTS_TIME_BASE
        ctx.framerate = fractions.Fraction(fps).limit_denominator(1001)
        ctx.gop_size = gop
        ctx.max_b_frames = 0
        ctx.bit_rate = self._bitrate
        ctx.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            "forced-idr": "1",
            # VBV caps bursts at the ceiling; the ABR target moves under it.
            "maxrate": str(self._max_bitrate),
            "bufsize": str(self._max_bitrate // 2),
            # repeat-headers: SPS/PPS in-band before every IDR, for late joiners.
            "x264-params": f"scenecut=0:min-keyint={gop}:repeat-headers=1",
        }
        return ctx

    def set_format(self, width: int, height: int, fps: float) -> None:
        """Encode pictures of this size and rate from the next one on (the send
        adapting, `ladder.py`). x264 cannot change its size in place: the encoder is
        opened again, and its first picture is an IDR with the new SPS, which is where
        a receiver's decoder follows a size change."""
        with self._lock:
            self._wanted_format = (width, height, float(fps))

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
            bitrate, wanted = self._bitrate, self._wanted_format
        if wanted != self.format:
            self._ctx = self._open(*wanted)
            self.format, self._applied_bitrate = wanted, bitrate
        if bitrate != self._applied_bitrate:
            self._ctx.bit_rate = bitrate  # libx264 reconfigures on the next frame
            self._applied_bitrate = bitrate
        frame.pict_type = av.video.frame.PictureType.I if force else av.video.frame.PictureType.NONE
        frame.time_base = PTS_TIME_BASE
        return [
            EncodedFrame(bytes(p), int(p.pts or 0), bool(p.is_keyframe), capture_time)
            for p in self._ctx.encode(frame)
        ]
