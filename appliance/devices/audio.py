"""Microphones and speakers: 48 kHz mono s16 in 10 ms chunks, paced by the device.

Every back-end speaks the same small interface, so the media layer (tracks,
mixer, echo canceller) never knows whether it talks to ALSA or a stand-in:

- `Microphone.read()` returns the next 10 ms of capture (480 int16 samples)
  when the device has it; a stopped microphone is not read at all.
- `Speaker.play(chunk)` takes 10 ms and returns when the device can take the
  next one, so whoever feeds it runs at the speaker's clock. Its playback
  listeners get, in order, every 10 ms the device actually plays: the chunks,
  and the silence it plays in their place when the player is late (the echo
  canceller's far-end reference must be that exact PCM, or it misaligns).

Back-ends here: `SimulatedMicrophone` (a tone, ticks on the wall clock's whole
seconds, or a WAV file, paced in real time), `WavSpeaker` (writes what is played,
on the wall clock's timeline), `NullSpeaker`. The ALSA back-ends
(`appliance.devices.alsa`: pyalsaaudio, any array format, channel choice) and
the echo-cancelled wrapper (`appliance.media.aec`) implement the same classes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import wave
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 48_000
CHUNK_MS = 10
CHUNK_SAMPLES = SAMPLE_RATE * CHUNK_MS // 1000  # 480
TICK_MS = 5  # a tick of the simulated microphone: this long a burst of its tone

log = logging.getLogger(__name__)

Samples = npt.NDArray[np.int16]
PlaybackListener = Callable[[Samples], None]


class AudioDeviceError(RuntimeError):
    """A device could not be opened or read; the message names it."""


class RealtimePacer:
    """Sleeps until the next 10 ms boundary of a clock anchored at `reset()`.

    A caller that fell behind (a busy loop) catches up at once, as it would reading a
    capture device's buffer: dropping that time instead starves the far end's jitter
    buffer, which then grows and drags lip-synced video later with it. Only beyond
    `max_late` (about a device buffer) does the clock re-anchor, like an overrun.
    """

    def __init__(self, period: float = CHUNK_MS / 1000, max_late: float = 0.5) -> None:
        self.period = period
        self.max_late = max_late
        self.overruns = 0
        self._anchor = time.monotonic()
        self._ticks = 0

    def reset(self) -> None:
        self._anchor = time.monotonic()
        self._ticks = 0

    @property
    def period_end(self) -> float:
        """When (time.monotonic()) the period last waited for ended."""
        return self._anchor + self._ticks * self.period

    def resync(self) -> int:
        """If the next deadline is more than `max_late` past, skip the whole periods
        since, so that the period about to start began less than one ago (the clock
        stays on its grid); returns how many (what a device would have lost, or played
        as silence)."""
        late = time.monotonic() - (self._anchor + (self._ticks + 1) * self.period)
        if late <= self.max_late:
            return 0
        self.overruns += 1
        skipped = int(late / self.period) + 1
        self._anchor += skipped * self.period
        return skipped

    async def wait(self) -> None:
        """Sleep until the next period (at once while catching up)."""
        self.resync()
        self._ticks += 1
        delay = self._anchor + self._ticks * self.period - time.monotonic()
        await asyncio.sleep(max(0.0, delay))


class Microphone(ABC):
    """A capture device delivering 10 ms chunks of 48 kHz mono s16."""

    sample_rate = SAMPLE_RATE

    def __init__(self) -> None:
        self.chunks_read = 0
        self._running = False
        self._discard_listeners: list[Callable[[Samples], None]] = []

    @property
    def running(self) -> bool:
        return self._running

    @property
    def input_latency(self) -> float:
        """Seconds from sound at the microphone to its chunk leaving `read()` (0 if unknown)."""
        return 0.0

    def start(self) -> None:
        """Open the device; reading may begin."""
        self._running = True

    def stop(self) -> None:
        """Close the device: nothing is captured until `start()`."""
        self._running = False

    def add_discard_listener(self, listener: Callable[[Samples], None]) -> None:
        """Call `listener(chunk)`, in the event loop, with every chunk captured but
        dropped unread because the reader fell behind (an echo canceller must still
        see it, or its alignment with the speaker shifts by that much)."""
        self._discard_listeners.append(listener)

    def _report_discarded(self, chunk: Samples) -> None:
        for listener in self._discard_listeners:
            listener(chunk)

    async def read(self) -> Samples:
        """The next 480 samples, waiting for the device as long as it takes."""
        if not self._running:
            raise AudioDeviceError(f"{type(self).__name__}: read while stopped")
        chunk = await self._read_chunk()
        self.chunks_read += 1
        return chunk

    @abstractmethod
    async def _read_chunk(self) -> Samples: ...


class Speaker(ABC):
    """A playback device taking 10 ms chunks of 48 kHz mono s16."""

    sample_rate = SAMPLE_RATE

    def __init__(self) -> None:
        self.chunks_played = 0
        self._listeners: list[PlaybackListener] = []

    @property
    def output_latency(self) -> float:
        """Seconds from `play()` returning to the chunk being heard (0 if unknown)."""
        return 0.0

    @property
    def reference_latency(self) -> float:
        """Seconds from a chunk reaching the playback listeners to its being heard."""
        return self.output_latency

    def add_playback_listener(self, listener: PlaybackListener) -> None:
        """Call `listener(chunk)`, in the event loop that plays (the mixer's audio thread),
        with every 10 ms the device plays, in order: what `play()` was given and any
        silence played in its place."""
        self._listeners.append(listener)

    def remove_playback_listener(self, listener: PlaybackListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _report_played(self, chunk: Samples) -> None:
        for listener in self._listeners:
            listener(chunk)

    def _report_silence(self, chunks: int) -> None:
        for _ in range(chunks):
            self._report_played(np.zeros(CHUNK_SAMPLES, np.int16))

    def start(self) -> None:  # noqa: B027 - optional for back-ends
        """Open the device."""

    def stop(self) -> None:  # noqa: B027 - optional for back-ends
        """Close the device (flushes files)."""

    async def play(self, chunk: Samples) -> None:
        """Queue 10 ms for playback; returns when the device wants the next chunk."""
        if chunk.shape != (CHUNK_SAMPLES,) or chunk.dtype != np.int16:
            raise ValueError(
                f"speaker takes {CHUNK_SAMPLES} int16 samples, got {chunk.dtype}{chunk.shape}"
            )
        await self._play_chunk(chunk)
        self.chunks_played += 1

    @abstractmethod
    async def _play_chunk(self, chunk: Samples) -> None: ...


def load_audio_file(path: str | Path) -> Samples:
    """Decode any audio file PyAV reads into 48 kHz mono s16 samples."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    parts: list[Samples] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioDeviceError(f"{path}: no audio stream")
            for frame in container.decode(audio=0):
                parts.extend(_mono_s16(f) for f in resampler.resample(frame))
            parts.extend(_mono_s16(f) for f in resampler.resample(None))
    except (OSError, av.error.FFmpegError) as exc:
        raise AudioDeviceError(f"{path}: cannot read audio ({exc})") from exc
    samples = np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, np.int16)
    if samples.size < CHUNK_SAMPLES:
        raise AudioDeviceError(f"{path}: shorter than {CHUNK_MS} ms")
    return samples


