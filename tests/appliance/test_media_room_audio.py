"""The appliance's own audio wiring, from a provisioning file, through ALSA without a card.

`build_room_audio` is what `Appliance.open_devices` calls: it maps the file's
[audio] table to an ALSA microphone array behind the echo canceller and an ALSA
speaker behind the remote-audio mixer, and hands the canceller the speaker's
PCM. Both PCMs are ALSA's `file` plugin on FIFOs (`alsa_file_devices`), and a
synthetic room between them turns every 10 ms the speaker plays into 10 ms of
the microphone array: the echo in its first channel, the played signal in its
second (a loopback channel the file does not select). The microphone is opened
the way the room does it (`RoomMedia.set_mic_live`), and what leaves the box is
what its `MicrophoneTrack` delivers.

The /healthz "audio" section (`audio_report`) is read through a real
HealthServer over these devices and the simulated ones; so are the "devices"
entries of a microphone and a speaker whose PCMs do not exist (503) until they do.
"""

from __future__ import annotations

import asyncio
import fractions
import os
import select
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from prometheus_client.parser import text_string_to_metric_families

from appliance.devices.alsa import AlsaMicrophone, AlsaSpeaker, encode_samples
from appliance.devices.alsa_files import AlsaFileDevices, alsa_file_devices
from appliance.devices.audio import CHUNK_SAMPLES, SAMPLE_RATE, NullSpeaker, Samples
from appliance.local_media import RoomMedia
from appliance.media.aec import EchoCancelledMicrophone
from appliance.media.audio import RemoteAudioMixer
from appliance.media.audio_health import audio_report, watch_audio_faults
from appliance.media.capture import ThreadedMicrophone, unthreaded
from appliance.media.roomsim import EchoPath, level_db, room_response, speech_like
from appliance.provisioning.loader import Settings
from appliance.service.health import HealthServer, HealthState
from appliance.wiring import build_room_audio
from tests.support.media_tracks import FarEndTrack
from tests.support.provisioned import settings as provisioned

SECONDS = 6.0
FAR_LEVEL = 3000.0

def settings(audio: str) -> Settings:
    return provisioned("[audio]\n" + audio)


def alsa_audio(alsa: AlsaFileDevices, extra: str = "") -> Settings:
    """An array giving two S32 channels (the room's microphone, then a loopback of the
    speaker) of which the file selects the first, and an ALSA speaker."""
    return settings(f'mic_backend = "alsa"\nmic_pcm = "{alsa.capture_pcm}"\nmic_channels = 2\n'
                    'mic_format = "S32_LE"\nmic_channels_used = [0]\n'
                    f'speaker_backend = "alsa"\nspeaker_pcm = "{alsa.playback_pcm}"\n{extra}')


class SyntheticRoom:
    """The room between the speaker's FIFO and the microphone array's, on a thread: each
    10 ms the speaker plays becomes 10 ms the array picks up — the echo, and the played
    signal itself on the loopback channel."""

    def __init__(self, directory: Path, response: np.ndarray) -> None:
        self.speaker_fifo, self.mic_fifo = directory / "speaker.fifo", directory / "mic.fifo"
        os.mkfifo(self.speaker_fifo)
        os.mkfifo(self.mic_fifo)
        # O_RDWR: neither open blocks, and the ALSA plugins' own opens find a peer.
        self._in = os.open(self.speaker_fifo, os.O_RDWR | os.O_NONBLOCK)
        self._out: int | None = os.open(self.mic_fifo, os.O_RDWR | os.O_NONBLOCK)
        self._out_lock = threading.Lock()
        self.path = EchoPath(response)
        self.played: list[Samples] = []
        self.echo: list[np.ndarray] = []
        self._pending = b""
        self._silent = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="synthetic-room", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def silence(self) -> None:
        """Nothing reaches the microphone any more (the speaker still plays)."""
        self._silent.set()

    def end_microphone(self) -> None:
        """Close the array's FIFO: a capture waiting on it gets end of file."""
        with self._out_lock:
            if self._out is not None:
                os.close(self._out)
                self._out = None

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=2)
        self.end_microphone()
        os.close(self._in)

    def recorded(self, what: str) -> np.ndarray:
        parts = getattr(self, what)
        return np.concatenate(parts) if parts else np.zeros(0)

    def _run(self) -> None:
        block = CHUNK_SAMPLES * 2
        while not self._stopping.is_set():
            if not select.select([self._in], [], [], 0.05)[0]:
                continue
            self._pending += os.read(self._in, 65536)
            while len(self._pending) >= block and not self._stopping.is_set():
                played = np.frombuffer(self._pending[:block], "<i2").copy()
                self._pending = self._pending[block:]
                echo = self.path.echo(played.astype(np.float64))
                self.played.append(played)
                self.echo.append(echo)
                channels = np.stack([echo / 32768, played / 32768], axis=1)
                self._write(encode_samples(channels.astype(np.float32), "S32_LE"))

    def _write(self, data: bytes) -> None:
        while data and not (self._stopping.is_set() or self._silent.is_set()):
            with self._out_lock:
                if self._out is None:
                    return
                if select.select([], [self._out], [], 0.05)[1]:
                    data = data[os.write(self._out, data) :]


