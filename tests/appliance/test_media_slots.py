"""FrameSlot: drain a video track, keep the newest frame, convert once per shown frame."""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import numpy as np
import pytest
from aiortc import AudioStreamTrack, MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpreceiver import RemoteStreamTrack

from appliance.devices.testpattern import TestPattern, read_timestamp
from appliance.media.slots import FrameSlot, PictureBell

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


class SizeChangingTrack(GatedTrack):
    """Pattern frames at 1280×720, then at 640×360 (a sender lowering its resolution)."""

    def __init__(self) -> None:
        super().__init__()
        self.patterns = {size: TestPattern(*size) for size in ((1280, 720), (640, 360))}

    async def recv(self) -> av.VideoFrame:
        self.pattern = self.patterns[(1280, 720) if self.sent < 3 else (640, 360)]
        return await super().recv()


async def test_each_new_frame_converts_to_the_right_picture_across_a_size_change() -> None:
    track = SizeChangingTrack()
    slot = FrameSlot(track)
    slot.start()
    for n in range(1, 6):
        track.gate.put_nowait(None)
        await slot.wait_for_frames(n, timeout=5)
        assert slot.frame is not None
        tile = slot.rgb(320, 180)
        # Exactly what a fresh conversion of this frame gives, and this frame's picture.
        fresh = slot.frame.to_ndarray(format="rgb24", width=320, height=180)
        assert tile is not None and np.array_equal(tile, fresh)
        assert read_timestamp(tile) == T0 + n - 1
        assert slot.size == ((1280, 720) if n <= 3 else (640, 360))
        # The colour bars' first bar (75 % grey) is where the pattern draws it.
        assert np.abs(tile[150, 2].astype(int) - 191).max() < 24
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


class Requests:
    """A keyframe requester that records when it was called."""

    def __init__(self, answer: bool = True) -> None:
        self.times: list[float] = []
        self.answer = answer

    def __call__(self) -> bool:
        self.times.append(asyncio.get_running_loop().time())
        return self.answer


async def test_a_stalled_track_asks_for_keyframes_backing_off_until_pictures_return() -> None:
    track, requests = GatedTrack(), Requests()
    slot = FrameSlot(track, request_keyframe=requests, stall_after=0.2)
    slot.start()
    began = asyncio.get_running_loop().time()
    await asyncio.sleep(0.35)  # nothing since the start: a stall already
    assert len(requests.times) == 1 and requests.times[0] - began >= 0.2
    for _ in range(10):  # pictures flowing: no requests
        track.gate.put_nowait(None)
        await asyncio.sleep(0.05)
    assert len(requests.times) == 1
    await asyncio.sleep(1.8)  # a stall: asks at once, then after 0.4 s, 0.8 s, ...
    gaps = np.diff(requests.times[1:4])
    assert len(requests.times) in (4, 5) and all(g >= i for g, i in zip(gaps, [0.4, 0.8],
                                                                           strict=True))
    assert slot.keyframe_requests == len(requests.times) and slot.stalls == 2
    track.stop()  # an ended track is not a stall
    track.gate.put_nowait(None)
    await asyncio.sleep(0.5)
    assert slot.ended and slot.keyframe_requests == len(requests.times)
    await slot.stop()


async def test_a_slot_without_a_requester_or_a_far_end_only_counts_the_stall() -> None:
    track = GatedTrack()
    quiet = FrameSlot(track, stall_after=0.1)
    nobody = FrameSlot(track, request_keyframe=Requests(answer=False), stall_after=0.1)
    quiet.start()
    nobody.start()
    await asyncio.sleep(0.3)
    assert quiet.stalls == nobody.stalls == 1
    assert quiet.keyframe_requests == nobody.keyframe_requests == 0  # nothing went out
    await quiet.stop()
    await nobody.stop()
    track.stop()


async def test_a_backlog_aiortc_queued_is_passed_over_at_once() -> None:
    """aiortc's decoder thread queues every decoded picture on its track; frames that
    piled up while the loop was late are not shown one loop turn each: the slot takes
    the newest at once and counts the others as passed over."""
    track = RemoteStreamTrack(kind="video")
    pattern = TestPattern(320, 180)
    for i in range(12):  # what a decoder put there while the loop was busy
        frame = av.VideoFrame.from_ndarray(pattern.render_i420(T0 + i), format="yuv420p")
        frame.pts = i
        track._queue.put_nowait(frame)
    slot = FrameSlot(track, "late")
    slot.start()
    assert await slot.wait_for_frames(12, timeout=5) == 12
    assert slot.frame is not None and slot.frame.pts == 11
    assert slot.version == 1 and slot.frames_passed_over == 11
    track._queue.put_nowait(None)  # the track's end, as aiortc's receiver sends it
    with pytest.raises(MediaStreamError):
        await slot.wait_for_frames(13, timeout=5)
    assert slot.ended and track.readyState == "ended"
    await slot.stop()


async def test_each_new_picture_rings_the_bell_a_waiting_screen_thread_wakes_on() -> None:
    bell = PictureBell()
    track = GatedTrack()
    slot = FrameSlot(track, name="rung", bell=bell)
    slot.start()
    loop = asyncio.get_running_loop()
    # The screen thread waits with a deadline far away; the picture wakes it.
    waiting = loop.run_in_executor(None, bell.wait_after, 0, time.monotonic() + 60)
    track.gate.put_nowait(None)
    async with asyncio.timeout(30):
        rings = await waiting
    assert rings == bell.rings == slot.version == 1
    # Nothing new: the wait lasts until its deadline, and says nothing rang.
    started = time.monotonic()
    assert bell.wait_after(rings, started + 0.1) == 1
    assert time.monotonic() >= started + 0.1
    await slot.stop()


async def test_presented_is_the_picture_converted_last_not_the_newest() -> None:
    track = GatedTrack()
    slot = FrameSlot(track, name="drawn")
    slot.start()
    for count in (1, 2):
        track.gate.put_nowait(None)
        await slot.wait_for_frames(count, timeout=5)
        if count == 1:
            assert slot.presented is None  # nothing drawn yet
            first = slot.rgb(320, 180)
            assert first is not None and slot.presented is slot.frame
    # The second came after the screen drew the first: the screen still shows the first.
    assert slot.presented is not slot.frame and slot.presented is not None
    assert read_timestamp(np.asarray(slot.presented.to_ndarray(format="rgb24"))) == T0
    await slot.stop()
    track.stop()
