"""The highest simulcast layer a subscriber's link carries now: its receive ceiling.

A viewer asks for a layer by the size it draws each video at (`video_layers`); what
Janus forwards is that layer, but never above the ceiling of the viewer's link. Janus
reports a link that loses what it sends with `slowlink` (at least `slowlink_threshold`
packets of one m-line lost in a second, counted from the viewer's receiver reports):
each such report lowers the ceiling one layer, at most once per `STEP_DOWN_EVERY_S`
(the lower layer needs a keyframe and a moment to take effect before the next report
means anything). After `probe_after_s` without a report the ceiling rises one layer
again; a rise that brings loss back within that time doubles the wait before the next
(up to `PROBE_AFTER_MAX_S`), so a link that cannot carry the higher layer is not
flooded with it every few seconds, and a link that recovered gets it back.

Pure: time is passed in. `bridge.gateway` applies the result to Janus.
"""

from __future__ import annotations

import math

from bridge.janus.videoroom import SUBSTREAMS

LAYERS = tuple(sorted(SUBSTREAMS, key=SUBSTREAMS.__getitem__))  # low, medium, high
STEP_DOWN_EVERY_S = 3.0
PROBE_AFTER_S = 10.0
PROBE_AFTER_MAX_S = 160.0


class ReceiveCeiling:
    def __init__(self, probe_after_s: float = PROBE_AFTER_S) -> None:
        self.base_probe_s = probe_after_s
        self.probe_after_s = probe_after_s
        self.level = len(LAYERS) - 1
        self.last_loss = -math.inf
        self.last_down = -math.inf
        self.last_up = -math.inf

    @property
    def layer(self) -> str:
        return LAYERS[self.level]

    def cap(self, asked: str) -> str:
        """The layer Janus should forward for one asked for."""
        return LAYERS[min(SUBSTREAMS[asked], self.level)]

    def lost(self, now: float) -> bool:
        """Janus reported loss on the link; whether the ceiling fell."""
        if self.last_up > self.last_loss:  # the first loss since a rise: did it hold?
            failed = now - self.last_up < self.probe_after_s
            self.probe_after_s = (min(self.probe_after_s * 2, PROBE_AFTER_MAX_S) if failed
                                  else self.base_probe_s)
        self.last_loss = now
        if self.level == 0 or now - self.last_down < STEP_DOWN_EVERY_S:
            return False
        self.level -= 1
        self.last_down = now
        return True

    def next_rise_at(self) -> float | None:
        """When ``tick`` would next raise the ceiling if no loss came; None at the top."""
        if self.level == len(LAYERS) - 1:
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
