"""Newest-frame slots for remote video.

aiortc decodes every received frame into an unbounded queue; a renderer that
reads slower than the sender sends would fall further behind forever. A
`FrameSlot` drains its track continuously and keeps only the newest decoded
frame; the screen converts and scales it at most once per shown frame.

Conversion goes through one `av.VideoReformatter` per slot and tile size, kept
for the slot's life: `VideoFrame.to_ndarray(width=…)` builds a new libswscale
context for every new frame, with slice threads of its own (two threads
created and joined per frame at 30 fps, and 30 % more CPU per conversion);
a kept context is reused while the stream's size stays the same. It scales in
the converting thread (`threads=1`): a tile is small, and threads that come
and go cost more than they save.

A slot also notices when pictures stop coming while the track is live (a lost
keyframe, a subscriber that joined mid-stream, a decoder that gave up) and
asks the far end for a keyframe, backing off while the stall lasts. aiortc
only does that itself when its decoder raises; `receiver_keyframe_requester`
turns the track's RTCRtpReceiver into the request function.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable

import av
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError
from av.video.reformatter import VideoReformatter

from appliance.media.decode_backlog import DecoderBacklogGuard
from appliance.media.layers import DrawnSize

log = logging.getLogger(__name__)

KeyframeRequester = Callable[[], bool]  # True if a request went out

STALL_AFTER_S = 1.0  # no new picture for this long while live: ask for a keyframe
MAX_STALL_BACKOFF_S = 8.0  # while a stall lasts, requests slow down to this interval
MAX_TILE_SIZES = 4  # reformatters kept per slot (a layout shows a tile at one or two sizes)
_sending: set[asyncio.Task[None]] = set()  # PLIs on their way (keeps the tasks alive)


def receiver_keyframe_requester(receiver: RTCRtpReceiver) -> KeyframeRequester:
    """A function sending an RTCP PLI for the stream `receiver` gets most recently.

    aiortc 1.16 has no public API to request a keyframe as a receiver; its own
    `RTCRtpReceiver._send_rtcp_pli(media_ssrc)` is what it uses after a decode
    error. This is the one place the appliance calls it. The media SSRC comes
    from the public `getSynchronizationSources()`; with no packets in the last
    10 s there is nobody to ask, and the function returns False.
    """

    def request() -> bool:
        sources = receiver.getSynchronizationSources()
        if not sources:
            return False
        ssrc = max(sources, key=lambda source: source.timestamp).source
        task = asyncio.ensure_future(receiver._send_rtcp_pli(ssrc))
        _sending.add(task)
        task.add_done_callback(_sending.discard)
        return True

    return request


class PictureBell:
    """Rung by every slot when it holds a new picture, so the screen thread can draw it
    as it comes instead of on a fixed 30 Hz grid: sampling a 30 fps stream that arrives
    with jitter on such a grid shows only 22–26 of its pictures a second (two in one
    period, one is never drawn)."""

    def __init__(self) -> None:
        self._rung = threading.Condition()
        self.rings = 0

    def ring(self) -> None:
        with self._rung:
            self.rings += 1
            self._rung.notify_all()

    def wait_after(self, seen: int, deadline: float) -> int:
        """Wait until rung since `seen` (a value of `rings`) or until the monotonic
        `deadline`; returns `rings`."""
        with self._rung:
            while self.rings == seen:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._rung.wait(left)
            return self.rings


class TileConverter:
    """YUV → RGB scaled to a tile, with one kept libswscale context per tile size.

    Safe to call from several threads (one conversion at a time).
    """

    def __init__(self) -> None:
        self._reformatters: dict[tuple[int, int], VideoReformatter] = {}
        self._lock = threading.Lock()  # a reformatter is not for two threads at once

    def rgb(self, frame: av.VideoFrame, size: tuple[int, int]) -> npt.NDArray[np.uint8]:
        with self._lock:
            reformatter = self._reformatters.get(size)
            if reformatter is None:
                if len(self._reformatters) >= MAX_TILE_SIZES:  # the layout changed
                    self._reformatters.clear()
                reformatter = self._reformatters[size] = VideoReformatter()
            rgb = reformatter.reformat(frame, width=size[0], height=size[1], format="rgb24",
                                       threads=1)
            return np.asarray(rgb.to_ndarray(), np.uint8)


class FrameSlot:
    """Holds the newest decoded frame of one remote video track.

    `version` increases with every new frame, so a renderer can skip work
    when nothing changed; `rgb(w, h)` converts and scales once per
    (version, size) and may be called from a render thread.
    """

    def __init__(
        self,
        track: MediaStreamTrack,
        name: str = "",
        *,
        request_keyframe: KeyframeRequester | None = None,
        stall_after: float = STALL_AFTER_S,
        bell: PictureBell | None = None,
    ) -> None:
        if track.kind != "video":
            raise ValueError(f"FrameSlot needs a video track, got {track.kind!r}")
        self.track = track
        self.name = name
        self.request_keyframe = request_keyframe  # may also be set after construction
        self.stall_after = stall_after
        self.bell = bell  # rung on each new picture (the screen draws it as it comes)
        self.keyframe_requests = 0  # sent because of stalls
        self.stalls = 0  # times pictures stopped for longer than stall_after
        self.version = 0
        self.frames_received = 0
        self.frames_passed_over = 0  # decoded, never shown: a newer one was already there
        self.keyframes_received = 0
        self.size: tuple[int, int] | None = None  # (width, height) of the newest frame
        self.drawn = DrawnSize()  # the tile size it was last converted for (layer choice)
        self.received_at: float | None = None  # wall clock of the newest frame
        self.ended = False
        # frames skipped while the decoder was behind (set by whoever made the slot)
        self.decoder_guard: DecoderBacklogGuard | None = None
        self._frame: av.VideoFrame | None = None
        self._presented: tuple[int, av.VideoFrame | None] = (0, None)  # converted last
        self._lock = threading.Lock()
        self._cache: dict[tuple[int, int], tuple[int, npt.NDArray[np.uint8]]] = {}
        self._converter = TileConverter()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._last_picture = time.monotonic()  # or when draining started

    def start(self) -> None:
        """Begin draining the track and watching for stalls (idempotent)."""
        if self._task is None:
            self._last_picture = time.monotonic()
            self._task = asyncio.ensure_future(self._drain())
            self._watch = asyncio.ensure_future(self._watch_stalls())

    async def stop(self) -> None:
        """Stop draining; the last frame stays readable."""
        tasks = [t for t in (self._task, self._watch) if t is not None]
        self._task = self._watch = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch_stalls(self) -> None:
        """Ask for a keyframe when no picture came for `stall_after` (then 2×, 4×, … 8 s)."""
        interval = self.stall_after
        last_request = 0.0
        stalled = False
        while not self.ended and self.track.readyState == "live":
            await asyncio.sleep(self.stall_after / 4)
            now = time.monotonic()
            quiet = now - self._last_picture
            if quiet < self.stall_after:
                interval, stalled = self.stall_after, False
                continue
            if not stalled:
                stalled, last_request = True, self._last_picture
                self.stalls += 1
            if now - last_request >= interval and self.request_keyframe is not None:
                last_request = now
                interval = min(interval * 2, MAX_STALL_BACKOFF_S)
                if self.request_keyframe():
                    self.keyframe_requests += 1
                    log.info("video %r: no picture for %.1f s, asked for a keyframe",
                             self.name, quiet)

    @property
    def frame(self) -> av.VideoFrame | None:
        return self._frame

    @property
    def presented(self) -> av.VideoFrame | None:
        """The picture `rgb` converted last: what the screen shows (`frame` may be newer)."""
        return self._presented[1]

    def rgb(
        self, width: int | None = None, height: int | None = None
    ) -> npt.NDArray[np.uint8] | None:
        """The newest frame as H×W×3 RGB, scaled to width×height (default: native)."""
        with self._lock:
            frame, version = self._frame, self.version
        if frame is None:
            return None
        size = (width or frame.width, height or frame.height)
        self.drawn.drawn(size)
        cached = self._cache.get(size)
        if cached is not None and cached[0] == version:
            return cached[1]
        image = self._converter.rgb(frame, size)
        with self._lock:
            if version > self._presented[0]:
                self._presented = (version, frame)
            if self.version == version:
                self._cache = {k: v for k, v in self._cache.items() if v[0] == version}
                self._cache[size] = (version, image)
        return image

    async def wait_for_frames(self, count: int, timeout: float) -> int:
        """Wait until `frames_received >= count`; returns it. Raises TimeoutError."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self.frames_received >= count or self.ended)
        if self.frames_received < count:
            raise MediaStreamError(f"track {self.name!r} ended after {self.frames_received} frames")
        return self.frames_received

    async def wait_for_next(self, timeout: float) -> av.VideoFrame:
        """The next frame to arrive after this call."""
        await self.wait_for_frames(self.frames_received + 1, timeout)
        assert self._frame is not None
        return self._frame

    async def _drain(self) -> None:
        try:
            while True:
                newest, skipped = self._newest_waiting(await self.track.recv())
                if isinstance(newest, av.VideoFrame):
                    await self._store(newest, skipped)
        except MediaStreamError:
            pass
        finally:
            self.ended = True
            async with self._changed:
                self._changed.notify_all()

    def _newest_waiting(self, frame: object) -> tuple[object, int]:
        """The newest of the frames aiortc has queued for this track by now, and how many
        older ones that passes over. aiortc's decoder thread queues every picture on the
        event loop's unbounded queue, one loop turn each: on a loop late by a frame or
        more (a Pi core, nine tiles) taking one per turn fell further behind for as long
        as the call lasted — a browser's tile reached the room's screen 20 s late
        (tests/bench/bench_pi_call.py --senders 8 on the Pi 4 budget)."""
        waiting = getattr(self.track, "_queue", None)  # aiortc's RemoteStreamTrack
        skipped = 0
        while isinstance(waiting, asyncio.Queue) and not waiting.empty():
            newer = waiting.get_nowait()
            if newer is None:  # the track's end, as aiortc's recv() reads it
                self.track.stop()
                raise MediaStreamError
            frame, skipped = newer, skipped + 1
        return frame, skipped

    async def _store(self, frame: av.VideoFrame, skipped: int = 0) -> None:
        with self._lock:
            self._frame = frame
            self.version += 1
            self.frames_received += 1 + skipped
            self.frames_passed_over += skipped
            self.keyframes_received += bool(frame.key_frame)
            self.size = (frame.width, frame.height)
            self.received_at = time.time()
            self._last_picture = time.monotonic()
        if self.bell is not None:
            self.bell.ring()
        async with self._changed:
            self._changed.notify_all()
