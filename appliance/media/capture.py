"""The room microphone read on a thread of its own, so a busy event loop cannot starve it.

On a loop that is short of CPU (a Pi 4 core, or a loaded one) every `await` that
waits for the next 10 ms of audio, and every hop to the echo canceller's thread,
waits behind the network's work before it runs again: the microphone track then
makes far fewer than 50 Opus frames a second and the far end conceals most of the
room's voice. `ThreadedMicrophone` moves the whole capture — the device's pacing,
its reads and the echo canceller — onto a `mic-capture` thread with its own asyncio
loop, and hands the chunks to the main loop in pairs (one Opus frame, 20 ms): the
track wakes once per frame, and when it is behind it takes what is queued at once.

What the wrapped microphone does is unchanged; `microphone` is the inner one (the
echo canceller's far-end reference and /healthz look through to it). Up to
`max_queued` chunks wait (0.5 s); beyond that the oldest are dropped, as a device
overruns. A read that fails on the thread fails the same way for the reader.

`set_frame_sink(sink)` hands every 20 ms to `sink` on the capture thread instead
(a failed read as its exception): the room's Opus is encoded there
(appliance.media.audio_send), so the event loop never sees the room's PCM at all.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
from collections.abc import Callable

import numpy as np

from appliance.devices.audio import AudioDeviceError, Microphone, Samples

log = logging.getLogger(__name__)

HANDOVER_CHUNKS = 2  # wake the reader once per 20 ms Opus frame

#: Called on the capture thread with each 20 ms of the microphone, or a read's error.
FrameSink = Callable[[Samples | Exception], None]


class ThreadedMicrophone(Microphone):
    """Reads `microphone` on a capture thread; `read()` on the caller's event loop."""

    def __init__(self, microphone: Microphone, max_queued: int = 50) -> None:
        super().__init__()
        self.microphone = microphone
        self._chunks: collections.deque[Samples | Exception] = collections.deque()
        self._max_queued = max_queued
        self._lock = threading.Lock()
        self._ready: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._pump_task: tuple[asyncio.AbstractEventLoop, asyncio.Task[None]] | None = None
        self.dropped_chunks = 0  # the reader was more than max_queued behind
        self._sink: FrameSink | None = None
        self._pair: tuple[FrameSink | None, list[Samples]] = (None, [])  # capture thread's

    @property
    def frame_sink(self) -> FrameSink | None:
        return self._sink

    def set_frame_sink(self, sink: FrameSink | None) -> None:
        """From now on give `sink`, on the capture thread, every 20 ms read (and every
        failed read's exception) instead of queueing chunks for `read()`; None: queue
        them again. Chunks already queued stay for `read()`."""
        with self._lock:
            self._sink = sink

    @property
    def input_latency(self) -> float:
        return self.microphone.input_latency

    def start(self) -> None:
        if self._running:
            return
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        with self._lock:
            self._chunks.clear()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._capture, args=(self._stopping,),
                                        name="mic-capture", daemon=True)
        super().start()
        self._thread.start()

    def stop(self) -> None:
        super().stop()
        self._stopping.set()
        pump, self._pump_task = self._pump_task, None
        if pump is not None:  # a read under way ends now: the device closes at once
            with contextlib.suppress(RuntimeError):
                pump[0].call_soon_threadsafe(pump[1].cancel)
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)
        if self._ready is not None:
            self._ready.set()  # a reader waiting now finds the microphone stopped

    async def _read_chunk(self) -> Samples:
        assert self._ready is not None
        while True:
            with self._lock:
                item = self._chunks.popleft() if self._chunks else None
            if item is not None:
                break
            if not self._running:
                raise AudioDeviceError("ThreadedMicrophone: stopped while reading")
            self._ready.clear()
            await self._ready.wait()
        if isinstance(item, Exception):
            raise item
        return item

    # -- the capture thread --------------------------------------------------------

    def _capture(self, stopping: threading.Event) -> None:
        try:
            with contextlib.suppress(asyncio.CancelledError):
                asyncio.run(self._pump(stopping))
        except Exception:  # never silently: the reader would wait forever
            log.exception("microphone capture thread failed")
            self._hand_over(AudioDeviceError("the microphone's capture thread failed"))

    async def _pump(self, stopping: threading.Event) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pump_task = (asyncio.get_running_loop(), task)
        if stopping.is_set():  # stopped before the thread got here
            return
        self.microphone.start()
        try:
            while not stopping.is_set():
                try:
                    self._hand_over(await self.microphone.read())
                except Exception as exc:  # the reader handles it, as it would unthreaded
                    self._hand_over(exc)
                    await asyncio.sleep(0.01)  # a failing device must not spin
        finally:
            self.microphone.stop()

    def _hand_over(self, item: Samples | Exception) -> None:
        with self._lock:
            sink = self._sink
        if sink is not None:
            self._to_sink(sink, item)
            return
        with self._lock:
            if len(self._chunks) >= self._max_queued:
                self._chunks.popleft()
                self.dropped_chunks += 1
            self._chunks.append(item)
            due = len(self._chunks) >= HANDOVER_CHUNKS or isinstance(item, Exception)
        if due and self._loop is not None and self._ready is not None:
            with contextlib.suppress(RuntimeError):  # the main loop has closed
                self._loop.call_soon_threadsafe(self._ready.set)


    def _to_sink(self, sink: FrameSink, item: Samples | Exception) -> None:
        """Pairs of chunks (one Opus frame) to `sink`; a new sink starts a new pair."""
        owner, pair = self._pair
        if owner is not sink:
            pair = []
            self._pair = (sink, pair)
        if isinstance(item, Exception):
            pair.clear()  # a frame with a hole would be worse than a frame of silence
        else:
            pair.append(item)
            if len(pair) < HANDOVER_CHUNKS:
                return
            item = np.concatenate(pair)
            pair.clear()
        try:
            sink(item)
        except Exception:  # the sink's own failure must not stop the capture
            log.exception("microphone frame sink failed")


def unthreaded(microphone: Microphone | None) -> Microphone | None:
    """The microphone a `ThreadedMicrophone` reads (any other as it is)."""
    return microphone.microphone if isinstance(microphone, ThreadedMicrophone) else microphone
