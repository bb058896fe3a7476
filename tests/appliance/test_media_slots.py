"""FrameSlot: drain a video track, keep the newest frame, convert once per shown frame."""

from __future__ import annotations

import asyncio
import fractions

import av
import numpy as np
import pytest
from aiortc import AudioStreamTrack, MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from appliance.media.slots import FrameSlot
from appliance.media.testpattern import TestPattern, read_timestamp

T0 = 1_790_000_000_000.0


class PatternTrack(MediaStreamTrack):
    """A remote-like video track: pattern frames as fast as asked, or paced, then ends."""

    kind = "video"

    def __init__(self, count: int, interval: float = 0.0, size: tuple[int, int] = (640, 360)):
        super().__init__()
        self.pattern = TestPattern(*size)
        self.count, self.interval, self.sent = count, interval, 0

    async def recv(self) -> av.VideoFrame:
        if self.sent >= self.count:
            self.stop()
        if self.readyState != "live":
            raise MediaStreamError
        await asyncio.sleep(self.interval)
        frame = av.VideoFrame.from_ndarray(
            self.pattern.render_i420(T0 + self.sent), format="yuv420p"
        )
        frame.pts, frame.time_base = self.sent, fractions.Fraction(1, 30)
        self.sent += 1
        return frame


async def test_slot_keeps_only_the_newest_frame_of_a_burst() -> None:
    slot = FrameSlot(PatternTrack(200), name="burst")
    slot.start()
    async with asyncio.timeout(10):
        while not slot.ended:
            await asyncio.sleep(0.01)
    # Drained to the end (nothing left queued) and what is shown is the last one.
    assert slot.frames_received == slot.version == 200
    assert slot.frame is not None and slot.frame.pts == 199
    image = slot.rgb()
    assert image is not None and read_timestamp(image) == T0 + 199
    assert slot.size == (640, 360)


class GatedTrack(PatternTrack):
    """Sends a frame each time the test opens the gate."""

    def __init__(self) -> None:
        super().__init__(count=1000)
        self.gate: asyncio.Queue[None] = asyncio.Queue()

    async def recv(self) -> av.VideoFrame:
        await self.gate.get()
        return await super().recv()


async def test_rgb_converts_once_per_version_and_size() -> None:
    track = GatedTrack()
    slot = FrameSlot(track)
    slot.start()
    assert slot.rgb(320, 180) is None  # nothing yet
    track.gate.put_nowait(None)
    await slot.wait_for_frames(1, timeout=5)
    first = slot.rgb(320, 180)
    assert first is not None and first.shape == (180, 320, 3) and first.dtype == np.uint8
    assert slot.rgb(320, 180) is first  # same frame, same size: no second conversion
    native = slot.rgb()
    assert native is not None and native.shape == (360, 640, 3)
    assert slot.rgb(320, 180) is first  # another size cached alongside

    track.gate.put_nowait(None)
    await slot.wait_for_frames(2, timeout=5)
    second = slot.rgb(320, 180)
    assert second is not first and second is not None
    assert read_timestamp(second) == T0 + 1
    await slot.stop()
    track.stop()


async def test_wait_for_frames_times_out_and_reports_an_ended_track() -> None:
    slot = FrameSlot(PatternTrack(3, interval=0.01))
    slot.start()
    assert await slot.wait_for_frames(2, timeout=5) >= 2
    with pytest.raises(MediaStreamError, match="after 3 frames"):
        await slot.wait_for_frames(10, timeout=5)
    assert slot.ended

    idle = FrameSlot(PatternTrack(10, interval=10))
    idle.start()
    with pytest.raises(TimeoutError):
        await idle.wait_for_frames(1, timeout=0.2)
    await idle.stop()
    idle.track.stop()


def test_slot_needs_a_video_track() -> None:
    with pytest.raises(ValueError, match="video track"):
        FrameSlot(AudioStreamTrack())
