"""Audio between the devices and aiortc: the microphone track and the remote mix.

`MicrophoneTrack` sends the room's microphone as 20 ms 48 kHz mono frames,
but only while live: otherwise the device is closed and the track sends
digital silence, so no room sound can leave the box without audio rights.

`RemoteAudioMixer` plays every remote participant through one speaker. Each
source gets a small jitter buffer that starts playing after a prebuffer
sized from the measured arrival jitter. The sender's clock never runs at
exactly the speaker's rate: the buffer plays a hair faster or slower (at
most 0.5 %, inaudible) to hold its fill level, so an hour's drift neither
adds latency nor forces a skip; only a burst beyond a bound is dropped. The mixer is paced by
the speaker, and every chunk handed to it is also given to playback
listeners: that exact PCM is the echo canceller's far-end reference.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fractions
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError

from appliance.devices.audio import (
    CHUNK_SAMPLES,
    SAMPLE_RATE,
    Microphone,
    Samples,
    Speaker,
)

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
    rather than a gap.
    """

    kind = "audio"

    def __init__(self, microphone: Microphone, live: bool = False) -> None:
        super().__init__()
        self.microphone = microphone
        self._live = False
        self._samples_sent = 0
        self._silence_anchor: tuple[float, int] | None = None  # (monotonic, samples)
        self.read_errors = 0
        self.set_live(live)

    @property
    def live(self) -> bool:
        return self._live

    def set_live(self, live: bool) -> None:
        """Open (True) or close (False) the microphone; only live audio leaves the box."""
        self._live = live
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
        chunks: list[Samples] = []
        try:
            while len(chunks) < FRAME_SAMPLES // CHUNK_SAMPLES:
                if not self._live:
                    return None
                if not self.microphone.running:  # closed by a replaced track: reopen
                    self.microphone.start()
                chunks.append(await self.microphone.read())
        except Exception as exc:  # a failing device must not end the call
            self.read_errors += 1
            if self.read_errors in (1, 10, 100) or self.read_errors % 1000 == 0:
                log.warning("microphone read failed (%d times): %s", self.read_errors, exc)
            return None
        return np.concatenate(chunks)

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


@dataclass
class SourceStats:
    frames_in: int = 0
    underruns: int = 0
    dropped_samples: int = 0
    target_samples: int = 0
    buffered_samples: int = 0
    rate_adjust_ppm: float = 0.0  # drift compensation now: >0 plays faster than it arrives


#: Drift compensation. The sender's clock against the speaker's is measured
#: directly — samples received per sample played over the last DRIFT_WINDOW_S —
#: so bursts, stalls and rebuffering cannot fake it (within ±MAX_CLOCK_OFFSET).
#: On top, a proportional term holds the fill level at its set point, and a
#: steeper one beyond CATCH_UP_BEYOND_S works off a backlog (after a burst, at
#: the start) in seconds. The rate never moves more than MAX_RATE_ADJUST (0.5 %:
#: 9 cents of pitch, unheard in speech); below RATE_DEADBAND it is left alone.
DRIFT_WINDOW_S = 30
DRIFT_MIN_WINDOW_S = 5  # measure this long before trusting the estimate
DRIFT_GAIN = 0.05  # per second, per second of level error
CATCH_UP_BEYOND_S = 0.005
CATCH_UP_GAIN = 0.5
MAX_CLOCK_OFFSET = 5e-4  # no sound card's crystal is off by more than 500 ppm
MAX_RATE_ADJUST = 5e-3
RATE_DEADBAND = 2e-5
LEVEL_SMOOTHING = 100  # chunks (1 s) of fill-level averaging
LATE_PEAK_DECAY = 0.5 ** (1 / 1000)  # a stall is remembered with a half-life of 1000 arrivals


def cubic_resample(history: Samples, phase: float, ratio: float, count: int) -> Samples:
    """`count` samples read from `history` at positions 1 + phase + k·ratio (Catmull-Rom).

    `history[0]` is the sample before the current one; the caller makes sure
    `history` reaches two samples past the last position.
    """
    pos = 1 + phase + np.arange(count) * ratio
    i = pos.astype(np.int64)
    f = pos - i
    x = history.astype(np.float64)
    p0, p1, p2, p3 = x[i - 1], x[i], x[i + 1], x[i + 2]
    cubic = 3 * (p1 - p2) + p3 - p0
    y = p1 + 0.5 * f * (p2 - p0 + f * (2 * p0 - 5 * p1 + 4 * p2 - p3 + f * cubic))
    return np.clip(np.rint(y), -32768, 32767).astype(np.int16)


