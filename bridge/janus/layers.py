"""What Janus forwards each viewer, and what single-stream publishers may send, as the
viewers' links allow (the ceilings of ceiling.py, driven on the event loop).

- `ViewerLayers`: one viewer's simulcast layers — what its client asks for on each video
  m-line (by the size it draws it at), capped by the receive ceiling of its link.
- `SendCap`: a publisher without simulcast (the room appliance, a content share) cannot
  give a slow viewer a smaller layer; a viewer whose link still loses with every
  simulcast video at its lowest layer (or with none to lower) reports that publisher
  congested, and when at least half of the publisher's viewers did within
  CONGESTED_WITHIN_S (the one viewer of a two-party call), its send ceiling falls,
  which Janus passes on as REMB. A minority on bad links does not take the picture
  down for everyone: they keep the audio and a picture that stutters.

Janus's `slowlink` on the viewer's subscriber handle is the signal. It is also set off
by loss on a publisher's own uplink (Janus forwards the gaps to every viewer), so a
report counts against the viewer's link only if it lost more than twice what that
publisher's handle reported lost in a second (`UplinkLosses`) from UPSTREAM_MEMORY_S
before it to UPSTREAM_GRACE_S after it: each is checked once a second on its own timer,
and a lossy uplink's reports come most seconds, not all (its loss per second hovers
around Janus's threshold). Where both links lose, the viewer's counts when its own
share is the larger.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

from bridge.janus.ceiling import Ceiling, ReceiveCeiling, SendCeiling
from bridge.janus.client import JanusError, JanusGone
from bridge.janus.videoroom import SubscribedStream

log = logging.getLogger("salon.gateway")

UPSTREAM_GRACE_S = 1.5
UPSTREAM_MEMORY_S = 5.0
CONGESTED_WITHIN_S = 5.0

Streams = Callable[[], Mapping[str, SubscribedStream]]  # the subscription's m-lines now
SendLayers = Callable[[dict[str, str]], Awaitable[bool]]  # to Janus; False: not sent
UplinkLost = Callable[[str, float], int]  # (feed, since): most its publisher lost since
# (viewer, feeds): these single-stream feeds are too much for that viewer's link
Congested = Callable[["ViewerLayers", set[str]], None]
C = TypeVar("C", bound=Ceiling)


class UplinkLosses:
    """What Janus lost of each publisher's streams, by second, lately (one Janus server)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], collections.deque[tuple[float, int]]] = {}

    def note(self, room: str, feed: str, lost: int) -> None:
        now = asyncio.get_running_loop().time()
        seen = self._seen.setdefault((room, feed), collections.deque())
        seen.append((now, lost))
        while seen and now - seen[0][0] > UPSTREAM_MEMORY_S + UPSTREAM_GRACE_S:
            seen.popleft()
        if len(self._seen) > 1000:  # forget publishers that have had no loss lately
            self._seen = {k: v for k, v in self._seen.items() if now - v[-1][0] < 60}

    def most_since(self, room: str, feed: str, since: float) -> int:
        return max((lost for t, lost in self._seen.get((room, feed), ()) if t >= since),
                   default=0)