def clock_the_speaker(mixer: RemoteAudioMixer) -> None:
    """ALSA's null device under the file plugin has no clock: the speaker keeps time
    itself (`FrameClock`), as a sound card would. The room follows the speaker and the
    microphone follows the room."""
    assert isinstance(mixer.speaker, AlsaSpeaker)
    mixer.speaker.clock = "software"


def window(signal: np.ndarray, start: float, end: float) -> np.ndarray:
    return signal[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]


@pytest.mark.parametrize(("audio", "cancelled"), [("", True), ("array_has_aec = true\n", False)])
async def test_the_speakers_exact_pcm_is_the_echo_cancellers_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, audio: str, cancelled: bool
) -> None:
    room = SyntheticRoom(tmp_path, room_response(delay_ms=6, gain=0.1))
    alsa = alsa_file_devices(tmp_path, capture_file=room.mic_fifo,
                             playback_file=room.speaker_fifo)
    threaded, mixer = build_room_audio(alsa_audio(alsa, audio), tmp_path)
    microphone = unthreaded(threaded)  # read on its capture thread
    assert isinstance(threaded, ThreadedMicrophone)
    assert isinstance(microphone, EchoCancelledMicrophone)
    assert isinstance(mixer.speaker, AlsaSpeaker) and mixer.volume == 0.8
    clock_the_speaker(mixer)
    processor = microphone.processor
    assert processor is not None
    reference: list[Samples] = []
    original = processor.reverse

    def spy(chunk: Samples) -> None:
        reference.append(chunk.copy())
        original(chunk)

    monkeypatch.setattr(processor, "reverse", spy)
    media = RoomMedia(None, microphone)
    _, track = media.new_tracks()
    assert track is not None
    far = speech_like(SECONDS + 1, seed=1, pitch_hz=120) * FAR_LEVEL
    with alsa.active():
        media.set_mic_live(True)
        room.start()
        mixer.start()
        mixer.add_track(FarEndTrack(far), key="far")
        try:
            frames = [await track.recv() for _ in range(int(SECONDS * 50))]
        finally:
            media.close()
            await mixer.stop()
            room.close()
    sent = np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float64)

    # What the room heard from the speaker is what the canceller was given, sample for
    # sample, the silence the speaker bridged a late mix with included.
    assert reference, "the echo canceller was never given the speaker's PCM"
    played, given = room.recorded("played"), np.concatenate(reference)
    assert np.count_nonzero(given) > 2 * SAMPLE_RATE  # seconds of the far end talking
    assert played.size > given.size - 0.3 * SAMPLE_RATE  # all but what was still queued
    common = min(played.size, given.size)
    assert np.array_equal(played[:common], given[:common])
    assert microphone.speaker is mixer.speaker  # the delay hint is the real speaker's

    # What leaves the box: the echo of the played far end, cancelled or not.
    echo = room.recorded("echo")
    assert level_db(window(echo, 3, SECONDS)) > level_db(FAR_LEVEL) - 35  # an audible echo
    halves = [level_db(window(echo, t, t + 0.5)) - level_db(window(sent, t, t + 0.5))
              for t in np.arange(3.0, SECONDS, 0.5)]
    erle = float(np.median(halves))
    if cancelled:
        assert processor.reverse_chunks == len(reference)
        assert erle > 20, f"ERLE {erle:.1f} dB (0.5 s windows: {[round(h, 1) for h in halves]})"
    else:  # the array cancels echo itself: the software canceller is not even fed
        assert processor.reverse_chunks == 0 and not processor.stages.echo_cancellation
        assert erle < 6, f"the echo went down by {erle:.1f} dB without an echo canceller"
    print(f"ERLE {erle:.1f} dB (echo canceller {'on' if cancelled else 'off'}), "
          f"echo delay hint {microphone.echo_delay_ms} ms")


