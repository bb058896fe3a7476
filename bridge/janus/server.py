"""One Janus server as the bridge keeps it: a reconnecting connection, a room-control
handle, the rooms made there with their secrets, and what the receive and send ceilings
learn of its publishers and viewers (bridge/gateway/pool.py places rooms and people on these)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from bridge.janus.client import Dial, JanusConnection, JanusError, JanusGone, JanusSession
from bridge.janus.layers import SendCap, UplinkLosses, ViewerLayers
from bridge.janus.videoroom import PublishedStream, Publisher, RoomControl

log = logging.getLogger("salon.gateway")


@dataclass(frozen=True)
class JanusEndpoint:
    url: str
    api_secret: str | None
    room_admin_key: str | None
    name: str = "janus"
    dial: Dial | None = None  # None: aiohttp; a FakeJanus's in fast tests
    # Where the other Janus servers send it relayed RTP (cascade); None: its URL's host.
    relay_host: str | None = None

    @property
    def relay_address(self) -> str:
        return self.relay_host or urlsplit(self.url).hostname or "127.0.0.1"


def shared_secret(endpoint: JanusEndpoint, room: str) -> str:
    """A room's secret on a Janus several bridge processes share: derived from the
    server's keys, the same in every process (and for an admin who holds the keys)."""
    key = f"{endpoint.room_admin_key or ''}:{endpoint.api_secret or ''}"
    return hmac.new(key.encode(), f"salon-room:{room}".encode(), hashlib.sha256).hexdigest()


class MediaUnavailable(RuntimeError):
    """No Janus server is reachable right now."""

class JanusServer:
    """One Janus server: a reconnecting connection and a room-control handle."""

    def __init__(self, endpoint: JanusEndpoint, max_publishers: int = 200,
                 shared: bool = False) -> None:
        self.endpoint = endpoint
        self.max_publishers = max_publishers
        # Several bridge processes use this server's rooms: a room's secret is derived
        # from the server's keys, the same in every process, not drawn at random.
        self.shared = shared
        self.connection: JanusConnection | None = None
        self.control: RoomControl | None = None
        self.rooms: dict[str, str] = {}  # janus room id -> room secret
        self.up = asyncio.Event()
        self.generation = 0  # bumps on every reconnect: media sessions of older ones are dead
        # What Janus lost of each publisher's streams lately: its viewers' receiver
        # reports count that loss too, and it is not their links' (receive ceiling).
        self.uplinks = UplinkLosses()
        # (room, feed) -> the send ceiling of a publisher on this server, for its viewers
        self.send_caps: dict[tuple[str, str], SendCap] = {}
        self.viewers: dict[str, set[ViewerLayers]] = {}  # room -> its viewers' layers
        # (room, feed) -> the publisher handle on this server (a relay's source streams)
        self.publishers: dict[tuple[str, str], Publisher] = {}
        self._republishing: set[tuple[str, str]] = set()

    async def connect(self) -> None:
        conn = JanusConnection(self.endpoint.url, self.endpoint.api_secret, self.endpoint.dial)
        await conn.connect()
        try:
            session = await conn.create_session()
            self.control = await RoomControl.attach(session, self.endpoint.room_admin_key)
        except BaseException:
            await conn.close()
            raise
        self.connection = conn
        self.generation += 1
        for room, secret in self.rooms.items():
            await self.control.ensure_room(room, secret, room, self.max_publishers)
        self.up.set()

    async def run(self, on_back: Callable[[JanusServer], Awaitable[None]],
                  on_lost: Callable[[JanusServer], None] = lambda _: None) -> None:
        """Keep the connection up for the bridge's lifetime."""
        backoff = 0.1
        first = True
        while True:
            try:
                await self.connect()
            except (TimeoutError, OSError, JanusError, JanusGone, Exception) as exc:
                if isinstance(exc, asyncio.CancelledError):
                    raise
                log.warning("Janus %s not reachable: %s", self.endpoint.name, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            log.info("connected to Janus %s", self.endpoint.name, extra={"EVENT": "janus-up"})
            if not first:
                await on_back(self)
            first = False
            assert self.connection is not None
            await self.connection.closed.wait()
            self.up.clear()
            await self.connection.close()  # its socket and HTTP session, before a new one
            log.error("lost Janus %s", self.endpoint.name, extra={"EVENT": "janus-lost"})
            on_lost(self)

    def add_send_cap(self, room: str, feed: str, publisher: Publisher) -> None:
        old = self.send_caps.pop((room, feed), None)
        if old is not None:
            old.close()
        self.send_caps[(room, feed)] = SendCap(feed, publisher.handle, publisher.set_bitrate)

    def drop_send_cap(self, room: str, feed: str, publisher: Publisher | None) -> None:
        """Forget the feed's send ceiling if it is ``publisher``'s (a newer handle of
        the same participant may have one already)."""
        cap = self.send_caps.get((room, feed))
        if cap is not None and publisher is not None and cap.owner is publisher.handle:
            del self.send_caps[(room, feed)]
            cap.close()

    def viewer_congested(self, room: str, viewer: ViewerLayers, feeds: set[str]) -> None:
        """A viewer's link cannot carry these single-stream feeds (viewers and
        publishers of this process only)."""
        for feed in feeds:
            cap = self.send_caps.get((room, feed))
            if cap is not None:
                cap.congested(viewer, functools.partial(self._watching, room, feed))

    def _watching(self, room: str, feed: str) -> int:
        return sum(v.watches(feed) for v in self.viewers.get(room, ()))

    async def ensure_room(self, room: str, secret: str | None = None) -> str:
        """The room on this server, made if needed; ``secret``: the origin's, for an
        edge of the room (a relay's two ends share it)."""
        if secret is not None:
            self.rooms[room] = secret
        secret = self.rooms.setdefault(room, self._new_secret(room))
        if self.control is None:
            raise MediaUnavailable("media server not connected")
        await self.control.ensure_room(room, secret, room, self.max_publishers)
        return secret

    def _new_secret(self, room: str) -> str:
        return shared_secret(self.endpoint, room) if self.shared else secrets.token_urlsafe(16)

    async def kick(self, room: str, feed: str) -> None:
        """Remove a publisher with this id from the room, if there is one."""
        if self.control is None:
            raise MediaUnavailable("media server not connected")
        await self.control.kick(room, self.rooms[room], feed)

    def add_publisher(self, room: str, feed: str, publisher: Publisher) -> None:
        self.publishers[(room, feed)] = publisher
        self.add_send_cap(room, feed, publisher)

    def drop_publisher(self, room: str, feed: str, publisher: Publisher | None) -> None:
        if publisher is not None and self.publishers.get((room, feed)) is publisher:
            del self.publishers[(room, feed)]
        self.drop_send_cap(room, feed, publisher)

    def published_streams(self, room: str, feed: str) -> list[PublishedStream] | None:
        publisher = self.publishers.get((room, feed))
        if (publisher is None or not publisher.webrtc_up.is_set()
                or (room, feed) in self._republishing):
            return None
        return publisher.streams

    @contextlib.asynccontextmanager
    async def republishing(self, room: str, feed: str) -> AsyncIterator[None]:
        """The feed publishes anew: its relays are dropped and its old PeerConnection
        hung up meanwhile, so its streams are not to be relayed (a viewer asking in
        between would relay the old ones, or a relay just dropped come back)."""
        self._republishing.add((room, feed))
        try:
            yield
        finally:
            self._republishing.discard((room, feed))

    async def new_session(self) -> JanusSession:
        if not self.up.is_set() or self.connection is None:
            raise MediaUnavailable("media server not connected")
        return await self.connection.create_session()

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