@dataclass
class AudioJitterBuffer:
    """Samples from one remote source, bounded so it can never add latency.

    Plays only after buffering `target` samples; `target` follows the
    measured arrival jitter and the longest recent stall, remembered with a
    20-second half-life (for 20 ms packets) so a recurring one is bridged
    (between min and max). While playing, the average fill level is held at
    `set_point` by resampling each chunk very slightly, at the measured ratio
    of the sender's clock to the speaker's plus a correction for the level
    (drift compensation); audio beyond target + headroom (a burst) is dropped
    from the oldest end.
    """

    min_target: int
    max_target: int
    headroom: int
    data: Samples = field(default_factory=lambda: np.zeros(0, np.int16))
    playing: bool = False
    jitter: float = 0.0  # smoothed arrival jitter, samples
    late_peak: float = 0.0  # the longest recent arrival delay, decaying, samples
    stats: SourceStats = field(default_factory=SourceStats)
    _last: tuple[float, int] | None = None  # (arrival time, samples) of the last push
    _level: float = 0.0  # smoothed fill level while playing, samples
    _phase: float = 0.0  # fractional read position into `data`
    _previous: int = 0  # the sample just before `data` (for interpolation)
    _ticks: int = 0  # take() calls: the speaker's clock
    _received: int = 0  # samples pushed: the sender's clock
    _arrivals: collections.deque[tuple[float, int]] = field(  # (arrival, received)
        default_factory=lambda: collections.deque(maxlen=DRIFT_WINDOW_S * 100))
    _takes: collections.deque[tuple[float, int]] = field(  # (time, ticks)
        default_factory=lambda: collections.deque(maxlen=DRIFT_WINDOW_S * 100))
    _offset: float = 0.0  # clock_offset, refreshed once a second

    @property
    def target(self) -> int:
        want = CHUNK_SAMPLES + int(max(3 * self.jitter, self.late_peak))
        return max(self.min_target, min(self.max_target, want))

    @property
    def set_point(self) -> int:
        """The fill level drift compensation holds (measured before each take): a
        chunk above `target`, so the saw-tooth of 20 ms arrivals against 10 ms
        takes never touches bottom while the controller learns a sender's clock."""
        return self.target + CHUNK_SAMPLES

    def push(self, samples: Samples, arrival: float) -> None:
        self._update_jitter(samples.size, arrival)
        self._received += samples.size
        self._arrivals.append((arrival, self._received))
        self.data = np.concatenate([self.data, samples])
        bound = self.target + self.headroom
        if self.data.size > bound:
            excess = self.data.size - min(bound, self.set_point)
            self.data = self.data[excess:]
            self._previous, self._level = 0, float(self.data.size)
            self.stats.dropped_samples += excess
        self.stats.frames_in += 1

    def take(self, now: float | None = None) -> Samples | None:
        """The next 10 ms, or None while (re)buffering. Call it every 10 ms of the speaker;
        `now` is the time on the clock `push()` arrivals use (default: monotonic)."""
        self._ticks += 1
        self._takes.append((time.monotonic() if now is None else now, self._ticks))
        if self._ticks % 100 == 0:
            self._offset = self._measure_clock_offset()
        if not self.playing:
            if self.data.size < self.target:
                return None
            self.playing = True
            self._level, self._phase, self._previous = float(self.data.size), 0.0, 0
        self._level += (self.data.size - self._level) / LEVEL_SMOOTHING
        ratio = self._rate_ratio()
        exact = ratio == 1.0 and self._phase == 0.0
        advance = self._phase + CHUNK_SAMPLES * ratio
        consumed = int(advance)
        if self.data.size < max(consumed, CHUNK_SAMPLES):
            self.stats.underruns += 1
            self.playing = False
            chunk = np.zeros(CHUNK_SAMPLES, np.int16)
            chunk[: self.data.size] = self.data[:CHUNK_SAMPLES]
            self.data = self.data[:0]
            return chunk
        if exact:
            chunk = self.data[:CHUNK_SAMPLES]
        else:
            # Two samples of look-ahead past the last position; at the very end of
            # the buffer the last one is held (a sub-sample error, not a gap).
            reach = int(1 + self._phase + (CHUNK_SAMPLES - 1) * ratio) + 2
            history = np.concatenate([[self._previous], self.data[:reach]]).astype(np.int16)
            history = np.pad(history, (0, reach + 1 - history.size), mode="edge")
            chunk = cubic_resample(history, self._phase, ratio, CHUNK_SAMPLES)
            self._phase = advance - consumed
        self._previous = int(self.data[consumed - 1])
        self.data = self.data[consumed:]
        return chunk

    @property
    def clock_offset(self) -> float:
        """How much faster the sender's clock runs than the speaker's (0 until measured)."""
        return self._offset

    def _measure_clock_offset(self) -> float:
        """Sender samples per second over speaker samples per second, both measured on
        the local clock over the window (least-squares slopes: packet-sized steps, a
        burst or a stall inside the window barely move them)."""
        if len(self._arrivals) < 3 or len(self._takes) < DRIFT_MIN_WINDOW_S * 100:
            return 0.0
        arrivals = np.array(self._arrivals, dtype=np.float64).T
        takes = np.array(self._takes, dtype=np.float64).T
        if np.ptp(arrivals[0]) < DRIFT_MIN_WINDOW_S or np.ptp(takes[0]) == 0:
            return 0.0
        sent_rate = np.polyfit(arrivals[0], arrivals[1], 1)[0]
        played_rate = np.polyfit(takes[0], takes[1], 1)[0] * CHUNK_SAMPLES
        offset = float(sent_rate / played_rate) - 1
        return max(-MAX_CLOCK_OFFSET, min(MAX_CLOCK_OFFSET, offset))

    def _rate_ratio(self) -> float:
        """Input samples per output sample: >1 drains a buffer that is filling up."""
        error = (self._level - self.set_point) / SAMPLE_RATE  # seconds too full
        excess = max(0.0, abs(error) - CATCH_UP_BEYOND_S) * (1 if error > 0 else -1)
        adjust = self.clock_offset + DRIFT_GAIN * error + CATCH_UP_GAIN * excess
        adjust = max(-MAX_RATE_ADJUST, min(MAX_RATE_ADJUST, adjust))
        if abs(adjust) < RATE_DEADBAND:
            adjust = 0.0
        self.stats.rate_adjust_ppm = adjust * 1e6
        return 1.0 + adjust

    def _update_jitter(self, count: int, arrival: float) -> None:
        # RFC 3550 interarrival jitter: immune to clock drift between the ends.
        if self._last is not None:
            previous_arrival, previous_count = self._last
            deviation = abs((arrival - previous_arrival) * SAMPLE_RATE - previous_count)
            if deviation < 4 * self.max_target:  # a longer gap is a pause, not jitter
                self.jitter += (deviation - self.jitter) / 16
                # Stalls recur (a busy network or CPU): remember the longest for a while,
                # so the next one is bridged instead of played as a gap, then dropped.
                self.late_peak = max(self.late_peak * LATE_PEAK_DECAY, deviation)
        self._last = (arrival, count)


