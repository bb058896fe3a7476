"""Diagnostics for benchmarks: how soon and how late remote video reaches the screen.

`DiagnosedScreenDriver` is the screen driver that also notes, on every render that
drew something, which decoded frame each remote tile now shows and when (a
reference and a timestamp: no pixels are touched on the render path). On request
(/healthz's "diagnostics" section) `report()` reads the capture time that a
test-pattern camera encodes in those frames (appliance.devices.testpattern) and
gives, per remote participant, capture→decoded and capture→shown in ms: the
glass-to-glass latency into this appliance, on this machine's clock. Pictures
that carry no pattern (a real camera) read as null; nothing else changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pygame

from appliance.devices.testpattern import read_timestamp
from appliance.media.slots import FrameSlot
from appliance.screen.render import Frames, Renderer, ScreenDriver, SurfaceSink

__all__ = ["DiagnosedScreenDriver", "capture_time_ms"]

# Planar formats whose first plane is luma: the code band reads from it directly.
_LUMA_FIRST = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuv444p", "nv12"})


def capture_time_ms(frame: av.VideoFrame) -> float | None:
    """The test pattern's capture time in a decoded frame (ms since the epoch), or None.

    Reads the luma plane in place (a grey view, no copy or colour conversion);
    other formats are converted to RGB first.
    """
    image: npt.NDArray[np.uint8]
    if frame.format.name in _LUMA_FIRST:
        plane = frame.planes[0]
        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(frame.height, plane.line_size)
        luma = rows[:, : frame.width]
        image = np.broadcast_to(luma[:, :, None], (*luma.shape, 3))
    else:
        image = np.asarray(frame.to_ndarray(format="rgb24"), np.uint8)
    return read_timestamp(image)


@dataclass
class _Shown:
    frame: av.VideoFrame
    at: float  # wall clock when the screen showing it was handed to the display
    capture_ms: float | None = None
    read: bool = False  # capture_ms computed (once per shown frame, however often asked)

    def capture(self) -> float | None:
        if not self.read:
            self.capture_ms, self.read = capture_time_ms(self.frame), True
        return self.capture_ms


class DiagnosedScreenDriver(ScreenDriver):
    """A ScreenDriver that remembers the newest remote frame shown per participant."""

    def __init__(self, renderer: Renderer, display: SurfaceSink,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(renderer, display)
        self._clock = clock
        self.first_remote_frame_shown_at: float | None = None
        self._shown: dict[str, _Shown] = {}
        self._slots: dict[str, FrameSlot] = {}
        self.frames_shown: dict[str, int] = {}  # new pictures shown, per participant

    def show(self, surface: pygame.Surface, frames: Frames | None = None) -> None:
        super().show(surface, frames)
        if frames:
            self._note_shown(frames)

    def _note_shown(self, frames: Frames) -> None:
        now = self._clock()
        self._slots = {k: s for k, s in frames.items() if isinstance(s, FrameSlot)}
        for key, slot in self._slots.items():
            # what was drawn: a picture that came while drawing is counted when it is
            frame, shown = slot.presented, self._shown.get(key)
            if frame is not None and (shown is None or shown.frame is not frame):
                self._shown[key] = _Shown(frame, now)
                self.frames_shown[key] = self.frames_shown.get(key, 0) + 1
                if self.first_remote_frame_shown_at is None:
                    self.first_remote_frame_shown_at = now
        for gone in self._shown.keys() - self._slots.keys():
            del self._shown[gone]

    def report(self, names: dict[str, str]) -> dict[str, Any]:
        """First remote frame shown (wall clock) and per-participant latencies in ms."""
        now = self._clock()
        video: dict[str, Any] = {}
        for key, shown in list(self._shown.items()):
            captured = shown.capture()
            slot = self._slots.get(key)
            newest = slot.frame if slot is not None else None
            decoded_ms = None
            if newest is not None and slot is not None and slot.received_at is not None:
                newest_capture = captured if newest is shown.frame else capture_time_ms(newest)
                if newest_capture is not None:
                    decoded_ms = round(slot.received_at * 1000 - newest_capture, 1)
            video[names.get(key, key)] = {
                "capture_to_shown_ms": _minus(shown.at, captured),
                "capture_to_decoded_ms": decoded_ms,
                "capture_to_now_ms": _minus(now, captured),
                "shown_at": round(shown.at, 3),
                "frames_shown": self.frames_shown.get(key, 0),
                # decoded but a newer one was there first; dropped before decoding
                "frames_passed_over": slot.frames_passed_over if slot is not None else 0,
                "decoder_dropped": (slot.decoder_guard.dropped if slot is not None
                                    and slot.decoder_guard is not None else 0),
                "size": [shown.frame.width, shown.frame.height],
            }
        return {"now": round(now, 3), "frames_drawn": self.frames_drawn,
                "first_remote_frame_shown_at": self.first_remote_frame_shown_at,
                "remote_video": video}


def _minus(at_s: float, capture_ms: float | None) -> float | None:
    return None if capture_ms is None else round(at_s * 1000 - capture_ms, 1)
