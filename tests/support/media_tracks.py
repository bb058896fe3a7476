"""Media for tests: tracks that play a tone or a far end in real time, and what a
camera hands over (collected, its NAL unit types)."""

from __future__ import annotations

import asyncio
import fractions
import threading
import time

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from appliance.devices.audio import SAMPLE_RATE
from appliance.devices.camera import EncodedFrame


def nal_types(access_unit: bytes) -> list[int]:
    types, i = [], 0
    while (i := access_unit.find(b"\x00\x00\x01", i)) >= 0:
        types.append(access_unit[i + 3] & 0x1F)
        i += 3
    return types


class Collect:
    """A FrameOutput that keeps everything (called on the camera thread)."""

    def __init__(self) -> None:
        self.frames: list[EncodedFrame] = []
        self.lock = threading.Lock()

    def output_frame(self, frame: EncodedFrame) -> None:
        with self.lock:
            self.frames.append(frame)

    def snapshot(self) -> list[EncodedFrame]:
        with self.lock:
            return list(self.frames)


class ToneTrack(MediaStreamTrack):
    """A remote-like audio track: a tone in frames of any rate/layout, paced in real time."""

    kind = "audio"

    def __init__(
        self, hz: float, rate: int = 48_000, layout: str = "stereo", frame_ms: int = 20
    ) -> None:
        super().__init__()
        self.hz, self.rate, self.layout = hz, rate, layout
        self.frame_samples = rate * frame_ms // 1000
        self.sent = 0
        self.start: float | None = None
        self.limit: int | None = None  # frames, then the track ends

    async def recv(self) -> av.AudioFrame:
        if self.limit is not None and self.sent >= self.limit * self.frame_samples:
            self.stop()
        if self.readyState != "live":
            raise MediaStreamError
        self.start = self.start or time.monotonic()
        await asyncio.sleep(max(0.0, self.start + self.sent / self.rate - time.monotonic()))
        n = self.sent + np.arange(self.frame_samples)
        mono = np.rint(8000 * np.sin(2 * np.pi * self.hz * n / self.rate)).astype(np.int16)
        channels = 2 if self.layout == "stereo" else 1
        frame = av.AudioFrame.from_ndarray(
            np.repeat(mono, channels).reshape(1, -1), format="s16", layout=self.layout
        )
        frame.sample_rate, frame.pts = self.rate, self.sent
        frame.time_base = fractions.Fraction(1, self.rate)
        self.sent += self.frame_samples
        return frame


class FarEndTrack(MediaStreamTrack):
    """A remote participant saying `speech`, in real time, as 20 ms Opus-like frames."""

    kind = "audio"

    def __init__(self, speech: np.ndarray) -> None:
        super().__init__()
        self.samples = np.clip(np.rint(speech), -32768, 32767).astype(np.int16)
        self.sent = 0
        self.began: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        self.began = self.began or time.monotonic()
        await asyncio.sleep(max(0.0, self.began + self.sent / SAMPLE_RATE - time.monotonic()))
        chunk = np.zeros(960, np.int16)
        part = self.samples[self.sent : self.sent + 960]
        chunk[: part.size] = part
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = SAMPLE_RATE, self.sent
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self.sent += 960
        return frame
