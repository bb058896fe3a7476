"""A synthetic room for testing echo cancellation without a loudspeaker or microphone.

What the speaker plays reaches the microphone later, coloured and smeared by
the room (`EchoPath`: a band-limited loudspeaker, the direct path and a
decaying reverberant tail), and adds to whatever the people in the room say
(`speech_like`: voiced syllables with a moving pitch and vowel formants, so
noise suppression treats it as speech). The test and the benchmark run it
against the real capture and playback code; numpy only.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from appliance.devices.audio import SAMPLE_RATE

Signal = npt.NDArray[np.float64]

# (F1, F2, F3) of a few vowels, Hz.
VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480),
          (570, 840, 2410), (660, 1720, 2410))


def speech_like(seconds: float, *, seed: int, pitch_hz: float = 120.0) -> Signal:
    """Syllables of a voiced, speech-like signal with pauses; RMS 1 while talking."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * SAMPLE_RATE))
    pos = int(0.05 * SAMPLE_RATE)
    while True:
        length = int(rng.uniform(0.12, 0.3) * SAMPLE_RATE)
        if pos + length > out.size:
            break
        out[pos : pos + length] = _syllable(rng, length, pitch_hz)
        pos += length + int(rng.uniform(0.03, 0.12) * SAMPLE_RATE)
        if rng.random() < 0.15:  # a pause between phrases
            pos += int(rng.uniform(0.25, 0.5) * SAMPLE_RATE)
    talking = out[out != 0]
    return out / (np.sqrt(np.mean(talking**2)) if talking.size else 1.0)


def _syllable(rng: np.random.Generator, length: int, pitch_hz: float) -> Signal:
    t = np.arange(length) / SAMPLE_RATE
    wobble = 1 + 0.12 * np.sin(2 * np.pi * rng.uniform(0.5, 1.5) * t + rng.uniform(0, 6))
    f0 = pitch_hz * rng.uniform(0.85, 1.2) * wobble
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    formants = np.array(VOWELS[rng.integers(len(VOWELS))]) * rng.uniform(0.95, 1.05)
    voiced = np.zeros(length)
    for k in range(1, int(5000 / f0.min()) + 1):  # harmonics below 5 kHz, shaped by formants
        fk = k * f0
        envelope = sum(1 / (1 + ((fk - f) / (0.08 * f + 50)) ** 2) for f in formants)
        voiced += (fk < 5000) * envelope * np.sin(k * phase) / np.sqrt(k)
    return voiced * np.sin(np.pi * np.arange(length) / length) ** 0.7 * rng.uniform(0.5, 1.0)


def room_response(
    *, delay_ms: float = 6.0, tail_ms: float = 60.0, decay_ms: float = 12.0,
    gain: float = 0.1, seed: int = 3,
) -> Signal:
    """An impulse response: direct path after `delay_ms`, then a decaying diffuse tail."""
    rng = np.random.default_rng(seed)
    delay, tail = int(delay_ms * SAMPLE_RATE / 1000), int(tail_ms * SAMPLE_RATE / 1000)
    response = np.zeros(delay + tail)
    response[delay] = 1.0
    t = np.arange(tail) / SAMPLE_RATE
    response[delay:] += rng.normal(0, 0.25, tail) * np.exp(-t / (decay_ms / 1000))
    speaker = np.hanning(9)  # a small loudspeaker's treble roll-off
    return gain * np.convolve(response, speaker / speaker.sum())


class EchoPath:
    """Streaming convolution of the speaker signal with a room response."""

    def __init__(self, response: Signal) -> None:
        self.response = response
        self._tail = np.zeros(response.size - 1)

    def echo(self, played: Signal) -> Signal:
        """The echo the microphone picks up while `played` comes out of the speaker."""
        full = np.convolve(played, self.response)  # overlap-add across blocks
        full[: self._tail.size] += self._tail
        self._tail = full[played.size :]
        return full[: played.size]


def level_db(signal: npt.ArrayLike) -> float:
    """Mean power in dB (relative to 1), with a floor so silence is finite."""
    x = np.asarray(signal, np.float64)
    return float(10 * np.log10(np.mean(x**2) + 1e-10)) if x.size else -100.0
