"""All Janus servers of this bridge (bridge/janus/server.py): which one hosts a room,
where a large meeting's listener receives (bridge/janus/cascade.py), and what the
other bridge processes announced of their members."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bridge.gateway.session import OfferSink, ParticipantMedia, content_feed, media_errors
from bridge.janus.announced import Announced
from bridge.janus.cascade import Cascade, rendezvous
from bridge.janus.client import JanusError
from bridge.janus.server import JanusEndpoint, JanusServer, MediaUnavailable
from bridge.janus.videoroom import ERR_NO_SUCH_FEED, PublishedStream

log = logging.getLogger("salon.gateway")


class MediaGateway:
    """All Janus servers of this bridge; rooms are placed on the least loaded one, and
    with ``listeners_per_server`` a room's viewers beyond that many on its server are
    placed on the others, its feeds relayed to them (bridge/janus/cascade.py)."""

    def __init__(self, endpoints: list[JanusEndpoint], max_publishers: int = 200,
                 shared: bool = False, listeners_per_server: int = 0) -> None:
        # shared: several bridge processes place rooms; each must pick the same server.
        self.shared = shared
        self.servers = [JanusServer(e, max_publishers, shared) for e in endpoints]
        self.room_server: dict[str, JanusServer] = {}
        self.on_server_back: Callable[[JanusServer], Awaitable[None]] | None = None
        # A Janus went away: those receiving through it as an edge are placed again.
        self.on_server_lost: Callable[[JanusServer], None] | None = None
        # Several processes: what the others announced of the members they hold.
        self.announced = Announced()
        self.cascade = (Cascade[JanusServer](listeners_per_server, self._published_streams,
                                             self.servers, shared, self._elsewhere,
                                             self._holds)
                        if listeners_per_server > 0 and len(self.servers) > 1 else None)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, wait: float = 20.0) -> None:
        self._tasks = [asyncio.create_task(s.run(self._server_back, self._server_lost))
                       for s in self.servers]
        await asyncio.wait_for(
            asyncio.wait([asyncio.create_task(s.up.wait()) for s in self.servers],
                         return_when=asyncio.FIRST_COMPLETED),
            wait,
        )

    async def _server_back(self, server: JanusServer) -> None:
        if self.on_server_back is not None:
            await self.on_server_back(server)

    def _server_lost(self, server: JanusServer) -> None:
        if self.cascade is not None:
            self.cascade.server_lost(server)
        # Its rooms move to the servers that are up (their media opens there next);
        # with none up they stay, for the server's return.
        if any(s.up.is_set() for s in self.servers if s is not server):
            for room in [r for r, s in self.room_server.items() if s is server]:
                del self.room_server[room]
        if self.on_server_lost is not None:
            self.on_server_lost(server)

    def rooms_returning(self, server: JanusServer) -> list[str]:
        """A server is back: with several processes, the rooms that moved off it go
        back (forgotten here, so their media opens there again), for every process
        picks a room's server by the same hashing over those up, and one that never
        saw it leave would pick it. One process keeps them where they are."""
        if not self.shared:
            return []
        up = [s for s in self.servers if s.up.is_set()]
        back = [room for room, now in self.room_server.items() if now is not server
                and max(up, key=lambda s: rendezvous(room, s.endpoint.name)) is server]
        for room in back:
            del self.room_server[room]
        return back

    def _published_streams(self, room: str, feed: str) -> list[PublishedStream] | None:
        """A feed's source streams: of a publisher of this process, else as the
        process holding it announced them."""
        server = self.room_server.get(room)
        local = server.published_streams(room, feed) if server is not None else None
        return local if local is not None else self.announced.streams.get((room, feed))

    def _elsewhere(self, room: str, server: str) -> int:
        return self.announced.listeners(room, server)

    def _holds(self, room: str, feed: str) -> bool:
        server = self.room_server.get(room)
        return server is not None and (room, feed) in server.publishers

    def remote_member(self, room: str, member: str, fields: Mapping[str, Any]) -> None:
        """Another process announced a member it holds (LiveRoom.remote_update): where
        it receives, and its feeds' streams. A feed that stopped or changed is its
        process's to unrelay; here only the relays known of it are forgotten."""
        view = self.announced.set_view(room, member, fields.get("view"))
        edge = next((s for s in self.servers if s.endpoint.name == view), None)
        if edge is not None:
            self._relay_to(room, edge)
        for feed, key in ((member, "streams"), (content_feed(member), "content_streams")):
            if self.announced.set_streams(room, feed, fields.get(key)) and self.cascade:
                self.cascade.forget_feed(room, feed)

    def remote_member_gone(self, room: str, member: str) -> None:
        """A member another process held left, or is held here now."""
        self.remote_member(room, member, {})

    def _relay_to(self, room: str, edge: JanusServer) -> None:
        """Another process placed a listener on ``edge``: this process's live feeds of
        the room go there (it makes their relays; that listener waits for them)."""
        origin = self.room_server.get(room)
        if self.cascade is None or origin is None or edge is origin:
            return
        for r, feed in list(origin.publishers):
            if r == room and origin.published_streams(room, feed):
                self.cascade.relay_soon(room, feed, origin, edge)

    def server_for(self, room: str) -> JanusServer:
        server = self.room_server.get(room)
        if server is not None:
            return server
        candidates = [s for s in self.servers if s.up.is_set()]
        if not candidates:
            raise MediaUnavailable("no media server is reachable")
        if self.shared:  # the same choice in every process, without asking each other
            server = max(candidates, key=lambda s: rendezvous(room, s.endpoint.name))
        else:
            server = min(candidates, key=lambda s: len(s.rooms))
        self.room_server[room] = server
        return server

    @media_errors
    async def open_media(
        self, room: str, feed: str, display: str, send_offer: OfferSink
    ) -> ParticipantMedia:
        server = self.server_for(room)
        secret = await server.ensure_room(room)
        view = server
        if self.cascade is not None:
            view = self.cascade.place(room, server, self.servers)
            if view is not server:
                log.info("%s of room %s receives on Janus %s", feed, room, view.endpoint.name,
                         extra={"EVENT": "placed-on-edge"})
        media = ParticipantMedia(server, room, feed, send_offer, view, self.cascade)
        try:
            if view is not server:
                await view.ensure_room(room, secret)
            await media.open(display)
        except BaseException:
            await media.close()
            raise
        return media

    async def moderate(self, room: str, feed: str, mid: str, mute: bool,
                       gone_ok: bool = False) -> bool:
        """Mute or unmute one published stream at Janus. With ``gone_ok`` a stream that
        went meanwhile (its PeerConnection hung up) is False, not an error."""
        server = self.server_for(room)
        if server.control is None:
            raise MediaUnavailable("media server not connected")
        try:
            await server.control.moderate(room, server.rooms[room], feed, mid, mute)
        except JanusError as exc:
            if not gone_ok or exc.code != ERR_NO_SUCH_FEED:
                raise
            return False
        return True

    async def close(self) -> None:
        if self.cascade is not None:
            await self.cascade.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for server in self.servers:
            await server.close()
