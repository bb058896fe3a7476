"""An in-process Janus for fast tests, in the way httpx ships ``MockTransport``.

``FakeJanus.dial`` stands where aiohttp's WebSocket stands (``JanusConnection(dial=)``,
``JanusEndpoint.dial``, ``Bridge(janus_dial=)``), so everything above the socket — the
client, the VideoRoom requests, the gateway, live rooms, the web handler — runs as in
production. It speaks Janus 1.x's JSON API (sessions, handles, transactions, acks) and
keeps the VideoRoom state a test needs: rooms, publishers by user id, their streams and
moderation, subscriptions with Janus's mids, and it answers offers with a minimal valid
SDP (no media ever flows).

It refuses what Janus refuses, with Janus's error codes (a kicked publisher's handle
gets 426, "no such room", as Janus 1.1.2 answers it, not 433);
tests/bridge/test_fake_janus_contract.py runs one scenario against both and compares.
What only media would cause — a PeerConnection coming up, a hangup, talking, the server
dying — the test asks for: ``webrtc_up``, ``hangup``, ``talking``, ``go_away``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bridge.janus.fake_remotes import REQUESTS as REMOTE_REQUESTS
from bridge.janus.fake_remotes import Refused as RemoteRefused
from bridge.janus.fake_remotes import Remotes
from bridge.janus.fake_sdp import answer, m_lines, subscriber_offer
from bridge.janus.videoroom import PLUGIN

Json = dict[str, Any]

# Janus core and VideoRoom error codes (janus.h, janus_videoroom.c).
ERR_UNAUTHORIZED_API = 403
ERR_UNKNOWN_REQUEST = 453
ERR_SESSION_NOT_FOUND = 458
ERR_HANDLE_NOT_FOUND = 459
ERR_PLUGIN_NOT_FOUND = 460
ERR_INVALID_REQUEST = 423
ERR_JOIN_FIRST = 424
ERR_ALREADY_JOINED = 425
ERR_NO_SUCH_ROOM = 426
ERR_ROOM_EXISTS = 427
ERR_NO_SUCH_FEED = 428
ERR_MISSING_ELEMENT = 429
ERR_UNAUTHORIZED = 433
ERR_NOT_PUBLISHED = 435
ERR_ID_EXISTS = 436
ERR_INVALID_SDP = 437

ASYNC_REQUESTS = ("join", "publish", "configure", "start", "update", "leave", "unpublish")


class Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class Stream:
    """An m-line: published (``feed`` is the publisher itself) or of a subscription."""

    mid: str
    kind: str
    feed: str | None = None
    feed_mid: str = ""
    simulcast: bool = False  # a video sent in layers (the offer says a=simulcast)

    @property
    def active(self) -> bool:
        return self.feed is not None


@dataclass
class Handle:
    """A VideoRoom handle: a publisher, a subscriber, or not yet joined."""

    id: int
    session: Session
    role: str | None = None
    room: str | None = None
    feed: str = ""
    display: str = ""
    published: list[Stream] = field(default_factory=list)
    up: bool = False  # the publisher's PeerConnection (``webrtc_up``)
    kicked: bool = False  # Janus then answers its requests as if its room were gone
    moderated: set[str] = field(default_factory=set)  # published mids muted by the room
    keyframes: int = 0  # keyframes asked of this publisher
    bitrate: int = 0  # what Janus tells this publisher it may send (0: the room's)
    subscription: list[Stream] = field(default_factory=list)
    started: bool = False  # the subscriber answered the latest offer
    queued: list[tuple[list[str], list[str]]] = field(default_factory=list)  # updates
    substreams: dict[str, int] = field(default_factory=dict)  # mid -> simulcast layer asked

    @property
    def feeds(self) -> set[str]:
        return {s.feed for s in self.subscription if s.feed is not None}

    def push(self, msg: Json) -> None:
        self.session.socket.push({**msg, "session_id": self.session.id, "sender": self.id})

    def event(self, data: Json, jsep: Json | None = None) -> None:
        msg: Json = {"janus": "event", "plugindata": {"plugin": PLUGIN, "data": data}}
        if jsep is not None:
            msg["jsep"] = jsep
        self.push(msg)


@dataclass
class Session:
    id: int
    socket: FakeJanusSocket
    handles: dict[int, Handle] = field(default_factory=dict)


@dataclass
class Room:
    id: str
    secret: str
    description: str
    participants: dict[str, Handle] = field(default_factory=dict)  # publisher user ids
    remotes: Remotes = field(default_factory=Remotes)  # cascading (fake_remotes.py)

    def publishers(self) -> list[Handle]:
        return [h for h in self.participants.values() if h.up and h.published]


class FakeJanusSocket:
    """One client's WebSocket to the fake (what ``JanusConnection`` reads and writes)."""

    def __init__(self, janus: FakeJanus) -> None:
        self.janus = janus
        self._inbox: asyncio.Queue[aiohttp.WSMessage | None] = asyncio.Queue()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def send_json(self, data: Any) -> None:
        if self._closed:
            raise ConnectionResetError("the fake Janus socket is closed")
        self.janus.handle_request(self, json.loads(json.dumps(data)))  # as on the wire

    async def close(self) -> bool:
        if not self._closed:
            self._closed = True
            self._inbox.put_nowait(None)
            self.janus.socket_closed(self)
        return True

    def push(self, msg: Json) -> None:
        if not self._closed:
            self._inbox.put_nowait(aiohttp.WSMessage(aiohttp.WSMsgType.TEXT, json.dumps(msg), None))

    def __aiter__(self) -> AsyncIterator[aiohttp.WSMessage]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[aiohttp.WSMessage]:
        while (msg := await self._inbox.get()) is not None:
            yield msg


