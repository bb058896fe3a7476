"""One WebSocket client: validates every message, enforces the protocol's order and
turns requests into live-room and Janus actions. A bad message gets an error reply;
nothing a client sends can take the bridge down."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from bridge import protocol as p
from bridge.gateway import MediaUnavailable, OfferSink, ParticipantMedia
from bridge.janus.client import JanusError, JanusGone
from bridge.janus.videoroom import SubscribedStream
from bridge.live import LiveParticipant, LiveRoom

if TYPE_CHECKING:
    from bridge.web.app import Bridge

log = logging.getLogger("salon.client")
IDLE_TIMEOUT_S = 60.0
WEBRTC_UP_TIMEOUT_S = 20.0


class ClientConnection:
    def __init__(self, bridge: Bridge, ws: web.WebSocketResponse, peer: str) -> None:
        self.bridge = bridge
        self.ws = ws
        self.peer = peer
        self.room: LiveRoom | None = None
        self.me: LiveParticipant | None = None
        self._send_lock = asyncio.Lock()

    async def send(self, message: p.Outbound) -> None:
        if self.ws.closed:
            return
        async with self._send_lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_str(p.dump(message))

    async def run(self) -> None:
        try:
            while True:
                msg = await self.ws.receive(timeout=IDLE_TIMEOUT_S)
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self.handle_frame(msg.data)
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                                  WSMsgType.ERROR):
                    break
        except TimeoutError:
            log.info("client %s silent for %ss; closing", self.peer, IDLE_TIMEOUT_S)
        finally:
            await self.leave("disconnected")

    async def handle_frame(self, data: str | bytes) -> None:
        try:
            message = p.parse_client_message(data)
        except p.ProtocolError as exc:
            log.warning("bad message from %s: %s", self.peer, exc.message,
                        extra={"EVENT": "protocol-error"})
            await self.send(p.Error(re=exc.request_id, code=exc.code, message=exc.message))
            return
        try:
            await self.dispatch(message)
        except p.ProtocolError as exc:
            await self.send(p.Error(re=message.id, code=exc.code, message=exc.message))
        except (MediaUnavailable, JanusGone) as exc:
            await self.send(p.Error(re=message.id, code="media_unavailable", message=str(exc)))
        except JanusError as exc:
            log.warning("janus refused %s from %s: %s", message.type, self.peer, exc)
            await self.send(p.Error(re=message.id, code="media_error", message=exc.reason))

    async def dispatch(self, m: p.ClientMessage) -> None:
        if isinstance(m, p.Ping):
            await self.send(p.Pong(re=m.id))
        elif isinstance(m, p.Join):
            await self.join(m)
        elif self.me is None or self.room is None:
            raise p.ProtocolError("not_joined", f"'{m.type}' before 'join'")
        elif isinstance(m, p.Publish):
            await self.publish(m)
        elif isinstance(m, p.SubscribeAnswer):
            await self.answer(m)
        elif isinstance(m, p.Resubscribe):
            media = self._media()
            await media.restart_subscriber()
        elif isinstance(m, p.SetHand):
            await self.room.set_hand(self.me, m.raised)
        elif isinstance(m, p.SetMediaState):
            await self.room.set_media_state(self.me, m.mic_muted, m.camera_on)
        elif isinstance(m, p.Leave):
            await self.leave("left")
            await self.send(p.Bye(reason="left"))
            await self.ws.close()

    def _media(self) -> ParticipantMedia:
        if self.me is None or self.me.media is None or not self.me.media.alive:
            raise MediaUnavailable("media session not ready; wait for media_reset")
        return self.me.media

    async def join(self, m: p.Join) -> None:
        if self.me is not None:
            raise p.ProtocolError("already_joined", "this connection has joined a room")
        if m.protocol != p.PROTOCOL_VERSION:
            raise p.ProtocolError(
                "protocol_version", f"bridge speaks protocol {p.PROTOCOL_VERSION}, not {m.protocol}"
            )
        room = self.bridge.room(m.room)
        if room is None:
            raise p.ProtocolError("no_such_room", f"no room at address '{m.room}'")
        me = LiveParticipant(id=secrets.token_hex(6), name=m.name, client=m.client,
                             send=self.send)
        me.media = await self.bridge.gateway.open_media(
            room.address, me.id, m.name, self._offer_sender(me)
        )
        self.room, self.me = room, me
        await room.add(me)
        others = [room.describe(lp) for lp in room.participants.values() if lp is not me]
        await self.send(p.Welcome(re=m.id, you=room.describe(me), room=room.info(),
                                  participants=others))
        log.info("%s joined %s as %s", m.name, room.address, me.id,
                 extra={"EVENT": "join", "ROOM": room.address})

    def _offer_sender(self, me: LiveParticipant) -> OfferSink:
        async def send_offer(sdp: str, streams: list[SubscribedStream]) -> None:
            log.debug("subscription offer for %s: %s\n%s", me.id, streams, sdp)
            await self.send(p.SubscribeOffer(sdp=sdp, streams=[
                p.StreamInfo(mid=s.mid, kind=s.kind, participant=s.feed)  # type: ignore[arg-type]
                for s in streams
                if s.feed is not None
            ]))
        return send_offer

    async def publish(self, m: p.Publish) -> None:
        assert self.me is not None and self.room is not None
        media = self._media()
        if self.me.publishing:
            await self.room.set_publishing(self.me, False)
        answer = await media.publish(m.sdp, self.me.name)
        await self.send(p.PublishAnswer(re=m.id, sdp=answer))
        self.me.spawn(self._announce_when_up(media), "announce publisher")

    async def _announce_when_up(self, media: ParticipantMedia) -> None:
        assert self.me is not None and self.room is not None
        publisher = media.publisher
        assert publisher is not None
        await asyncio.wait_for(publisher.webrtc_up.wait(), WEBRTC_UP_TIMEOUT_S)
        if media.publisher is publisher:
            await self.room.set_publishing(self.me, True)

    async def answer(self, m: p.SubscribeAnswer) -> None:
        try:
            await self._media().answer(m.sdp)
        except ValueError as exc:
            raise p.ProtocolError("no_offer_pending", str(exc)) from None

    async def leave(self, reason: str) -> None:
        room, me = self.room, self.me
        self.room = self.me = None
        if room is not None and me is not None:
            await room.remove(me.id, reason)
            log.info("%s left %s (%s)", me.name, room.address, reason,
                     extra={"EVENT": "leave", "ROOM": room.address})

    async def reset_media(self, reason: str) -> None:
        """The Janus server restarted: open a new media session and ask for new offers."""
        if self.me is None or self.room is None:
            return
        me, room = self.me, self.room
        me.publishing = me.talking = False
        me.media = await self.bridge.gateway.open_media(
            room.address, me.id, me.name, self._offer_sender(me)
        )
        me.media.on_talking = lambda talking: me.spawn(room.set_talking(me, talking), "talk")
        await room.announce(me)
        await self.send(p.MediaReset(reason=reason))
