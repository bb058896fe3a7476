"""The picture a camera sends at a given bitrate: its quality ladder.

aiortc cannot send simulcast, so the room's one stream adapts instead: the send
controller (`appliance.media.congestion`) gives the camera a target bitrate and the
ladder says which picture that rate carries well — the full format while it can,
then half the size, then half the frame rate. A camera back-end follows a rung it
can (`Camera._apply_rung`): the software encoder reopens at the new size
(`encoder.LibavH264Encoder.set_format`); a back-end that cannot keeps its format
and only its bitrate follows. Pure policy, no device: tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rung:
    """One picture format the camera can send: size and frame rate."""

    width: int
    height: int
    fps: float

    @property
    def pixel_rate(self) -> float:
        return self.width * self.height * self.fps


class QualityLadder:
    """Bitrate first, then size, then frame rate, as the target bitrate falls.

    A rung is used while the bitrate gives its pixels at least `BITS_PER_PIXEL`
    (below that x264 or a hardware encoder smears a 720p picture worse than a
    360p one looks scaled up); a higher rung is taken again only with
    `UP_MARGIN` to spare, so the size does not flap around a threshold. Rungs:
    full size at full rate, half size, half size at half rate, quarter size at
    half rate — none below `min_height` lines or `min_fps` (the provisioning
    file's bounds). At 1280×720@30 the size halves under about 830 kbit/s.
    """

    BITS_PER_PIXEL = 0.03
    UP_MARGIN = 1.25

    def __init__(self, width: int, height: int, fps: float, min_height: int = 180,
                 min_fps: float = 15.0) -> None:
        def even(v: float) -> int:
            return max(2, int(v) // 2 * 2)

        candidates = [Rung(width, height, fps), Rung(even(width / 2), even(height / 2), fps),
                      Rung(even(width / 2), even(height / 2), fps / 2),
                      Rung(even(width / 4), even(height / 4), fps / 2)]
        self.rungs = [candidates[0]] + [
            r for r in candidates[1:] if r.height >= min_height and r.fps >= min_fps]

    @property
    def top(self) -> Rung:
        return self.rungs[0]

    def need(self, rung: Rung) -> float:
        return rung.pixel_rate * self.BITS_PER_PIXEL

    def rung_for(self, bps: int, current: Rung) -> Rung:
        here = self.rungs.index(current) if current in self.rungs else 0
        for i, rung in enumerate(self.rungs):
            margin = self.UP_MARGIN if i < here else 1.0
            if bps >= self.need(rung) * margin or i == len(self.rungs) - 1:
                return rung
        return self.rungs[-1]
