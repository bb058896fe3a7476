"""Microphone, speaker, microphone track and the remote mix.

Pure tests drive the real classes with real aiortc tracks in-process; the
netns test sends the microphone through two aiortc peers (Opus) into the
mixer and a WAV speaker.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
import wave
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
from aiortc.mediastreams import MediaStreamError

from appliance.devices.audio import (
    CHUNK_SAMPLES,
    SAMPLE_RATE,
    AudioDeviceError,
    Microphone,
    NullSpeaker,
    Samples,
    SimulatedMicrophone,
    WavSpeaker,
)
from appliance.media.audio import (
    FRAME_SAMPLES,
    MicrophoneTrack,
    RemoteAudioMixer,
)
from appliance.media.jitter import AudioJitterBuffer
from appliance.media.loopback import connect, local_peer_connection
from tests.support.media_tracks import ToneTrack

IN_NETNS = os.environ.get("SALON_IN_NETNS") == "1"
LIVE_LEVEL = 0.3 * 32767 * 0.5  # the 600 Hz test tone through Opus and aiortc's upmix (-3 dB)


def peak_hz(samples: npt.NDArray[np.int16], rate: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * rate / samples.size)


def tone_level(samples: npt.NDArray[np.int16], hz: float, rate: int = SAMPLE_RATE) -> float:
    """Amplitude of one frequency (single-bin DFT), in sample units."""
    t = np.arange(samples.size) / rate
    return float(2 * np.abs(np.mean(samples * np.exp(-2j * np.pi * hz * t))))


def median_tone_level(samples: npt.NDArray[np.int16], hz: float) -> float:
    """tone_level per 20 ms window, median: a few windows hit by underruns on a busy host
    (silence filled in) do not move it."""
    windows = samples[: samples.size // 960 * 960].reshape(-1, 960)
    return float(np.median([tone_level(w, hz) for w in windows]))


def playing_tone_level(samples: npt.NDArray[np.int16], hz: float, floor: float = 2000,
                       at_least: int = 5) -> float:
    """The median tone_level of the 20 ms windows that carry the tone (above ``floor``):
    the windows of silence and deep fades a starved source is bridged with on a busy
    host are left out; ``at_least`` windows must carry it."""
    windows = samples[: samples.size // 960 * 960].reshape(-1, 960)
    levels = [level for w in windows if (level := tone_level(w, hz)) > floor]
    assert len(levels) >= at_least, f"the {hz} Hz tone in {len(levels)} of {len(windows)} windows"
    return float(np.median(levels))


def write_wav(path: Path, samples: npt.NDArray[np.int16], rate: int, channels: int) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.astype("<i2").tobytes())


def read_wav(path: Path) -> npt.NDArray[np.int16]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, SAMPLE_RATE)
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.int16)


class Recording:
    """A playback listener keeping every chunk the mixer handed to the speaker."""

    def __init__(self) -> None:
        self.chunks: list[Samples] = []

    def __call__(self, chunk: Samples) -> None:
        self.chunks.append(chunk.copy())

    def samples(self, skip_chunks: int = 0) -> npt.NDArray[np.int16]:
        return np.concatenate(self.chunks[skip_chunks:])


# -- devices ---------------------------------------------------------------


async def test_simulated_microphone_delivers_its_tone_in_real_time() -> None:
    mic = SimulatedMicrophone(tone_hz=1000.0, level=0.5)
    with pytest.raises(AudioDeviceError, match="stopped"):
        await mic.read()
    mic.start()
    began = time.monotonic()
    chunks = [await mic.read() for _ in range(50)]
    assert time.monotonic() - began >= 0.45  # paced like a device, not a burst
    samples = np.concatenate(chunks)
    assert all(c.shape == (CHUNK_SAMPLES,) and c.dtype == np.int16 for c in chunks)
    assert peak_hz(samples) == pytest.approx(1000, abs=5)
    assert tone_level(samples, 1000) == pytest.approx(0.5 * 32767, rel=0.02)
    assert mic.chunks_read == 50


async def test_simulated_microphone_ticks_at_the_wall_clocks_whole_seconds() -> None:
    mic = SimulatedMicrophone(tone_hz=2000.0, level=0.5, ticks=True)
    began = time.time()
    mic.start()  # sample n of what it says is captured at `began` + n / 48000 s
    chunks, read_at = [], []
    for _ in range(230):
        chunks.append(await mic.read())
        read_at.append(time.time())
    samples = np.concatenate(chunks)
    loud = np.flatnonzero(np.abs(samples) > 0.1 * 0.5 * 32767)
    onsets = loud[np.insert(np.diff(loud) > SAMPLE_RATE // 2, 0, True)]
    seconds = range(math.ceil(began), math.floor(began + samples.size / SAMPLE_RATE) + 1)
    assert len(onsets) == len(seconds) >= 2  # one tick per whole second, nothing else
    for onset, second in zip(onsets, seconds, strict=True):
        # placed to the sample (the threshold is crossed within the sine's first samples)
        assert began + onset / SAMPLE_RATE == pytest.approx(second, abs=CHUNK_SAMPLES / SAMPLE_RATE)
        assert read_at[onset // CHUNK_SAMPLES] >= second  # never heard before it was said
        tick = samples[onset : onset + SAMPLE_RATE // 100]
        assert np.count_nonzero(tick[240:]) == 0  # 5 ms long
        assert peak_hz(tick[:240]) == pytest.approx(2000, abs=200)
        assert np.abs(tick).max() == pytest.approx(0.5 * 32767, rel=0.01)


async def test_microphone_from_a_wav_file_of_any_format(tmp_path: Path) -> None:
    rate = 16_000
    t = np.arange(rate) / rate
    tone = np.rint(10_000 * np.sin(2 * np.pi * 700 * t)).astype(np.int16)
    write_wav(tmp_path / "in.wav", np.repeat(tone, 2), rate, channels=2)
    mic = SimulatedMicrophone(wav_path=tmp_path / "in.wav")
    mic.start()
    samples = np.concatenate([await mic.read() for _ in range(30)])
    assert peak_hz(samples) == pytest.approx(700, abs=5)
    assert tone_level(samples, 700) == pytest.approx(10_000, rel=0.05)


def test_bad_microphone_settings_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(AudioDeviceError, match=r"missing\.wav"):
        SimulatedMicrophone(wav_path=tmp_path / "missing.wav")
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    with pytest.raises(AudioDeviceError, match=r"junk\.wav"):
        SimulatedMicrophone(wav_path=tmp_path / "junk.wav")
    with pytest.raises(ValueError, match="tone_hz"):
        SimulatedMicrophone(tone_hz=30_000)


async def test_wav_speaker_writes_exactly_what_is_played(tmp_path: Path) -> None:
    speaker = WavSpeaker(tmp_path / "sub" / "out.wav")
    speaker.start()
    chunks = [np.full(CHUNK_SAMPLES, i * 100 - 500, np.int16) for i in range(10)]
    began = time.monotonic()
    for chunk in chunks:
        await speaker.play(chunk)
    assert time.monotonic() - began >= 0.09  # the device's pace
    assert np.array_equal(read_wav(speaker.path), np.concatenate(chunks))  # valid while open
    speaker.stop()
    assert np.array_equal(read_wav(speaker.path), np.concatenate(chunks))
    with pytest.raises(ValueError, match="480 int16"):
        await speaker.play(np.zeros(100, np.int16))


# -- microphone track ------------------------------------------------------


async def test_a_stalled_wav_speaker_writes_the_silence_a_device_would_have_played(
    tmp_path: Path,
) -> None:
    speaker = WavSpeaker(tmp_path / "out.wav")
    reported: list[Samples] = []
    speaker.add_playback_listener(lambda chunk: reported.append(chunk.copy()))
    speaker.start()
    assert speaker.started_at is not None
    started = time.monotonic()
    for i in range(40):
        if i == 20:
            time.sleep(0.8)  # the whole process stalls, beyond the pacer's half second
            resumed_at = time.time()
        await speaker.play(np.full(CHUNK_SAMPLES, 1000 + i, np.int16))
        if i == 20:
            handed_by = time.time()
    elapsed = time.monotonic() - started
    speaker.stop()
    played = read_wav(speaker.path)
    # ... and says when each sample played: the chunk after the stall when it was handed
    # over (not 0.8 s earlier, as if the stall had not been).
    heard_at = speaker.started_at + np.flatnonzero(played == 1020)[0] / SAMPLE_RATE
    assert resumed_at - CHUNK_SAMPLES / SAMPLE_RATE <= heard_at <= handed_by
    # The file's timeline is the wall clock's: 40 chunks and the stall's silence between
    # (a player late by less than the pacer's half second catches up instead).
    assert elapsed - 0.55 < played.size / SAMPLE_RATE < elapsed + 0.05
    assert np.count_nonzero(played) == 40 * CHUNK_SAMPLES
    silence = played[20 * CHUNK_SAMPLES : -20 * CHUNK_SAMPLES]
    assert silence.size >= 0.25 * SAMPLE_RATE and not silence.any()
    # The listeners heard exactly what the file holds, the silence included.
    assert np.array_equal(np.concatenate(reported), played)


async def test_microphone_track_sends_nothing_from_the_room_unless_live() -> None:
    mic = SimulatedMicrophone(tone_hz=440.0)
    track = MicrophoneTrack(mic)  # not live by default
    frames = [await track.recv() for _ in range(5)]
    assert not mic.running and mic.chunks_read == 0
    for i, frame in enumerate(frames):
        assert (frame.sample_rate, frame.format.name, frame.layout.name) == (48_000, "s16", "mono")
        assert frame.samples == FRAME_SAMPLES and frame.pts == i * FRAME_SAMPLES
        assert not frame.to_ndarray().any()  # digital silence

    track.set_live(True)
    live = np.concatenate([(await track.recv()).to_ndarray().reshape(-1) for _ in range(25)])
    assert mic.running and mic.chunks_read == 50
    assert peak_hz(live) == pytest.approx(440, abs=5)

    track.set_live(False)
    read_so_far = mic.chunks_read
    muted = [await track.recv() for _ in range(5)]
    assert not mic.running and mic.chunks_read == read_so_far  # the device is not even read
    assert not any(f.to_ndarray().any() for f in muted)
    assert [f.pts for f in muted] == [(30 + i) * FRAME_SAMPLES for i in range(5)]  # no gap
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()


async def test_a_replacement_track_keeps_the_shared_microphone_open() -> None:
    mic = SimulatedMicrophone(tone_hz=440.0)
    old = MicrophoneTrack(mic, live=True)
    await old.recv()
    new = MicrophoneTrack(mic, live=True)
    old.stop()  # the old peer connection closes after the new one is up
    samples = np.concatenate([(await new.recv()).to_ndarray().reshape(-1) for _ in range(10)])
    assert mic.running and new.read_errors == 0
    assert peak_hz(samples) == pytest.approx(440, abs=10)
    new.stop()
    assert not mic.running


async def test_microphone_track_survives_a_failing_device() -> None:
    class BrokenMicrophone(Microphone):
        async def _read_chunk(self) -> Samples:
            raise OSError("device unplugged")

    track = MicrophoneTrack(BrokenMicrophone(), live=True)
    frames = [await track.recv() for _ in range(3)]
    assert track.read_errors == 3
    assert not any(f.to_ndarray().any() for f in frames)


async def test_a_read_that_fails_halfway_through_a_frame_loses_no_samples() -> None:
    class LateMicrophone(Microphone):
        """Numbers its chunks 1, 2, 3, ...; the reads marked late fail (no audio in time)
        and the chunk comes with the next read, as from a device that fell behind."""

        def __init__(self, late: set[int]) -> None:
            super().__init__()
            self.late, self.attempts, self.number = late, 0, 0

        async def _read_chunk(self) -> Samples:
            self.attempts += 1
            if self.attempts in self.late:
                raise AudioDeviceError("no audio in time")
            self.number += 1
            return np.full(CHUNK_SAMPLES, self.number, np.int16)

    mic = LateMicrophone(late={2, 5, 6})  # the second half of frames 1 and 3, twice
    track = MicrophoneTrack(mic, live=True)
    frames = [(await track.recv()).to_ndarray().reshape(-1) for _ in range(9)]
    chunks = [int(c[0]) for f in frames for c in f.reshape(-1, CHUNK_SAMPLES)]
    assert track.read_errors == 3
    # Each failure sent a frame of silence in time; every chunk read went out once, in order.
    assert [c for c in chunks if c] == list(range(1, mic.number + 1))
    assert chunks.count(0) == 2 * track.read_errors
    assert (await track.recv()).pts == 9 * FRAME_SAMPLES  # no gap in time
    track.stop()


# -- jitter buffer and mixer -------------------------------------------------


def test_jitter_buffer_never_lets_latency_grow_with_a_fast_sender() -> None:
    buffer = AudioJitterBuffer(min_target=960, max_target=5760, headroom=2880)
    frame = np.ones(960, np.int16)
    # The sender's clock runs 1 % fast for ten simulated minutes.
    pushes, played = 0, 0
    for tick in range(60_000):  # 10 ms ticks
        now = tick / 100
        while pushes * 0.02 / 1.01 <= now:
            buffer.push(frame, arrival=pushes * 0.02 / 1.01)
            pushes += 1
        played += buffer.take(now) is not None
        assert buffer.data.size <= buffer.target + buffer.headroom
    # Resampling absorbs 0.5 % at most; the other half must be dropped, not kept.
    assert buffer.stats.dropped_samples > 0.004 * pushes * 960
    assert buffer.stats.underruns == 0


@pytest.mark.parametrize("ppm", [-400.0, 400.0])
def test_clock_drift_is_absorbed_by_resampling_without_skips_or_growing_latency(
    ppm: float,
) -> None:
    """Ten simulated minutes of a sender whose clock is 400 ppm off the speaker's:
    a plain buffer would have to skip or rebuffer 240 ms of audio."""
    buffer = AudioJitterBuffer(min_target=960, max_target=5760, headroom=2880)
    period = 0.02 / (1 + ppm * 1e-6)  # the sender's 20 ms, on the receiver's clock
    hz, pushes, out, levels, adjust = 750.0, 0, [], [], []
    for tick in range(60_000):  # 10 ms ticks of the speaker
        while pushes * period + 0.005 <= tick / 100:  # frames land mid-tick
            n = pushes * 960 + np.arange(960)
            buffer.push(np.rint(8000 * np.sin(2 * np.pi * hz * n / SAMPLE_RATE))
                        .astype(np.int16), arrival=pushes * period)
            pushes += 1
        chunk = buffer.take(tick / 100)
        if tick >= 59_000 and chunk is not None:
            out.append(chunk)
        levels.append(buffer.data.size)
        adjust.append(buffer.stats.rate_adjust_ppm)
    assert buffer.stats.underruns == 0 and buffer.stats.dropped_samples == 0
    assert np.mean(adjust[-12_000:]) == pytest.approx(ppm, abs=50)  # it found the sender's rate
    assert max(levels[-30_000:]) <= buffer.set_point + 2 * 960  # latency did not grow
    samples = np.concatenate(out)
    # The tone comes out clean: full level, no clicks (no step beyond the sine's slope).
    assert median_tone_level(samples, hz) == pytest.approx(8000, rel=0.01)
    assert np.max(np.abs(np.diff(samples.astype(np.int32)))) < 8000 * 2 * np.pi * hz / 48000 + 20


def test_a_stall_is_remembered_so_the_next_one_is_bridged() -> None:
    buffer = AudioJitterBuffer(min_target=960, max_target=5760, headroom=2880)
    frame = np.ones(960, np.int16)
    arrivals = np.arange(1200) * 0.02 + 0.005  # 24 s of 20 ms frames
    for start, length in ((10.0, 0.07), (18.0, 0.06)):  # a 70 ms stall, a 60 ms one 8 s on
        held = (arrivals >= start) & (arrivals < start + length)
        arrivals[held] = start + length  # the backlog arrives at once
    pushed = 0
    for tick in range(2400):  # the speaker takes 10 ms per tick
        while pushed < arrivals.size and arrivals[pushed] <= tick / 100:
            buffer.push(frame, arrival=float(arrivals[pushed]))
            pushed += 1
        buffer.take(tick / 100)
        if tick == 1750:
            assert buffer.target >= 40 * 48  # still remembered 7.5 s on
    assert buffer.stats.underruns == 1  # the first stall only
    assert buffer.stats.dropped_samples == 0


def test_jitter_buffer_grows_its_target_with_jitter_and_rebuffers_after_a_gap() -> None:
    rng = np.random.default_rng(3)
    steady = AudioJitterBuffer(960, 5760, 2880)
    jittery = AudioJitterBuffer(960, 5760, 2880)
    for i in range(200):
        steady.push(np.ones(960, np.int16), arrival=i * 0.02)
        jittery.push(np.ones(960, np.int16), arrival=i * 0.02 + rng.uniform(0, 0.04))
    assert steady.target == 960
    assert jittery.target > 1500

    buffer = AudioJitterBuffer(960, 5760, 2880)
    buffer.push(np.ones(480, np.int16), arrival=0.0)
    assert buffer.take() is None  # still buffering: nothing half-empty is played
    buffer.push(np.ones(600, np.int16), arrival=0.02)
    assert buffer.take() is not None and buffer.take() is not None
    short = buffer.take()  # only ~120 were left (drift compensation may take ±1): then a
    assert short is not None and (short[:119] == 1).all()  # concealment, counted
    assert buffer.stats.underruns == 1 and buffer.stats.concealed_samples >= 358
    for _ in range(12):  # rebuffering: the concealment goes on, fading, then silence
        buffer.take()
    assert buffer.take() is None


async def test_mixer_mixes_sources_of_any_format_at_the_speakers_pace() -> None:
    mixer = RemoteAudioMixer(NullSpeaker())
    recording = Recording()
    mixer.add_playback_listener(recording)
    mixer.add_track(ToneTrack(500, rate=48_000, layout="stereo"), key="a")
    mixer.add_track(ToneTrack(1300, rate=16_000, layout="mono", frame_ms=10), key="b")
    mixer.start()
    await asyncio.sleep(1.2)
    mixer.volume = 0.5
    at_change = len(recording.chunks)
    await asyncio.sleep(0.6)
    await mixer.stop()

    # The level where the tones play: on a busy host a starved source is bridged with
    # fading concealment and silence (asserted below, and in the jitter buffer's tests),
    # which says nothing about mixing or volume.
    full = recording.samples()[20 * CHUNK_SAMPLES : at_change * CHUNK_SAMPLES]
    half = recording.samples(skip_chunks=at_change + 2)
    assert playing_tone_level(full, 500) == pytest.approx(8000, rel=0.1)
    assert playing_tone_level(full, 1300) == pytest.approx(8000, rel=0.1)
    assert playing_tone_level(half, 500) == pytest.approx(4000, rel=0.1)
    # The speaker's listeners hear every chunk, and silence for a stall of the loop.
    assert len(recording.chunks) >= mixer.chunks_played >= 150
    assert set(mixer.sources) == set()  # stop() removed them


async def test_mixer_drops_a_burst_and_removes_an_ended_source() -> None:
    mixer = RemoteAudioMixer(NullSpeaker(), max_buffer_ms=60, headroom_ms=40)

    class Burst(ToneTrack):
        async def recv(self) -> av.AudioFrame:
            if self.sent == 0:  # the first second arrives at once, then real time
                self.start = time.monotonic() - 1.0
            return await super().recv()

    burst = Burst(800)
    burst.limit = 100  # two seconds, then it ends
    mixer.add_track(burst, key="burst")
    mixer.start()
    await asyncio.sleep(0.3)
    stats = mixer.sources["burst"]
    assert stats.buffered_samples <= (60 + 40) * 48
    assert mixer.dropped_samples >= 0.8 * SAMPLE_RATE  # the backlog was not kept
    async with asyncio.timeout(5):
        while "burst" in mixer.sources:
            await asyncio.sleep(0.05)
    assert mixer.dropped_samples >= 0.8 * SAMPLE_RATE  # totals survive removal
    await mixer.stop()


# -- through real peers ------------------------------------------------------


@pytest.mark.netns
@pytest.mark.skipif(not IN_NETNS, reason="needs scripts/in-netns (aioice skips lo)")
async def test_microphone_reaches_the_far_speaker_and_mute_means_silence(tmp_path: Path) -> None:
    mic = SimulatedMicrophone(tone_hz=600.0, level=0.3)
    track = MicrophoneTrack(mic, live=True)
    sender_pc, receiver_pc = local_peer_connection(), local_peer_connection()
    sender_pc.addTransceiver(track, direction="sendonly")
    speaker = WavSpeaker(tmp_path / "far.wav")
    mixer = RemoteAudioMixer(speaker)
    recording = Recording()
    mixer.add_playback_listener(recording)
    receiver_pc.on("track", lambda remote: mixer.add_track(remote, key="room"))
    mixer.start()
    try:
        await connect(sender_pc, receiver_pc)
        # Half a second of the tone at full level has been played (however long a busy
        # machine takes to get there).
        async with asyncio.timeout(20):
            while sum(tone_level(c, 600) > LIVE_LEVEL for c in recording.chunks) < 50:
                await asyncio.sleep(0.1)
        live_chunks = len(recording.chunks)
        track.set_live(False)
        # What was in flight drains. A packet late on a busy machine is bridged with a
        # concealment or silence and then still played, so one silent chunk does not
        # mean the mute has arrived; 0.3 s of silence in a row does.
        async with asyncio.timeout(10):
            while any(c.any() for c in recording.chunks[-30:]):
                await asyncio.sleep(0.05)
        muted_from, reads = len(recording.chunks) - 30, mic.chunks_read
        await asyncio.sleep(1.0)
        assert mic.chunks_read == reads
    finally:
        await sender_pc.close()
        await receiver_pc.close()
        await mixer.stop()

    played = read_wav(speaker.path)
    assert np.array_equal(played, recording.samples())  # listeners see exactly the speaker's PCM
    live = np.concatenate([c for c in recording.chunks[:live_chunks]
                           if tone_level(c, 600) > LIVE_LEVEL])
    assert peak_hz(live) == pytest.approx(600, abs=5)
    # Once the mute reached the far end, digital silence through Opus, and it stays so.
    muted = recording.samples()[muted_from * CHUNK_SAMPLES :]
    assert muted.size >= 0.5 * SAMPLE_RATE
    assert np.abs(muted.astype(np.int32)).max() <= 2
