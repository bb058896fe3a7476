"""ALSA microphones and speakers through pyalsaaudio, each on its own thread.

Capture takes whatever the device gives — any channel count, S16/S24/S32
samples, any rate — chooses and averages the configured channels into mono,
resamples to 48 kHz when needed and hands 10 ms chunks to the event loop.
Playback does the reverse to whatever channel count, format and rate the
device accepted. The blocking ALSA calls run on a thread per device (they
release the GIL); the event loop only waits on small hand-over queues.

Playback never lets the device run dry: when the mixer is late the thread
writes a period of silence instead (`starved`) — while half the device buffer is
still left, so a thread woken late on a busy machine still finds audio queued —
and a real ALSA underrun is recovered and retried (`underruns`). The playback
listeners get what the thread wrote, silence included, in order. A device that
fails or disappears is reopened with backoff while its users get silence and a
`fault` to show.

Devices without a clock (ALSA's `null` device and the `file` plugin, used by
the simulation in `appliance.devices.alsa_files`) return at once;
`clock="software"` paces them at the real-time rate instead (`FrameClock`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import av
import numpy as np
import numpy.typing as npt

from appliance.devices.alsa_files import FrameClock
from appliance.devices.audio import (
    CHUNK_MS,
    CHUNK_SAMPLES,
    SAMPLE_RATE,
    AudioDeviceError,
    Microphone,
    Samples,
    Speaker,
)

log = logging.getLogger(__name__)

Clock = Literal["device", "software"]
Floats = npt.NDArray[np.float32]

#: ALSA sample formats understood here: name -> (bytes per sample, significant bits).
SAMPLE_FORMATS = {"S16_LE": (2, 16), "S24_LE": (4, 24), "S24_3LE": (3, 24), "S32_LE": (4, 32)}
RETRY_INITIAL_S = 0.5
RETRY_MAX_S = 10.0
HANDOVER_CHUNKS = 10  # capture backlog kept for a slow reader (100 ms); older audio is dropped
READ_TIMEOUT_S = 0.25  # no capture for this long: the reader gets an error (and sends silence)


def _alsaaudio() -> Any:
    """pyalsaaudio, imported on first use so the package imports without libasound."""
    try:
        import alsaaudio
    except ImportError as exc:  # pragma: no cover - installed with the appliance
        raise AudioDeviceError(f"pyalsaaudio is not installed ({exc})") from exc
    return alsaaudio


# -- sample conversion ------------------------------------------------------------


def decode_samples(data: bytes, sample_format: str, channels: int) -> Floats:
    """Interleaved ALSA samples as a frames×channels float32 array in [-1, 1)."""
    width, bits = _format(sample_format)
    raw = np.frombuffer(data, np.uint8)
    usable = raw.size - raw.size % (width * channels)
    raw = raw[:usable]
    if width == 3:  # packed 24-bit: assemble, then sign-extend from bit 23
        b = raw.reshape(-1, 3).astype(np.int32)
        values = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8) >> 8
    elif width == 2:
        values = raw.view("<i2").astype(np.int32)
    else:
        values = raw.view("<i4")
        if bits == 24:  # 24 significant bits in the low three bytes of 32
            values = (values << 8) >> 8
    return (values.astype(np.float32) / float(1 << (bits - 1))).reshape(-1, channels)


def encode_samples(frames: Floats, sample_format: str) -> bytes:
    """A frames×channels float array as interleaved ALSA samples (clipped)."""
    width, bits = _format(sample_format)
    full = float(1 << (bits - 1))
    values = np.clip(np.rint(frames.reshape(-1) * full), -full, full - 1).astype(np.int64)
    if width == 2:
        return values.astype("<i2").tobytes()
    if width == 4:
        return values.astype("<i4").tobytes()
    packed = values.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
    return packed.tobytes()


def mix_down(frames: Floats, channels_used: Sequence[int]) -> Floats:
    """The average of the chosen channels (all when none are chosen), as mono."""
    picked = frames[:, list(channels_used)] if channels_used else frames
    return picked.mean(axis=1, dtype=np.float32) if picked.shape[1] > 1 else picked[:, 0]


def to_int16(mono: Floats) -> Samples:
    return np.clip(np.rint(mono * 32768.0), -32768, 32767).astype(np.int16)


def _format(sample_format: str) -> tuple[int, int]:
    try:
        return SAMPLE_FORMATS[sample_format]
    except KeyError:
        known = ", ".join(SAMPLE_FORMATS)
        raise AudioDeviceError(f"sample format {sample_format} is not one of {known}") from None


class RateConverter:
    """Mono int16 at one rate to mono int16 at another (libswresample keeps its state)."""

    def __init__(self, rate_in: int, rate_out: int) -> None:
        self.rate_in = rate_in
        self._resampler = (
            av.AudioResampler(format="s16", layout="mono", rate=rate_out)
            if rate_in != rate_out
            else None
        )

    def convert(self, samples: Samples) -> Samples:
        if self._resampler is None:
            return samples
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.rate_in
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)


class Rechunker:
    """Cuts a stream of samples of any block size into fixed-size chunks."""

    def __init__(self, size: int = CHUNK_SAMPLES) -> None:
        self.size = size
        self._pending = np.zeros(0, np.int16)

    def push(self, samples: Samples) -> list[Samples]:
        data = np.concatenate([self._pending, samples]) if self._pending.size else samples
        whole = data.size - data.size % self.size
        self._pending = data[whole:].copy()
        return [data[i : i + self.size] for i in range(0, whole, self.size)]


# -- threads and hand-over ------------------------------------------------------------


class _ToLoop:
    """Chunks from a device thread to coroutines in one event loop (bounded, newest kept)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int,
                 on_drop: Callable[[Samples], None]) -> None:
        self._loop = loop
        self._chunks: collections.deque[Samples] = collections.deque()
        self._limit = limit
        self._on_drop = on_drop
        self._ready = asyncio.Event()
        self.dropped = 0

    def put(self, chunk: Samples) -> None:  # device thread
        with contextlib.suppress(RuntimeError):  # loop closed while the thread stops
            self._loop.call_soon_threadsafe(self._append, chunk)

    def _append(self, chunk: Samples) -> None:
        if len(self._chunks) >= self._limit:
            self._on_drop(self._chunks.popleft())
            self.dropped += 1
        self._chunks.append(chunk)
        self._ready.set()

    async def get(self, timeout: float) -> Samples | None:
        if not self._chunks:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
        return self._chunks.popleft() if self._chunks else None


