"""The bridge's side of Janus: which Janus server hosts a room, and each participant's
Janus session with its publisher and its one multistream subscriber.

Rooms are spread over the configured Janus servers (the local supervised one by
default). If a server's connection drops (Janus died or restarted), the rooms on it
are recreated once it answers again and ``on_server_back`` lets the live rooms tell
their clients to publish again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from bridge.janus.client import Dial, JanusConnection, JanusError, JanusGone, JanusSession
from bridge.janus.layers import SendCap, UplinkLosses, ViewerLayers
from bridge.janus.videoroom import (
    ERR_ALREADY_PUBLISHED,
    ERR_NO_SUCH_FEED,
    ERR_NO_SUCH_ROOM,
    ERR_UNAUTHORIZED,
    Publisher,
    RoomControl,
    SubscribedStream,
    Subscriber,
    parse_streams,
)
from salon import protocol as p

log = logging.getLogger("salon.gateway")

# A participant's content (a shared screen) is a publisher of its own in Janus's room,
# beside its camera's, under this feed id: "<participant>-content".
CONTENT_SUFFIX = "-content"


def content_feed(participant: str) -> str:
    return participant + CONTENT_SUFFIX


def feed_owner(feed: str) -> tuple[str, str]:
    """The participant a Janus feed belongs to, and its source: camera or content."""
    if feed.endswith(CONTENT_SUFFIX):
        return feed.removesuffix(CONTENT_SUFFIX), "content"
    return feed, "camera"


@dataclass(frozen=True)
class JanusEndpoint:
    url: str
    api_secret: str | None
    room_admin_key: str | None
    name: str = "janus"
    dial: Dial | None = None  # None: aiohttp; a FakeJanus's in fast tests


class MediaUnavailable(RuntimeError):
    """No Janus server is reachable right now."""


class MediaRefused(Exception):
    """The media server refused a request (``reason`` in its words)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


P = ParamSpec("P")
R = TypeVar("R")


