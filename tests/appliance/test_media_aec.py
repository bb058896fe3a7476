"""Echo cancellation in a synthetic room, through the real ALSA capture and playback code.

A remote participant talks through `RemoteAudioMixer` into an `AlsaSpeaker`
whose PCM is ALSA's file plugin writing into a FIFO. A room thread reads what
the speaker played, passes it through an echo path (delay, loudspeaker
colouring, reverberant tail), adds the people in the room talking, and writes
a 4-channel S32 "microphone array" into a second FIFO, which an
`AlsaMicrophone` reads through the file plugin (channels 0 and 1 averaged;
2 and 3 carry junk that must not leak in). `EchoCancelledMicrophone` and
`MicrophoneTrack` sit on top, exactly as in the appliance.

Schedule (room time): far end alone 0–6 s (3–6 s measured: ERLE > 30 dB),
people in the room alone 6–8 s (their level kept within 3 dB), both talking
8–10 s (within 6 dB: the canceller's suppressor is allowed a little there).

Everything is measured on the audio that was delivered: each chunk the array
delivered is found in what the room wrote (in order, none twice, any gap one
the microphone counted as dropped), so its echo-cancelled chunk is compared with
exactly the room's sound it came from. A busy machine may make a read late (the
track then sends silence) or the speaker bridge a late mix with silence; neither
may cost the echo canceller its alignment, so neither is excused here.
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from appliance.devices.alsa import AlsaMicrophone, AlsaSpeaker, encode_samples
from appliance.devices.alsa_files import alsa_file_devices
from appliance.devices.audio import CHUNK_SAMPLES, SAMPLE_RATE, Microphone, Samples
from appliance.media.aec import AudioProcessor, EchoCancelledMicrophone, ProcessingStages
from appliance.media.audio import MicrophoneTrack, RemoteAudioMixer
from appliance.media.roomsim import EchoPath, level_db, room_response, speech_like
from tests.support.media_tracks import FarEndTrack

FAR_LEVEL = 3000.0  # RMS while talking, int16 units (about -21 dBFS)
NEAR_LEVEL = 1500.0
SECONDS = 10.0


def schedule() -> tuple[np.ndarray, np.ndarray]:
    """Far-end and near-end speech (int16 units) on the schedule in the module docstring."""
    far = speech_like(SECONDS + 1, seed=1, pitch_hz=120) * FAR_LEVEL
    near = speech_like(SECONDS + 1, seed=2, pitch_hz=210) * NEAR_LEVEL
    t = np.arange(far.size) / SAMPLE_RATE
    far[(t >= 6) & (t < 8)] = 0
    near[t < 6] = 0
    return far, near


class SyntheticRoom:
    """The room between the speaker's FIFO and the microphone array's FIFO, on a thread."""

    def __init__(self, directory: Path, near: np.ndarray, response: np.ndarray) -> None:
        self.speaker_fifo, self.mic_fifo = directory / "speaker.fifo", directory / "mic.fifo"
        os.mkfifo(self.speaker_fifo)
        os.mkfifo(self.mic_fifo)
        # O_RDWR: neither open blocks, and the ALSA plugins' own opens find a peer.
        self._in = os.open(self.speaker_fifo, os.O_RDWR | os.O_NONBLOCK)
        self._out = os.open(self.mic_fifo, os.O_RDWR | os.O_NONBLOCK)
        self.near = near
        self.path = EchoPath(response)
        self.played: list[np.ndarray] = []  # what the speaker played, block by block
        self.echo: list[np.ndarray] = []  # what the room wrote, block by block
        self.mic: list[np.ndarray] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="synthetic-room", daemon=True)
        self._pending = b""
        self.position = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=2)
        os.close(self._in)
        os.close(self._out)

    def _run(self) -> None:
        block = CHUNK_SAMPLES * 2
        while not self._stopping.is_set():
            if not select.select([self._in], [], [], 0.05)[0]:
                continue
            self._pending += os.read(self._in, 65536)
            while len(self._pending) >= block:
                played = np.frombuffer(self._pending[:block], "<i2").astype(np.float64)
                self._pending = self._pending[block:]
                self._write(self._room(played))

    def _room(self, played: np.ndarray) -> bytes:
        self.played.append(played)
        echo = self.path.echo(played)
        near = np.zeros(CHUNK_SAMPLES)
        part = self.near[self.position : self.position + CHUNK_SAMPLES]
        near[: part.size] = part
        mic = echo + near
        self.echo.append(echo)
        self.mic.append(mic)
        t = (self.position + np.arange(CHUNK_SAMPLES)) / SAMPLE_RATE
        junk = 0.5 * np.sin(2 * np.pi * 1000 * t)  # e.g. a raw capsule or loopback channel
        self.position += CHUNK_SAMPLES
        channels = np.stack([1.1 * mic / 32768, 0.9 * mic / 32768, junk, played / 32768], axis=1)
        return encode_samples(channels.astype(np.float32), "S32_LE")

    def _write(self, data: bytes) -> None:
        while data and not self._stopping.is_set():
            if select.select([], [self._out], [], 0.05)[1]:
                data = data[os.write(self._out, data) :]

    def recorded(self, what: str) -> np.ndarray:
        return np.concatenate(getattr(self, what))


class Delivered(Microphone):
    """Passes a microphone through, keeping a copy of every chunk it delivered."""

    def __init__(self, microphone: Microphone) -> None:
        super().__init__()
        self.microphone = microphone
        self.chunks: list[Samples] = []

    @property
    def input_latency(self) -> float:
        return self.microphone.input_latency

    def add_discard_listener(self, listener: Callable[[Samples], None]) -> None:
        self.microphone.add_discard_listener(listener)

    def start(self) -> None:
        self.microphone.start()
        super().start()

    def stop(self) -> None:
        super().stop()
        self.microphone.stop()

    async def _read_chunk(self) -> Samples:
        if not self.microphone.running:
            self.microphone.start()
        chunk = await self.microphone.read()
        self.chunks.append(chunk.copy())
        return chunk


def place_in_room(delivered: list[Samples], written: list[np.ndarray]) -> list[int]:
    """The index of the room's block each delivered chunk is, walking forward (a chunk
    found nowhere after the previous one was duplicated or corrupted: AssertionError)."""
    places, block = [], 0
    for n, chunk in enumerate(delivered):
        while block < len(written) and np.max(np.abs(written[block] - chunk)) > 2:
            block += 1
        assert block < len(written), f"delivered chunk {n} is not the room's next audio"
        places.append(block)
        block += 1
    return places


def window(signal: np.ndarray, start: float, end: float) -> np.ndarray:
    return signal[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]


async def test_echo_canceller_removes_the_far_end_and_keeps_the_room(tmp_path: Path) -> None:
    far, near = schedule()
    room = SyntheticRoom(tmp_path, near, room_response(delay_ms=6, gain=0.1))
    alsa = alsa_file_devices(tmp_path, capture_file=room.mic_fifo, playback_file=room.speaker_fifo)
    reference: list[np.ndarray] = []
    with alsa.active():
        room.start()
        speaker = AlsaSpeaker(alsa.playback_pcm, clock="software")  # the null device has no clock
        mixer = RemoteAudioMixer(speaker)
        array = AlsaMicrophone(alsa.capture_pcm, channels=4, sample_format="S32_LE",
                               channels_used=[0, 1])  # paced by the room writing its FIFO
        raw = Delivered(array)
        mic = EchoCancelledMicrophone(raw, ProcessingStages(), speaker=speaker)
        out = Delivered(mic)
        mixer.add_playback_listener(mic.feed_playback)
        mixer.add_playback_listener(lambda chunk: reference.append(chunk.copy()))
        mixer.start()
        mixer.add_track(FarEndTrack(far), key="far")
        track = MicrophoneTrack(out, live=True)
        try:
            for _ in range(int(SECONDS * 50)):
                await track.recv()
        finally:
            track.stop()
            await mixer.stop()
            room.stop()
    assert array.fault is None and mic.processor is not None
    # The echo canceller was told exactly what the speaker played (silence bridging a
    # late mix included), and processed every chunk the array captured, once (those it
    # dropped because the loop fell behind too, to keep its alignment).
    played = np.concatenate(room.played)
    told = np.concatenate(reference)[: played.size]
    assert told.size >= (SECONDS - 1) * SAMPLE_RATE and np.array_equal(told, played[: told.size])
    assert len(raw.chunks) == len(out.chunks)
    assert mic.processor.chunks_processed == len(raw.chunks) + array.dropped_chunks
    assert mic.processor.reverse_chunks >= 0.9 * len(raw.chunks)
    # No chunk lost but those the microphone counted as dropped, none twice, in order.
    places = place_in_room(raw.chunks, room.mic)
    assert len(raw.chunks) >= (SECONDS - 1) * 100
    assert places[-1] + 1 - len(places) <= array.dropped_chunks + array.overruns
    print(f"read errors {track.read_errors}, dropped {array.dropped_chunks}, speaker starved "
          f"{speaker.starved}, underruns {speaker.underruns}")

    def delivered(start: float, end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the room's microphone, the echo-cancelled chunks, the people in the room) over
        the delivered chunks whose room audio lies between start and end (seconds)."""
        picked = [k for k, b in enumerate(places) if start * 100 <= b < end * 100]
        nears = [near[places[k] * CHUNK_SAMPLES : (places[k] + 1) * CHUNK_SAMPLES]
                 for k in picked]
        return (np.concatenate([room.mic[places[k]] for k in picked]),
                np.concatenate([out.chunks[k] for k in picked]).astype(np.float64),
                np.concatenate(nears))

    echo = room.recorded("echo")
    assert level_db(window(echo, 3, 6)) - level_db(window(near, 3, 6)) > 40  # far end alone
    # The canceller's steady state: the median of 0.5 s windows, so a moment where AEC3
    # re-finds the echo path does not decide; the whole stretch must still show the
    # echo well removed. A window the microphone barely delivered (it dropped what a
    # starved event loop fell 100 ms behind on) says nothing and is left out.
    halves = []
    for t in (3.0, 3.5, 4.0, 4.5, 5.0, 5.5):
        captured, cancelled, _ = delivered(t, t + 0.5)
        if cancelled.size >= 20 * CHUNK_SAMPLES:
            halves.append(level_db(captured) - level_db(cancelled))
    assert len(halves) >= 3, f"only {len(halves)} of 6 windows of 3-6 s delivered"
    erle = float(np.median(halves))
    captured, cancelled, _ = delivered(3, 6)
    whole = level_db(captured) - level_db(cancelled)
    assert erle > 30, f"ERLE {erle:.1f} dB (0.5 s windows: {[round(h, 1) for h in halves]})"
    assert whole > 20, f"ERLE over 3-6 s only {whole:.1f} dB"
    _, cancelled, people = delivered(6.3, 7.9)
    near_alone = level_db(cancelled) - level_db(people)
    assert abs(near_alone) < 3, f"near end alone changed by {near_alone:.1f} dB"
    # Both talking, the echo as loud as the people: AEC3's suppressor takes ~2 dB off
    # them (lock-step offline: 2.5 dB).
    _, cancelled, people = delivered(8.3, 9.9)
    double_talk = level_db(cancelled) - level_db(people)
    assert abs(double_talk) < 6, f"near end during double talk changed by {double_talk:.1f} dB"
    print(f"ERLE {erle:.1f} dB (whole {whole:.1f}), near end alone {near_alone:+.1f} dB, "
          f"double talk {double_talk:+.1f} dB, echo delay hint {mic.echo_delay_ms} ms")


