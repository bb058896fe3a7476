"""One viewer's simulcast layers: what its client asks for on each video m-line (by the
size it draws it at), capped by the receive ceiling of its link (ceiling.py), and what
Janus was told to forward.

Janus's `slowlink` on the viewer's subscriber handle moves the ceiling. It is also set
off by loss on a publisher's own uplink (Janus forwards the gaps to every viewer), so a
report counts against the viewer's link only if that publisher's handle reported no
loss from UPSTREAM_MEMORY_S before it to UPSTREAM_GRACE_S after it: each is checked
once a second on its own timer, and a lossy uplink's reports come most seconds, not
all (its loss per second hovers around Janus's threshold).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bridge.janus.ceiling import ReceiveCeiling
from bridge.janus.client import JanusError, JanusGone
from bridge.janus.videoroom import SubscribedStream

log = logging.getLogger("salon.gateway")

UPSTREAM_GRACE_S = 1.5
UPSTREAM_MEMORY_S = 5.0

Streams = Callable[[], Mapping[str, SubscribedStream]]  # the subscription's m-lines now
SendLayers = Callable[[dict[str, str]], Awaitable[bool]]  # to Janus; False: not sent
UplinkLost = Callable[[str, float], bool]  # (feed, since): its publisher lost some since


class ViewerLayers:
    def __init__(self, name: str, streams: Streams, send: SendLayers,
                 uplink_lost: UplinkLost) -> None:
        self.name = name  # for the log
        self.streams = streams
        self.send = send
        self.uplink_lost = uplink_lost
        self.asked: dict[str, str] = {}
        self.forwarded: dict[str, str] = {}
        self.ceiling = ReceiveCeiling()
        self._probe: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self.closed = False

    def _videos(self) -> list[str]:
        return [mid for mid, s in self.streams().items() if s.kind == "video"]

    async def ask(self, layers: Mapping[str, str]) -> None:
        """The client's choice; mids that are not subscribed video are left out (a stale
        request across a renegotiation)."""
        videos = self._videos()
        self.asked.update({mid: layer for mid, layer in layers.items() if mid in videos})
        await self.forward()

    async def forward(self) -> None:
        """Tell Janus what changed: each video the layer asked for (new m-lines start
        at "high"), capped by the ceiling."""
        due = {mid: self.ceiling.cap(self.asked.get(mid, "high")) for mid in self._videos()}
        changed = {mid: layer for mid, layer in due.items()
                   if self.forwarded.get(mid, "high") != layer}
        if changed and await self.send(changed):
            self.forwarded.update(changed)

    def forget(self, mid: str) -> None:
        """The m-line was freed or carries another stream now: Janus starts it at high."""
        self.asked.pop(mid, None)
        self.forwarded.pop(mid, None)

    def clear(self) -> None:
        """A new subscription (the ceiling stays: the link is the same)."""
        self.asked, self.forwarded = {}, {}

    def close(self) -> None:
        self.closed = True
        if self._probe is not None:
            self._probe.cancel()

    def slowlink(self, msg: Mapping[str, Any]) -> None:
        """Janus's slowlink on the viewer's subscriber handle; decided a moment later."""
        stream = self.streams().get(str(msg.get("mid")))
        loop = asyncio.get_running_loop()
        loop.call_later(UPSTREAM_GRACE_S, self._loss, loop.time(),
                        stream.feed if stream else None, dict(msg))

    def _loss(self, at: float, feed: str | None, msg: dict[str, Any]) -> None:
        if self.closed:
            return
        if feed is not None and self.uplink_lost(feed, at - UPSTREAM_MEMORY_S):
            log.debug("%s: loss from %s is its uplink's, not this link's", self.name, feed)
            return
        if self.ceiling.lost(asyncio.get_running_loop().time()):
            log.info("%s: receive ceiling %s (%s packets of %s lost in a second)",
                     self.name, self.ceiling.layer, msg.get("lost"), msg.get("media"))
            self._forward_soon()
        self._arm_probe()

    def _arm_probe(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
        rise_at = self.ceiling.next_rise_at()
        self._probe = (None if rise_at is None or self.closed
                       else asyncio.get_running_loop().call_at(rise_at, self._try_rise))

    def _try_rise(self) -> None:
        if self.ceiling.tick(asyncio.get_running_loop().time()):
            log.info("%s: receive ceiling %s (the link was quiet)", self.name, self.ceiling.layer)
            self._forward_soon()
        self._arm_probe()

    def _forward_soon(self) -> None:
        async def forward() -> None:
            try:
                await self.forward()
            except (JanusError, JanusGone, TimeoutError) as exc:  # the next change retries
                log.info("%s: layers not forwarded: %s", self.name, exc)
        task = asyncio.get_running_loop().create_task(forward())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
