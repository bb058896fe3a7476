"""The bridge client: joins a room over one WebSocket, publishes the room's camera and
microphone, receives everyone else, and stays joined through anything (lost bridge,
Janus restart, failed ICE) by reconnecting with backoff and rebuilding peers."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver

from appliance.conference.ice import IceChoice, media_path
from appliance.conference.peers import ContentPublisher, PublisherPeer, SubscriberPeer
from appliance.conference.trust import CertificateRefused, check_certificate, explain
from appliance.media.video import EncodedVideoTrack
from salon import protocol as p

log = logging.getLogger("salon.conference")
# The bridge's socket lives while something arrives: a ping every PING_INTERVAL_S (the
# bridge answers); silent for SILENT_LIMIT_S, the session is built again. Not aiohttp's
# heartbeat (pong due in half its interval): a link down a few seconds ended the session
# that the media (ICE consent: 30 s) ride out, as a browser's do. TCP's backoff delivers
# what waited through a 10 s outage up to ~13 s after it began: the limit allows for it.
PING_INTERVAL_S = 5.0
SILENT_LIMIT_S = 20.0
# After `bye restarting` the bridge is back within seconds: retry at least this often.
RESTART_RETRY_CAP_S = 5.0
SENT_AWAY = ("removed", "denied", "meeting_ended")  # bye reasons that end the seat
# A PeerConnection not connected within this long is built again; the bound grows with
# every try in a row (a slow network gets longer), back to the first once one connects.
CONNECT_BOUNDS_S = (12.0, 20.0, 30.0)


def connect_bound(tries: int) -> float:
    return CONNECT_BOUNDS_S[min(tries, len(CONNECT_BOUNDS_S) - 1)]


class LocalMedia(Protocol):
    """The room's camera and microphone: fresh tracks for every (re)publish."""

    def new_tracks(self) -> tuple[MediaStreamTrack | None, MediaStreamTrack | None]: ...


class BridgeSocket(Protocol):
    """What the client needs of its WebSocket to the bridge: aiohttp's, or a
    FakeBridge's (appliance/conference/fake.py) in fast tests."""

    @property
    def closed(self) -> bool: ...

    @property
    def close_code(self) -> int | None: ...

    async def send_str(self, data: str) -> None: ...

    async def close(self) -> bool: ...

    def exception(self) -> BaseException | None: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any: ...

    def __aiter__(self) -> AsyncIterator[aiohttp.WSMessage]: ...

    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None: ...


# Opens a BridgeSocket to a URL in place of aiohttp (the seam fast tests use).
DialBridge = Callable[[str], Awaitable[BridgeSocket]]


@dataclass(frozen=True)
class RemoteStream:
    mid: str
    kind: str
    participant: str
    track: MediaStreamTrack
    receiver: RTCRtpReceiver  # to ask the sender for a keyframe
    source: str = "camera"  # or "content": what the participant presents (a shared screen)


# ---- events the client reports --------------------------------------------------


@dataclass(frozen=True)
class Connecting:
    attempt: int


@dataclass(frozen=True)
class Joined:
    you: p.Participant
    room: p.RoomInfo


@dataclass(frozen=True)
class ParticipantsChanged:
    """Everyone in the meeting now; ``changed`` is the record the bridge just sent (a
    participant joined or was updated), None when someone left."""

    participants: dict[str, p.Participant]
    changed: p.Participant | None = None


@dataclass(frozen=True)
class RemoteMediaChanged:
    streams: list[RemoteStream]


@dataclass(frozen=True)
class Disconnected:
    reason: str
    retry_in_s: float


@dataclass(frozen=True)
class BridgeError:
    code: str
    message: str


@dataclass(frozen=True)
class WaitingInLobby:
    """Joined as a guest: the host has not admitted the room yet."""


@dataclass(frozen=True)
class NoticeReceived:
    code: str


@dataclass(frozen=True)
class MeetingData:
    """Chat, polls and files as the bridge sends them (the welcome carries the history)."""

    message: p.ServerMessage


@dataclass(frozen=True)
class BridgeUntrusted:
    """The bridge's certificate was refused: ``key`` says why on the screen, ``detail``
    goes to the journal and /healthz. The client keeps trying with backoff."""

    key: str
    detail: str


@dataclass(frozen=True)
class SentAway:
    """The bridge ended this seat (removed, denied, meeting ended): do not rejoin by itself."""

    reason: str


ConferenceEvent = (
    Connecting | Joined | ParticipantsChanged | RemoteMediaChanged | Disconnected | BridgeError
    | WaitingInLobby | NoticeReceived | MeetingData | SentAway | BridgeUntrusted
)
MEETING_DATA = (p.ChatMessage, p.PollInfo, p.PollResults, p.PollChoice, p.FileAdded)