def shorten_audio_prefetch(receiver: RTCRtpReceiver, packets: int = 1) -> bool:
    """Let an aiortc audio receiver hand packets on as soon as it can; True if it took.

    aiortc 1.16 holds 4 Opus packets (80 ms) in its own jitter buffer before the
    first reaches the track; `AudioJitterBuffer` already absorbs the jitter,
    adaptively, so those are ~60 ms of mouth-to-ear for nothing (one packet
    stays: aiortc knows a packet is complete when the next begins). aiortc has
    no API for it; this is the one place that sets its private `_prefetch`.
    """
    buffer = getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None)
    if receiver.track.kind != "audio" or not hasattr(buffer, "_prefetch"):
        return False
    buffer._prefetch = packets  # type: ignore[union-attr]
    return True


PlaybackListener = Callable[[Samples], None]


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
        self._listeners: list[PlaybackListener] = []
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
    def underruns(self) -> int:
        return self._retired.underruns + sum(s.stats.underruns for s in self._sources.values())

    @property
    def dropped_samples(self) -> int:
        return self._retired.dropped_samples + sum(
            s.stats.dropped_samples for s in self._sources.values()
        )

    # -- playback --------------------------------------------------------
    def add_playback_listener(self, listener: PlaybackListener) -> None:
        """Call `listener(chunk)` with every 10 ms exactly as handed to the speaker."""
        self._listeners.append(listener)

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
            for listener in self._listeners:
                listener(chunk)
            self.chunks_played += 1  # handed to the speaker, as the listeners saw
            await self.speaker.play(chunk)

    async def _read_track(self, key: str, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        try:
            while True:
                frame = await track.recv()
                arrival = time.monotonic()
                source = self._sources.get(key)
                if source is None or not isinstance(frame, av.AudioFrame):
                    continue
                for out in resampler.resample(frame):
                    source.push(out.to_ndarray().reshape(-1).astype(np.int16), arrival)
        except MediaStreamError:
            pass
        finally:
            if self._readers.get(key) is asyncio.current_task():
                self._readers.pop(key)
                source = self._sources.pop(key, None)
                if source is not None:
                    self._retire(source.stats)

    def _retire(self, stats: SourceStats) -> None:
        self._retired.underruns += stats.underruns
        self._retired.dropped_samples += stats.dropped_samples
        self._retired.frames_in += stats.frames_in