def media_errors(call: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Janus's own errors as the gateway's: nothing above it knows Janus's types."""

    @functools.wraps(call)
    async def translated(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await call(*args, **kwargs)
        except JanusGone as exc:
            raise MediaUnavailable(str(exc) or "the media server went away") from exc
        except JanusError as exc:
            raise MediaRefused(exc.reason) from exc

    return translated


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

    async def run(self, on_back: Callable[[JanusServer], Awaitable[None]]) -> None:
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

    async def ensure_room(self, room: str) -> str:
        secret = self.rooms.setdefault(room, self._new_secret(room))
        if self.control is None:
            raise MediaUnavailable("media server not connected")
        await self.control.ensure_room(room, secret, room, self.max_publishers)
        return secret

    def _new_secret(self, room: str) -> str:
        if not self.shared:
            return secrets.token_urlsafe(16)
        key = f"{self.endpoint.room_admin_key or ''}:{self.endpoint.api_secret or ''}"
        return hmac.new(key.encode(), f"salon-room:{room}".encode(), hashlib.sha256).hexdigest()

    async def kick(self, room: str, feed: str) -> None:
        """Remove a publisher with this id from the room, if there is one."""
        if self.control is None:
            raise MediaUnavailable("media server not connected")
        await self.control.kick(room, self.rooms[room], feed)

    async def new_session(self) -> JanusSession:
        if not self.up.is_set() or self.connection is None:
            raise MediaUnavailable("media server not connected")
        return await self.connection.create_session()

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()


# A subscription offer to the client, with whose stream each m-line carries.
OfferSink = Callable[[str, list[p.StreamInfo]], Coroutine[Any, Any, None]]


class ParticipantMedia:
    """A participant's Janus session: one publisher handle (joined at its first publish
    and kept), one subscriber.

    Publishing again (a client's rebuilt PeerConnection, a stream added) happens on the
    same handle: the old PeerConnection is unpublished and freed before the new offer
    goes in. A fresh handle is only made when that fails, and a stale publisher with
    this participant's id (an older handle or connection) is kicked before any join, so
    Janus never answers "User ID already exists".

    ``reconcile(feeds)`` brings the subscription to exactly ``feeds`` with at most one
    renegotiation in flight; Janus's offers go to the client through ``send_offer``.
    """

    def __init__(self, server: JanusServer, room: str, feed: str, send_offer: OfferSink) -> None:
        self.server = server
        self.generation = server.generation
        self.room = room
        self.feed = feed
        self.send_offer = send_offer
        self.session: JanusSession | None = None
        self.publisher: Publisher | None = None
        self.subscriber: Subscriber | None = None
        self.by_mid: dict[str, SubscribedStream] = {}
        self.awaiting_answer = False
        # publisher mid -> muted at the SFU, as last set; emptied by every publish (a new
        # PeerConnection's streams start unmuted, whatever the old ones were)
        self.janus_muted: dict[str, bool] = {}
        self.wanted: set[str] = set()
        # Simulcast layers: asked by the client, capped by its link's receive ceiling.
        self.layers = ViewerLayers(feed, lambda: self.by_mid, self._send_layers,
                                   functools.partial(server.uplinks.most_since, room),
                                   functools.partial(server.viewer_congested, room))
        server.viewers.setdefault(room, set()).add(self.layers)
        # What Janus reports about this participant's publisher (LiveRoom listens).
        self.on_talking: Callable[[bool], None] | None = None
        self.on_pc: Callable[[bool], None] | None = None
        self.on_media: Callable[[str, str, bool], None] | None = None
        # The content publisher (a shared screen): its own handle and feed, made at the
        # first publish_content; mids muted at the SFU as last set, like janus_muted.
        self.content: Publisher | None = None
        self.content_muted: dict[str, bool] = {}
        self.on_content_pc: Callable[[bool], None] | None = None
        self._lock = asyncio.Lock()
        self._publish_lock = asyncio.Lock()
        self._content_lock = asyncio.Lock()

    @property
    def alive(self) -> bool:
        return self.server.up.is_set() and self.generation == self.server.generation

    async def open(self, display: str) -> None:
        # Only a session: a participant joins Janus's room as a publisher when it
        # publishes, so listeners (and a large class) take no publisher slot.
        self.session = await self.server.new_session()

    async def _join_publisher(self, display: str) -> Publisher:
        assert self.session is not None
        if self.publisher is not None:
            old, self.publisher = self.publisher, None
            await old.handle.detach()
        # Janus frees a detached handle's publisher later, on its own thread: kick the
        # id first (a synchronous request) so the join below cannot find it taken.
        await self.server.kick(self.room, self.feed)
        publisher = await Publisher.join(self.session, self.room, self.feed, display)
        publisher.handle.on_event = self._on_publisher_event
        publisher.on_pc = self._pc_changed
        publisher.on_media = self._media_changed
        publisher.on_uplink_loss = functools.partial(
            self.server.uplinks.note, self.room, self.feed)
        self.server.add_send_cap(self.room, self.feed, publisher)
        self.publisher = publisher
        return publisher

    def _pc_changed(self, up: bool) -> None:
        if self.on_pc is not None:
            self.on_pc(up)

    def _media_changed(self, kind: str, mid: str, receiving: bool) -> None:
        if self.on_media is not None:
            self.on_media(kind, mid, receiving)

    def _on_publisher_event(self, data: dict[str, Any], jsep: dict[str, Any] | None) -> None:
        # Janus tells every publisher about everyone's talking; take only our own.
        kind = data.get("videoroom")
        ours = str(data.get("id")) == self.feed
        if kind in ("talking", "stopped-talking") and ours and self.on_talking is not None:
            self.on_talking(kind == "talking")

    async def publish_content(self, offer_sdp: str, display: str) -> str:
        """Answer a content offer on the content publisher; a new offer replaces the
        previous content PeerConnection (a fresh handle, as for a kicked camera)."""
        assert self.session is not None
        async with self._content_lock:
            if self.content is not None and not await self.content.unpublish():
                await self.content.handle.detach()
                self.content = None
            if self.content is None:
                feed = content_feed(self.feed)
                await self.server.kick(self.room, feed)
                self.content = await Publisher.join(self.session, self.room, feed, display)
                self.content.on_pc = self._content_pc_changed
                self.content.on_uplink_loss = functools.partial(
                    self.server.uplinks.note, self.room, feed)
                self.server.add_send_cap(self.room, feed, self.content)
            self.content_muted = {}
            return await self.content.publish(offer_sdp, display)

    def _content_pc_changed(self, up: bool) -> None:
        if self.on_content_pc is not None:
            self.on_content_pc(up)

    def content_mids(self) -> list[str]:
        return [s.mid for s in (self.content.streams if self.content else [])]

    @media_errors
    async def publish(self, offer_sdp: str, display: str,
                      sending: frozenset[str] = frozenset()) -> str:
        """Answer a publisher offer; a second offer replaces the first PeerConnection
        on the same handle. ``sending``: the kinds the client says it sends at once."""
        assert self.session is not None
        async with self._publish_lock:
            publisher = self.publisher
            if publisher is None:
                publisher = await self._join_publisher(display)
            elif not await publisher.unpublish():
                log.warning("publisher of %s not freed in time: a new handle", self.feed)
                publisher = await self._join_publisher(display)
            self.janus_muted = {}
            try:
                return await publisher.publish(offer_sdp, display, sending)
            except JanusError as exc:
                if exc.code not in (ERR_ALREADY_PUBLISHED, ERR_UNAUTHORIZED, ERR_NO_SUCH_ROOM):
                    raise
                # Kicked meanwhile (Janus 1.1.2 then answers "no such room", as
                # tests/support/janus_scenario.py records), or Janus still holds a
                # PeerConnection: start clean.
                log.warning("publish of %s refused (%s): a new handle", self.feed, exc.reason)
                publisher = await self._join_publisher(display)
                return await publisher.publish(offer_sdp, display, sending)

    @property
    def streams(self) -> list[SubscribedStream]:
        return sorted(self.by_mid.values(), key=lambda s: int(s.mid) if s.mid.isdigit() else 0)

    def stream_infos(self) -> list[p.StreamInfo]:
        """The subscription's m-lines as the client is told of them."""
        return [p.StreamInfo.model_validate({
                    "mid": s.mid, "kind": s.kind, "participant": feed_owner(s.feed)[0],
                    "source": feed_owner(s.feed)[1]})
                for s in self.streams if s.feed is not None]

    @property
    def subscribed(self) -> set[str]:
        return {s.feed for s in self.by_mid.values() if s.feed is not None}

    def _merge_streams(self, streams: list[SubscribedStream]) -> None:
        # Janus may report only the m-lines that changed: merge by mid, never replace.
        # An m-line Janus frees or reuses for another feed starts again at "high".
        for s in streams:
            old = self.by_mid.get(s.mid)
            if old is not None and (not s.carries_media
                                    or (old.feed, old.feed_mid) != (s.feed, s.feed_mid)):
                self.layers.forget(s.mid)
            if s.carries_media:
                self.by_mid[s.mid] = s
            else:
                self.by_mid.pop(s.mid, None)

    def want(self, feeds: set[str]) -> bool:
        """Make ``feeds`` the wanted subscription; whether that changed it (a reconcile
        is then due). An unchanged want needs none: one already ran or waits for an
        answer, after which it reconciles to ``wanted`` by itself."""
        if feeds == self.wanted:
            return False
        self.wanted = set(feeds)
        return True

    async def reconcile(self, feeds: set[str]) -> None:
        """Subscribe to every feed in ``feeds`` not yet received.

        Feeds that go away are not unsubscribed here: Janus removes a departed
        publisher's streams from every subscription itself and renegotiates (see
        ``_on_subscriber_event``); asking for the same removal would race with it.
        """
        self.wanted = set(feeds)
        async with self._lock:
            if self.awaiting_answer or not self.alive:
                return
            add = sorted(self.wanted - self.subscribed)
            if not add:
                return
            try:
                offer = await self._renegotiate(add, [])
            except JanusError as exc:
                if exc.code != ERR_NO_SUCH_FEED:
                    self.wanted = set(self.subscribed)  # so the next want() tries again
                    raise
                log.info("feed vanished during subscription of %s: %s", self.feed, exc.reason)
                offer = None
            if offer is not None:
                self.awaiting_answer = True
                await self.send_offer(offer, self.stream_infos())

    async def _renegotiate(self, add: list[str], remove: list[str]) -> str | None:
        assert self.session is not None
        if self.subscriber is None:
            if not add:
                return None
            self.subscriber, offer, streams = await Subscriber.join(
                self.session, self.room, None, add
            )
            self.subscriber.handle.on_event = self._on_subscriber_event
            self.subscriber.handle.on_core = self._on_subscriber_core
            self.layers.clear()
            self.by_mid = {}
            self._merge_streams(streams)
            return offer
        offer_or_none, streams = await self.subscriber.change(add, remove)
        self._merge_streams(streams)
        return offer_or_none

    def _on_subscriber_event(self, data: dict[str, Any], jsep: dict[str, Any] | None) -> None:
        # Janus renegotiates on its own when a publisher we receive goes away.
        if data.get("videoroom") != "updated" or jsep is None:
            return
        self._merge_streams(parse_streams(data))
        self.awaiting_answer = True
        asyncio.get_running_loop().create_task(
            self.send_offer(str(jsep["sdp"]), self.stream_infos()))

    async def set_layers(self, layers: Mapping[str, str]) -> None:
        """The client asks for a simulcast layer per subscribed video m-line ("low",
        "medium", "high"); Janus forwards it, capped by the receive ceiling. Mids not
        subscribed (a stale request across a renegotiation) are left out; a stream that
        is not simulcast ignores it."""
        await self.layers.ask(layers)

    async def _send_layers(self, layers: dict[str, str]) -> bool:
        if self.subscriber is None or not self.alive:
            return False
        await self.subscriber.set_layers(layers)
        return True

    def _on_subscriber_core(self, msg: dict[str, Any]) -> None:
        # A subscriber handle only sends: its slowlink is loss on the way to the client
        # (or from a publisher: ViewerLayers tells which).
        if msg.get("janus") == "slowlink":
            self.layers.slowlink(msg)

    @media_errors
    async def answer(self, answer_sdp: str) -> None:
        if self.subscriber is None or not self.awaiting_answer:
            raise ValueError("no subscription offer is waiting for an answer")
        await self.subscriber.start(answer_sdp)
        self.awaiting_answer = False
        await self.layers.forward()  # new video m-lines start at "high": cap them
        await self.reconcile(self.wanted)

    @media_errors
    async def restart_subscriber(self) -> None:
        """Drop the subscriber (the client's receiving PeerConnection failed) and offer anew."""
        async with self._lock:
            if self.subscriber is not None:
                await self.subscriber.handle.detach()
            self.subscriber, self.by_mid = None, {}
            self.layers.clear()
            self.awaiting_answer = False
        await self.reconcile(self.wanted)

    async def close(self) -> None:
        self.layers.close()
        viewers = self.server.viewers.get(self.room)
        if viewers is not None:
            viewers.discard(self.layers)
            if not viewers:
                del self.server.viewers[self.room]
        self.server.drop_send_cap(self.room, self.feed, self.publisher)
        self.server.drop_send_cap(self.room, content_feed(self.feed), self.content)
        if self.session is not None and self.alive:
            with contextlib.suppress(JanusError, JanusGone, asyncio.TimeoutError):
                await self.session.destroy()
        self.session = None


class MediaGateway:
    """All Janus servers of this bridge; rooms are placed on the least loaded one."""

    def __init__(self, endpoints: list[JanusEndpoint], max_publishers: int = 200,
                 shared: bool = False) -> None:
        # shared: several bridge processes place rooms; each must pick the same server.
        self.shared = shared
        self.servers = [JanusServer(e, max_publishers, shared) for e in endpoints]
        self.room_server: dict[str, JanusServer] = {}
        self.on_server_back: Callable[[JanusServer], Awaitable[None]] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, wait: float = 20.0) -> None:
        self._tasks = [asyncio.create_task(s.run(self._server_back)) for s in self.servers]
        await asyncio.wait_for(
            asyncio.wait([asyncio.create_task(s.up.wait()) for s in self.servers],
                         return_when=asyncio.FIRST_COMPLETED),
            wait,
        )

    async def _server_back(self, server: JanusServer) -> None:
        if self.on_server_back is not None:
            await self.on_server_back(server)

    def server_for(self, room: str) -> JanusServer:
        server = self.room_server.get(room)
        if server is not None:
            return server
        candidates = [s for s in self.servers if s.up.is_set()]
        if not candidates:
            raise MediaUnavailable("no media server is reachable")
        if self.shared:  # the same choice in every process, without asking each other
            server = max(candidates, key=lambda s: _rendezvous(room, s.endpoint.name))
        else:
            server = min(candidates, key=lambda s: len(s.rooms))
        self.room_server[room] = server
        return server

    @media_errors
    async def open_media(
        self, room: str, feed: str, display: str, send_offer: OfferSink
    ) -> ParticipantMedia:
        server = self.server_for(room)
        await server.ensure_room(room)
        media = ParticipantMedia(server, room, feed, send_offer)
        await media.open(display)
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
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for server in self.servers:
            await server.close()


def _rendezvous(room: str, server: str) -> int:
    """Highest-random-weight hashing: a room's server changes only if that server goes."""
    return int.from_bytes(hashlib.sha256(f"{room}|{server}".encode()).digest()[:8], "big")