def offline_room(stages: ProcessingStages, seconds: float = 6.0) -> tuple[float, float]:
    """(ERLE in the last 2 s of far end alone, near-end change alone) without any devices."""
    far = speech_like(seconds, seed=1) * FAR_LEVEL
    near = speech_like(2.0, seed=2, pitch_hz=210) * NEAR_LEVEL
    far = np.concatenate([far, np.zeros(near.size)])
    near = np.concatenate([np.zeros(far.size - near.size), near])
    path, processor = EchoPath(room_response(gain=0.1)), AudioProcessor(stages)
    echo = path.echo(far)
    captured = echo + near
    out = np.zeros_like(captured)
    for i in range(0, captured.size - CHUNK_SAMPLES + 1, CHUNK_SAMPLES):
        part = slice(i, i + CHUNK_SAMPLES)
        processor.reverse(np.rint(far[part]).astype(np.int16))
        out[part] = processor.process(np.clip(np.rint(captured[part]), -32768, 32767)
                                      .astype(np.int16))
    erle = level_db(window(captured, seconds - 2, seconds)) - level_db(window(out, seconds - 2,
                                                                             seconds))
    kept = level_db(window(out, seconds + 0.3, seconds + 2)) - level_db(
        window(near, seconds + 0.3, seconds + 2))
    return erle, kept


