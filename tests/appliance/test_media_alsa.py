"""The ALSA microphone and speaker through real libasound, without a sound card.

ALSA's `file` plugin on its `null` device stands in for the hardware: the
capture PCM reads a raw file written here in the array's own format, the
playback PCM writes what it is given into a raw file. Everything between —
pyalsaaudio, format and channel conversion, resampling, the device threads,
the hand-over to asyncio, reopening — is the appliance's real code.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from appliance.devices.alsa import (
    SAMPLE_FORMATS,
    AlsaMicrophone,
    AlsaSpeaker,
    decode_samples,
    encode_samples,
    mix_down,
)
from appliance.devices.alsa_files import alsa_file_devices
from appliance.devices.audio import CHUNK_SAMPLES, AudioDeviceError
from appliance.media.audio import MicrophoneTrack


def tone(hz: float, seconds: float, rate: int, level: float) -> np.ndarray:
    return level * np.sin(2 * np.pi * hz * np.arange(int(seconds * rate)) / rate)


def spectrum_peak(samples: np.ndarray, rate: int) -> float:
    power = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.argmax(power) * rate / samples.size)


def tone_amplitude(samples: np.ndarray, hz: float, rate: int) -> float:
    n = np.arange(samples.size)
    return float(2 * abs(np.dot(samples, np.exp(-2j * np.pi * hz * n / rate))) / samples.size)


@pytest.mark.parametrize("sample_format", sorted(SAMPLE_FORMATS))
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_samples_round_trip_in_every_format(sample_format: str, channels: int) -> None:
    rng = np.random.default_rng(channels)
    frames = rng.uniform(-1, 1, (500, channels)).astype(np.float32)
    frames[0, 0], frames[1, 0] = -1.0, 0.0
    data = encode_samples(frames, sample_format)
    width, bits = SAMPLE_FORMATS[sample_format]
    assert len(data) == 500 * channels * width
    back = decode_samples(data, sample_format, channels)
    assert back.shape == (500, channels)
    assert np.max(np.abs(back - frames)) <= 1.0 / (1 << (bits - 1)) + 1e-6
    assert back[0, 0] == -1.0 and back[1, 0] == 0.0


def test_s24_in_32_bit_containers_ignores_the_padding_byte() -> None:
    # Some drivers leave the top byte zero instead of sign-extending.
    raw = np.array([0x00FFFFFF, 0x00800000, 0x007FFFFF], "<u4").tobytes()
    values = decode_samples(raw, "S24_LE", 1)[:, 0] * (1 << 23)
    assert values.tolist() == [-1, -(1 << 23), (1 << 23) - 1]


def test_channels_are_chosen_and_averaged() -> None:
    frames = np.array([[0.1, 0.3, 0.9], [0.2, 0.4, -0.9]], np.float32)
    assert mix_down(frames, [0, 1]) == pytest.approx([0.2, 0.3])
    assert mix_down(frames, [2]) == pytest.approx([0.9, -0.9])
    assert mix_down(frames, []) == pytest.approx([1.3 / 3, -0.3 / 3])


async def test_microphone_array_at_16_khz_becomes_48_khz_mono_of_the_chosen_channels(
    tmp_path: Path,
) -> None:
    rate = 16_000
    wanted = tone(500, 2, rate, 0.4)
    array = np.stack([wanted, 0.5 * wanted, tone(1500, 2, rate, 0.8),
                      np.random.default_rng(1).uniform(-0.8, 0.8, wanted.size),
                      np.zeros(wanted.size), np.full(wanted.size, 0.5)], axis=1)
    (tmp_path / "array.raw").write_bytes(encode_samples(array.astype(np.float32), "S24_LE"))
    alsa = alsa_file_devices(tmp_path, capture_file=tmp_path / "array.raw")
    with alsa.active():
        mic = AlsaMicrophone(alsa.capture_pcm, channels=6, sample_format="S24_LE", rate=rate,
                             channels_used=[0, 1], clock="software")
        mic.start()
        began = time.monotonic()
        chunks = [await mic.read() for _ in range(60)]
        elapsed = time.monotonic() - began
        mic.stop()
    assert mic.granted is not None and mic.granted[:3] == (6, "S24_LE", rate)
    assert elapsed >= 0.5  # paced like a device (10 ms each), not read at disk speed
    assert all(c.shape == (CHUNK_SAMPLES,) and c.dtype == np.int16 for c in chunks)
    samples = np.concatenate(chunks)[4800:].astype(np.float64) / 32768  # past the resampler
    assert spectrum_peak(samples, 48_000) == pytest.approx(500, abs=5)
    assert tone_amplitude(samples, 500, 48_000) == pytest.approx(0.3, rel=0.03)
    assert tone_amplitude(samples, 1500, 48_000) < 0.003  # channel 2 left out
    assert abs(samples.mean()) < 0.01  # channel 5's offset left out
    assert mic.fault is None


async def test_speaker_writes_what_is_played_and_bridges_a_late_mixer_with_silence(
    tmp_path: Path,
) -> None:
    alsa = alsa_file_devices(tmp_path)
    chunks = [np.full(CHUNK_SAMPLES, 100 * (i + 1), np.int16) for i in range(30)]
    reported: list[np.ndarray] = []
    with alsa.active():
        speaker = AlsaSpeaker(alsa.playback_pcm, clock="software")
        speaker.add_playback_listener(lambda chunk: reported.append(chunk.copy()))
        speaker.start()
        began = time.monotonic()
        for chunk in chunks[:20]:
            await speaker.play(chunk)
        await asyncio.sleep(0.15)  # the mixer stalls for longer than the device buffer
        for chunk in chunks[20:]:
            await speaker.play(chunk)
        elapsed = time.monotonic() - began
        await asyncio.sleep(0.1)
        speaker.stop()
        await asyncio.sleep(0)  # the thread's last reports reach the loop
    assert elapsed >= 0.3  # play() kept the device's pace
    written = np.frombuffer((tmp_path / "playback.raw").read_bytes(), "<i2")
    blocks = written[: written.size - written.size % CHUNK_SAMPLES].reshape(-1, CHUNK_SAMPLES)
    sounding = [i for i, b in enumerate(blocks) if b.any()]
    # Every chunk played once, in order, and the stall bridged by silence, after which
    # the stream went on (a busy machine may add silence elsewhere: never inside a chunk).
    assert [int(blocks[i][0]) for i in sounding] == [int(c[0]) for c in chunks]
    assert all(np.array_equal(blocks[i], c) for i, c in zip(sounding, chunks, strict=True))
    assert sounding[20] - sounding[19] > 1 and speaker.starved >= 1
    assert speaker.fault is None
    # The listeners (the echo canceller's reference) heard exactly what the device played,
    # the bridging silence included.
    assert np.array_equal(np.concatenate(reported), written[: len(reported) * CHUNK_SAMPLES])
    assert len(reported) >= len(blocks) - 1
    assert 0.05 <= speaker.output_latency <= 0.1


async def test_speaker_plays_mono_on_a_stereo_44_1_khz_device(tmp_path: Path) -> None:
    alsa = alsa_file_devices(tmp_path)
    played = np.rint(tone(1000, 0.5, 48_000, 0.5) * 32767).astype(np.int16)
    with alsa.active():
        speaker = AlsaSpeaker(alsa.playback_pcm, rate=44_100, channels=2, clock="software")
        speaker.start()
        for i in range(0, played.size, CHUNK_SAMPLES):
            await speaker.play(played[i : i + CHUNK_SAMPLES])
        speaker.stop()
    assert speaker.granted is not None and speaker.granted[:3] == (2, "S16_LE", 44_100)
    out = decode_samples((tmp_path / "playback.raw").read_bytes(), "S16_LE", 2)
    assert np.array_equal(out[:, 0], out[:, 1])
    first = int(np.flatnonzero(out[:, 0])[0])
    sounding = out[first + 500 : first + 20_000, 0].astype(np.float64)
    assert spectrum_peak(sounding, 44_100) == pytest.approx(1000, abs=5)
    # The level of 20 ms windows (20 whole cycles), the median: a period of silence the
    # speaker bridged a late player with on a busy machine does not decide.
    windows = sounding[: sounding.size // 882 * 882].reshape(-1, 882)
    level = float(np.median([tone_amplitude(w, 1000, 44_100) for w in windows]))
    assert level == pytest.approx(0.5, rel=0.03)


async def test_a_missing_microphone_is_reported_and_reopened_when_it_appears(
    tmp_path: Path,
) -> None:
    (tmp_path / "in.raw").write_bytes(encode_samples(
        tone(440, 3, 48_000, 0.25).astype(np.float32).reshape(-1, 1), "S16_LE"))
    alsa = alsa_file_devices(tmp_path / "alsa", capture_file=tmp_path / "in.raw")
    full_config = alsa.config_path.read_text()
    alsa.config_path.write_text("# no capture device yet\n")
    with alsa.active():
        mic = AlsaMicrophone(alsa.capture_pcm, clock="software")
        track = MicrophoneTrack(mic, live=True)
        silent = [await track.recv() for _ in range(3)]  # the call goes on, in silence
        assert not any(f.to_ndarray().any() for f in silent)
        assert track.read_errors >= 1
        assert mic.fault is not None and alsa.capture_pcm in mic.fault
        with pytest.raises(AudioDeviceError, match=alsa.capture_pcm):
            await mic.read()
        time.sleep(0.01)  # a new mtime: libasound re-reads its configuration
        alsa.config_path.write_text(full_config)
        async with asyncio.timeout(5):
            while not (await track.recv()).to_ndarray().any():
                pass
        assert mic.fault is None
        samples = np.concatenate([(await track.recv()).to_ndarray().reshape(-1)
                                  for _ in range(10)]).astype(np.float64)
        track.stop()
    assert spectrum_peak(samples, 48_000) == pytest.approx(440, abs=10)
    assert not mic.running
