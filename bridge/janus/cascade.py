"""A meeting larger than one Janus: its listeners beyond ``per_server`` on the room's
own server (its origin) are placed on the other servers (edges), and every feed a
listener on an edge receives is relayed there once (bridge/janus/relay.py).

Relays are made when a listener on an edge first asks for a feed, and dropped when
the feed's publisher publishes anew (its streams may differ: the next listener's
request relays the new ones), hangs up or leaves, when an edge's last listener of the
room leaves (one bridge process only, see below), and when an edge is lost (its
listeners are placed again). One lock per (room, feed) orders the making and dropping
of a feed's relays within a process.

Several bridge processes ([cluster]) share the Janus servers, so what a process knows
is not the whole truth; Janus is. A relay is named so that any process finds it (the
feed's id on the edge, ``relay-<edge>`` on the origin). Only the process holding the
feed's publisher makes its relays (two processes adding one remote publisher at once
could both succeed at Janus 1.1.2, see ``ensure``): it relays each feed that comes up
to every edge where any process announced a listener of the room, and to an edge as
soon as a listener there is announced (``relay_soon``); another process's listener
waits for that relay and adopts it. The maker adopts what it finds of a relay too and
repairs half of one (a stale copy on the edge, a forwarding without its copy), and it
drops a feed's relays on every edge, found with the origin's ``listremotes``. An
edge's last listener here drops nothing, as listeners of other processes may use it
(a relay then lives until its feed stops or a server is lost: it costs about one
listener on the edge). Placement counts this process's listeners plus those the others
announced (``elsewhere``); two processes placing at once may overshoot ``per_server``
by a few.

Rights need nothing here: the origin forwards nothing it mutes (moderation), so a
right taken away holds on every edge.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from bridge.janus.client import JanusError, JanusGone
from bridge.janus.relay import (
    AlreadyForwarded,
    NotRelayable,
    Relay,
    RelayTarget,
    TargetHasFeed,
    list_remotes,
    listed,
    remote_id_of,
    remove_remote,
    start_relay,
    stop_forwarding,
    stop_relay,
    until_unlisted,
)
from bridge.janus.videoroom import ERR_NO_SUCH_ROOM, PublishedStream, RoomControl

log = logging.getLogger("salon.cascade")

# The source streams of a published feed on its origin; None: not publishing now.
StreamsOf = Callable[[str, str], "list[PublishedStream] | None"]
# Listeners of a room that other bridge processes placed on a server: (room, server name).
Elsewhere = Callable[[str, str], int]
# Whether this process holds the feed's publisher (and so makes its relays): (room, feed).
Holds = Callable[[str, str], bool]

ADOPT_POLL_S = 0.2  # a listener of another process's feed asks again this often
REPAIRS = 3  # half relays taken down before a start gives up
# A listener of another process's feed waits this long for that process to relay it.
MADE_WITHIN_S = 30.0
RELAY_ERRORS = (JanusError, JanusGone, NotRelayable, TimeoutError, TargetHasFeed,
                AlreadyForwarded)


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
    def __init__(self, per_server: int, streams_of: StreamsOf, servers: Sequence[S] = (),
                 shared: bool = False, elsewhere: Elsewhere | None = None,
                 holds: Holds | None = None) -> None:
        self.per_server = per_server
        self.streams_of = streams_of
        self.servers = servers  # all of them: where another process's relays may be
        self.shared = shared  # several bridge processes use these servers
        self.elsewhere: Elsewhere = elsewhere or (lambda room, server: 0)
        self.holds: Holds = holds or (lambda room, feed: True)
        self.made_within = MADE_WITHIN_S
        self.placed: Counter[tuple[str, str]] = Counter()  # (room, server) -> listeners
        self.relays: dict[tuple[str, str, str], _Relayed[S]] = {}  # (room, feed, edge)
        self._locks: dict[tuple[str, str], _Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- placement ----------------------------------------------------------------

    def place(self, room: str, origin: S, servers: list[S]) -> S:
        """The server a new listener of ``room`` receives on: the origin while it has
        room, then the other servers that are up in a fixed order per room, each filled
        to ``per_server``; all full, the least filled. Counted: this process's
        listeners and those other processes announced."""
        edges = sorted((s for s in servers if s is not origin and s.up.is_set()),
                       key=lambda s: _order(room, s))
        candidates = [origin, *edges] if origin.up.is_set() else edges
        if not candidates:
            return origin
        chosen = next((s for s in candidates if self.listeners(room, s) < self.per_server),
                      None)
        if chosen is None:
            chosen = min(candidates, key=lambda s: self.listeners(room, s))
        self.placed[(room, chosen.endpoint.name)] += 1
        return chosen

    def listeners(self, room: str, server: S) -> int:
        name = server.endpoint.name
        return self.placed[(room, name)] + self.elsewhere(room, name)

    def left(self, room: str, server: S) -> None:
        """A listener placed on ``server`` is gone; the last one of an edge takes the
        room's relays there with it, unless other processes' listeners may use them."""
        key = (room, server.endpoint.name)
        self.placed[key] -= 1
        if self.placed[key] <= 0:
            del self.placed[key]
            if not self.shared and any(r == room and e == server.endpoint.name
                                       for r, _, e in self.relays):
                self._spawn(self.drop_edge(room, server))

    # ---- relays -------------------------------------------------------------------

    async def ensure(self, room: str, feed: str, origin: S, edge: S) -> bool:
        """Relay ``feed`` from the origin to ``edge`` unless it is already; whether the
        edge has it now. With several processes only the one holding the feed's
        publisher makes its relays (Janus 1.1.2 lets two `add_remote_publisher` of one
        id both succeed when they come close together: its check of the id looks at
        the participants the remote publisher's thread fills in later); the others
        wait for it (``relay_soon``, from the listeners they announce)."""
        async with self._lock(room, feed):
            key = (room, feed, edge.endpoint.name)
            if key in self.relays:
                return True
            streams = self.streams_of(room, feed)
            if not streams or origin.control is None or edge.control is None:
                return False
            target = RelayTarget(edge.control, edge.endpoint.relay_address,
                                 edge.endpoint.name)
            secret = origin.rooms[room]
            try:
                if self.shared and not self.holds(room, feed):
                    relay, adopted = await self._made(origin.control, target, room, secret,
                                                      feed), True
                else:
                    relay, adopted = await self._start(origin.control, target, room,
                                                       secret, feed, streams)
            except RELAY_ERRORS as exc:
                log.warning("could not relay %s of room %s to Janus %s: %s", feed, room,
                            edge.endpoint.name, exc, extra={"EVENT": "relay-failed"})
                return False
            self.relays[key] = _Relayed(relay, origin, edge)
            if adopted:
                log.info("relay of %s of room %s to Janus %s found live: adopted", feed,
                         room, edge.endpoint.name, extra={"EVENT": "relay-adopted"})
            else:
                log.info("relaying %s of room %s to Janus %s", feed, room,
                         edge.endpoint.name, extra={"EVENT": "relay-up"})
            return True

    async def _start(self, source: RoomControl, target: RelayTarget, room: str, secret: str,
                     feed: str, streams: list[PublishedStream]) -> tuple[Relay, bool]:
        """A relay of ``feed`` to the target, and whether it was there already: made,
        or what Janus has of it adopted (both halves) or repaired (half of one)."""
        remote_id = remote_id_of(target.name)
        for _ in range(REPAIRS):
            try:
                return await start_relay(source, target, room, secret, feed, streams), False
            except TargetHasFeed:
                if await self._forwarded(source, room, secret, feed, remote_id):
                    return Relay(room, feed, remote_id), True
                # A copy nothing forwards to (its origin or its maker was lost): stale.
                log.info("stale copy of %s of room %s on Janus %s: removed", feed, room,
                         target.name)
                if await remove_remote(target.control, room, secret, feed):
                    await until_unlisted(target.control, room, feed)
            except AlreadyForwarded:
                # A forwarding of this name whose copy on the target is gone (the target
                # restarted, or its copy was removed): it forwards to nothing.
                await stop_forwarding(source, Relay(room, feed, remote_id), secret)
        return await start_relay(source, target, room, secret, feed, streams), False

    async def _made(self, source: RoomControl, target: RelayTarget, room: str, secret: str,
                    feed: str) -> Relay:
        """Another process's feed: its relay to the target, once that process made it
        (the origin forwards it there and the target lists it)."""
        remote_id = remote_id_of(target.name)
        async with asyncio.timeout(self.made_within):
            while True:
                names = await list_remotes(source, room, secret, feed)
                if names is not None and remote_id in names and await listed(
                        target.control, room, feed):
                    return Relay(room, feed, remote_id)
                await asyncio.sleep(ADOPT_POLL_S)

    def relay_soon(self, room: str, feed: str, origin: S, edge: S) -> None:
        """A feed of this process to an edge where some process has listeners (before
        they ask: the others' listeners wait for it)."""
        if (room, feed, edge.endpoint.name) not in self.relays:
            self._spawn(self._relay_quietly(room, feed, origin, edge))

    async def _relay_quietly(self, room: str, feed: str, origin: S, edge: S) -> None:
        await self.ensure(room, feed, origin, edge)  # a failure is logged there

    def edges_in_use(self, room: str, origin: S) -> list[S]:
        """The servers other than the origin, up, where some process placed a listener
        of the room."""
        return [s for s in self.servers
                if s is not origin and s.up.is_set() and self.listeners(room, s) > 0]

    async def _forwarded(self, source: RoomControl, room: str, secret: str, feed: str,
                         remote_id: str) -> bool:
        """Whether the origin forwards ``feed`` as ``remote_id`` (only the feed's own
        process makes its relays, so nobody is half way through one now)."""
        names = await list_remotes(source, room, secret, feed)
        return names is not None and remote_id in names

    def relays_feed(self, room: str, feed: str) -> bool:
        return any(r == room and f == feed for r, f, _ in self.relays)

    def forget_feed(self, room: str, feed: str) -> None:
        """Another process's feed stopped: the relays of it this process knows are the
        publisher's process's to drop (at Janus); here they are only forgotten."""
        for key in [k for k in self.relays if k[:2] == (room, feed)]:
            del self.relays[key]

    async def drop_feed(self, room: str, feed: str, origin: S | None = None,
                        still: Callable[[], bool] = lambda: True) -> None:
        """The feed's publisher publishes anew, hung up or left: its relays go (the
        edges' listeners lose the feed, and ask for it again if it comes back). With
        several processes, every edge's, whoever made them (``origin``: the feed's).
        ``still``: whether the drop is still due once the feed's lock is held."""
        async with self._lock(room, feed):
            if not still():
                return
            for key in [k for k in self.relays if k[:2] == (room, feed)]:
                await self._stop(key)
            if self.shared and origin is not None:
                await self._drop_found(room, feed, origin)

    def drop_feed_soon(self, room: str, feed: str, origin: S | None = None,
                       still: Callable[[], bool] = lambda: True) -> None:
        """``drop_feed`` from a Janus event (its publisher hung up), if relayed. It runs
        later: ``still`` tells it whether the publisher is still down then (once it is
        up again, relays may be of its new streams, made after it said so)."""
        if self.relays_feed(room, feed) or (self.shared and origin is not None):
            self._spawn(self.drop_feed(room, feed, origin, still))

    async def _drop_found(self, room: str, feed: str, origin: S) -> None:
        """The feed's relays as Janus has them: the origin's forwardings named
        ``relay-<edge>``, and the copies on those edges; the publisher gone from the
        origin (its forwardings went with it), a copy on any edge."""
        secret = origin.rooms.get(room)
        if origin.control is None or secret is None:
            return
        try:
            names = await list_remotes(origin.control, room, secret, feed)
            for name in names or ():
                await stop_forwarding(origin.control, Relay(room, feed, name), secret)
            edges = [s for s in self.servers if s is not origin and (
                names is None or remote_id_of(s.endpoint.name) in names)]
            for edge in edges:
                if edge.control is not None and await _remove_copy(edge.control, room,
                                                                   secret, feed):
                    log.info("relay of %s of room %s to Janus %s stopped", feed, room,
                             edge.endpoint.name, extra={"EVENT": "relay-down"})
        except (JanusError, JanusGone, TimeoutError) as exc:
            log.warning("relays of %s of room %s not all stopped: %s", feed, room, exc)

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
        target = RelayTarget(edge.control, edge.endpoint.relay_address, edge.endpoint.name)
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


async def _remove_copy(edge: RoomControl, room: str, secret: str, feed: str) -> bool:
    """Remove the feed's copy from the edge; whether there was one (the room may not
    even be there: no process placed anyone of it on that edge)."""
    try:
        removed = await remove_remote(edge, room, secret, feed)
    except JanusError as exc:
        if exc.code != ERR_NO_SUCH_ROOM:
            raise
        return False
    if removed:
        await until_unlisted(edge, room, feed)
    return removed


def rendezvous(key: str, server: str) -> int:
    """Highest-random-weight hashing: a room's server (and the order of its edges)
    changes only if that server goes; the same in every bridge process."""
    return int.from_bytes(hashlib.sha256(f"{key}|{server}".encode()).digest()[:8], "big")


def _order(room: str, server: Server) -> int:
    return -rendezvous(room, server.endpoint.name)