@dataclass
class _DeviceThread:
    """A device's worker thread and the flag that stops it."""

    thread: threading.Thread
    stopping: threading.Event


def _spawn(name: str, target: Callable[[threading.Event], None]) -> _DeviceThread:
    stopping = threading.Event()
    thread = threading.Thread(target=target, args=(stopping,), name=name, daemon=True)
    thread.start()
    return _DeviceThread(thread, stopping)


def _stop(worker: _DeviceThread | None) -> None:
    if worker is not None:
        worker.stopping.set()
        worker.thread.join(timeout=2.0)
        if worker.thread.is_alive():
            log.warning("%s did not stop within 2 s (device blocked)", worker.thread.name)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class _Supervised:
    """Reopen-with-backoff bookkeeping shared by the capture and playback threads."""

    def __init__(self, pcm: str, kind: str) -> None:
        self.pcm = pcm
        self.kind = kind
        self.fault: str | None = None  # why the device is not working, while it is not
        self.reopens = 0

    def run(self, stopping: threading.Event, session: Callable[[], None]) -> None:
        delay = RETRY_INITIAL_S
        while not stopping.is_set():
            try:
                session()
                return
            except Exception as exc:  # a device error must never end the service
                detail = f"ALSA {self.kind} {self.pcm!r}: {_describe(exc)}"
                if detail != self.fault:
                    log.warning("%s; retrying", detail)
                self.fault = detail
                self.reopens += 1
                stopping.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    def open_pcm(self, **params: Any) -> Any:
        alsaaudio = _alsaaudio()
        kind = alsaaudio.PCM_CAPTURE if self.kind == "capture" else alsaaudio.PCM_PLAYBACK
        try:
            pcm = alsaaudio.PCM(kind, device=self.pcm, **params)
        except alsaaudio.ALSAAudioError as exc:
            raise AudioDeviceError(f"cannot open: {exc}") from exc
        return pcm


