"""The H.264 encoder of the cameras that encode in software (the simulated camera, a
V4L2 camera without H.264 of its own): x264 through PyAV, in picamera2's encoder role."""

from __future__ import annotations

import fractions
import threading
from abc import ABC, abstractmethod

import av

from appliance.devices.camera import PTS_TIME_BASE, EncodedFrame

REOPEN_ABOVE = 0.1  # at a keyframe, a bitrate this far from the opened one reopens
DEEP_CUT = 0.6  # a cut below this share of the opened bitrate reopens at once


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
    forced keyframes on request.

    A new bitrate starts a fresh encoder at the next keyframe, where the stream has
    an IDR anyway, or at once for a deep cut (the link is congested: an IDR now costs
    less than seconds above the target). libx264's reconfigure alone is not enough:
    its ABR remembers every bit it saved since it opened and pays them back, so after
    a call at a target the picture did not need (the test pattern takes 430 kbit/s of
    a 1 Mbit/s target), a cut to 300 kbit/s kept 380–450 kbit/s going out for as long
    as we measured (14 s), and the pacer held the excess as delay
    (tests/appliance/test_encoder_rate.py). Small changes between keyframes still go
    through the reconfigure.
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
        self._opened_bitrate = self._applied_bitrate = self._bitrate
        self._since_keyframe = 0  # pictures encoded since the last IDR
        self.reopened = 0  # fresh encoders started for a new bitrate

    def _open(self, width: int, height: int, fps: float) -> av.video.codeccontext.VideoCodecContext:
        gop = self._gop = max(1, round(self._keyframe_interval * fps))
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
        if wanted != self.format or self._fresh_for(bitrate, force):
            if wanted == self.format:
                self.reopened += 1
            self._ctx = self._open(*wanted)
            self.format = wanted
            self._opened_bitrate = self._applied_bitrate = bitrate
            force = True
        elif bitrate != self._applied_bitrate:
            self._ctx.bit_rate = bitrate  # libx264 reconfigures on the next frame
            self._applied_bitrate = bitrate
        frame.pict_type = av.video.frame.PictureType.I if force else av.video.frame.PictureType.NONE
        frame.time_base = PTS_TIME_BASE
        units = [EncodedFrame(bytes(p), int(p.pts or 0), bool(p.is_keyframe), capture_time)
                 for p in self._ctx.encode(frame)]
        self._since_keyframe = 0 if any(u.keyframe for u in units) else self._since_keyframe + 1
        return units

    def _fresh_for(self, bitrate: int, keyframe_asked: bool) -> bool:
        """Whether to start a fresh encoder for ``bitrate`` before this picture."""
        if abs(bitrate - self._opened_bitrate) <= self._opened_bitrate * REOPEN_ABOVE:
            return False
        keyframe_due = keyframe_asked or self._since_keyframe >= self._gop - 1
        return keyframe_due or bitrate < self._opened_bitrate * DEEP_CUT
