"""Filling in for lost audio: waveform substitution with a fade, and a cross-fade back.

When packets are lost (or late) there is nothing to play for their time.
Silence there is a click at each edge; what a listener barely notices is
the last pitch period repeated and faded out, then a short cross-fade back
into the real sound when it returns. That is what `Concealer` makes, from
the audio it has been shown (`heard`), for as long as it is asked (`fill`),
until the real sound is back (`resume`).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from appliance.devices.audio import Samples

PITCH_MIN = 120  # 2.5 ms (400 Hz) ...
PITCH_MAX = 720  # ... to 15 ms (67 Hz): where voices and most sounds repeat
MATCH = 240  # the last 5 ms is matched against earlier stretches
HISTORY = PITCH_MAX + MATCH
FADE_OUT = 4 * 960  # a concealment fades to silence over 80 ms
CROSS_FADE = 120  # 2.5 ms back into the real sound


def repetition_period(history: Samples) -> int:
    """The lag (samples) at which the end of `history` best repeats what came before."""
    longest = min(PITCH_MAX, history.size - MATCH)
    if longest < PITCH_MIN:
        return max(1, history.size)
    x = history.astype(np.float64)
    tail = x[-MATCH:]
    # Window i starts at x.size - MATCH - lag: lags PITCH_MIN..longest, newest first.
    windows = sliding_window_view(x[x.size - MATCH - longest : x.size - PITCH_MIN], MATCH)
    dots = windows @ tail
    norms = np.sqrt(np.einsum("ij,ij->i", windows, windows) * float(tail @ tail)) + 1e-9
    lags = np.arange(longest, PITCH_MIN - 1, -1)
    return int(lags[int(np.argmax(dots / norms))])


class Concealer:
    """Repeats the last period of what it heard, fading out, while asked to fill."""

    def __init__(self) -> None:
        self.history: Samples = np.zeros(0, np.int16)
        self.run = 0  # samples filled since real sound last came
        self._period: Samples = np.zeros(0, np.int16)

    @property
    def concealing(self) -> bool:
        return self.run > 0

    def fill(self, count: int) -> Samples:
        """The next `count` samples standing in for lost ones."""
        if self.run == 0:
            lag = repetition_period(self.history) if self.history.size else 1
            self._period = self.history[-lag:] if self.history.size else np.zeros(1, np.int16)
        k = self.run + np.arange(count)
        self.run += count
        gain = np.clip(1.0 - k / FADE_OUT, 0.0, 1.0)
        repeated = self._period[k % self._period.size].astype(np.float64)
        return np.rint(repeated * gain).astype(np.int16)

    def resume(self, samples: Samples) -> Samples:
        """Real sound again: `samples` cross-faded out of the concealment (if one was
        playing), which ends."""
        if self.run and samples.size:
            n = min(CROSS_FADE, samples.size)
            stand_in = self.fill(n).astype(np.float64)
            w = np.linspace(0.0, 1.0, n, endpoint=False)
            head = samples[:n] * w + stand_in * (1 - w)
            samples = np.concatenate([np.rint(head).astype(np.int16), samples[n:]])
        self.run = 0
        return samples

    def heard(self, samples: Samples) -> None:
        """Remember real sound: the next concealment repeats its last period."""
        self.history = np.concatenate([self.history, samples])[-HISTORY:]
