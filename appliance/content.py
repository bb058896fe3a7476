"""Whether the room's link carries a presentation: judged from what the room's own
receiver counts (RTP packets received and lost on the content's video), pure.

A shared screen is mostly still: a link that drops packets shows it as a picture that
stops at a broken frame until the next keyframe. The judge looks at the loss over a
window of packets and keeps its verdict until the other threshold is crossed
(hysteresis), so the screen does not flicker between "enough" and "not enough".
`watch_link` feeds it from the room's receiver; the verdicts go to room.py as events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

STARVED_LOSS = 0.05  # this share of the window's packets lost: not enough bandwidth
RECOVERED_LOSS = 0.01  # at most this share lost over a window: enough again
MIN_PACKETS = 50  # fewer in a window says nothing either way (a still slide)


@dataclass(frozen=True)
class LinkSample:
    """Cumulative counters of the content's video receiver."""

    received: int
    lost: int


@dataclass
class BandwidthJudge:
    enough: bool = True
    _last: LinkSample | None = None

    def observe(self, sample: LinkSample) -> bool | None:
        """The new verdict when it changes, else None. A counter that went backwards (a
        new receiver) starts a new window."""
        last, self._last = self._last, sample
        if last is None or sample.received < last.received or sample.lost < last.lost:
            return None
        received, lost = sample.received - last.received, sample.lost - last.lost
        if received + lost < MIN_PACKETS:
            self._last = last  # keep counting into this window
            return None
        loss = lost / (received + lost)
        verdict = self.enough
        if self.enough and loss >= STARVED_LOSS:
            verdict = False
        elif not self.enough and loss <= RECOVERED_LOSS:
            verdict = True
        if verdict == self.enough:
            return None
        self.enough = verdict
        return verdict

    def reset(self) -> None:
        self.enough, self._last = True, None


class StatsSource(Protocol):
    """What of aiortc's RTCRtpReceiver the judge reads (its RTP counters)."""

    async def getStats(self) -> Mapping[str, Any]: ...


async def receiver_sample(receiver: StatsSource) -> LinkSample | None:
    """The video receiver's cumulative RTP counters, as aiortc reports them."""
    for stats in (await receiver.getStats()).values():
        if getattr(stats, "type", "") == "inbound-rtp":
            return LinkSample(int(stats.packetsReceived), int(stats.packetsLost))
    return None


async def watch_link(receiver: Callable[[], StatsSource | None],
                     on_verdict: Callable[[bool], None], every_s: float = 2.0) -> None:
    """Judge the content's link every ``every_s`` while there is content to receive."""
    judge = BandwidthJudge()
    watched: StatsSource | None = None
    while True:
        await asyncio.sleep(every_s)
        current = receiver()
        if current is not watched:  # a new presentation (or none): a new judgement
            watched = current
            if not judge.enough:
                on_verdict(True)
            judge.reset()
        if current is None:
            continue
        sample = await receiver_sample(current)
        verdict = judge.observe(sample) if sample is not None else None
        if verdict is not None:
            on_verdict(verdict)