@dataclass(frozen=True)
class Credentials:
    """How the room enters: its device account (user + password) or as a guest (name)."""

    name: str | None = None
    user: str | None = None
    password: str | None = None


def websocket_url(bridge_url: str, room: str) -> str:
    """The bridge's WebSocket, naming the room (``?room=``) so a balancer in front of
    several bridge processes can keep a room's people on one (docs/deployment.md, 9b).
    The room is not a secret (it is the meeting page's address); the join decides."""
    base = bridge_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://"):] + "/ws"
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://"):] + "/ws"
    return f"{base}?{urlencode({'room': room})}"


@dataclass
class Backoff:
    """Exponential backoff with full jitter, reset after a successful join."""

    base_s: float = 0.5
    cap_s: float = 30.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self, cap_s: float | None = None) -> float:
        """The next wait; ``cap_s`` bounds it lower than usual (the bridge said it is
        restarting, so it will answer again soon)."""
        self.attempt += 1
        cap = self.cap_s if cap_s is None else min(self.cap_s, cap_s)
        return self.rng.uniform(0, min(cap, self.base_s * 2 ** (self.attempt - 1)))

    def reset(self) -> None:
        self.attempt = 0


class SessionLost(Exception):
    pass


class Refused(SessionLost):
    """The bridge answered a request with an error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class BridgeClient:
    def __init__(
        self, bridge_url: str, room: str, credentials: Credentials, media: LocalMedia,
        on_event: Callable[[ConferenceEvent], None], client_kind: str = "appliance",
        backoff: Backoff | None = None, connect_timeout_s: float = 10.0,
        tls: ssl.SSLContext | None = None, pins: tuple[str, ...] = (),
        ice: IceChoice | None = None, dial: DialBridge | None = None,
    ) -> None:
        self.url = websocket_url(bridge_url, room)
        self.dial = dial  # None: aiohttp
        self.tls: ssl.SSLContext | bool = tls if tls is not None else True
        self.pins = pins
        self.ice = ice or IceChoice()
        self.connect_timeout_s = connect_timeout_s
        self.room = room
        self.credentials = credentials
        self.token: str | None = None  # our seat: resumed after a drop, rights and hand kept
        self.media = media
        self.on_event = on_event
        self.client_kind = client_kind
        self.backoff = backoff or Backoff()
        self.participants: dict[str, p.Participant] = {}
        self.me: p.Participant | None = None
        self._ws: BridgeSocket | None = None
        self._publisher: PublisherPeer | None = None
        self._subscriber: SubscriberPeer | None = None
        self._streams: list[p.StreamInfo] = []
        # every mid the subscriber PC has carried: whose, and camera or content
        self._mid_owner: dict[str, tuple[str, str]] = {}
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[p.ServerMessage]] = {}
        self._inbox: asyncio.Queue[p.ServerMessage] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._restarting = False  # the bridge said `bye restarting`: back soon
        self._publish_tries = 0  # publisher PeerConnections since one last connected
        self._subscribe_tries = 0
        self.rebuilds = {"publisher": 0, "subscriber": 0}  # by the watchdog or a failure
        self.content = ContentPublisher(self.ice, self._offer_content)
        self.sessions = 0  # connections that joined: more than one is a reconnect
        self._heard_at = time.monotonic()  # when the bridge's socket last carried a frame
        self._gone_silent: float | None = None  # seconds of silence that closed it

    # ---- lifecycle ------------------------------------------------------------

    async def run(self) -> None:
        """Stay in the room until cancelled."""
        async with aiohttp.ClientSession() as http:
            try:
                while True:
                    self.on_event(Connecting(self.backoff.attempt + 1))
                    try:
                        reason = await self._session(http)
                    except CertificateRefused as exc:
                        log.error("refused the bridge's certificate: %s", exc.detail,
                                  extra={"EVENT": "tls-refused"})
                        self.on_event(BridgeUntrusted(exc.key, exc.detail))
                        reason = exc.key
                    except (TimeoutError, aiohttp.ClientError, OSError, SessionLost) as exc:
                        task = asyncio.current_task()
                        if task is not None and task.cancelling():  # told to leave meanwhile
                            raise asyncio.CancelledError from exc
                        reason = str(exc) or type(exc).__name__
                    await self._teardown()
                    if self._restarting:
                        reason = "the bridge is restarting"
                    delay = self.backoff.next_delay(
                        RESTART_RETRY_CAP_S if self._restarting else None)
                    log.warning("disconnected (%s); retrying in %.1fs", reason, delay)
                    self.on_event(Disconnected(reason, delay))
                    await asyncio.sleep(delay)
            finally:  # cancelled (the room leaves): close the peers, not only the socket
                await asyncio.shield(self._teardown())

    async def _session(self, http: aiohttp.ClientSession) -> str:
        """One connection's life; returns why it ended."""
        # Bounds reaching the bridge, not the session. asyncio.timeout, not wait_for: on
        # 3.11 wait_for can swallow a cancel that lands as the connection fails, and the
        # room would go on reconnecting after it was told to leave.
        ws: BridgeSocket
        async with asyncio.timeout(self.connect_timeout_s):
            if self.dial is not None:
                ws = await self.dial(self.url)
            else:
                ws = await self._connect(http)
        async with ws:
            if self.pins:  # on this very connection, before anything is sent on it
                ssl_object = ws.get_extra_info("ssl_object")
                check_certificate(
                    ssl_object.getpeercert(binary_form=True) if ssl_object else None, self.pins)
            self._ws = ws
            self._heard_at, self._gone_silent = time.monotonic(), None
            self._inbox = asyncio.Queue()
            reader = asyncio.create_task(self._read(ws))
            handler = asyncio.create_task(self._handle_in_order())
            pinger = asyncio.create_task(self._ping())
            try:
                first = await self._join()
                self.sessions += 1
                self.backoff.reset()
                self._restarting = False
                if isinstance(first, p.Welcome):
                    await self._on_welcome(first)
                else:
                    self.on_event(WaitingInLobby())
                await reader
            finally:
                for task in (reader, handler, pinger):
                    task.cancel()
                self._ws = None
        if self._gone_silent is not None:
            return f"connection lost: nothing from the bridge for {self._gone_silent:.0f} s"
        if ws.exception() is not None:  # e.g. the connection reset: the network is gone
            return f"connection lost: {ws.exception() or type(ws.exception()).__name__}"
        return f"bridge closed the connection (code {ws.close_code})"

    async def _connect(self, http: aiohttp.ClientSession) -> BridgeSocket:
        try:
            return await http.ws_connect(self.url, max_msg_size=0,
                                         timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                                         ssl=self.tls)
        except aiohttp.ClientConnectorCertificateError as exc:
            raise explain(exc.certificate_error, exc.host) from None

    async def _join(self) -> p.ServerMessage:
        """Take our seat again if we have one, else sign in or enter as a guest."""
        fields: dict[str, object] = {
            "type": "join", "protocol": p.PROTOCOL_VERSION, "room": self.room,
            "client": "appliance" if self.client_kind == "appliance" else "bot",
        }
        if self.token is not None:
            try:
                reply = await self._request(p.Join.model_validate({**fields, "token": self.token}))
            except Refused as exc:
                log.info("could not resume our seat (%s); joining anew", exc.code)
                self.token = None
            else:  # the bridge hands out a new token on every resume; the old one is dead
                self.token = getattr(reply, "token", None) or self.token
                return reply
        c = self.credentials
        how = {"user": c.user, "password": c.password} if c.user else {"name": c.name}
        reply = await self._request(p.Join.model_validate({**fields, **how}))
        self.token = getattr(reply, "token", None)
        return reply

    async def _on_welcome(self, welcome: p.Welcome) -> None:
        self.token = welcome.token or self.token
        self.ice.update(welcome.ice_servers)
        self.me = welcome.you
        self.participants = {x.id: x for x in welcome.participants}
        self.on_event(Joined(welcome.you, welcome.room))
        self.on_event(ParticipantsChanged(dict(self.participants)))
        self.on_event(MeetingData(welcome))
        await self._publish()

    async def _teardown(self) -> None:
        for fut in self._replies.values():
            fut.cancel()
        self._replies.clear()
        for task in list(self._tasks):
            task.cancel()
        await self._close_peers()
        self.participants = {}
        self._streams, self._mid_owner = [], {}
        self.on_event(RemoteMediaChanged([]))

    async def _close_peers(self) -> None:
        if self._publisher is not None:
            await self._publisher.close()
        if self._subscriber is not None:
            await self._subscriber.close()
        self._publisher = self._subscriber = None
        await self.content.close_peer()

    # ---- messages -------------------------------------------------------------

    async def companion_link(self) -> p.CompanionLink:
        """A short-lived link for the room's phone companion (only while admitted)."""
        reply = await self._request(p.CompanionLinkRequest(type="companion_link"))
        assert isinstance(reply, p.CompanionLink)
        return reply

    def send_soon(self, message: p.Inbound) -> None:
        """Send a request if connected; state is re-synchronised on every (re)join anyway."""
        if self._ws is not None and not self._ws.closed:
            self._spawn(self._send(message))

    async def _send(self, message: p.Inbound) -> None:
        if self._ws is None or self._ws.closed:
            raise SessionLost("not connected")
        await self._ws.send_str(p.dump(message))

    async def _request(self, message: p.Inbound, timeout: float = 20.0) -> p.ServerMessage:
        rid = next(self._ids)
        fut: asyncio.Future[p.ServerMessage] = asyncio.get_running_loop().create_future()
        self._replies[rid] = fut
        try:
            await self._send(message.model_copy(update={"id": rid}))
            async with asyncio.timeout(timeout):
                reply = await fut
        finally:
            self._replies.pop(rid, None)
        if isinstance(reply, p.Error):
            raise Refused(reply.code, reply.message)
        return reply

    async def _ping(self) -> None:
        """Keep the socket heard from; close it once it has been silent too long."""
        with contextlib.suppress(SessionLost, ConnectionError):
            while True:
                await asyncio.sleep(PING_INTERVAL_S)
                silent_s = time.monotonic() - self._heard_at
                if silent_s > SILENT_LIMIT_S:
                    log.warning("nothing from the bridge for %.0f s: the network is gone",
                                silent_s, extra={"EVENT": "bridge-silent"})
                    self._gone_silent = silent_s
                    if self._ws is not None:
                        await self._ws.close()
                    return
                await self._send(p.Ping(type="ping"))

    async def _read(self, ws: BridgeSocket) -> None:
        async for raw in ws:
            self._heard_at = time.monotonic()
            if raw.type != aiohttp.WSMsgType.TEXT:
                break
            try:
                message = p.parse_server_message(raw.data)
            except ValueError as exc:
                log.warning("unreadable message from the bridge: %s", exc)
                continue
            re = getattr(message, "re", None)
            if isinstance(re, int) and re in self._replies:
                self._replies[re].set_result(message)
                continue
            if isinstance(message, p.Bye):
                self._on_bye(message)
                continue
            self._inbox.put_nowait(message)

    def _on_bye(self, bye: p.Bye) -> None:
        """Taken at once, not in turn: the socket closes right behind a bye, and the
        session ends without waiting for the messages queued before it."""
        log.info("the bridge said bye: %s", bye.reason)
        if bye.reason == p.BYE_RESTARTING:
            self._restarting = True  # a drop, not an ending: the seat is resumed soon
        elif bye.reason in SENT_AWAY:
            self.token = None
            self.on_event(SentAway(bye.reason))

    async def _handle_in_order(self) -> None:
        """Bridge messages take effect in the order sent: two subscription offers must
        never be applied side by side."""
        while True:
            message = await self._inbox.get()
            try:
                await self._handle(message)
            except SessionLost:
                if self._ws is not None:
                    await self._ws.close()
                raise
            except (TimeoutError, ConnectionError) as exc:
                log.warning("while handling %s: %s", message.type, exc)
            except Exception:
                log.exception("while handling %s", message.type)

    def _spawn(self, coro: object) -> None:
        async def guarded() -> None:
            try:
                await coro  # type: ignore[misc]
            except (TimeoutError, SessionLost, ConnectionError) as exc:
                log.warning("while handling a bridge message: %s", exc)
            except Exception:
                log.exception("while handling a bridge message")
        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, m: p.ServerMessage) -> None:
        if isinstance(m, p.ParticipantJoined | p.ParticipantUpdated):
            self.participants[m.participant.id] = m.participant
            self.on_event(ParticipantsChanged(dict(self.participants), m.participant))
        elif isinstance(m, p.ParticipantLeft):
            self.participants.pop(m.id, None)
            self.on_event(ParticipantsChanged(dict(self.participants)))
        elif isinstance(m, p.SubscribeOffer):
            await self._on_subscribe_offer(m)
        elif isinstance(m, p.MediaReset):
            log.info("media reset by the bridge: %s", m.reason)
            await self._close_peers()
            self._streams, self._mid_owner = [], {}
            self.on_event(RemoteMediaChanged([]))
            await self._publish()
            if self.content.track is not None:  # still presenting: publish it again
                await self.content.publish(self.content.track)
        elif isinstance(m, p.Welcome):  # the host admitted us from the lobby
            await self._on_welcome(m)
        elif isinstance(m, p.IceServers):
            self.ice.update(m.servers)
        elif isinstance(m, MEETING_DATA):
            self.on_event(MeetingData(m))
        elif isinstance(m, p.Notice):
            self.on_event(NoticeReceived(m.code))
        elif isinstance(m, p.Error):
            self.on_event(BridgeError(m.code, m.message))
        elif isinstance(m, p.Denied | p.MeetingEnded):
            self.token = None
            self.on_event(SentAway(m.type if isinstance(m, p.Denied) else "meeting_ended"))

    # ---- media ----------------------------------------------------------------

    def peer_connections(self) -> tuple[RTCPeerConnection | None, RTCPeerConnection | None]:
        """(publishing, receiving) PeerConnections as they are now (for link statistics)."""
        return (self._publisher.pc if self._publisher else None,
                self._subscriber.pc if self._subscriber else None)

    def media_paths(self) -> dict[str, Any]:
        """How media goes now: "direct" or "relay/udp|tcp|tls", per PeerConnection; how
        often the session (`sessions` > 1: reconnects) and its peers were built again."""
        publisher, subscriber = self.peer_connections()
        return {"publisher": media_path(publisher), "subscriber": media_path(subscriber),
                "turn": self.ice.url, "sessions": self.sessions, "rebuilds": dict(self.rebuilds)}

    async def _publish(self) -> None:
        if self._publisher is not None:
            await self._publisher.close()
        video, audio = self.media.new_tracks()
        if video is None and audio is None:
            return
        peer = PublisherPeer(on_failed=lambda: self._rebuild_publisher(peer), ice=self.ice,
                             connect_within_s=connect_bound(self._publish_tries),
                             on_connected=self._publisher_connected)
        self._publish_tries += 1
        self._publisher = peer
        sdp = await peer.offer(video, audio)
        answer = await self._request(p.Publish(type="publish", sdp=sdp))
        assert isinstance(answer, p.PublishAnswer)
        await peer.accept(answer.sdp)

    def set_content(self, track: EncodedVideoTrack | None) -> None:
        """Publish the room's content (it holds the presentation), or stop with None."""
        if track is not None and (self._ws is None or self._ws.closed):
            return  # not in a session: the room asks for the presentation again first
        self._spawn(self.content.publish(track))

    async def _offer_content(self, sdp: str) -> str:
        answer = await self._request(p.PublishContent(type="publish_content", sdp=sdp))
        assert isinstance(answer, p.PublishAnswer)
        return answer.sdp

    def _publisher_connected(self) -> None:
        self._publish_tries = 0

    def _rebuild_publisher(self, peer: PublisherPeer) -> None:
        if peer is self._publisher:
            self.rebuilds["publisher"] += 1
            self._spawn(self._publish())

    def _subscriber_connected(self) -> None:
        self._subscribe_tries = 0

    def _rebuild_subscriber(self, peer: SubscriberPeer) -> None:
        if peer is self._subscriber:
            self.rebuilds["subscriber"] += 1
            self._spawn(self._resubscribe())

    async def _on_subscribe_offer(self, m: p.SubscribeOffer) -> None:
        # Janus recycles emptied m-lines for new feeds; aiortc's receivers do not follow
        # a new SSRC on an old m-line, so take a fresh subscriber PeerConnection instead.
        if any(self._mid_owner.get(s.mid, (s.participant, s.source)) != (s.participant, s.source)
               for s in m.streams):
            log.info("subscription offer reuses m-lines for other feeds: resubscribing")
            await self._resubscribe()
            return
        self._mid_owner.update({s.mid: (s.participant, s.source) for s in m.streams})
        if self._subscriber is None:
            peer = SubscriberPeer(
                on_track=lambda mid, track: self._report_streams(),
                on_failed=lambda: self._rebuild_subscriber(peer), ice=self.ice,
                connect_within_s=connect_bound(self._subscribe_tries),
                on_connected=self._subscriber_connected,
            )
            self._subscribe_tries += 1
            self._subscriber = peer
        self._streams = list(m.streams)
        sdp = await self._subscriber.answer(m.sdp)
        await self._send(p.SubscribeAnswer(type="subscribe_answer", sdp=sdp))
        self._report_streams()

    async def _resubscribe(self) -> None:
        if self._subscriber is not None:
            await self._subscriber.close()
        self._subscriber = None
        self._mid_owner = {}
        self.on_event(RemoteMediaChanged([]))
        await self._send(p.Resubscribe(type="resubscribe"))

    def _report_streams(self) -> None:
        receivers = self._subscriber.receivers_by_mid() if self._subscriber else {}
        self.on_event(RemoteMediaChanged([
            RemoteStream(s.mid, s.kind, s.participant, receivers[s.mid].track, receivers[s.mid],
                         s.source)
            for s in self._streams if s.mid in receivers
        ]))