class FakeJanus:
    """A Janus server in the test's own process. ``requests`` records every VideoRoom
    request body, in order, for tests that assert what the bridge asked."""

    def __init__(self, admin_key: str | None = None, api_secret: str | None = None) -> None:
        self.admin_key = admin_key
        self.api_secret = api_secret
        self.up = True
        self.rooms: dict[str, Room] = {}
        self.sessions: dict[int, Session] = {}
        self.sockets: set[FakeJanusSocket] = set()
        self.requests: list[Json] = []
        self._ids = itertools.count(4_000_000_001)
        self._after_reply: list[Callable[[], None]] = []  # events that follow a reply

    # ---- the seam -----------------------------------------------------------------

    async def dial(self, url: str) -> FakeJanusSocket:
        """Open a socket (``Dial``); refused while the server is away, as a dead port is."""
        if not self.up:
            raise ConnectionRefusedError(f"fake Janus at {url} is not running")
        socket = FakeJanusSocket(self)
        self.sockets.add(socket)
        return socket

    def socket_closed(self, socket: FakeJanusSocket) -> None:
        # Janus ends the sessions of a transport that went away.
        self.sockets.discard(socket)
        for session in [s for s in self.sessions.values() if s.socket is socket]:
            self._end_session(session)

    # ---- what the test makes happen -----------------------------------------------

    def webrtc_up(self, room: str, feed: str) -> None:
        """The publisher's PeerConnection is up: it may be subscribed to from now on."""
        pub = self._publisher(room, feed)
        pub.up = True
        pub.push({"janus": "webrtcup"})
        for stream in pub.published:  # its first packets arrive
            pub.push({"janus": "media", "type": stream.kind, "mid": stream.mid,
                      "receiving": True})
        self._tell_publishers(pub, {"videoroom": "event", "room": room,
                                    "publishers": [self._describe(pub)]})

    def hangup(self, room: str, feed: str, reason: str = "DTLS alert") -> None:
        """The publisher's PeerConnection ended: it is unpublished (its user id stays)."""
        self._hang_up(self._publisher(room, feed), reason)

    def _hang_up(self, pub: Handle, reason: str) -> None:
        pub.push({"janus": "hangup", "reason": reason})
        self._unpublish(pub)

    def talking(self, room: str, feed: str, talking: bool = True) -> None:
        """Janus's audio-level event, sent to every publisher handle in the room; none
        for a stream muted with ``moderate`` (Janus drops its packets unmeasured)."""
        pub = self._publisher(room, feed)
        audio = [s.mid for s in pub.published if s.kind == "audio"]
        if not pub.up or not audio:
            raise ValueError(f"feed {feed} sends no audio: Janus would measure nothing")
        if audio[0] in pub.moderated:
            return
        event = {"videoroom": "talking" if talking else "stopped-talking", "room": room,
                 "id": feed, "mid": audio[0], "audio-level-dBov-avg": -30.0}
        for h in self.rooms[room].participants.values():
            h.event(event)

    def slow_link(self, subscriber: Handle, lost: int = 40) -> None:
        """The subscriber's receiver reports say it lost ``lost`` packets of its first
        video in the last second (Janus 1.1.2 sends a subscriber's with uplink true)."""
        video = next(s.mid for s in subscriber.subscription if s.kind == "video")
        subscriber.push({"janus": "slowlink", "mid": video, "media": "video",
                         "uplink": True, "lost": lost})

    def uplink_loss(self, room: str, feed: str, lost: int = 30) -> None:
        """Janus lost ``lost`` packets of what the publisher sent it in the last second
        (Janus 1.1.2 sends a publisher's with uplink false)."""
        pub = self._publisher(room, feed)
        audio = next(s.mid for s in pub.published if s.kind == "audio")
        pub.push({"janus": "slowlink", "mid": audio, "media": "audio", "uplink": False,
                  "lost": lost})

    async def go_away(self) -> None:
        """Janus dies: every socket closes and every room and session is forgotten; it
        refuses connections until ``come_back``."""
        self.up = False
        for socket in list(self.sockets):
            await socket.close()
        self.rooms.clear()
        self.sessions.clear()

    def come_back(self) -> None:
        self.up = True

    # ---- what the test looks at ---------------------------------------------------

    def publisher(self, room: str, feed: str) -> Handle | None:
        found = self.rooms.get(room)
        return found.participants.get(feed) if found else None

    def forwarded(self, room: str, feed: str, kind: str) -> bool:
        """Whether subscribers would get ``feed``'s ``kind`` media: published, its
        PeerConnection up, and not muted by ``moderate``."""
        pub = self.publisher(room, feed)
        return pub is not None and pub.up and any(
            s.kind == kind and s.mid not in pub.moderated for s in pub.published)

    def subscribers(self, room: str) -> list[Handle]:
        return [h for s in self.sessions.values() for h in s.handles.values()
                if h.role == "subscriber" and h.room == room]

    # ---- the JSON API ---------------------------------------------------------------

    def handle_request(self, socket: FakeJanusSocket, msg: Json) -> None:
        verb, tid = msg.get("janus"), msg.get("transaction")
        reply: Json = {"transaction": tid}
        try:
            if self.api_secret is not None and msg.get("apisecret") != self.api_secret:
                raise Refused(ERR_UNAUTHORIZED_API, "Unauthorized request (wrong or missing "
                                                    "secret/token)")
            if verb == "info":
                socket.push({**reply, "janus": "server_info", "name": "Janus (fake)",
                             "version": 1102, "version_string": "1.1.2"})
            elif verb == "create":
                session = Session(next(self._ids), socket)
                self.sessions[session.id] = session
                socket.push({**reply, "janus": "success", "data": {"id": session.id}})
            else:
                self._session_request(socket, msg, reply)
        except Refused as exc:
            socket.push({**reply, "janus": "error",
                         "error": {"code": exc.code, "reason": exc.reason}})

    def _session_request(self, socket: FakeJanusSocket, msg: Json, reply: Json) -> None:
        session = self.sessions.get(int(msg.get("session_id") or 0))
        if session is None:
            raise Refused(ERR_SESSION_NOT_FOUND, f"No such session {msg.get('session_id')}")
        reply["session_id"] = session.id
        verb = msg.get("janus")
        if verb == "keepalive":
            socket.push({**reply, "janus": "ack"})
        elif verb == "destroy":
            self._end_session(session)
            socket.push({**reply, "janus": "success"})
        elif verb == "attach":
            if msg.get("plugin") != PLUGIN:
                raise Refused(ERR_PLUGIN_NOT_FOUND, f"No such plugin '{msg.get('plugin')}'")
            new = Handle(next(self._ids), session)
            session.handles[new.id] = new
            socket.push({**reply, "janus": "success", "data": {"id": new.id}})
        elif verb in ("detach", "message", "hangup", "trickle"):
            handle = session.handles.get(int(msg.get("handle_id") or 0))
            if handle is None:
                raise Refused(ERR_HANDLE_NOT_FOUND, f"No such handle {msg.get('handle_id')}")
            reply["sender"] = handle.id
            if verb == "detach":
                self._leave(handle)
                del session.handles[handle.id]
                socket.push({**reply, "janus": "success"})
            elif verb == "message":
                self._plugin_message(handle, msg, reply)
            else:
                socket.push({**reply, "janus": "ack"})
        else:
            raise Refused(ERR_UNKNOWN_REQUEST, f"Unknown request '{verb}'")

    def _plugin_message(self, handle: Handle, msg: Json, reply: Json) -> None:
        body: Json = msg.get("body", {})
        request = str(body.get("request"))
        self.requests.append(body)
        asynchronous = request in ASYNC_REQUESTS
        if asynchronous:
            handle.session.socket.push({**reply, "janus": "ack"})
        jsep: Json | None = None
        try:
            data, jsep = self._videoroom(handle, request, body, msg.get("jsep"))
        except Refused as exc:
            data = {"videoroom": "event", "error_code": exc.code, "error": exc.reason}
        answer: Json = {**reply, "janus": "event" if asynchronous else "success",
                        "plugindata": {"plugin": PLUGIN, "data": data}}
        if jsep is not None:
            answer["jsep"] = jsep
        handle.session.socket.push(answer)
        if request == "start" and handle.started:
            self._run_queued(handle)
        while self._after_reply:
            self._after_reply.pop(0)()

    def _run_queued(self, h: Handle) -> None:
        """The updates asked while an offer was out, now as one renegotiation."""
        changed = False
        for add, remove in h.queued:
            try:
                changed = self._subscribe(h, add, remove) or changed
            except Refused:
                continue  # the feed went meanwhile
        h.queued.clear()
        if changed:
            h.event(self._streams_event(h, "updated"), self._offer(h))

    # ---- the VideoRoom plugin ------------------------------------------------------

    def _videoroom(self, h: Handle, request: str, body: Json, jsep: Json | None
                   ) -> tuple[Json, Json | None]:
        if request in ("create", "destroy", "moderate", "kick", "listparticipants",
                       *REMOTE_REQUESTS):
            return self._room_request(request, body), None
        if request == "join":
            return self._join(h, body)
        if h.kicked:
            raise Refused(ERR_NO_SUCH_ROOM, f"No such room ({body.get('room', h.room)})")
        if h.role is None or h.room not in self.rooms:
            raise Refused(ERR_JOIN_FIRST, "Join first")
        room = str(h.room)
        if h.role == "publisher" and request == "publish":
            return self._publish(h, jsep)
        if h.role == "publisher" and request == "unpublish":
            if not h.published:
                raise Refused(ERR_NOT_PUBLISHED, "Can't unpublish, not published")
            self._after_reply.append(lambda: self._hang_up(h, "Unpublished"))
            return {"videoroom": "event", "room": room, "unpublished": "ok"}, None
        if h.role == "publisher" and request == "configure":
            h.keyframes += bool(body.get("keyframe"))
            h.display = str(body.get("display", h.display))
            h.bitrate = int(body.get("bitrate", h.bitrate))
            return {"videoroom": "event", "room": room, "configured": "ok"}, None
        if h.role == "subscriber" and request == "configure":
            for stream in body.get("streams", []):
                if "substream" in stream:
                    h.substreams[str(stream["mid"])] = int(stream["substream"])
            return {"videoroom": "event", "room": room, "configured": "ok"}, None
        if h.role == "subscriber" and request == "update":
            add = [str(s["feed"]) for s in body.get("subscribe", [])]
            remove = [str(s["feed"]) for s in body.get("unsubscribe", [])]
            if not h.started:  # an offer is out: Janus queues the update until answered
                h.queued.append((add, remove))
                return {"videoroom": "updating", "room": room}, None
            changed = self._subscribe(h, add, remove)
            return self._streams_event(h, "updated"), self._offer(h) if changed else None
        if h.role == "subscriber" and request == "start":
            if jsep is None or jsep.get("type") != "answer":
                raise Refused(ERR_MISSING_ELEMENT, "Missing mandatory element (jsep)")
            h.started = True
            return {"videoroom": "event", "room": room, "started": "ok"}, None
        raise Refused(ERR_INVALID_REQUEST, f"Unknown request '{request}'")

    def _room_request(self, request: str, body: Json) -> Json:
        room_id = str(body.get("room"))
        if request == "create":
            if self.admin_key is not None and "admin_key" not in body:
                raise Refused(ERR_MISSING_ELEMENT, "Missing mandatory element (admin_key)")
            if self.admin_key is not None and body["admin_key"] != self.admin_key:
                raise Refused(ERR_UNAUTHORIZED, "Unauthorized (wrong admin_key)")
            if room_id in self.rooms:
                raise Refused(ERR_ROOM_EXISTS, f"Room {room_id} already exists")
            self.rooms[room_id] = Room(room_id, str(body.get("secret", "")),
                                       str(body.get("description", "")))
            return {"videoroom": "created", "room": room_id, "permanent": False}
        room = self._room(room_id)
        if request == "listparticipants":
            return {"videoroom": "participants", "room": room_id, "participants": [
                {"id": h.feed, "display": h.display, "publisher": h.up and bool(h.published)}
                for h in room.participants.values()] + room.remotes.listed()}
        if body.get("secret") != room.secret:
            raise Refused(ERR_UNAUTHORIZED, "Unauthorized (wrong secret)")
        if request in REMOTE_REQUESTS:
            try:
                return room.remotes.request(room_id, request, body, set(room.participants))
            except RemoteRefused as exc:
                raise Refused(exc.code, exc.reason) from exc
        if request == "destroy":
            for h in list(room.participants.values()):
                h.event({"videoroom": "destroyed", "room": room_id})
            del self.rooms[room_id]
            return {"videoroom": "destroyed", "room": room_id}
        pub = room.participants.get(str(body.get("id")))
        if pub is None:
            raise Refused(ERR_NO_SUCH_FEED, f"No such user {body.get('id')} in room {room_id}")
        if request == "kick":
            pub.event({"videoroom": "event", "room": room_id, "leaving": "ok",
                       "reason": "kicked"})
            if pub.up:  # Janus closes its PeerConnection
                pub.push({"janus": "hangup", "reason": "Kicked"})
            self._leave(pub)
            pub.kicked = True
            return {"videoroom": "success"}
        mid = str(body.get("mid"))
        if mid not in {s.mid for s in pub.published}:
            raise Refused(ERR_NO_SUCH_FEED, f"No such mid {mid} in publisher {pub.feed}")
        if body.get("mute"):
            pub.moderated.add(mid)
        else:
            pub.moderated.discard(mid)
        return {"videoroom": "success"}

    def _room(self, room_id: str) -> Room:
        room = self.rooms.get(room_id)
        if room is None:
            raise Refused(ERR_NO_SUCH_ROOM, f"No such room ({room_id})")
        return room

    def _join(self, h: Handle, body: Json) -> tuple[Json, Json | None]:
        if h.role is not None:
            raise Refused(ERR_ALREADY_JOINED, "Already in as a publisher on this handle")
        room = self._room(str(body.get("room")))
        if body.get("ptype") == "subscriber":
            h.room = room.id
            try:
                self._subscribe(h, [s["feed"] for s in body.get("streams", [])], [])
            except Refused:
                h.room = None
                raise
            h.role = "subscriber"
            return self._streams_event(h, "attached"), self._offer(h)
        feed = str(body.get("id"))
        if feed in room.participants:
            raise Refused(ERR_ID_EXISTS, f"User ID {feed} already exists")
        h.role, h.room, h.feed = "publisher", room.id, feed
        h.display = str(body.get("display", ""))
        room.participants[feed] = h
        return {"videoroom": "joined", "room": room.id, "description": room.description,
                "id": feed, "private_id": next(self._ids),
                "publishers": [self._describe(p) for p in room.publishers()]}, None

    def _publish(self, h: Handle, jsep: Json | None) -> tuple[Json, Json]:
        if jsep is None or jsep.get("type") != "offer":
            raise Refused(ERR_MISSING_ELEMENT, "Missing mandatory element (jsep)")
        offered = m_lines(str(jsep.get("sdp", "")))
        if not offered:
            raise Refused(ERR_INVALID_SDP, "Error parsing offer")
        layered = "a=simulcast:" in str(jsep.get("sdp", ""))  # one video per offer here
        h.published = [Stream(mid, kind, h.feed, mid, layered and kind == "video")
                       for kind, mid, _ in offered]
        data = {"videoroom": "event", "room": h.room, "configured": "ok",
                "streams": [{"type": kind, "mindex": i, "mid": mid,
                             "codec": codec.split(" ")[-1].split("/")[0].lower()}
                            for i, (kind, mid, codec) in enumerate(offered)]}
        return data, {"type": "answer", "sdp": answer(offered)}

    def _subscribe(self, h: Handle, add: list[Any], remove: list[Any]) -> bool:
        """Janus's multistream update: empties removed feeds' m-lines and fills the
        first empty one of a kind before it adds a new one (so mids are recycled). A
        feed subscribed again is added again, on new m-lines, as Janus does."""
        room = self._room(str(h.room))
        sources = []
        for feed in map(str, add):
            pub = room.participants.get(feed)
            declared = room.remotes.publishers.get(feed)  # a remote publisher's streams
            if declared is not None and pub is None:
                sources += [Stream(d["mid"], d["type"], feed, d["mid"], bool(d.get("simulcast")))
                            for d in declared]
                continue
            if pub is None or not pub.up or not pub.published:
                raise Refused(ERR_NO_SUCH_FEED, f"No such feed ({feed})")
            sources += pub.published
        changed, gone = False, set(map(str, remove))
        for stream in h.subscription:
            if stream.feed in gone:
                stream.feed, stream.feed_mid, stream.simulcast, changed = None, "", False, True
        for src in sources:
            empty = [s for s in h.subscription if not s.active and s.kind == src.kind]
            slot = empty[0] if empty else Stream(str(len(h.subscription)), src.kind)
            if not empty:
                h.subscription.append(slot)
            slot.feed, slot.feed_mid, slot.simulcast = src.feed, src.mid, src.simulcast
            changed = True
        if changed:
            h.started = False
        return changed

    def _streams_event(self, h: Handle, kind: str) -> Json:
        streams = []
        for i, s in enumerate(h.subscription):
            info: Json = {"type": s.kind, "active": s.active, "mindex": i, "mid": s.mid}
            if s.active:
                pub = self.rooms[str(h.room)].participants.get(str(s.feed))
                info.update({"feed_id": s.feed, "feed_mid": s.feed_mid, "send": True,
                             "feed_display": pub.display if pub else ""})
                if s.simulcast:
                    info["simulcast"] = {"substream": h.substreams.get(s.mid, 2)}
            streams.append(info)
        return {"videoroom": kind, "room": h.room, "streams": streams}

    def _offer(self, h: Handle) -> Json:
        streams = [(s.kind, s.mid, s.active) for s in h.subscription]
        return {"type": "offer", "sdp": subscriber_offer(streams)}

    def _describe(self, pub: Handle) -> Json:
        return {"id": pub.feed, "display": pub.display, "streams": [
            {"type": s.kind, "mid": s.mid, "moderated": s.mid in pub.moderated}
            for s in pub.published]}

    def _tell_publishers(self, source: Handle, data: Json) -> None:
        room = self.rooms.get(str(source.room))
        for h in room.participants.values() if room else ():
            if h is not source:
                h.event(data)

    def _unpublish(self, pub: Handle) -> None:
        """Its streams leave every subscription; Janus renegotiates each one itself."""
        was_live = pub.up and pub.published
        pub.up, pub.published, pub.moderated = False, [], set()
        if not was_live:
            return
        self._tell_publishers(pub, {"videoroom": "event", "room": pub.room,
                                    "unpublished": pub.feed})
        for sub in self.subscribers(str(pub.room)):
            if pub.feed in sub.feeds:
                self._subscribe(sub, [], [pub.feed])
                sub.event(self._streams_event(sub, "updated"), self._offer(sub))

    def _leave(self, h: Handle) -> None:
        if h.role == "publisher" and h.room in self.rooms:
            self._unpublish(h)
            self.rooms[str(h.room)].participants.pop(h.feed, None)
            self.rooms[str(h.room)].remotes.left(h.feed)
            self._tell_publishers(h, {"videoroom": "event", "room": h.room, "leaving": h.feed})
        h.role = None

    def _publisher(self, room: str, feed: str) -> Handle:
        pub = self.publisher(room, feed)
        if pub is None:
            raise KeyError(f"no publisher {feed} in room {room}")
        return pub

    def _end_session(self, session: Session) -> None:
        for h in list(session.handles.values()):
            self._leave(h)
        session.handles.clear()
        self.sessions.pop(session.id, None)