def _mono_s16(frame: av.AudioFrame) -> Samples:
    return frame.to_ndarray().reshape(-1).astype(np.int16, copy=False)


class SimulatedMicrophone(Microphone):
    """A sine tone or a looping audio file, delivered in real time.

    `level` is the peak amplitude as a fraction of full scale (tone only).
    `ticks` sends, instead of the steady tone, a `TICK_MS` burst of it starting
    at each whole second of the wall clock (time.time()), placed to the sample in
    the period captured then: a far end that hears one knows when it was said.
    `clock_ppm` makes its sample clock run that many parts per million fast
    (negative: slow), like a real device's crystal against the receiver's.
    """

    def __init__(
        self,
        tone_hz: float | None = 440.0,
        wav_path: str | Path | None = None,
        *,
        level: float = 0.25,
        ticks: bool = False,
        clock_ppm: float = 0.0,
    ) -> None:
        super().__init__()
        self.tone_hz: float | None = None
        self._samples: Samples | None = None
        if wav_path is not None:
            self._samples = load_audio_file(wav_path)
        elif tone_hz is not None and 0 < tone_hz < SAMPLE_RATE / 2:
            self.tone_hz = tone_hz
        else:
            raise ValueError(
                f"SimulatedMicrophone needs wav_path or 0 < tone_hz < {SAMPLE_RATE // 2}, "
                f"got tone_hz={tone_hz}"
            )
        self._peak = max(0.0, min(1.0, level)) * 32767
        self._position = 0  # samples generated so far (tone) or file offset
        self._pacer = RealtimePacer(period=CHUNK_MS / 1000 / (1 + clock_ppm * 1e-6))
        self.ticks = ticks and self.tone_hz is not None
        self._tick_rest: Samples | None = None  # the end of a tick begun in the last chunk

    def start(self) -> None:
        if not self._running:
            self._pacer.reset()
        super().start()

    async def _read_chunk(self) -> Samples:
        await self._pacer.wait()
        if self._samples is not None:
            return self._next_file(self._samples)
        return self._next_tick() if self.ticks else self._next_tone()

    def _next_tone(self) -> Samples:
        assert self.tone_hz is not None
        n = self._position + np.arange(CHUNK_SAMPLES)
        # Phase from an integer sample counter (mod one period in samples) stays exact for hours.
        phase = 2 * np.pi * ((self.tone_hz * n) % SAMPLE_RATE) / SAMPLE_RATE
        self._position += CHUNK_SAMPLES
        return np.rint(self._peak * np.sin(phase)).astype(np.int16)

    def _next_tick(self) -> Samples:
        """The period that just ended, silent but for a tick begun at a whole second."""
        chunk = np.zeros(CHUNK_SAMPLES, np.int16)
        if self._tick_rest is not None:
            chunk[: self._tick_rest.size] = self._tick_rest
            self._tick_rest = None
        # The period's place on the wall clock, from the pacer's deadline rather than
        # the time we woke: a late read delays the tick's delivery, not its moment.
        end = self._pacer.period_end + (time.time() - time.monotonic())
        begin = end - self._pacer.period
        second = math.ceil(begin)
        if second < end:
            at = min(CHUNK_SAMPLES - 1, int((second - begin) * SAMPLE_RATE))
            tick = self._tick()
            chunk[at : at + tick.size] = tick[: CHUNK_SAMPLES - at]
            if at + tick.size > CHUNK_SAMPLES:
                self._tick_rest = tick[CHUNK_SAMPLES - at :]
        self._position += CHUNK_SAMPLES
        return chunk

    def _tick(self) -> Samples:
        assert self.tone_hz is not None
        n = np.arange(SAMPLE_RATE * TICK_MS // 1000)
        return np.rint(self._peak * np.sin(2 * np.pi * self.tone_hz * n / SAMPLE_RATE)).astype(
            np.int16)

    def _next_file(self, samples: Samples) -> Samples:
        idx = (self._position + np.arange(CHUNK_SAMPLES)) % samples.size
        self._position = (self._position + CHUNK_SAMPLES) % samples.size
        return samples[idx]


class NullSpeaker(Speaker):
    """Discards what is played, at the pace of a real device."""

    def __init__(self) -> None:
        super().__init__()
        self._pacer = RealtimePacer()

    def start(self) -> None:
        self._pacer.reset()

    async def _play_chunk(self, chunk: Samples) -> None:
        self._report_silence(self._pacer.resync())  # a stall: a device played silence
        self._report_played(chunk)
        await self._pacer.wait()


class WavSpeaker(Speaker):
    """Writes everything played to a 48 kHz mono 16-bit WAV file, paced in real time
    (a stall of the player beyond half a second is written as the silence a device
    would have played). Sample n of the file is played at `started_at` + n / 48000 s
    (wall clock, also logged when the file is opened): a measurement can tell when
    the room heard something."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._wav: wave.Wave_write | None = None
        self._pacer = RealtimePacer()
        self.started_at: float | None = None

    def start(self) -> None:
        if self._wav is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            wav = wave.open(str(self.path), "wb")  # noqa: SIM115 - open until stop()
        except OSError as exc:
            raise AudioDeviceError(f"{self.path}: cannot write speaker output ({exc})") from exc
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        self._wav = wav
        self._pacer.reset()
        self.started_at = time.time()
        log.info("speaker: recording to %s, its first sample played at wall clock %.6f",
                 self.path, self.started_at)

    def stop(self) -> None:
        wav, self._wav = self._wav, None
        if wav is not None:
            wav.close()

    async def _play_chunk(self, chunk: Samples) -> None:
        if self._wav is None:
            self.start()
        assert self._wav is not None
        # After a long stall a device has played silence meanwhile: so does the file,
        # which keeps its timeline the wall clock's.
        skipped = self._pacer.resync()
        if skipped:
            self._wav.writeframes(bytes(2 * CHUNK_SAMPLES * skipped))
            self._report_silence(skipped)
        self._wav.writeframes(chunk.astype("<i2").tobytes())
        self._report_played(chunk)
        await self._pacer.wait()
