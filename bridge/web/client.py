"""One WebSocket client: validates every message, enforces the protocol's order, asks
the meetings domain to decide, and carries out what it decides (messages, Janus
moderation, disconnects). A bad message gets an error reply; nothing a client sends
can take the bridge down, and nothing reaches a client the domain did not allow."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from bridge.gateway import MediaRefused, MediaUnavailable, OfferSink, ParticipantMedia
from bridge.live import LiveParticipant, LiveRoom
from bridge.meetings.effects import Joined, MediaAccess, Refusal, RoomView
from bridge.meetings.presenting import VIA_COMPANION
from salon import protocol as p

if TYPE_CHECKING:
    from bridge.web.app import Bridge

log = logging.getLogger("salon.client")
IDLE_TIMEOUT_S = 60.0


class ClientConnection:
    def __init__(self, bridge: Bridge, ws: web.WebSocketResponse, peer: str,
                 user_agent: str = "") -> None:
        self.bridge = bridge
        self.ws = ws
        self.peer = peer
        self.user_agent = user_agent
        self.companion = False  # a phone acting for the room's seat ``pid``
        self.companion_room = ""
        self.companion_code = ""
        self._companion_end: asyncio.Task[None] | None = None  # closes it at expiry
        # A laptop in the room presenting for the seat through this companion page; its
        # session outlives the code until it stops (the code only admits new pages).
        self.presenting_for_seat = False
        self._presenting_ended = asyncio.Event()
        self.pid: int | None = None  # the domain's participant, once joined
        self.epoch: int | None = None
        self.token: str | None = None
        self.client = "browser"
        self.room: LiveRoom | None = None  # set once admitted (media side)
        self.me: LiveParticipant | None = None
        self.join_request: p.RequestId = None
        self.followed: str | None = None  # the room whose events this process hears for it
        self.drop_reason = "disconnected"  # why the seat is left when the socket ends
        self.ice_sent_at = 0.0  # when this seat was last given TURN credentials
        self._send_lock = asyncio.Lock()

    # ---- sending ------------------------------------------------------------------

    async def send(self, message: p.Outbound) -> None:
        await self.send_text(p.dump(message))

    async def send_text(self, text: str) -> None:
        if self.ws.closed:
            return
        async with self._send_lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_str(text)

    async def deliver(self, message: p.Outbound) -> None:
        """A message the domain addressed to this participant alone (its welcome, its
        lobby place: they carry this connection's request id and token)."""
        if self.companion:
            await self._deliver_to_companion(message)
            return
        if isinstance(message, p.Welcome | p.LobbyWaiting):
            # The answer to this connection's join (or, for a guest, to the admission).
            mine: dict[str, Any] = {"re": self.join_request, "token": self.token,
                                    "protocol": p.PROTOCOL_VERSION}
            if isinstance(message, p.Welcome) and self.pid is not None:
                self.ice_sent_at = asyncio.get_running_loop().time()
                mine["ice_servers"] = self.bridge.ice_servers(self.pid)
            message = message.model_copy(update=mine)
            if isinstance(message, p.Welcome) and self.me is None:
                try:
                    await self.enter_media(message.room.address)
                except (MediaUnavailable, MediaRefused) as exc:
                    # Admitted all the same: the room's data still comes; media follows
                    # with a media_reset once the media server is back.
                    log.error("no media session for participant %s: %s", self.pid, exc)
                    await self.send(p.Error(code="media_unavailable", message=str(exc)))
        if self.room is not None:
            message = self.room.augment(message)
        await self.send(message)

    async def _deliver_to_companion(self, message: p.Outbound) -> None:
        # A phone sees what the room sees, but never the seat's token and no media.
        if isinstance(message, p.Welcome | p.LobbyWaiting):
            message = message.model_copy(update={"re": None, "token": None,
                                                 "protocol": p.PROTOCOL_VERSION})
        room = self.bridge.rooms.get(self.companion_room)
        if room is not None:
            message = room.augment(message)
        await self.send(message)

    # ---- the read loop --------------------------------------------------------------

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
            await self.leave(self.drop_reason)

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
        except MediaUnavailable as exc:
            await self.send(p.Error(re=message.id, code="media_unavailable", message=str(exc)))
        except MediaRefused as exc:
            log.warning("janus refused %s from %s: %s", message.type, self.peer, exc.reason)
            await self.send(p.Error(re=message.id, code="media_error", message=exc.reason))
        except Exception:
            # A bug must cost this one request, never the client's connection.
            log.exception("%s from %s failed", message.type, self.peer)
            await self.send(p.Error(re=message.id, code="internal_error",
                                    message=f"{message.type}: failed on the server (logged)"))

    # ---- requests -------------------------------------------------------------------

    async def dispatch(self, m: p.ClientMessage) -> None:
        if isinstance(m, p.Ping):
            await self.send(p.Pong(re=m.id))
        elif isinstance(m, p.Join):
            await self.join(m)
        elif self.pid is None:
            raise p.ProtocolError("not_joined", f"'{m.type}' before 'join'")
        elif self.companion and not isinstance(m, COMPANION_MAY):
            log.warning("companion %s for %s tried '%s'", self.peer, self.pid, m.type,
                        extra={"EVENT": "companion-refused"})
            raise p.ProtocolError("companion_not_allowed", f"a phone companion cannot '{m.type}'")
        elif (self.companion and not self.presenting_for_seat
              and await self.bridge.runner.call(self.bridge.companion_codes.check,
                                                self.companion_code) is None):
            await self.end_companion(m.id)  # expired even if its timer has not run yet
        elif isinstance(m, p.CompanionLinkRequest):
            await self.issue_companion_link(m)
        elif isinstance(m, p.Leave):
            await self.leave("left")
            await self.send(p.Bye(reason="left"))
            await self.ws.close()
        elif self.companion and isinstance(m, p.Present | p.PublishContent):
            await self.present_for_seat(m)
        elif isinstance(m, p.Publish | p.PublishContent | p.SubscribeAnswer | p.Resubscribe):
            await self.media_request(m)
        elif isinstance(m, p.VideoLayers):
            await self._media().set_layers(m.layers)
            if m.id is not None:
                await self.send(p.Ok(re=m.id))
        else:
            await self.ask_domain(m)

    async def ask_domain(self, m: p.ClientMessage) -> None:
        """Everything about the meeting itself: the domain decides."""
        meetings, pid = self.bridge.meetings, self.pid
        assert pid is not None
        call = self.bridge.runner.call
        if self.companion:
            log.info("companion %s acts for participant %s: %s", self.peer, pid, m.type,
                     extra={"EVENT": "companion-action"})
        if isinstance(m, p.SetHand):
            result = await (call(meetings.raise_hand, pid) if m.raised
                            else call(meetings.lower_hand, pid))
        elif isinstance(m, p.SetMediaState):
            result = await call(meetings.set_media_state, pid, m.mic_muted, m.camera_on)
        elif isinstance(m, p.Rename):
            result = await call(meetings.rename, pid, m.name)
        elif isinstance(m, p.Chat):
            result = await call(meetings.chat, pid, m.text, to=_int(m.to))
        elif isinstance(m, p.PollAnswer):
            result = await call(meetings.answer_poll, pid, m.poll, m.option)
        elif isinstance(m, p.Admit):
            result = await call(meetings.admit, pid, int(m.participant))
        elif isinstance(m, p.Deny):
            result = await call(meetings.deny, pid, int(m.participant))
        elif isinstance(m, p.LowerHand):
            result = await call(meetings.lower_hand, pid, int(m.participant))
        elif isinstance(m, p.SetRight):
            result = await call(meetings.set_right, pid, int(m.participant), m.right, m.granted)
        elif isinstance(m, p.Present):
            result = await (call(meetings.start_presenting, pid) if m.active
                            else call(meetings.stop_presenting, pid))
        elif isinstance(m, p.StopPresenting):
            result = await call(meetings.stop_presenting, pid, int(m.participant))
        elif isinstance(m, p.Mute):
            result = await call(meetings.set_muted, pid, int(m.participant), True)
        elif isinstance(m, p.Remove):
            result = await call(meetings.remove, pid, int(m.participant))
        elif isinstance(m, p.PollCreate):
            result = await call(meetings.create_poll, pid, m.question, list(m.options))
        elif isinstance(m, p.PollOpen):
            result = await call(meetings.open_poll, pid, m.poll)
        elif isinstance(m, p.PollClose):
            result = await call(meetings.close_poll, pid, m.poll, m.results_visible)
        elif isinstance(m, p.PollShowResults):
            result = await call(meetings.show_poll_results, pid, m.poll, m.visible)
        elif isinstance(m, p.EndMeeting):
            result = await call(meetings.end_meeting, pid)
        else:  # pragma: no cover - the schema admits nothing else
            raise p.ProtocolError("bad_message", f"unexpected '{m.type}'")
        await self.bridge.apply(result, self, m.id)
        if m.id is not None and not isinstance(result, Refusal):
            await self.send(p.Ok(re=m.id))

    async def join(self, m: p.Join) -> None:
        if self.pid is not None:
            raise p.ProtocolError("already_joined", "this connection has joined a room")
        if m.protocol != p.PROTOCOL_VERSION:
            raise p.ProtocolError(
                "protocol_version", f"bridge speaks protocol {p.PROTOCOL_VERSION}, not {m.protocol}"
            )
        # Hear the room's events before joining it: what others do from the join on
        # reaches this process (several processes; bridge/fanout.py).
        await self._follow(m.room)
        try:
            await self._join(m)
        finally:
            if self.pid is None:  # refused: this connection holds nobody of the room
                await self._unfollow()

    async def _follow(self, room: str) -> None:
        if self.followed == room:
            return
        await self._unfollow()
        self.followed = room
        await self.bridge.follow(room)

    async def _unfollow(self) -> None:
        room, self.followed = self.followed, None
        if room is not None:
            await self.bridge.unfollow(room)

    async def _join(self, m: p.Join) -> None:
        runner, meetings = self.bridge.runner, self.bridge.meetings
        if m.companion is not None:
            await self.join_as_companion(m, m.companion)
            return
        if m.token is not None:
            result = await runner.call(meetings.resume, m.room, m.token)
        elif m.user is not None and m.password is not None:
            result = await runner.join_account(m.room, m.user, m.password, self.peer)
        else:
            assert m.name is not None
            result = await runner.call(meetings.join_guest, m.room, m.name)
        if isinstance(result, Refusal):
            await self.send(p.Error(re=m.id, code=result.code, message=result.message))
            return
        assert isinstance(result, Joined)
        previous = self.bridge.by_participant.get(result.participant)
        if previous is not None and previous is not self:
            # The seat was taken up again before its old connection was seen to die: end
            # that one first, so its media (the same Janus feed id) is gone before ours.
            await previous.close("replaced")
        self.pid, self.epoch, self.token = result.participant, result.epoch, result.token
        self.client, self.join_request = m.client, m.id
        self.bridge.register(self)
        log.info("participant %s joined %s (%s)", result.participant, result.room,
                 "admitted" if result.admitted else "lobby",
                 extra={"EVENT": "join", "ROOM": result.room})
        await self.bridge.apply(result, self, None)

    # ---- phone companions -------------------------------------------------------------

    async def issue_companion_link(self, m: p.CompanionLinkRequest) -> None:
        if self.me is None or self.pid is None or self.room is None:
            raise p.ProtocolError("not_admitted", "a companion link needs admission")
        code = await self.bridge.runner.call(self.bridge.companion_codes.issue, self.pid,
                                             self.room.address)
        log.info("companion link issued for participant %s", self.pid,
                 extra={"EVENT": "companion-link", "ROOM": self.room.address})
        path = f"/c/{code}?room={self.room.address}"
        ttl = round(self.bridge.companion_codes.ttl_s)
        await self.send(p.CompanionLink(re=m.id, path=path, expires_in_s=ttl))

    async def join_as_companion(self, m: p.Join, code: str) -> None:
        grant = await self.bridge.runner.call(self.bridge.companion_codes.check, code, m.room)
        # One process holds the seat's connection; several share the codes, and the
        # domain's room view below refuses a seat that is not in the meeting.
        held = self.bridge.fanout is not None or (
            grant is not None and grant.participant in self.bridge.by_participant)
        if grant is None or not held:
            log.warning("companion %s used an invalid or expired code", self.peer,
                        extra={"EVENT": "companion-refused", "ROOM": m.room})
            await self.send(p.Error(re=m.id, code="bad_companion_code",
                                    message="this link has expired; scan the room's code again"))
            return
        view = await self.bridge.runner.call(self.bridge.meetings.room_view, grant.participant,
                                             f"{self.peer} {self.user_agent}"[:200])
        if isinstance(view, Refusal):
            await self.send(p.Error(re=m.id, code=view.code, message=view.message))
            return
        assert isinstance(view, RoomView)
        self.pid, self.companion, self.client = grant.participant, True, "companion"
        self.companion_room, self.companion_code = m.room, code
        self._companion_end = asyncio.create_task(
            self._end_companion_after(self.bridge.companion_codes.seconds_left(grant)))
        self.join_request = m.id
        self.bridge.add_companion(self)
        log.info("companion %s (%s) acts for participant %s", self.peer, self.user_agent,
                 grant.participant, extra={"EVENT": "companion-join", "ROOM": m.room})
        # TURN as the seat's: a laptop in the room may share its screen for the seat
        welcome = view.welcome.model_copy(update={
            "re": m.id, "ice_servers": self.bridge.ice_servers(grant.participant)})
        room = self.bridge.rooms.get(m.room)
        await self.send(room.augment(welcome) if room else welcome)
        if view.seq is not None and self.bridge.fanout is not None:
            # The seat may be on another process: this one carries out the room's events
            # from the view on, whether or not anyone here acts in the room.
            await self.bridge.fanout.start_after(m.room, view.seq)

    async def _end_companion_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        while self.presenting_for_seat:  # a laptop's share goes on until it stops
            self._presenting_ended.clear()
            await self._presenting_ended.wait()
        await self.end_companion()

    async def present_for_seat(self, m: p.Present | p.PublishContent) -> None:
        """A laptop in the room shares its screen through the companion page: the room's
        seat presents, under the room's right, on the seat's own content publisher at
        Janus (so the host's stop and the revoked right end it as any presentation)."""
        assert self.pid is not None
        seat = self.bridge.by_participant.get(self.pid)
        if seat is None:  # several processes: the seat's media is where its connection is
            raise p.ProtocolError("not_joined", "the room is not in the meeting here: "
                                  "sharing from this page needs room affinity at the "
                                  "bridge's balancer" if self.bridge.fanout is not None
                                  else "the room is not in the meeting")
        if isinstance(m, p.PublishContent):
            if not self.presenting_for_seat:
                raise p.ProtocolError("not_presenting", "content: present first")
            await seat.publish_content(m, seat._media(), reply_to=self)
            return
        meetings, call = self.bridge.meetings, self.bridge.runner.call
        log.info("companion %s for participant %s: present %s", self.peer, self.pid, m.active,
                 extra={"EVENT": "companion-present"})
        result = await (call(meetings.start_presenting, self.pid, VIA_COMPANION) if m.active
                        else call(meetings.stop_presenting, self.pid, None, VIA_COMPANION))
        await self.bridge.apply(result, self, m.id)
        if isinstance(result, Refusal):
            return
        self.presenting_for_seat = m.active
        if not m.active:
            self._presenting_ended.set()
        if m.id is not None:
            await self.send(p.Ok(re=m.id))

    def _stop_companion_timer(self) -> None:
        end, self._companion_end = self._companion_end, None
        if end is not None and end is not asyncio.current_task():
            end.cancel()

    async def end_companion(self, request: p.RequestId = None) -> None:
        """The phone's code expired: its session ends with it (a new scan starts anew)."""
        self._stop_companion_timer()
        log.info("companion %s for participant %s: its link expired", self.peer, self.pid,
                 extra={"EVENT": "companion-expired", "ROOM": self.companion_room})
        await self.send(p.Error(re=request, code="companion_expired",
                                message="this link has expired; scan the room's code again"))
        await self.close("companion_expired")

    # ---- media --------------------------------------------------------------------

    async def enter_media(self, address: str) -> None:
        """Admitted: join the room's media side (a Janus session and publisher handle)."""
        assert self.pid is not None
        room = self.bridge.live_room(address)
        me = LiveParticipant(id=str(self.pid), client=self.client, send_text=self.send_text)
        self.room, self.me = room, me
        try:
            me.media = await self.bridge.gateway.open_media(
                address, me.id, me.id, self._offer_sender())
        finally:  # without media too: a media_reset brings it once Janus answers
            await room.add(me)

    def _offer_sender(self) -> OfferSink:
        async def send_offer(sdp: str, streams: list[p.StreamInfo]) -> None:
            log.debug("subscription offer for %s: %s\n%s", self.pid, streams, sdp)
            await self.send(p.SubscribeOffer(sdp=sdp, streams=streams))
        return send_offer

    def _media(self) -> ParticipantMedia:
        if self.me is None:
            # A lobby guest (or a client skipping the lobby) asking for media: refused.
            log.warning("refused media for participant %s from %s: not admitted", self.pid,
                        self.peer, extra={"EVENT": "media-refused"})
            raise p.ProtocolError("not_admitted", "media needs admission to the meeting")
        if self.me.media is None or not self.me.media.alive:
            raise MediaUnavailable("media session not ready; wait for media_reset")
        return self.me.media

    async def media_request(
        self, m: p.Publish | p.PublishContent | p.SubscribeAnswer | p.Resubscribe
    ) -> None:
        media = self._media()
        if isinstance(m, p.Publish):
            await self.publish(m, media)
        elif isinstance(m, p.PublishContent):
            await self.publish_content(m, media)
        elif isinstance(m, p.SubscribeAnswer):
            try:
                await media.answer(m.sdp)
            except ValueError as exc:
                raise p.ProtocolError("no_offer_pending", str(exc)) from None
        else:
            await media.restart_subscriber()
        if m.id is not None and not isinstance(m, p.Publish | p.PublishContent):
            await self.send(p.Ok(re=m.id))

    async def publish(self, m: p.Publish, media: ParticipantMedia) -> None:
        assert self.me is not None and self.room is not None and self.pid is not None
        access = await self.bridge.runner.call(self.bridge.meetings.media_access, self.pid)
        if isinstance(access, Refusal):
            await self.send(p.Error(re=m.id, code=access.code, message=access.message))
            return
        assert isinstance(access, MediaAccess)
        self.me.audio_muted, self.me.camera_muted = access.audio_muted, access.camera_muted
        self.me.content_muted = access.content_muted
        person = self.room.roster.get(self.me.id)
        name = person.name if person is not None else self.me.id
        # The room learns of it from Janus: hangup of the old PeerConnection (publishing
        # off), webrtcup of the new one (rights enforced, then publishing on).
        answer = await media.publish(m.sdp, name, sending=frozenset(m.sending))
        await self.send(p.PublishAnswer(re=m.id, sdp=answer))

    async def publish_content(self, m: p.PublishContent, media: ParticipantMedia,
                              reply_to: ClientConnection | None = None) -> None:
        """The presenter's content PeerConnection: only while it holds the presentation
        (Janus mutes it too, should the presentation end while it is up). `reply_to`: the
        companion page whose laptop presents for this seat (the room sees it too)."""
        assert self.me is not None and self.room is not None and self.pid is not None
        reply = reply_to or self
        access = await self.bridge.runner.call(self.bridge.meetings.media_access, self.pid)
        if isinstance(access, Refusal):
            await reply.send(p.Error(re=m.id, code=access.code, message=access.message))
            return
        assert isinstance(access, MediaAccess)
        if access.content_muted:
            log.warning("refused content from participant %s: not presenting", self.pid,
                        extra={"EVENT": "refused"})
            await reply.send(p.Error(re=m.id, code="not_presenting", message=(
                "content: take the presentation first (present), with the right to present")))
            return
        self.me.content_muted = False
        self.me.content_to_self = reply is not self  # the room shows its laptop's screen
        person = self.room.roster.get(self.me.id)
        name = person.name if person is not None else self.me.id
        answer = await media.publish_content(m.sdp, name)
        await reply.send(p.PublishAnswer(re=m.id, sdp=answer))

    async def reset_media(self, reason: str) -> None:
        """The Janus server restarted: open a new media session and ask for new offers."""
        if self.me is None or self.room is None:
            return
        me, room = self.me, self.room
        await room.remove(me.id)
        if me.talking and room.on_talking is not None:
            await room.on_talking(me.id, False)  # the speaking interval ends with the session
        me.forget_media()
        me.media = await self.bridge.gateway.open_media(
            room.address, me.id, me.id, self._offer_sender())
        await room.add(me)
        await room.announce(me)
        await self.send(p.MediaReset(reason=reason))

    # ---- leaving --------------------------------------------------------------------

    async def leave(self, reason: str) -> None:
        try:
            await self._leave(reason)
        finally:
            await self._unfollow()  # after the leave is carried out

    async def _leave(self, reason: str) -> None:
        if self.companion:
            if self.presenting_for_seat and self.pid is not None:  # the laptop's share ends
                result = await self.bridge.runner.call_until_done(
                    self.bridge.meetings.stop_presenting, self.pid, None, VIA_COMPANION)
                await self.bridge.apply(result, None, None)
                self.presenting_for_seat = False
                self._presenting_ended.set()
            self.bridge.drop_companion(self)
            self.pid = None
            self._stop_companion_timer()
            return
        pid, epoch, room = self.pid, self.epoch, self.room
        self.room = self.me = None
        self.pid = None
        if room is not None and pid is not None:
            await room.remove(str(pid))
        if pid is not None:
            self.bridge.unregister(self, pid)
            if reason != "replaced":  # the seat lives on in the new connection
                await self.bridge.revoke_companions(pid)
            result = await self.bridge.runner.call_until_done(
                self.bridge.meetings.leave, pid, epoch, reason)
            await self.bridge.apply(result, None, None)

    async def close(self, reason: str) -> None:
        """The domain disconnects this participant (removed, denied, replaced, ended)."""
        await self.send(p.Bye(reason=reason))
        await self.leave(reason)
        # The peer may be gone (a cut network): don't wait for its closing handshake.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.ws.close(), 2.0)


COMPANION_MAY = (p.Ping, p.Leave, p.SetHand, p.Chat, p.PollAnswer, p.Present,
                 p.PublishContent)


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)