def _pcm_params(pcm: Any) -> tuple[int, str, int, int, int]:
    """(channels, format name, rate, period frames, buffer frames) the device settled on."""
    info = pcm.info()
    return (int(info["channels"]), str(info["format_name"]), int(info["rate"]),
            int(info["period_size"]), int(info["buffer_size"]))


class _PlayedReport:
    """What a playback thread wrote, as 48 kHz mono, handed to the event loop in order.

    A period of silence is `period` frames at the device's rate: the same time at
    48 kHz, the fraction of a sample carried to the next, so the report never drifts.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None,
                 deliver: Callable[[Samples, Rechunker], None], period: int, rate: int) -> None:
        self._loop = loop
        self._deliver = deliver
        self._rechunker = Rechunker()  # used in the event loop only
        self._period, self._rate = period, rate
        self._owed = 0  # silence not yet reported, in 1/rate of a 48 kHz sample

    def chunk(self, samples: Samples) -> None:
        self._send(samples)

    def silence(self) -> None:
        self._owed += self._period * SAMPLE_RATE
        samples, self._owed = divmod(self._owed, self._rate)
        self._send(np.zeros(samples, np.int16))

    def _send(self, samples: Samples) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # loop closed while the thread stops
                self._loop.call_soon_threadsafe(self._deliver, samples, self._rechunker)


# -- microphone -------------------------------------------------------------------------


class AlsaMicrophone(Microphone):
    """An ALSA capture device (e.g. a USB microphone array) as 48 kHz mono 10 ms chunks.

    `channels`, `sample_format` and `rate` are what to ask the device for; what
    it actually grants is used. `channels_used` picks the channels averaged
    into the signal (all when empty), e.g. `[0]` for an array's processed beam.
    """

    def __init__(
        self,
        pcm: str = "default",
        *,
        channels: int = 1,
        sample_format: str = "S16_LE",
        rate: int = SAMPLE_RATE,
        channels_used: Sequence[int] = (),
        periods: int = 4,
        clock: Clock = "device",
    ) -> None:
        super().__init__()
        _format(sample_format)
        if channels < 1 or any(not 0 <= c < channels for c in channels_used):
            raise ValueError(
                f"channels_used {list(channels_used)} must be within 0..{channels - 1}")
        self.pcm = pcm
        self.channels = channels
        self.sample_format = sample_format
        self.rate = rate
        self.channels_used = tuple(channels_used)
        self.periods = periods
        self.clock = clock
        self._device = _Supervised(pcm, "capture")
        self._worker: _DeviceThread | None = None
        self._handover: _ToLoop | None = None
        self.overruns = 0  # ALSA overruns: we were too slow to read, audio lost
        self.read_errors = 0  # reads that got no audio in READ_TIMEOUT_S (silence was sent)
        self.granted: tuple[int, str, int, int, int] | None = None  # what the device settled on

    @property
    def fault(self) -> str | None:
        return self._device.fault

    @property
    def reopens(self) -> int:
        """Times the device failed and was opened again."""
        return self._device.reopens

    @property
    def dropped_chunks(self) -> int:
        return self._handover.dropped if self._handover else 0

    @property
    def input_latency(self) -> float:
        """Seconds from the sound at the microphone to its chunk in `read()` (about a period)."""
        period = self.granted[3] / self.granted[2] if self.granted else CHUNK_MS / 1000
        return period + CHUNK_MS / 1000

    def start(self) -> None:
        if self._worker is not None:
            return
        self._handover = _ToLoop(asyncio.get_running_loop(), HANDOVER_CHUNKS,
                                 self._report_discarded)
        handover = self._handover
        self._worker = _spawn(
            f"alsa-capture {self.pcm}",
            lambda stopping: self._device.run(
                stopping, lambda: self._capture(handover, stopping)),
        )
        super().start()

    def stop(self) -> None:
        super().stop()
        worker, self._worker = self._worker, None
        _stop(worker)

    async def _read_chunk(self) -> Samples:
        assert self._handover is not None
        chunk = await self._handover.get(READ_TIMEOUT_S)
        if chunk is None:
            self.read_errors += 1
            raise AudioDeviceError(self.fault or f"ALSA capture {self.pcm!r}: no audio")
        return chunk

    def _capture(self, handover: _ToLoop, stopping: threading.Event) -> None:
        pcm = self._device.open_pcm(
            rate=self.rate, channels=self.channels,
            format=getattr(_alsaaudio(), f"PCM_FORMAT_{self.sample_format}"),
            periodsize=self.rate * CHUNK_MS // 1000, periods=self.periods,
        )
        try:
            self.granted = _pcm_params(pcm)
            channels, sample_format, rate, period, _ = self.granted
            if self.channels_used and max(self.channels_used) >= channels:
                raise AudioDeviceError(f"delivers {channels} channels; channels_used is "
                                       f"{list(self.channels_used)}")
            if (channels, sample_format, rate) != (self.channels, self.sample_format, self.rate):
                log.info("ALSA capture %r: device gives %d ch %s %d Hz", self.pcm, channels,
                         sample_format, rate)
            converter, chunks = RateConverter(rate, SAMPLE_RATE), Rechunker()
            clock = FrameClock(rate) if self.clock == "software" else None
            while not stopping.is_set():
                if clock is not None and clock.wait_recorded(period, stopping):
                    self.overruns += 1
                count, data = pcm.read()
                if count == -errno.EPIPE:
                    self.overruns += 1
                    continue
                if count <= 0:
                    continue
                mono = to_int16(mix_down(decode_samples(data, sample_format, channels),
                                         self.channels_used))
                for chunk in chunks.push(converter.convert(mono)):
                    handover.put(chunk)
                self._device.fault = None
        finally:
            pcm.close()


# -- speaker ----------------------------------------------------------------------------


class AlsaSpeaker(Speaker):
    """An ALSA playback device fed 48 kHz mono 10 ms chunks.

    `play()` returns when the device wants more (it paces the mixer). The same
    mono signal goes to every channel the device insists on.
    """

    def __init__(
        self,
        pcm: str = "default",
        *,
        rate: int = SAMPLE_RATE,
        channels: int = 1,
        periods: int = 4,
        queue_chunks: int = 2,
        clock: Clock = "device",
    ) -> None:
        super().__init__()
        self.pcm = pcm
        self.rate = rate
        self.channels = channels
        self.periods = periods
        self.clock = clock
        self._device = _Supervised(pcm, "playback")
        self._queue: queue.Queue[Samples] = queue.Queue(maxsize=queue_chunks)
        self._space: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: _DeviceThread | None = None
        self.underruns = 0  # ALSA underruns, recovered
        self.starved = 0  # periods of silence written because no chunk was ready
        self.discarded = 0  # chunks thrown away while the device was failing
        self.granted: tuple[int, str, int, int, int] | None = None

    @property
    def fault(self) -> str | None:
        return self._device.fault

    @property
    def running(self) -> bool:
        """Whether the playback thread holds (or keeps reopening) the device."""
        return self._worker is not None

    @property
    def reopens(self) -> int:
        """Times the device failed and was opened again."""
        return self._device.reopens

    @property
    def output_latency(self) -> float:
        """Seconds from `play()` returning to the sound leaving the device (queue + buffer)."""
        return self.reference_latency + self._queue.maxsize * CHUNK_MS / 1000

    @property
    def reference_latency(self) -> float:
        """Listeners hear of a chunk as the thread writes it: the device buffer is left."""
        return self.granted[4] / self.granted[2] if self.granted else 0.04

    def start(self) -> None:
        if self._worker is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._space = asyncio.Event()
        self._worker = _spawn(
            f"alsa-playback {self.pcm}",
            lambda stopping: self._device.run(stopping, lambda: self._play(stopping)),
        )

    def stop(self) -> None:
        worker, self._worker = self._worker, None
        _stop(worker)
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()

    async def _play_chunk(self, chunk: Samples) -> None:
        if self._worker is None:
            self.start()
        assert self._space is not None
        while True:
            if self.fault is not None:  # failing device: keep the mixer's pace, drop audio
                self.discarded += 1
                await asyncio.sleep(CHUNK_MS / 1000)
                return
            try:
                self._queue.put_nowait(chunk)
                return
            except queue.Full:
                self._space.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.1):
                        await self._space.wait()

    def _signal_space(self) -> None:
        if self._loop is not None and self._space is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._space.set)

    def _play(self, stopping: threading.Event) -> None:
        pcm = self._device.open_pcm(
            rate=self.rate, channels=self.channels,
            format=_alsaaudio().PCM_FORMAT_S16_LE,
            periodsize=self.rate * CHUNK_MS // 1000, periods=self.periods,
        )
        try:
            self.granted = _pcm_params(pcm)
            channels, sample_format, rate, period, buffer = self.granted
            _format(sample_format)
            converter, chunks = RateConverter(SAMPLE_RATE, rate), Rechunker(period)
            silence = encode_samples(np.zeros((period, channels), np.float32), sample_format)
            clock = FrameClock(rate) if self.clock == "software" else None
            played = _PlayedReport(self._loop, self._report_block, period, rate)
            # Wait for the mixer while the device has half its buffer (or a period) left:
            # the rest is the margin for this thread to wake on a busy machine.
            margin = max(period, buffer // 2)
            played_any = False
            while not stopping.is_set():
                buffered = clock.buffered() if clock else self._device_buffered(pcm, buffer)
                chunk = self._next_chunk(max(0.0, buffered - margin) / rate)
                if chunk is None:  # the mixer is late: a period of silence, not an underrun
                    self.starved += played_any
                    periods_out = [silence]
                    played.silence()
                else:
                    periods_out = [self._frames(p, channels, sample_format)
                                   for p in chunks.push(converter.convert(chunk))]
                    played_any = True
                    played.chunk(chunk)
                for data in periods_out:
                    if clock is not None and clock.wait_room(period, buffer, stopping):
                        self.underruns += 1
                    self._write(pcm, data)
                self._device.fault = None
        finally:
            pcm.close()

    @staticmethod
    def _device_buffered(pcm: Any, buffer: int) -> float:
        avail = pcm.avail()  # frames the device can take; negative after an xrun
        return float(buffer - avail) if 0 <= avail <= buffer else 0.0

    def _next_chunk(self, timeout: float) -> Samples | None:
        """The mixer's next chunk; None if none came in time."""
        try:
            chunk = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        self._signal_space()
        return chunk

    def _report_block(self, samples: Samples, rechunker: Rechunker) -> None:
        """In the event loop: what the thread wrote, to the listeners in 10 ms chunks."""
        for chunk in rechunker.push(samples):
            self._report_played(chunk)

    @staticmethod
    def _frames(mono: Samples, channels: int, sample_format: str) -> bytes:
        if sample_format == "S16_LE" and channels == 1:
            return mono.astype("<i2").tobytes()
        floats = (mono.astype(np.float32) / 32768.0).reshape(-1, 1)
        return encode_samples(np.repeat(floats, channels, axis=1), sample_format)

    def _write(self, pcm: Any, data: bytes) -> None:
        written = pcm.write(data)
        if written == -errno.EPIPE:  # underrun: pyalsaaudio re-prepared the device; retry
            self.underruns += 1
            pcm.write(data)