class CeilingClock(Generic[C]):
    """A ceiling on the event loop's clock: loss now, a rise when one is due; ``moved``
    is called with "loss" or "quiet" when the ceiling changed."""

    def __init__(self, ceiling: C, moved: Callable[[str], None]) -> None:
        self.ceiling = ceiling
        self.moved = moved
        self._probe: asyncio.TimerHandle | None = None
        self.closed = False

    def lost(self) -> bool:
        fell = self.ceiling.lost(asyncio.get_running_loop().time())
        if fell:
            self.moved("loss")
        self._arm()
        return fell

    def _arm(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
        rise_at = self.ceiling.next_rise_at()
        self._probe = (None if rise_at is None or self.closed
                       else asyncio.get_running_loop().call_at(rise_at, self._rise))

    def _rise(self) -> None:
        if self.ceiling.tick(asyncio.get_running_loop().time()):
            self.moved("quiet")
        self._arm()

    def close(self) -> None:
        self.closed = True
        if self._probe is not None:
            self._probe.cancel()


class _Sender:
    """Janus requests a ceiling's move makes, off the caller's stack; a failed one is
    logged and left to the next move."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[None]] = set()

    def soon(self, request: Callable[[], Awaitable[Any]]) -> None:
        async def run() -> None:
            try:
                await request()
            except (JanusError, JanusGone, TimeoutError) as exc:
                log.info("%s: not told to Janus: %s", self.name, exc)
        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class ViewerLayers:
    def __init__(self, name: str, streams: Streams, send: SendLayers,
                 uplink_lost: UplinkLost, congested: Congested) -> None:
        self.name = name  # for the log
        self.streams = streams
        self.send = send
        self.uplink_lost = uplink_lost
        self.congested = congested
        self.asked: dict[str, str] = {}
        self.forwarded: dict[str, str] = {}
        self.clock = CeilingClock(ReceiveCeiling(), self._moved)
        self._sender = _Sender(name)

    @property
    def ceiling(self) -> ReceiveCeiling:
        return self.clock.ceiling

    def _videos(self) -> dict[str, SubscribedStream]:
        return {mid: s for mid, s in self.streams().items() if s.kind == "video"}

    def watches(self, feed: str) -> bool:
        """Whether this viewer receives ``feed``'s video."""
        return any(s.feed == feed for s in self._videos().values())

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
        self.clock.close()

    def slowlink(self, msg: Mapping[str, Any]) -> None:
        """Janus's slowlink on the viewer's subscriber handle; decided a moment later."""
        stream = self.streams().get(str(msg.get("mid")))
        loop = asyncio.get_running_loop()
        loop.call_later(UPSTREAM_GRACE_S, self._loss, loop.time(),
                        stream.feed if stream else None, dict(msg))

    def _loss(self, at: float, feed: str | None, msg: dict[str, Any]) -> None:
        if self.clock.closed:
            return
        upstream = 0 if feed is None else self.uplink_lost(feed, at - UPSTREAM_MEMORY_S)
        if upstream and int(msg.get("lost") or 0) <= 2 * upstream:
            log.debug("%s: loss from %s is its uplink's, not this link's", self.name, feed)
            return
        log.debug("%s: %s packets of %s lost in a second", self.name, msg.get("lost"),
                  msg.get("media"))
        videos = self._videos().values()
        layered = any(s.simulcast for s in videos)
        if layered and (self.clock.lost() or self.ceiling.level > 0):
            return  # a smaller layer for this link, or one is on its way
        single = {s.feed for s in videos if not s.simulcast and s.feed is not None}
        if single:
            self.congested(self, single)

    def _moved(self, why: str) -> None:
        log.info("%s: receive ceiling %s (%s)", self.name, self.ceiling.layer,
                 "loss on its link" if why == "loss" else "its link was quiet")
        self._sender.soon(self.forward)


class SendCap:
    def __init__(self, name: str, owner: object,
                 set_bitrate: Callable[[int | None], Awaitable[None]]) -> None:
        self.name = name
        self.owner = owner  # the publisher's handle: whose cap this is
        self.set_bitrate = set_bitrate
        self.clock = CeilingClock(SendCeiling(), self._moved)
        self._sender = _Sender(name)
        self.reports: dict[object, float] = {}  # viewer -> when it last was congested

    def congested(self, viewer: object, viewers: Callable[[], int]) -> None:
        """``viewer``'s link cannot carry what this publisher sends; ``viewers`` counts
        those who receive it."""
        now = asyncio.get_running_loop().time()
        self.reports[viewer] = now
        self.reports = {v: t for v, t in self.reports.items()
                        if now - t < CONGESTED_WITHIN_S}
        if 2 * len(self.reports) >= viewers():
            self.clock.lost()

    def close(self) -> None:
        self.clock.close()

    def _moved(self, why: str) -> None:
        bitrate = self.clock.ceiling.bitrate
        log.info("%s: send ceiling %s (%s)", self.name,
                 "none" if bitrate is None else f"{bitrate // 1000} kbit/s",
                 "a viewer's link loses" if why == "loss" else "its viewers' links were quiet")
        self._sender.soon(lambda: self.set_bitrate(bitrate))
