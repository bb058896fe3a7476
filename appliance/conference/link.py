"""How the room's link to the media server is doing, from aiortc's RTCP statistics.

Three figures, each None while there is nothing to measure it from:

- `rtt_ms`: round-trip time to the media server, from the receiver reports Janus
  sends about the streams the room publishes ("remote-inbound-rtp"
  `roundTripTime`, which aiortc smooths); the worst of the room's streams.
- `loss_sent`: the share of the room's own packets the media server did not get,
  as its latest receiver report says ("remote-inbound-rtp" `fractionLost`, loss
  since its previous report); the worst of the room's streams.
- `loss_received`: the share of the packets sent to the room that did not arrive
  since the previous poll ("inbound-rtp" `packetsLost` and `packetsReceived` of
  the subscriber's streams, summed).

Receiver reports older than STALE_AFTER_S are ignored: a figure is never kept
alive by a link that has stopped reporting.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from aiortc import RTCPeerConnection
from aiortc.stats import RTCInboundRtpStreamStats, RTCRemoteInboundRtpStreamStats

from appliance.health import HealthSink

log = logging.getLogger(__name__)

POLL_S = 2.0
STALE_AFTER_S = 10.0
FRACTION_LOST_SCALE = 256  # RTCP's fraction lost is an 8-bit fixed-point number

S = TypeVar("S")
PeerConnections = Callable[[], tuple[RTCPeerConnection | None, RTCPeerConnection | None]]


@dataclass(frozen=True)
class LinkQuality:
    rtt_ms: float | None = None
    loss_sent: float | None = None
    loss_received: float | None = None


class LinkMonitor:
    """Measures a publisher and a subscriber PeerConnection; keeps what the received-loss
    figure needs from one poll to the next."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], tuple[int, int]] = {}  # (received, lost)

    async def measure(self, publisher: RTCPeerConnection | None,
                      subscriber: RTCPeerConnection | None) -> LinkQuality:
        rtt_ms, loss_sent = sent_quality(await _stats(publisher, RTCRemoteInboundRtpStreamStats))
        loss_received = self._received_loss(await _stats(subscriber, RTCInboundRtpStreamStats))
        return LinkQuality(rtt_ms, loss_sent, loss_received)

    async def run(self, peer_connections: PeerConnections,
                  report: Callable[[LinkQuality], None], interval: float = POLL_S) -> None:
        """Measure every `interval` seconds until cancelled; a failed poll reports
        nothing measured rather than ending the loop."""
        while True:
            try:
                quality = await self.measure(*peer_connections())
            except Exception as exc:
                log.warning("link statistics failed: %r", exc)
                quality = LinkQuality()
            report(quality)
            await asyncio.sleep(interval)

    def _received_loss(self, inbound: list[RTCInboundRtpStreamStats]) -> float | None:
        counts = {(s.id, s.ssrc): (s.packetsReceived, max(0, s.packetsLost)) for s in inbound}
        received = lost = 0
        for key, (now_received, now_lost) in counts.items():
            before_received, before_lost = self._counts.get(key, (0, 0))
            received += max(0, now_received - before_received)
            lost += max(0, now_lost - before_lost)
        self._counts = counts  # streams that have gone are forgotten
        return lost / (received + lost) if received + lost else None


def report_to(health: HealthSink) -> Callable[[LinkQuality], None]:
    """Hand each measurement to /healthz ("meeting") and the link metrics."""

    def report(q: LinkQuality) -> None:
        health.set_link(rtt_ms=q.rtt_ms, packet_loss_sent=q.loss_sent,
                        packet_loss_received=q.loss_received)

    return report


def sent_quality(
    reports: list[RTCRemoteInboundRtpStreamStats],
) -> tuple[float | None, float | None]:
    """(rtt_ms, loss_sent) from the media server's receiver reports on our streams."""
    now = datetime.datetime.now(datetime.UTC)
    fresh = [r for r in reports if (now - r.timestamp).total_seconds() <= STALE_AFTER_S]
    rtts = [r.roundTripTime * 1000 for r in fresh if r.roundTripTime is not None]
    losses = [r.fractionLost / FRACTION_LOST_SCALE for r in fresh]
    return (max(rtts) if rtts else None), (max(losses) if losses else None)


async def _stats(pc: RTCPeerConnection | None, kind: type[S]) -> list[S]:
    if pc is None or pc.connectionState in ("closed", "failed"):
        return []
    report = await pc.getStats()
    return [s for s in report.values() if isinstance(s, kind)]