# -- /healthz "audio" ---------------------------------------------------------------------


class BurstTrack(MediaStreamTrack):
    """A remote participant whose network delivers a second of audio at once, then nothing."""

    kind = "audio"

    def __init__(self, frames: int = 50) -> None:
        super().__init__()
        self.left = frames
        self.sent = 0

    async def recv(self) -> av.AudioFrame:
        while self.left == 0 and self.readyState == "live":
            await asyncio.sleep(0.05)
        if self.readyState != "live":
            raise MediaStreamError
        self.left -= 1
        tone = 3000 * np.sin(2 * np.pi * 440 * (self.sent + np.arange(960)) / SAMPLE_RATE)
        frame = av.AudioFrame.from_ndarray(tone.astype(np.int16).reshape(1, -1),
                                           format="s16", layout="mono")
        frame.sample_rate, frame.pts = SAMPLE_RATE, self.sent
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self.sent += 960
        return frame


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Wait for a device to get somewhere (a generous bound, not a timing claim)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)
    assert condition(), what


async def healthz_audio(server: HealthServer) -> Any:
    async with aiohttp.ClientSession() as session, session.get(server.url + "/healthz") as r:
        return (await r.json())["audio"]


async def test_healthz_reports_the_alsa_devices_the_mix_and_the_echo_canceller(
    tmp_path: Path,
) -> None:
    room = SyntheticRoom(tmp_path, room_response(gain=0.1))
    alsa = alsa_file_devices(tmp_path, capture_file=room.mic_fifo,
                             playback_file=room.speaker_fifo)
    s = alsa_audio(alsa)
    microphone, mixer = build_room_audio(s, tmp_path)
    media = RoomMedia(None, microphone)
    _, track = media.new_tracks()
    processed = unthreaded(microphone)
    assert track is not None and isinstance(processed, EchoCancelledMicrophone)
    array, speaker = processed.microphone, mixer.speaker
    assert isinstance(array, AlsaMicrophone) and isinstance(speaker, AlsaSpeaker)
    clock_the_speaker(mixer)
    state = HealthState("1.0")
    state.sections["audio"] = lambda: audio_report(media.microphone, mixer, s.audio)
    server = HealthServer(state, port=0)
    await server.start()
    try:
        with alsa.active():
            closed = await healthz_audio(server)
            assert closed["microphone"]["open"] is False and closed["microphone"]["granted"] is None
            assert closed["speaker"]["open"] is False
            assert closed["echo_canceller"] == {
                "echo_cancellation": "on", "noise_suppression": True, "high_pass": True,
                "delay_hint_ms": 0, "reference_chunks": 0, "chunks_processed": 0,
                "cpu_us_per_10ms": None}

            media.set_mic_live(True)
            room.start()
            mixer.start()
            mixer.add_track(BurstTrack(), key="burst")
            await until(lambda: mixer.dropped_samples > 0 and mixer.underruns > 0,
                        "the burst overflowed the jitter buffer and then ran out")
            for _ in range(25):
                await track.recv()
            running = await healthz_audio(server)
            room.silence()  # the array delivers nothing: reads time out, silence is sent
            async with asyncio.timeout(10):
                while array.read_errors == running["microphone"]["read_errors"]:
                    await track.recv()
            silent = await healthz_audio(server)
            room.end_microphone()  # end of file: the capture thread sees it must stop
            media.set_mic_live(False)
            muted = await healthz_audio(server)
    finally:
        await server.stop()
        media.close()
        await mixer.stop()
        room.close()

    mic = running["microphone"]
    assert mic["backend"] == "alsa" and mic["pcm"] == alsa.capture_pcm and mic["open"] is True
    assert mic["granted"] == {"channels": 2, "format": "S32_LE", "rate": 48000,
                              "period_ms": 10.0, "buffer_ms": 40.0}
    assert mic["chunks_read"] >= 50 and mic["fault"] is None
    assert {"overruns", "dropped_chunks", "reopens"} <= set(mic)
    spk = running["speaker"]
    assert spk["backend"] == "alsa" and spk["open"] is True and spk["fault"] is None
    assert spk["chunks_played"] > 0 and spk["granted"]["format"] == "S16_LE"
    assert {"underruns", "starved", "discarded", "reopens"} <= set(spk)
    mix = running["mixer"]
    assert mix["sources"] == 1 and set(mix["buffered_ms"]) == {"burst"}
    assert mix["dropped_ms"] > 0 and mix["underruns"] >= 1 and mix["chunks_played"] > 0
    # The burst ran the buffer dry: a concealment played on; nothing came late.
    assert mix["concealed_ms"] > 0 and mix["late_ms"] == 0
    aec = running["echo_canceller"]
    assert aec["echo_cancellation"] == "on" and aec["chunks_processed"] >= 50
    assert aec["reference_chunks"] > 0 and aec["delay_hint_ms"] > 0
    assert aec["cpu_us_per_10ms"] > 0

    # (a busy machine may have made a read late before: the silence made more)
    assert silent["microphone"]["read_errors"] > mic["read_errors"]
    assert silent["microphone"]["open"] is True
    assert muted["microphone"]["open"] is False
    assert muted["microphone"]["read_errors"] == silent["microphone"]["read_errors"]


