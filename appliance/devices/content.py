"""The room's content source: what it presents (an HDMI input, a simulated slide deck).

A `ContentSource` is a camera in every way the media layer cares about — it hands
H.264 access units to a `FrameOutput` on its own thread, follows keyframe requests
and bitrate bounds — so `appliance.media.content.ContentTrack` (an aiortc track whose
`recv()` returns `av.Packet`s) publishes it exactly as the camera is published,
without a second encoder. What it adds is **presence**: whether something is plugged
in that could be presented. Presence is watched from `watch()` to `close()`, whether
capturing or not, because plugging in is what asks the room to present; capture runs
only while the room presents (`start`/`stop`, like the camera).

Back-ends (picked by `appliance.devices.registry` from `[content]`):
- `SimulatedContentSource` (here): a slide deck with large text and a QR code,
  turning a slide every few seconds, plugged and unplugged by calls or a cycle.
- `appliance.devices.content_v4l2.V4l2ContentSource`: a UVC HDMI capture dongle,
  found when it appears as /dev/videoN with a capture capability.

Content is text and pictures that change seldom: it is sent at 1080p and a low frame
rate, encoded by `appliance.devices.content_encoder` (the Pi 4's hardware encoder
where present, else x264 tuned for still pictures on at most two threads).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import av

from appliance.devices.camera import PTS_TIME_BASE, BitrateBounds, CameraError
from appliance.devices.camera_supervised import SupervisedCamera
from appliance.devices.content_encoder import EncoderChoice, open_content_encoder
from appliance.devices.encoder import VideoEncoder
from appliance.devices.slides import SlideDeck

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Presence:
    """What presence listeners hear: something is plugged in (with what), or not."""

    plugged: bool
    detail: str = ""


PresenceListener = Callable[[Presence], None]


class ContentSource(SupervisedCamera):
    """A camera-like content input with a presence signal.

    Subclasses implement `_session` (capture and `_deliver` until stopped, as every
    `SupervisedCamera`) and `_watch`/`_unwatch` (presence detection); they call
    `_set_presence` when it changes.
    """

    def __init__(self, width: int, height: int, fps: float, bitrate: int,
                 bounds: BitrateBounds | None = None, *, keyframe_interval: float = 10.0,
                 encoder: EncoderChoice = "auto", encoder_threads: int = 2) -> None:
        super().__init__(width, height, fps, bitrate, bounds)
        self.keyframe_interval = keyframe_interval
        self.encoder_choice: EncoderChoice = encoder
        self.encoder_threads = encoder_threads
        self.encoder_name: str | None = None  # the codec the last session opened
        self._encoder: VideoEncoder | None = None
        self._presence = Presence(False)
        self._presence_lock = threading.Lock()
        self._presence_listeners: list[PresenceListener] = []
        self._watching = False

    # -- presence -------------------------------------------------------------------

    @property
    def presence(self) -> Presence:
        return self._presence

    def add_presence_listener(self, listener: PresenceListener,
                              loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Call `listener` on every change of presence (in `loop` when given, as the app
        wants: it turns them into room events there)."""
        if loop is None:
            self._presence_listeners.append(listener)
            return

        def in_loop(presence: Presence) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(listener, presence)

        self._presence_listeners.append(in_loop)

    def _set_presence(self, presence: Presence) -> None:
        with self._presence_lock:
            if presence.plugged == self._presence.plugged:
                self._presence = presence  # a new detail (another device) is not news
                return
            self._presence = presence
        log.info("content source %s%s", "plugged in" if presence.plugged else "unplugged",
                 f": {presence.detail}" if presence.detail else "")
        for listener in list(self._presence_listeners):
            try:
                listener(presence)
            except Exception:
                log.exception("content presence listener failed")

    def watch(self) -> None:
        """Start watching for the source being plugged in and out (idempotent)."""
        if not self._watching:
            self._watching = True
            self._watch()

    def close(self) -> None:
        """Stop capturing and watching."""
        self.stop()
        if self._watching:
            self._watching = False
            self._unwatch()

    @abstractmethod
    def _watch(self) -> None: ...

    @abstractmethod
    def _unwatch(self) -> None: ...

    # -- encoding -------------------------------------------------------------------

    def request_keyframe(self) -> None:
        encoder = self._encoder
        if encoder is not None:
            encoder.request_keyframe()

    def _apply_bitrate(self, bps: int) -> None:
        encoder = self._encoder
        if encoder is not None:
            encoder.set_bitrate(bps)

    def _open_encoder(self) -> VideoEncoder:
        """A new encoder for a session (its first picture is an IDR)."""
        encoder, self.encoder_name = open_content_encoder(
            self.encoder_choice, self.width, self.height, self.fps, self.bitrate,
            keyframe_interval=self.keyframe_interval, max_bitrate=self.bounds.maximum,
            threads=self.encoder_threads)
        self._encoder = encoder
        return encoder

    def _encode_and_deliver(self, picture: av.VideoFrame, capture_time: float) -> None:
        encoder = self._encoder
        if encoder is None:
            raise CameraError("content source: no encoder open")
        picture.pts, picture.time_base = self.pts_now(), PTS_TIME_BASE
        for unit in encoder.encode(picture, capture_time):
            self._deliver(unit)