def test_without_the_echo_canceller_the_echo_stays() -> None:
    erle_on, _ = offline_room(ProcessingStages())
    erle_off, kept = offline_room(ProcessingStages(echo_cancellation=False))
    assert erle_on > 30
    assert erle_off < 6  # noise suppression and the high-pass filter do not remove speech
    assert abs(kept) < 3


class Counting(Microphone):
    def __init__(self) -> None:
        super().__init__()

    async def _read_chunk(self) -> Samples:
        return np.full(CHUNK_SAMPLES, self.chunks_read % 100, np.int16)


async def test_all_stages_off_passes_the_microphone_through_untouched() -> None:
    inner = Counting()
    mic = EchoCancelledMicrophone(inner, ProcessingStages(False, False, False))
    assert mic.processor is None
    mic.start()
    assert inner.running
    chunks = [await mic.read() for _ in range(5)]
    assert [int(c[0]) for c in chunks] == [0, 1, 2, 3, 4]
    mic.feed_playback(np.zeros(CHUNK_SAMPLES, np.int16))  # no processor: ignored
    mic.stop()
    assert not inner.running


async def test_far_end_reaches_the_canceller_only_while_the_microphone_runs() -> None:
    mic = EchoCancelledMicrophone(Counting(), ProcessingStages(noise_suppression=False))
    assert mic.processor is not None
    mic.feed_playback(np.ones(CHUNK_SAMPLES, np.int16))
    assert mic.processor.reverse_chunks == 0
    mic.start()
    mic.feed_playback(np.ones(CHUNK_SAMPLES, np.int16))
    await mic.read()
    assert mic.processor.reverse_chunks == 1 and mic.processor.chunks_processed == 1
    with pytest.raises(ValueError, match="480 int16"):
        mic.feed_playback(np.ones(100, np.int16))


async def test_a_chunk_dropped_unread_still_passes_the_canceller() -> None:
    inner = Counting()
    mic = EchoCancelledMicrophone(inner, ProcessingStages(noise_suppression=False))
    dropped: list[Samples] = []
    mic.add_discard_listener(dropped.append)
    assert mic.processor is not None
    mic.start()
    await mic.read()
    # The reader fell behind and the device dropped its oldest chunk: the canceller's
    # pairing with the speaker must advance by it, and whoever reads is told of it too.
    inner._report_discarded(np.ones(CHUNK_SAMPLES, np.int16))
    await mic.read()
    assert mic.processor.chunks_processed == 3 and mic.chunks_read == 2 and len(dropped) == 1
