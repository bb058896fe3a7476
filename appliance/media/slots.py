"""Newest-frame slots for remote video.

aiortc decodes every received frame into an unbounded queue; a renderer that
reads slower than the sender sends would fall further behind forever. A
`FrameSlot` drains its track continuously and keeps only the newest decoded
frame; the screen converts and scales it at most once per shown frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

import av
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

log = logging.getLogger(__name__)


class FrameSlot:
    """Holds the newest decoded frame of one remote video track.

    `version` increases with every new frame, so a renderer can skip work
    when nothing changed; `rgb(w, h)` converts and scales once per
    (version, size) and may be called from a render thread.
    """

    def __init__(self, track: MediaStreamTrack, name: str = "") -> None:
        if track.kind != "video":
            raise ValueError(f"FrameSlot needs a video track, got {track.kind!r}")
        self.track = track
        self.name = name
        self.version = 0
        self.frames_received = 0
        self.keyframes_received = 0
        self.size: tuple[int, int] | None = None  # (width, height) of the newest frame
        self.received_at: float | None = None  # wall clock of the newest frame
        self.ended = False
        self._frame: av.VideoFrame | None = None
        self._lock = threading.Lock()
        self._cache: dict[tuple[int, int], tuple[int, npt.NDArray[np.uint8]]] = {}
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin draining the track (idempotent)."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._drain())

    async def stop(self) -> None:
        """Stop draining; the last frame stays readable."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def frame(self) -> av.VideoFrame | None:
        return self._frame

    def rgb(
        self, width: int | None = None, height: int | None = None
    ) -> npt.NDArray[np.uint8] | None:
        """The newest frame as H×W×3 RGB, scaled to width×height (default: native)."""
        with self._lock:
            frame, version = self._frame, self.version
        if frame is None:
            return None
        size = (width or frame.width, height or frame.height)
        cached = self._cache.get(size)
        if cached is not None and cached[0] == version:
            return cached[1]
        image = np.asarray(
            frame.to_ndarray(format="rgb24", width=size[0], height=size[1]), np.uint8
        )
        with self._lock:
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
                frame = await self.track.recv()
                if isinstance(frame, av.VideoFrame):
                    await self._store(frame)
        except MediaStreamError:
            pass
        finally:
            self.ended = True
            async with self._changed:
                self._changed.notify_all()

    async def _store(self, frame: av.VideoFrame) -> None:
        with self._lock:
            self._frame = frame
            self.version += 1
            self.frames_received += 1
            self.keyframes_received += bool(frame.key_frame)
            self.size = (frame.width, frame.height)
            self.received_at = time.time()
        async with self._changed:
            self._changed.notify_all()