async def test_healthz_names_a_failing_speaker_and_echo_cancellation_left_to_the_array(
    tmp_path: Path,
) -> None:
    alsa = alsa_file_devices(tmp_path)
    s = settings(f'mic_backend = "alsa"\nmic_pcm = "{alsa.capture_pcm}"\narray_has_aec = true\n'
                 'speaker_backend = "alsa"\nspeaker_pcm = "salon_no_such_pcm"\n')
    microphone, mixer = build_room_audio(s, tmp_path)
    with alsa.active():
        mixer.start()
        try:
            await until(lambda: mixer.speaker.fault is not None, "the speaker reports a fault")
            report = audio_report(microphone, mixer, s.audio)
        finally:
            await mixer.stop()
    speaker = report["speaker"]
    assert speaker["open"] is True and speaker["reopens"] >= 1  # it keeps trying
    assert "salon_no_such_pcm" in speaker["fault"]
    assert report["echo_canceller"] == {
        "echo_cancellation": "array", "noise_suppression": True, "high_pass": True,
        "delay_hint_ms": 0, "reference_chunks": 0, "chunks_processed": 0,
        "cpu_us_per_10ms": None}


async def test_healthz_audio_with_the_simulated_devices(tmp_path: Path) -> None:
    s = settings('mic_backend = "simulated"\nspeaker_backend = "wav"\n'
                 f'speaker_wav = "{tmp_path / "out.wav"}"\nvolume = 50\n')
    microphone, mixer = build_room_audio(s, tmp_path)
    assert microphone is not None
    mixer.start()
    microphone.start()
    try:
        await until(lambda: mixer.speaker.chunks_played >= 5, "the mix reaches the file")
        await microphone.read()
        report = audio_report(microphone, mixer, s.audio)
    finally:
        microphone.stop()
        await mixer.stop()
    # Read on its capture thread, which may be a chunk or two ahead of the reader.
    assert report["microphone"].pop("chunks_read") >= 1
    assert report["microphone"] == {"backend": "simulated", "open": True, "source": "tone"}
    assert report["speaker"]["backend"] == "wav"
    assert report["speaker"]["path"] == str(tmp_path / "out.wav")
    assert report["speaker"]["chunks_played"] >= 5
    assert report["mixer"]["sources"] == 0 and report["mixer"]["underruns"] == 0
    assert report["mixer"]["concealed_ms"] == 0 and report["mixer"]["late_ms"] == 0
    # A test tone is never processed: nothing would cancel, suppress or filter it.
    assert report["echo_canceller"] == {"echo_cancellation": "off",
                                        "noise_suppression": False, "high_pass": False}


class SwappingTrack(BurstTrack):
    """A burst whose network swaps two packets in every four: the third comes after the
    fourth."""

    async def recv(self) -> av.AudioFrame:
        frame = await super().recv()
        index = self.sent // 960 - 1
        if index % 4 in (2, 3):
            frame.pts = (index ^ 1) * 960
        return frame


