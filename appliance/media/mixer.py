"""The remote participants mixed into the room's speaker, on an audio thread of its own.

`RemoteAudioMixer` plays every remote participant through one speaker, each
through its own `AudioJitterBuffer` (appliance.media.jitter: samples placed by
timestamp, lost packets concealed, drift followed by resampling, so latency
cannot grow). The mixer is paced by the speaker, and the speaker tells playback
listeners every 10 ms it actually played — the mix, and the silence it bridged a
late mix with: that exact PCM is the echo canceller's far-end reference.

The 10 ms tick — taking from each jitter buffer, mixing, handing the speaker its
chunk and telling the listeners — runs on an `audio-play` thread with an asyncio
loop of its own, not on the event loop that moves the network: on a Pi's core that
loop is late by tens of milliseconds whenever video packets queue, and a speaker fed
from it stutters. The event loop only receives each decoded frame from aiortc and
puts it in its source's inbox (a deque: no lock); the audio thread converts it to
48 kHz mono and places it in the jitter buffer just before it takes the next chunk,
so each jitter buffer is only ever touched by one thread while the mixer plays.
Playback listeners are called on the audio thread.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import threading
import time

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from appliance.devices.audio import CHUNK_SAMPLES, SAMPLE_RATE, PlaybackListener, Samples, Speaker
from appliance.media.jitter import AudioJitterBuffer, SourceStats

log = logging.getLogger(__name__)

# Frames waiting for the audio thread beyond this (2 s of 20 ms frames) are dropped
# oldest first: only a dead audio thread lets the inbox grow, and then nothing plays.
MAX_INBOX_FRAMES = 100
SPEAKER_START_WAIT_S = 5.0  # a speaker that fails to open says so to start()'s caller


def samples_pts(frame: av.AudioFrame) -> int | None:
    """A decoded frame's timestamp in 48 kHz samples (None if it has none, or another
    rate: the resampler then shifts samples and it simply follows what came before)."""
    if frame.pts is None or frame.time_base is None or frame.sample_rate != SAMPLE_RATE:
        return None
    return int(frame.pts * frame.time_base * SAMPLE_RATE)


class _Source:
    """One remote participant: frames in from the event loop, samples out to the mix."""

    def __init__(self, buffer: AudioJitterBuffer) -> None:
        self.buffer = buffer
        self.inbox: collections.deque[tuple[av.AudioFrame, float]] = collections.deque(
            maxlen=MAX_INBOX_FRAMES)
        # Held by whoever drains and takes; only contended while the mixer starts.
        self.lock = threading.Lock()
        self._to_mono = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)

    def drain(self) -> None:
        """Place every frame that has arrived in the jitter buffer (caller holds `lock`)."""
        while self.inbox:
            frame, arrival = self.inbox.popleft()
            pts = samples_pts(frame)
            for out in self._to_mono.resample(frame):
                samples = out.to_ndarray().reshape(-1).astype(np.int16)
                self.buffer.push(samples, arrival, pts)
                pts = None if pts is None else pts + samples.size

    def take(self) -> Samples | None:
        with self.lock:
            self.drain()
            return self.buffer.take()


class RemoteAudioMixer:
    """Mixes any number of remote aiortc audio tracks into one speaker."""

    def __init__(
        self,
        speaker: Speaker,
        volume: float = 1.0,
        *,
        min_buffer_ms: int = 20,
        max_buffer_ms: int = 120,
        headroom_ms: int = 60,
    ) -> None:
        self.speaker = speaker
        self.volume = volume
        self._limits = (
            min_buffer_ms * SAMPLE_RATE // 1000,
            max_buffer_ms * SAMPLE_RATE // 1000,
            headroom_ms * SAMPLE_RATE // 1000,
        )
        # Replaced whole, never changed in place: the audio thread iterates it unlocked.
        self._sources: dict[str, _Source] = {}
        self._readers: dict[str, asyncio.Task[None]] = {}
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.chunks_played = 0
        self.clipped_samples = 0
        self._retired = SourceStats()  # totals of sources that have gone

    # -- sources ---------------------------------------------------------
    def add_track(self, track: MediaStreamTrack, key: str | None = None) -> str:
        """Start mixing a remote audio track; returns its key (replaces a same-key source)."""
        if track.kind != "audio":
            raise ValueError(f"RemoteAudioMixer needs an audio track, got {track.kind!r}")
        key = key or track.id
        self.remove_track(key)
        self._sources = {**self._sources, key: _Source(AudioJitterBuffer(*self._limits))}
        self._readers[key] = asyncio.ensure_future(self._read_track(key, track))
        return key

    def remove_track(self, key: str) -> None:
        reader = self._readers.pop(key, None)
        if reader is not None:
            reader.cancel()
        self._drop_source(key)

    def _drop_source(self, key: str) -> None:
        source = self._sources.get(key)
        if source is not None:
            self._sources = {k: s for k, s in self._sources.items() if k != key}
            self._retired.accumulate(source.buffer.stats)

    @property
    def sources(self) -> dict[str, SourceStats]:
        sources = self._sources
        for source in sources.values():
            source.buffer.stats.target_samples = source.buffer.target
            source.buffer.stats.buffered_samples = int(source.buffer.data.size)
        return {key: source.buffer.stats for key, source in sources.items()}

    @property
    def totals(self) -> SourceStats:
        """Counters summed over every source this mixer has had: they never go back when a
        participant leaves or the connection is rebuilt."""
        total = SourceStats()
        total.accumulate(self._retired)
        for source in self._sources.values():
            total.accumulate(source.buffer.stats)
        return total

    @property
    def underruns(self) -> int:
        return self.totals.underruns

    @property
    def dropped_samples(self) -> int:
        return self.totals.dropped_samples

    @property
    def concealed_samples(self) -> int:
        return self.totals.concealed_samples

    # -- playback --------------------------------------------------------
    @property
    def playing(self) -> bool:
        """Whether the audio thread runs (started and not stopped)."""
        return self._thread is not None

    def add_playback_listener(self, listener: PlaybackListener) -> None:
        """Call `listener(chunk)` with every 10 ms exactly as the speaker played it (the
        mix, and silence where the speaker had to bridge a late mix), in order, on the
        audio thread."""
        self.speaker.add_playback_listener(listener)

    def remove_playback_listener(self, listener: PlaybackListener) -> None:
        self.speaker.remove_playback_listener(listener)

    def start(self) -> None:
        """Open the speaker and start mixing on the audio thread; a speaker that cannot
        open raises here, as it would on the caller's thread."""
        if self._thread is not None:
            return
        self._stopping = threading.Event()
        opened: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(self._stopping, opened),
                                        name="audio-play", daemon=True)
        self._thread.start()
        done, _ = concurrent.futures.wait([opened], timeout=SPEAKER_START_WAIT_S)
        if done and opened.exception() is not None:
            self._thread.join(timeout=1.0)
            self._thread = None
            raise opened.exception()  # type: ignore[misc]

    async def stop(self) -> None:
        readers = list(self._readers.values())
        for key in list(self._sources):
            self.remove_track(key)
        for task in readers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        thread, self._thread = self._thread, None
        self._stopping.set()
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, thread.join, 2.0)
        else:
            self.speaker.stop()

    def mix_chunk(self) -> Samples:
        """The next 10 ms of the mix (silence when nobody is playing)."""
        acc = np.zeros(CHUNK_SAMPLES, np.int32)
        for source in self._sources.values():
            chunk = source.take()
            if chunk is not None:
                acc += chunk
        if self.volume != 1.0:
            acc = np.rint(acc * self.volume).astype(np.int32)
        clipped = np.clip(acc, -32768, 32767)
        self.clipped_samples += int(np.count_nonzero(clipped != acc))
        return clipped.astype(np.int16)

    # -- the audio thread ------------------------------------------------
    def _run(self, stopping: threading.Event, opened: concurrent.futures.Future[None]) -> None:
        try:
            asyncio.run(self._play(stopping, opened))
        except Exception:  # said, not swallowed: the room would fall silent unexplained
            log.exception("the speaker's audio thread failed")

    async def _play(self, stopping: threading.Event,
                    opened: concurrent.futures.Future[None]) -> None:
        try:
            self.speaker.start()  # on this thread: a device reports to this loop
        except BaseException as exc:
            opened.set_exception(exc)
            return
        opened.set_result(None)
        try:
            while not stopping.is_set():
                chunk = self.mix_chunk()
                self.chunks_played += 1  # handed to the speaker
                await self.speaker.play(chunk)
        finally:
            self.speaker.stop()

    # -- the event loop: frames in -----------------------------------------
    async def _read_track(self, key: str, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                arrival = time.monotonic()
                source = self._sources.get(key)
                if source is None or not isinstance(frame, av.AudioFrame):
                    continue
                source.inbox.append((frame, arrival))
                if not self.playing:  # nobody takes yet: keep the counters true now
                    with source.lock:
                        source.drain()
        except MediaStreamError:
            pass
        finally:
            if self._readers.get(key) is asyncio.current_task():
                self._readers.pop(key)
                self._drop_source(key)
