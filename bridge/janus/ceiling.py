"""Ceilings that loss lowers and a quiet link raises, one step at a time.

- **The receive ceiling** (`ReceiveCeiling`): the highest simulcast layer a viewer's
  link carries now. A viewer asks for a layer by the size it draws each video at
  (`video_layers`); what Janus forwards is that layer, but never above this ceiling.
- **The send ceiling** (`SendCeiling`): what a publisher of a single video stream (no
  simulcast: the room appliance, a content share) is told it may send (Janus's REMB),
  for its viewers that have no smaller layer to be given.

Janus reports a link that loses what it sends with `slowlink` (at least
`slowlink_threshold` packets of one m-line lost in a second, counted from the viewer's
receiver reports): each such report lowers a ceiling one step, at most once per
`STEP_DOWN_EVERY_S` (the lower step needs a keyframe and a moment to take effect before
the next report means anything). After `probe_after_s` without a report it rises one
step again; a rise that brings loss back within that time doubles the wait before the
next (up to `PROBE_AFTER_MAX_S`; 40 s for a send ceiling, which everyone else's picture
waits on), so a link that cannot carry the higher step is not flooded with it every few
seconds, and a link that recovered gets it back.

Pure: time is passed in. `bridge/janus/layers.py` drives them on the event loop.
"""

from __future__ import annotations

import math

from bridge.janus.videoroom import SUBSTREAMS

LAYERS = tuple(sorted(SUBSTREAMS, key=SUBSTREAMS.__getitem__))  # low, medium, high
# What a single-stream publisher is told it may send, lowest first; None: the room's own
# bitrate. The floor is the room camera's default minimum ([camera] bitrate_min_kbps):
# a moving picture for everyone else, whatever one viewer's link.
SEND_CAPS_BPS: tuple[int | None, ...] = (300_000, 500_000, 800_000, 1_200_000, None)
STEP_DOWN_EVERY_S = 3.0
PROBE_AFTER_S = 10.0
PROBE_AFTER_MAX_S = 160.0
SEND_PROBE_AFTER_MAX_S = 40.0


class Ceiling:
    """A level on a ladder of ``steps`` (0 the lowest), at the top at first."""

    def __init__(self, steps: int, probe_after_s: float = PROBE_AFTER_S,
                 probe_after_max_s: float = PROBE_AFTER_MAX_S) -> None:
        self.top = steps - 1
        self.probe_after_max_s = probe_after_max_s
        self.base_probe_s = probe_after_s
        self.probe_after_s = probe_after_s
        self.level = self.top
        self.last_loss = -math.inf
        self.last_down = -math.inf
        self.last_up = -math.inf

    def lost(self, now: float) -> bool:
        """Janus reported loss on the link; whether the ceiling fell."""
        if self.last_up > self.last_loss:  # the first loss since a rise: did it hold?
            failed = now - self.last_up < self.probe_after_s
            self.probe_after_s = (min(self.probe_after_s * 2, self.probe_after_max_s) if failed
                                  else self.base_probe_s)
        self.last_loss = now
        if self.level == 0 or now - self.last_down < STEP_DOWN_EVERY_S:
            return False
        self.level -= 1
        self.last_down = now
        return True

    def next_rise_at(self) -> float | None:
        """When ``tick`` would next raise the ceiling if no loss came; None at the top."""
        if self.level == self.top:
            return None
        return max(self.last_loss, self.last_down, self.last_up) + self.probe_after_s

    def tick(self, now: float) -> bool:
        """Time passed; whether the ceiling rose (a quiet link gets the next layer)."""
        rise_at = self.next_rise_at()
        if rise_at is None or now < rise_at:
            return False
        self.level += 1
        self.last_up = now
        return True


class ReceiveCeiling(Ceiling):
    def __init__(self, probe_after_s: float = PROBE_AFTER_S) -> None:
        super().__init__(len(LAYERS), probe_after_s)

    @property
    def layer(self) -> str:
        return LAYERS[self.level]

    def cap(self, asked: str) -> str:
        """The layer Janus should forward for one asked for."""
        return LAYERS[min(SUBSTREAMS[asked], self.level)]


class SendCeiling(Ceiling):
    def __init__(self, probe_after_s: float = PROBE_AFTER_S) -> None:
        super().__init__(len(SEND_CAPS_BPS), probe_after_s, SEND_PROBE_AFTER_MAX_S)

    @property
    def bitrate(self) -> int | None:
        """The cap in bit/s; None: none but the room's."""
        return SEND_CAPS_BPS[self.level]