async def test_late_and_concealed_audio_stay_counted_after_the_source_leaves() -> None:
    mixer = RemoteAudioMixer(NullSpeaker())
    mixer.add_track(SwappingTrack(frames=40), key="far")
    # A packet that comes after its place was played is no frame in: 30 of the 40.
    await until(lambda: mixer.totals.frames_in == 30, "the burst reached the mixer")
    live = audio_report(None, mixer, settings("").audio)["mixer"]
    mixer.remove_track("far")
    gone = audio_report(None, mixer, settings("").audio)["mixer"]
    await mixer.stop()
    # Ten swaps: each time the fourth packet's place is concealed and the third comes
    # after it, its 20 ms late.
    assert live["late_ms"] == 10 * 20.0
    assert live["concealed_ms"] >= live["late_ms"]
    assert gone["sources"] == 0
    assert {k: gone[k] for k in ("late_ms", "concealed_ms", "dropped_ms", "underruns")} == {
        k: live[k] for k in ("late_ms", "concealed_ms", "dropped_ms", "underruns")}


async def healthz(server: HealthServer) -> tuple[int, Any, dict[str, float]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + "/healthz") as r:
            status, doc = r.status, await r.json()
        async with session.get(server.url + "/metrics") as r:
            up = {s.labels["device"]: s.value
                  for family in text_string_to_metric_families(await r.text())
                  for s in family.samples if s.name == "salon_device_up"}
    return status, doc, up


async def test_a_microphone_and_a_speaker_without_a_pcm_make_healthz_503_until_they_work(
    tmp_path: Path,
) -> None:
    (tmp_path / "in.raw").write_bytes(np.full(SAMPLE_RATE * 20, 1000, "<i2").tobytes())
    alsa = alsa_file_devices(tmp_path / "alsa", capture_file=tmp_path / "in.raw")
    full_config = alsa.config_path.read_text()
    alsa.config_path.write_text("# no sound devices yet\n")
    s = settings(f'mic_backend = "alsa"\nmic_pcm = "{alsa.capture_pcm}"\n'
                 f'speaker_backend = "alsa"\nspeaker_pcm = "{alsa.playback_pcm}"\n')
    threaded, mixer = build_room_audio(s, tmp_path)
    microphone = unthreaded(threaded)
    assert isinstance(microphone, EchoCancelledMicrophone)
    array, speaker = microphone.microphone, mixer.speaker
    assert isinstance(array, AlsaMicrophone) and isinstance(speaker, AlsaSpeaker)
    array.clock = "software"  # the file plugin has no clock of its own
    clock_the_speaker(mixer)
    state = HealthState("1.0")
    state.set_config(digest="x", valid=True, source="boot")
    state.set_device("microphone", "ok", backend="alsa")
    state.set_device("speaker", "ok", backend="alsa")
    watch_audio_faults(state, microphone, mixer)  # as the appliance does
    server = HealthServer(state, port=0)
    await server.start()
    try:
        with alsa.active():
            mixer.start()
            microphone.start()
            await until(lambda: bool(array.fault and speaker.fault), "both devices report a fault")
            broken = await healthz(server)
            empty = alsa.config_path.stat().st_mtime
            alsa.config_path.write_text(full_config)
            # libasound re-reads its configuration when the file's mtime (in seconds) moves.
            os.utime(alsa.config_path, (empty + 2, empty + 2))
            await until(lambda: not (array.fault or speaker.fault), "both devices reopened",
                        timeout=30)
            working = await healthz(server)
    finally:
        microphone.stop()
        await mixer.stop()
        await server.stop()

    status, doc, up = broken
    assert status == 503 and doc["ok"] is False
    for device, pcm in (("microphone", alsa.capture_pcm), ("speaker", alsa.playback_pcm)):
        assert doc["devices"][device]["state"] == "error"
        assert doc["devices"][device]["backend"] == "alsa"
        assert pcm in doc["devices"][device]["detail"]
        assert up[device] == 0
    status, doc, up = working
    assert status == 200 and doc["ok"] is True
    for device in ("microphone", "speaker"):
        assert doc["devices"][device] == {"state": "ok", "backend": "alsa", "detail": ""}
        assert up[device] == 1
