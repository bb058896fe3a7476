"""How fast the room's camera may send: a target bitrate from the far end's reports.

What Janus tells a publisher (VideoRoom, checked against Janus 1.1.2): REMB with the
room's `bitrate` cap (2.5 Mbit/s here), ramped up at the start and repeated — a cap,
not an estimate of the path: Janus runs no bandwidth estimation for what it receives.
Transport-wide CC feedback is offered only to publishers that negotiate the
extension, which aiortc does not. What does describe the path are Janus's RTCP
receiver reports, about once a second: the fraction of our packets lost, and with
our sender reports the round-trip time (aiortc computes it from LSR/DLSR).

So `SendRateController` is the loss-based half of Google Congestion Control with a
delay guard, capped by REMB and the provisioning file's bounds:

- loss above 10 %: cut by half the loss (GCC: target × (1 − 0.5 × loss));
- round-trip time 100 ms above the lowest seen lately (a queue is building at the
  bottleneck, loss will follow): cut by 15 %;
- loss under 2 % and no queue: raise by 10 % a report (8 % in GCC; a little faster,
  so a room recovers within half a minute from the floor to 2.5 Mbit/s);
- otherwise hold.

No report for a while (an outage: nothing arrives at Janus, so it reports nothing)
holds the target; the first reports after it carry the loss and cut it, then it
climbs again. The camera turns the target into bitrate, then size and frame rate
(`appliance.devices.ladder.QualityLadder`).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass

LOSS_HIGH = 0.10
LOSS_LOW = 0.02
QUEUE_RTT_S = 0.100  # RTT above the recent minimum that means a queue
QUEUE_CUT = 0.85
INCREASE = 1.10
MIN_RTT_WINDOW_S = 30.0


@dataclass(frozen=True)
class SendReport:
    """What the controller last saw and decided (for /healthz and the bench)."""

    target_bps: int
    remb_bps: int | None
    fraction_lost: float | None
    rtt_ms: float | None
    base_rtt_ms: float | None
    decision: str
    cuts: int
    raises: int


class SendRateController:
    def __init__(self, minimum: int, maximum: int, start: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.minimum, self.maximum = minimum, maximum
        self.target = max(minimum, min(maximum, start if start is not None else maximum))
        self.remb: int | None = None
        self._clock = clock
        self._rtts: collections.deque[tuple[float, float]] = collections.deque()
        self.fraction_lost: float | None = None
        self.rtt: float | None = None
        self.decision = "start"
        self.cuts = 0
        self.raises = 0

    def on_remb(self, bps: int) -> int:
        """The far end's cap (Janus: the room's bitrate)."""
        self.remb = max(1, int(bps))
        self.target = self._clamp(self.target)
        return self.target

    def on_report(self, fraction_lost: float, rtt_s: float | None) -> int:
        """One receiver report about our stream: loss 0–1 since the last, RTT if known."""
        now = self._clock()
        self.fraction_lost = fraction_lost
        self.rtt = rtt_s
        queue = False
        if rtt_s is not None:
            self._rtts.append((now, rtt_s))
            while self._rtts and self._rtts[0][0] < now - MIN_RTT_WINDOW_S:
                self._rtts.popleft()
            queue = rtt_s - self.base_rtt > QUEUE_RTT_S
        if fraction_lost > LOSS_HIGH:
            self._cut(1 - 0.5 * fraction_lost, f"loss {fraction_lost:.0%}")
        elif queue:
            self._cut(QUEUE_CUT, "queue")
        elif fraction_lost < LOSS_LOW:
            before = self.target
            self.target = self._clamp(int(self.target * INCREASE) + 1)
            self.raises += self.target > before
            self.decision = "raise" if self.target > before else "at cap"
        else:
            self.decision = "hold"
        return self.target

    @property
    def base_rtt(self) -> float:
        return min((r for _, r in self._rtts), default=0.0)

    def _cut(self, factor: float, why: str) -> None:
        self.target = self._clamp(int(self.target * factor))
        self.cuts += 1
        self.decision = f"cut: {why}"

    def _clamp(self, bps: int) -> int:
        ceiling = self.maximum if self.remb is None else min(self.maximum, self.remb)
        return max(self.minimum, min(ceiling, bps))

    def report(self) -> SendReport:
        return SendReport(
            self.target, self.remb, self.fraction_lost,
            None if self.rtt is None else round(self.rtt * 1000, 1),
            round(self.base_rtt * 1000, 1) if self._rtts else None,
            self.decision, self.cuts, self.raises)
