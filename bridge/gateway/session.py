"""A participant's Janus session: its publisher (camera and content), its one
multistream subscriber on the room's server or, for a large meeting's listener, on an
edge its feeds are relayed to (bridge/janus/cascade.py); and the errors the gateway
turns Janus's into."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, ParamSpec, TypeVar

from bridge.janus.cascade import Cascade
from bridge.janus.client import JanusError, JanusGone, JanusSession
from bridge.janus.layers import ViewerLayers
from bridge.janus.server import JanusServer, MediaUnavailable
from bridge.janus.videoroom import (
    ERR_ALREADY_PUBLISHED,
    ERR_NO_SUCH_FEED,
    ERR_NO_SUCH_ROOM,
    ERR_UNAUTHORIZED,
    Publisher,
    SubscribedStream,
    Subscriber,
    parse_streams,
    streams_json,
)
from salon import protocol as p

log = logging.getLogger("salon.gateway")

# A participant's content (a shared screen) is a publisher of its own in Janus's room,
# beside its camera's, under this feed id: "<participant>-content".
CONTENT_SUFFIX = "-content"
# A feed its edge does not have yet (its relay failed, or another process has not made
# it) is asked for again after this long, while it is still published.
RELAY_RETRY_S = 5.0


def content_feed(participant: str) -> str:
    return participant + CONTENT_SUFFIX


def feed_owner(feed: str) -> tuple[str, str]:
    """The participant a Janus feed belongs to, and its source: camera or content."""
    if feed.endswith(CONTENT_SUFFIX):
        return feed.removesuffix(CONTENT_SUFFIX), "content"
    return feed, "camera"


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

    The publisher is on the room's server; the subscriber on ``view``, the same server
    or, for a listener of a large meeting, another one the feeds are relayed to
    (``cascade``, bridge/janus/cascade.py).
    """

    def __init__(self, server: JanusServer, room: str, feed: str, send_offer: OfferSink,
                 view: JanusServer | None = None,
                 cascade: Cascade[JanusServer] | None = None) -> None:
        self.server = server
        self.generation = server.generation
        self.view = view or server
        self.view_generation = self.view.generation
        self.cascade = cascade
        self.view_session: JanusSession | None = None
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
        self._relay_retry: asyncio.TimerHandle | None = None
        self._retrying: set[asyncio.Task[None]] = set()

    @property
    def alive(self) -> bool:
        return (self.server.up.is_set() and self.generation == self.server.generation
                and self.view.up.is_set() and self.view_generation == self.view.generation)

    @property
    def relayed(self) -> bool:
        """It receives on another server than the room's (its feeds are relayed)."""
        return self.view is not self.server

    async def open(self, display: str) -> None:
        # Only a session: a participant joins Janus's room as a publisher when it
        # publishes, so listeners (and a large class) take no publisher slot.
        self.session = await self.server.new_session()
        self.view_session = (await self.view.new_session() if self.relayed
                             else self.session)

    async def _join_publisher(self, display: str) -> Publisher:
        assert self.session is not None
        if self.publisher is not None:
            old, self.publisher = self.publisher, None
            await old.handle.detach()
        # Janus frees a detached handle's publisher later, on its own thread: kick the
        # id first (a synchronous request) so the join below cannot find it taken.
        await self.server.kick(self.room, self.feed)
        await self._unrelay(self.feed)
        publisher = await Publisher.join(self.session, self.room, self.feed, display)
        publisher.handle.on_event = self._on_publisher_event
        publisher.on_pc = self._pc_changed
        publisher.on_media = self._media_changed
        publisher.on_uplink_loss = functools.partial(
            self.server.uplinks.note, self.room, self.feed)
        self.server.add_publisher(self.room, self.feed, publisher)
        self.publisher = publisher
        return publisher

    async def _unrelay(self, feed: str) -> None:
        """The feed publishes anew or stops: the edges' copies of it go (their
        listeners ask again for the new streams); with several processes, those any
        process made (the cascade asks the origin)."""
        cascade = self.cascade
        if cascade is not None and (cascade.shared or cascade.relays_feed(self.room, feed)):
            await cascade.drop_feed(self.room, feed, self.server)

    def _relay_to_edges(self, feed: str) -> None:
        """Several processes: its feed came up; relayed at once to every edge with
        listeners of the room (made here; the others' listeners wait for it)."""
        cascade = self.cascade
        if cascade is not None and cascade.shared:
            for edge in cascade.edges_in_use(self.room, self.server):
                cascade.relay_soon(self.room, feed, self.server, edge)

    def _pc_changed(self, up: bool) -> None:
        if up:
            self._relay_to_edges(self.feed)
        if not up and self.cascade is not None:
            self.cascade.drop_feed_soon(
                self.room, self.feed, self.server,
                lambda: self.publisher is None or not self.publisher.webrtc_up.is_set())
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
        async with (self._content_lock,
                    self.server.republishing(self.room, content_feed(self.feed))):
            await self._unrelay(content_feed(self.feed))
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
                self.server.add_publisher(self.room, feed, self.content)
            self.content_muted = {}
            return await self.content.publish(offer_sdp, display)

    def _content_pc_changed(self, up: bool) -> None:
        if up:
            self._relay_to_edges(content_feed(self.feed))
        if not up and self.cascade is not None:
            self.cascade.drop_feed_soon(
                self.room, content_feed(self.feed), self.server,
                lambda: self.content is None or not self.content.webrtc_up.is_set())
        if self.on_content_pc is not None:
            self.on_content_pc(up)

    def announced(self, publishing: bool, content_up: bool) -> dict[str, Any]:
        """What other bridge processes need of its media (the cascade's input): the
        server it receives on, and the source streams of its feeds that are up."""
        fields: dict[str, Any] = {"view": self.view.endpoint.name}
        if publishing and self.publisher is not None:
            fields["streams"] = streams_json(self.publisher.streams)
        if content_up and self.content is not None:
            fields["content_streams"] = streams_json(self.content.streams)
        return fields

    def content_mids(self) -> list[str]:
        return [s.mid for s in (self.content.streams if self.content else [])]

    @media_errors
    async def publish(self, offer_sdp: str, display: str,
                      sending: frozenset[str] = frozenset()) -> str:
        """Answer a publisher offer; a second offer replaces the first PeerConnection
        on the same handle. ``sending``: the kinds the client says it sends at once."""
        assert self.session is not None
        async with self._publish_lock, self.server.republishing(self.room, self.feed):
            publisher = self.publisher
            if publisher is None:
                publisher = await self._join_publisher(display)
            else:
                await self._unrelay(self.feed)
                if not await publisher.unpublish():
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
            if add and self.relayed:
                add = await self._relay(add)
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

    async def _relay(self, feeds: list[str]) -> list[str]:
        """Of ``feeds``, those the view server has now (relayed there if need be); the
        others are asked for again in a while (``RELAY_RETRY_S``) or at the next want()."""
        assert self.cascade is not None
        have = await asyncio.gather(*(self.cascade.ensure(self.room, f, self.server, self.view)
                                      for f in feeds))
        missing = {f for f, ok in zip(feeds, have, strict=True) if not ok}
        self.wanted -= missing
        if missing and self._relay_retry is None:
            self._relay_retry = asyncio.get_running_loop().call_later(
                RELAY_RETRY_S, self._retry_relays, missing)
        return [f for f, ok in zip(feeds, have, strict=True) if ok]

    def _retry_relays(self, feeds: set[str]) -> None:
        """Ask again for the feeds an edge did not have, those still published: else
        a listener would wait for the next change of the room's feeds."""
        self._relay_retry = None
        assert self.cascade is not None
        still = {f for f in feeds if self.cascade.streams_of(self.room, f)} - self.wanted
        if still and self.alive:
            task = asyncio.get_running_loop().create_task(self._reconcile_quietly(still))
            self._retrying.add(task)
            task.add_done_callback(self._retrying.discard)

    async def _reconcile_quietly(self, feeds: set[str]) -> None:
        try:
            await self.reconcile(self.wanted | feeds)
        except (TimeoutError, JanusError, JanusGone) as exc:
            log.warning("relayed feeds for %s not subscribed again: %s", self.feed, exc)

    async def _renegotiate(self, add: list[str], remove: list[str]) -> str | None:
        assert self.view_session is not None
        if self.subscriber is None:
            if not add:
                return None
            self.subscriber, offer, streams = await Subscriber.join(
                self.view_session, self.room, None, add
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
        if self._relay_retry is not None:
            self._relay_retry.cancel()
        for task in list(self._retrying):
            task.cancel()
        viewers = self.server.viewers.get(self.room)
        if viewers is not None:
            viewers.discard(self.layers)
            if not viewers:
                del self.server.viewers[self.room]
        self.server.drop_publisher(self.room, self.feed, self.publisher)
        self.server.drop_publisher(self.room, content_feed(self.feed), self.content)
        if self.cascade is not None:
            self.cascade.left(self.room, self.view)
            # Only feeds it published can be relayed (a listener's close asks nothing).
            with contextlib.suppress(JanusError, JanusGone, asyncio.TimeoutError):
                if self.publisher is not None:
                    await self._unrelay(self.feed)
                if self.content is not None:
                    await self._unrelay(content_feed(self.feed))
        ends = [(self.session, self.server, self.generation)]
        if self.relayed:
            ends.append((self.view_session, self.view, self.view_generation))
        for session, server, generation in ends:
            if session is not None and server.up.is_set() and server.generation == generation:
                with contextlib.suppress(JanusError, JanusGone, asyncio.TimeoutError):
                    await session.destroy()
        self.session = self.view_session = None