class SimulatedContentSource(ContentSource):
    """A slide deck standing for a laptop on the HDMI input.

    Each slide has a large title, a few lines of text and a QR code (its payload
    says which slide), so a test can read back from a far end's decoded picture
    what is shown. A slide turns every `slide_s`; a thin bar along the bottom
    fills meanwhile, so every picture differs a little, as a live screen does.
    `unplug()`/`plug_in()` stand for the cable; with `plug_cycle_s` it is
    plugged and unplugged by itself at that period (for `make demo`).
    """

    retry_initial = 0.2
    retry_max = 2.0

    def __init__(self, width: int = 1920, height: int = 1080, fps: float = 5.0,
                 bitrate: int = 1_500_000, bounds: BitrateBounds | None = None, *,
                 slide_s: float = 5.0, plugged: bool = True, plug_cycle_s: float = 0.0,
                 keyframe_interval: float = 10.0, encoder: EncoderChoice = "x264",
                 encoder_threads: int = 2, deck: SlideDeck | None = None) -> None:
        super().__init__(width, height, fps, bitrate, bounds,
                         keyframe_interval=keyframe_interval, encoder=encoder,
                         encoder_threads=encoder_threads)
        self.deck = deck or SlideDeck(width, height)
        self.slide_s = slide_s
        self.plug_cycle_s = plug_cycle_s
        self._plugged = plugged
        self._cycle_stop = threading.Event()
        self._cycle: threading.Thread | None = None
        self._epoch = time.monotonic()

    def plug_in(self) -> None:
        self._plugged = True
        if self._watching:
            self._set_presence(Presence(True, "simulated slide deck"))

    def unplug(self) -> None:
        self._plugged = False
        if self._watching:
            self._set_presence(Presence(False))

    def _watch(self) -> None:
        self._set_presence(Presence(self._plugged, "simulated slide deck" if self._plugged else ""))
        if self.plug_cycle_s > 0:
            self._cycle_stop = threading.Event()
            self._cycle = threading.Thread(target=self._cycle_plug, args=(self._cycle_stop,),
                                           name="content-plug-cycle", daemon=True)
            self._cycle.start()

    def _unwatch(self) -> None:
        self._cycle_stop.set()
        if self._cycle is not None:
            self._cycle.join(timeout=1.0)
            self._cycle = None

    def _cycle_plug(self, stop: threading.Event) -> None:
        while not stop.wait(self.plug_cycle_s):
            self.unplug() if self._plugged else self.plug_in()

    def slide_index(self, now: float | None = None) -> int:
        """The slide shown at monotonic time `now`."""
        elapsed = (time.monotonic() if now is None else now) - self._epoch
        return int(elapsed // self.slide_s) % len(self.deck)

    def picture(self, now: float | None = None) -> av.VideoFrame:
        """The picture shown at monotonic time `now` (I420, the capture size)."""
        now = time.monotonic() if now is None else now
        elapsed = now - self._epoch
        progress = (elapsed % self.slide_s) / self.slide_s
        return av.VideoFrame.from_ndarray(
            self.deck.i420(self.slide_index(now), progress), format="yuv420p")

    def _session(self, stopping: threading.Event) -> None:
        if not self._plugged:
            raise CameraError("simulated content source: not connected")
        self._open_encoder()
        interval = 1.0 / self.fps
        next_at = time.monotonic()
        while not stopping.is_set():
            if not self._plugged:
                raise CameraError("simulated content source: disconnected")
            self._encode_and_deliver(self.picture(), time.time())
            next_at += interval
            delay = next_at - time.monotonic()
            if delay < -interval:  # fell behind (CPU starved): skip, don't burst
                next_at, delay = time.monotonic(), 0.0
            stopping.wait(max(0.0, delay))
