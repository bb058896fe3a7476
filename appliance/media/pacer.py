"""Audio first on the wire: the camera's packets are paced, the voice's never wait.

aiortc sends each access unit's RTP packets the moment the frame is packetized: a
720p keyframe is 40–80 packets in one burst. On a slow link (1 Mbit/s) the burst
sits in the bottleneck's queue for half a second, and every voice packet sent after
it waits behind it. `SendPacer` takes over the one shared DTLS transport's
`_send_rtp` (aiortc 1.16 has no pacer and no API for one; this wraps that one
method on the one instance, as `observe_sender_feedback` wraps a sender's RTCP
handler): packets of the paced SSRCs (the camera's, and its retransmissions) go
into a queue drained at `rate_bps`; every other packet — the microphone's — is sent
at once, ahead of any queued video. The rate follows the camera's target
(`PACING_FACTOR` above it, so frames are spread out but not delayed for long).

The pacer does not drop to keep its queue short: it drains faster instead. When the
queue holds more than `MAX_QUEUE_S` at the pacing rate (a keyframe at a low target:
a 360p keyframe is ~40 KB, 0.7 s at 450 kbit/s), it is sent at the rate that would empty
it in `MAX_QUEUE_S` (libwebrtc's pacer does the same with its queue-time limit). The
earlier design dropped there: at the send floor every keyframe overflowed, the
dropped packets (already numbered) read at Janus as 60–94 % loss, the controller
held the room at its floor and asked for keyframes that overflowed in turn. A path
that cannot carry the burst shows real loss or delay, which the controller acts on.

Only a queue past `STALE_QUEUE_S` even at that faster rate — the camera sending far
above its target, or a transport that stopped taking packets — is stale video: it is
dropped and `on_overflow` asks the camera for a keyframe. Those drops are counted
(`dropped`), so the controller can tell them from the path's loss (`path_loss`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

PACING_FACTOR = 1.5  # pace at this much above the camera's target bitrate
MAX_QUEUE_S = 0.5  # drain faster than the target beyond this
STALE_QUEUE_S = 2.0  # at the target rate: drop beyond this (a keyframe fits easily)
MIN_RATE_BPS = 100_000
BURST_BYTES = 3_000  # sent back to back before the pacer waits (two or three packets)

SendRtp = Callable[[bytes], Awaitable[None]]


def rtp_ssrc(packet: bytes) -> int | None:
    """The SSRC of a plaintext RTP packet (before SRTP protects it)."""
    if len(packet) < 12:
        return None
    return int(struct.unpack_from("!I", packet, 8)[0])


class SendPacer:
    """Paces some SSRCs of one transport; the others pass straight through."""

    def __init__(self, send: SendRtp, rate_bps: int,
                 on_overflow: Callable[[], None] = lambda: None) -> None:
        self._send = send
        self.rate_bps = max(MIN_RATE_BPS, rate_bps)
        self.on_overflow = on_overflow
        self.paced_ssrcs: set[int] = set()
        self._queue: collections.deque[bytes] = collections.deque()
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.sent_paced = 0
        self.sent_direct = 0
        self.dropped = 0
        self.overflows = 0

    def set_target(self, bitrate_bps: int) -> None:
        self.rate_bps = max(MIN_RATE_BPS, int(bitrate_bps * PACING_FACTOR))

    @property
    def queued_ms(self) -> float:
        return 1000 * 8 * self._queued_bytes / self.rate_bps

    @property
    def drain_bps(self) -> float:
        """The rate the queue goes out at: the pacing rate, or faster to empty it in time."""
        return max(float(self.rate_bps), self._queued_bytes * 8 / MAX_QUEUE_S)

    async def send_rtp(self, packet: bytes) -> None:
        if rtp_ssrc(packet) not in self.paced_ssrcs:
            self.sent_direct += 1
            await self._send(packet)  # the voice: never behind the video
            return
        if self._queued_bytes * 8 > self.rate_bps * STALE_QUEUE_S:
            self.dropped += len(self._queue)
            self.overflows += 1
            self._queue.clear()
            self._queued_bytes = 0
            self.on_overflow()
        self._queue.append(packet)
        self._queued_bytes += len(packet)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())
        self._wake.set()

    async def _drain(self) -> None:
        credit = float(BURST_BYTES)
        last = time.monotonic()
        while True:
            if not self._queue:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), 5.0)
                except TimeoutError:
                    return  # idle: the next packet starts a new drain
                last = time.monotonic()
                credit = float(BURST_BYTES)
                continue
            now = time.monotonic()
            rate = self.drain_bps
            credit = min(float(BURST_BYTES), credit + (now - last) * rate / 8)
            last = now
            packet = self._queue[0]
            if credit < len(packet):
                await asyncio.sleep((len(packet) - credit) * 8 / rate)
                continue
            self._queue.popleft()
            self._queued_bytes -= len(packet)
            credit -= len(packet)
            self.sent_paced += 1
            with contextlib.suppress(ConnectionError):
                await self._send(packet)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._queue.clear()
        self._queued_bytes = 0


def path_loss(fraction_lost: float, sent: int, dropped: int) -> float:
    """The loss a receiver report gives, less what the pacer dropped itself.

    The far end counts a packet missing from its sequence numbers as lost, and the
    pacer's drops are numbered already: `dropped` of the `sent + dropped` packets of
    the report's interval never went on the wire. An estimate (the report's interval
    and the counters' do not line up exactly), floored at no loss.
    """
    if dropped <= 0:
        return fraction_lost
    return max(0.0, (fraction_lost * (sent + dropped) - dropped) / max(1, sent))


def pace_transport(transport: Any, rate_bps: int,
                   on_overflow: Callable[[], None] = lambda: None) -> SendPacer:
    """The transport's pacer, installed on first use (one per DTLS transport)."""
    pacer = getattr(transport, "_salon_pacer", None)
    if isinstance(pacer, SendPacer):
        return pacer
    pacer = SendPacer(transport._send_rtp, rate_bps, on_overflow)
    transport._send_rtp = pacer.send_rtp
    transport._salon_pacer = pacer
    return pacer
