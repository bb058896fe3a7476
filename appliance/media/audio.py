"""Audio between the devices and aiortc: the microphone track and the remote mix.

`MicrophoneTrack` sends the room's microphone as 20 ms 48 kHz mono frames,
but only while live: otherwise the device is closed and the track sends
digital silence, so no room sound can leave the box without audio rights.

`RemoteAudioMixer` plays every remote participant through one speaker, each
through its own `AudioJitterBuffer` (appliance.media.jitter: samples placed by
timestamp, lost packets concealed, drift followed by resampling, so latency
cannot grow). The mixer is paced by the speaker, and the speaker tells playback
listeners every 10 ms it actually played — the mix, and the silence it bridged a
late mix with: that exact PCM is the echo canceller's far-end reference.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import time

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from appliance.devices.audio import (
    CHUNK_SAMPLES,
    SAMPLE_RATE,
    Microphone,
    PlaybackListener,
    Samples,
    Speaker,
)
from appliance.media.jitter import AudioJitterBuffer, SourceStats

log = logging.getLogger(__name__)

FRAME_SAMPLES = 2 * CHUNK_SAMPLES  # 20 ms per RTP packet, Opus' usual frame
# A late consumer catches up (as from a device buffer) rather than losing the time.
SILENCE_MAX_LATE_S = 0.5
AUDIO_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


def audio_frame(samples: Samples, pts: int) -> av.AudioFrame:
    """48 kHz mono s16 samples as an av.AudioFrame with pts in samples."""
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pts
    frame.time_base = AUDIO_TIME_BASE
    return frame


class MicrophoneTrack(MediaStreamTrack):
    """The microphone as an aiortc audio track (48 kHz mono s16, 20 ms frames).

    Starts muted (`live=False`): the microphone device is opened only by
    `set_live(True)` and closed again by `set_live(False)`; while not live the
    track keeps its timing and sends zeros, so the far end hears silence
    rather than a gap. A read that fails (no audio in time, a failing device)
    sends silence too, but what was read before it is kept for the next frame:
    a late device loses no samples.
    """

    kind = "audio"

    def __init__(self, microphone: Microphone, live: bool = False) -> None:
        super().__init__()
        self.microphone = microphone
        self._live = False
        self._samples_sent = 0
        self._partial: list[Samples] = []  # chunks read towards the next frame
        self._silence_anchor: tuple[float, int] | None = None  # (monotonic, samples)
        self.read_errors = 0
        self.set_live(live)

    @property
    def live(self) -> bool:
        return self._live

    @property
    def frames_sent(self) -> int:
        """Frames handed to aiortc so far (silence too)."""
        return self._samples_sent // FRAME_SAMPLES

    def set_live(self, live: bool) -> None:
        """Open (True) or close (False) the microphone; only live audio leaves the box."""
        self._live = live
        if not live:
            self._partial.clear()  # read while live, but muted before it was sent
        if live and not self.microphone.running:
            self.microphone.start()
        elif not live and self.microphone.running:
            self.microphone.stop()

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        samples = await self._next_samples()
        frame = audio_frame(samples, self._samples_sent)
        self._samples_sent += FRAME_SAMPLES
        return frame

    def stop(self) -> None:
        super().stop()
        if self._live:  # a muted track leaves a microphone shared with its successor alone
            self.set_live(False)

    async def _next_samples(self) -> Samples:
        if self._live:
            samples = await self._read_live()
            # Muted while we were reading: what was read must not leave.
            if samples is not None and self._live:
                self._silence_anchor = None
                return samples
        return await self._silence()

    async def _read_live(self) -> Samples | None:
        """The next frame of the microphone, None if it is not live or a read failed
        (the chunks read so far stay for the next frame)."""
        try:
            while len(self._partial) < FRAME_SAMPLES // CHUNK_SAMPLES:
                if not self._live:
                    return None
                if not self.microphone.running:  # closed by a replaced track: reopen
                    self.microphone.start()
                chunk = await self.microphone.read()
                if self._live:
                    self._partial.append(chunk)
        except Exception as exc:  # a failing device must not end the call
            self.read_errors += 1
            if self.read_errors in (1, 10, 100) or self.read_errors % 1000 == 0:
                log.warning("microphone read failed (%d times): %s", self.read_errors, exc)
            return None
        samples = np.concatenate(self._partial)
        self._partial.clear()
        return samples

    async def _silence(self) -> Samples:
        now = time.monotonic()
        if self._silence_anchor is None:
            self._silence_anchor = (now, self._samples_sent)
        start, base = self._silence_anchor
        deadline = start + (self._samples_sent + FRAME_SAMPLES - base) / SAMPLE_RATE
        if deadline - now < -SILENCE_MAX_LATE_S:  # stalled for long: re-anchor
            self._silence_anchor = (now, self._samples_sent)
            deadline = now
        await asyncio.sleep(max(0.0, deadline - now))
        return np.zeros(FRAME_SAMPLES, np.int16)


def samples_pts(frame: av.AudioFrame) -> int | None:
    """A decoded frame's timestamp in 48 kHz samples (None if it has none, or another
    rate: the resampler then shifts samples and it simply follows what came before)."""
    if frame.pts is None or frame.time_base is None or frame.sample_rate != SAMPLE_RATE:
        return None
    return int(frame.pts * frame.time_base * SAMPLE_RATE)


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
        self._sources: dict[str, AudioJitterBuffer] = {}
        self._readers: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
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
        self._sources[key] = AudioJitterBuffer(*self._limits)
        self._readers[key] = asyncio.ensure_future(self._read_track(key, track))
        return key

    def remove_track(self, key: str) -> None:
        reader = self._readers.pop(key, None)
        if reader is not None:
            reader.cancel()
        source = self._sources.pop(key, None)
        if source is not None:
            self._retire(source.stats)

    @property
    def sources(self) -> dict[str, SourceStats]:
        for source in self._sources.values():
            source.stats.target_samples = source.target
            source.stats.buffered_samples = int(source.data.size)
        return {key: source.stats for key, source in self._sources.items()}

    @property
    def totals(self) -> SourceStats:
        """Counters summed over every source this mixer has had: they never go back when a
        participant leaves or the connection is rebuilt."""
        total = SourceStats()
        total.accumulate(self._retired)
        for source in self._sources.values():
            total.accumulate(source.stats)
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
    def add_playback_listener(self, listener: PlaybackListener) -> None:
        """Call `listener(chunk)` with every 10 ms exactly as the speaker played it (the
        mix, and silence where the speaker had to bridge a late mix), in order."""
        self.speaker.add_playback_listener(listener)

    def remove_playback_listener(self, listener: PlaybackListener) -> None:
        self.speaker.remove_playback_listener(listener)

    def start(self) -> None:
        if self._task is None:
            self.speaker.start()
            self._task = asyncio.ensure_future(self._play_loop())

    async def stop(self) -> None:
        tasks = [t for t in [self._task, *self._readers.values()] if t is not None]
        self._task = None
        for key in list(self._sources):
            self.remove_track(key)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
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

    async def _play_loop(self) -> None:
        while True:
            chunk = self.mix_chunk()
            self.chunks_played += 1  # handed to the speaker
            await self.speaker.play(chunk)

    async def _read_track(self, key: str, track: MediaStreamTrack) -> None:
        to_mono = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        try:
            while True:
                frame = await track.recv()
                arrival = time.monotonic()
                source = self._sources.get(key)
                if source is None or not isinstance(frame, av.AudioFrame):
                    continue
                pts = samples_pts(frame)
                for out in to_mono.resample(frame):
                    samples = out.to_ndarray().reshape(-1).astype(np.int16)
                    source.push(samples, arrival, pts)
                    pts = None if pts is None else pts + samples.size
        except MediaStreamError:
            pass
        finally:
            if self._readers.get(key) is asyncio.current_task():
                self._readers.pop(key)
                source = self._sources.pop(key, None)
                if source is not None:
                    self._retire(source.stats)

    def _retire(self, stats: SourceStats) -> None:
        self._retired.accumulate(stats)
