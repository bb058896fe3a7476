"""A meeting larger than one Janus: its listeners beyond ``per_server`` on the room's
own server (its origin) are placed on the other servers (edges), and every feed a
listener on an edge receives is relayed there once (bridge/janus/relay.py).

Relays are made when a listener on an edge first asks for a feed, and dropped when
the feed's publisher publishes anew (its streams may differ: the next listener's
request relays the new ones), hangs up or leaves, when an edge's last listener of the
room leaves, and when an edge is lost (its listeners are placed again). One lock per
(room, feed) orders the making and dropping of a feed's relays.

Rights need nothing here: the origin forwards nothing it mutes (moderation), so a
right taken away holds on every edge. One bridge process owns the relays it makes; with
several processes ([cluster]) listeners stay on the origin (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from bridge.janus.client import JanusError, JanusGone
from bridge.janus.relay import (
    NotRelayable,
    Relay,
    RelayTarget,
    remove_remote,
    start_relay,
    stop_forwarding,
    stop_relay,
)
from bridge.janus.videoroom import ERR_ID_EXISTS, PublishedStream, RoomControl

log = logging.getLogger("salon.cascade")

# The source streams of a published feed on its origin; None: not publishing now.
StreamsOf = Callable[[str, str], "list[PublishedStream] | None"]


class Endpoint(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def relay_address(self) -> str:
        """Where the other servers send it relayed RTP."""
        ...


class Server(Protocol):
    """A Janus server as the gateway keeps it (bridge/janus/server.py JanusServer)."""

    @property
    def endpoint(self) -> Endpoint: ...

    up: asyncio.Event
    control: RoomControl | None
    rooms: dict[str, str]  # room -> its secret


S = TypeVar("S", bound=Server)


@dataclass
class _Lock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holding or waiting


@dataclass
class _Relayed(Generic[S]):
    relay: Relay
    origin: S
    edge: S


class Cascade(Generic[S]):
    def __init__(self, per_server: int, streams_of: StreamsOf) -> None:
        self.per_server = per_server
        self.streams_of = streams_of
        self.placed: Counter[tuple[str, str]] = Counter()  # (room, server) -> listeners
        self.relays: dict[tuple[str, str, str], _Relayed[S]] = {}  # (room, feed, edge)
        self._locks: dict[tuple[str, str], _Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- placement ----------------------------------------------------------------

    def place(self, room: str, origin: S, servers: list[S]) -> S:
        """The server a new listener of ``room`` receives on: the origin while it has
        room, then the other servers that are up in a fixed order per room, each filled
        to ``per_server``; all full, the least filled."""
        edges = sorted((s for s in servers if s is not origin and s.up.is_set()),
                       key=lambda s: _order(room, s))
        candidates = [origin, *edges] if origin.up.is_set() else edges
        if not candidates:
            return origin
        chosen = next((s for s in candidates
                       if self.placed[(room, s.endpoint.name)] < self.per_server),
                      None)
        if chosen is None:
            chosen = min(candidates, key=lambda s: self.placed[(room, s.endpoint.name)])
        self.placed[(room, chosen.endpoint.name)] += 1
        return chosen

    def left(self, room: str, server: S) -> None:
        """A listener placed on ``server`` is gone; the last one of an edge takes the
        room's relays there with it."""
        key = (room, server.endpoint.name)
        self.placed[key] -= 1
        if self.placed[key] <= 0:
            del self.placed[key]
            if any(r == room and e == server.endpoint.name for r, _, e in self.relays):
                self._spawn(self.drop_edge(room, server))

    # ---- relays -------------------------------------------------------------------

    async def ensure(self, room: str, feed: str, origin: S, edge: S) -> bool:
        """Relay ``feed`` from the origin to ``edge`` unless it is already; whether the
        edge has it now."""
        async with self._lock(room, feed):
            if (room, feed, edge.endpoint.name) in self.relays:
                return True
            streams = self.streams_of(room, feed)
            if not streams or origin.control is None or edge.control is None:
                return False
            target = RelayTarget(edge.control, edge.endpoint.relay_address)
            secret = origin.rooms[room]
            try:
                try:
                    relay = await start_relay(origin.control, target, room, secret, feed,
                                              streams)
                except JanusError as exc:
                    if exc.code != ERR_ID_EXISTS:
                        raise
                    # A relay this process no longer knows (its origin was lost): gone.
                    await remove_remote(edge.control, room, secret, feed)
                    relay = await start_relay(origin.control, target, room, secret, feed,
                                              streams)
            except (JanusError, JanusGone, NotRelayable, TimeoutError) as exc:
                log.warning("could not relay %s of room %s to Janus %s: %s", feed, room,
                            edge.endpoint.name, exc, extra={"EVENT": "relay-failed"})
                return False
            self.relays[(room, feed, edge.endpoint.name)] = _Relayed(relay, origin, edge)
            log.info("relaying %s of room %s to Janus %s", feed, room, edge.endpoint.name,
                     extra={"EVENT": "relay-up"})
            return True

    def relays_feed(self, room: str, feed: str) -> bool:
        return any(r == room and f == feed for r, f, _ in self.relays)

    async def drop_feed(self, room: str, feed: str) -> None:
        """The feed's publisher publishes anew, hung up or left: its relays go (the
        edges' listeners lose the feed, and ask for it again if it comes back)."""
        async with self._lock(room, feed):
            for key in [k for k in self.relays if k[:2] == (room, feed)]:
                await self._stop(key)

    def drop_feed_soon(self, room: str, feed: str) -> None:
        """``drop_feed`` from a Janus event (its publisher hung up), if relayed."""
        if self.relays_feed(room, feed):
            self._spawn(self.drop_feed(room, feed))

    async def drop_edge(self, room: str, edge: S) -> None:
        for key in [k for k in self.relays if (k[0], k[2]) == (room, edge.endpoint.name)]:
            async with self._lock(room, key[1]):
                if key in self.relays and self.placed[(room, edge.endpoint.name)] == 0:
                    await self._stop(key)

    def server_lost(self, server: S) -> None:
        """A Janus went away: its relays are forgotten, and the half of each that lives
        on a server still up is taken down there; its placements are void."""
        name = server.endpoint.name
        for key in [k for k, r in self.relays.items() if name in (k[2], r.origin.endpoint.name)]:
            self._spawn(self._forget(self.relays.pop(key), lost=server))
        for placed in [k for k in self.placed if k[1] == name]:
            del self.placed[placed]

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _stop(self, key: tuple[str, str, str]) -> None:
        relayed = self.relays.pop(key)
        origin, edge = relayed.origin, relayed.edge
        if origin.control is None or edge.control is None:
            return  # a server going away: server_lost takes the relay down
        target = RelayTarget(edge.control, edge.endpoint.relay_address)
        try:
            await stop_relay(origin.control, target, relayed.relay, origin.rooms[key[0]])
        except (JanusError, JanusGone, TimeoutError) as exc:
            log.warning("relay of %s to Janus %s not stopped cleanly: %s", key[1], key[2],
                        exc)
        log.info("relay of %s of room %s to Janus %s stopped", key[1], key[0], key[2],
                 extra={"EVENT": "relay-down"})

    async def _forget(self, relayed: _Relayed[S], lost: S) -> None:
        relay, origin, edge = relayed.relay, relayed.origin, relayed.edge
        secret = origin.rooms.get(relay.room, "")
        with contextlib.suppress(JanusError, JanusGone, TimeoutError):
            if origin is not lost and origin.control is not None:
                await stop_forwarding(origin.control, relay, secret)
            if edge is not lost and edge.control is not None:
                await remove_remote(edge.control, relay.room, secret, relay.feed)

    @contextlib.asynccontextmanager
    async def _lock(self, room: str, feed: str) -> AsyncIterator[None]:
        """The feed's lock, kept only while someone holds or waits for it."""
        entry = self._locks.setdefault((room, feed), _Lock())
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._locks[(room, feed)]

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def rendezvous(key: str, server: str) -> int:
    """Highest-random-weight hashing: a room's server (and the order of its edges)
    changes only if that server goes; the same in every bridge process."""
    return int.from_bytes(hashlib.sha256(f"{key}|{server}".encode()).digest()[:8], "big")


def _order(room: str, server: Server) -> int:
    return -rendezvous(room, server.endpoint.name)
