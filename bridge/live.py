"""Live rooms: the media side of the admitted participants who are connected now.

The meetings domain decides who is in a room and with which rights; this module
holds what only the transport knows (who publishes, camera on, who is talking,
each participant's Janus session) and merges it into the domain's roster.

Rights are enforced at Janus: a published stream the participant has no right to is
muted at the SFU with ``moderate`` before anyone is subscribed to it, so a client that
publishes anyway is heard and seen by nobody. The same holds for content (a shared
screen, a publisher of its own): open only while the participant holds the right to
present and the meeting's one presentation, and others are subscribed to it only then.

What others are shown comes from what Janus reports, never from what the client
claims: ``publishing`` from the publisher's PeerConnection (webrtcup/hangup),
``camera_on`` from Janus receiving its video (media events) that the participant may
send, ``talking`` from Janus's talking events while the participant may be heard. Janus
judges talking over a short window; the bridge holds it over a speech pause
(``TALK_HOLD_S``) and ends it at once on a mute.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from bridge.gateway import MediaGateway, ParticipantMedia, content_feed
from salon import protocol as p

log = logging.getLogger("salon.live")
TALK_HOLD_S = 1.2  # a pause shorter than this is still talking (no flapping frame)
FIRST_PACKET_WAIT_S = 3.0  # a camera that sends nothing is muted anyway after this


@dataclass
class LiveParticipant:
    id: str
    client: str
    send_text: Callable[[str], Awaitable[None]]  # one serialized message to its client
    media: ParticipantMedia | None = None
    publishing: bool = False  # shown: the publisher's PeerConnection is up at Janus
    camera_on: bool = False  # shown: Janus receives video it forwards
    talking: bool = False  # shown: Janus hears talking that may be heard
    audio_muted: bool = True  # at Janus: its audio, as the domain last decided
    camera_muted: bool = True  # at Janus: its video, as the domain last decided
    content_muted: bool = True  # the content publisher at Janus, as the domain decided
    content_up: bool = False  # the content publisher's PeerConnection is up at Janus
    content_to_self: bool = False  # its content comes from a laptop (companion): shown to it
    janus_talking: bool = False  # Janus's last talking verdict, as it said it
    video_receiving: set[str] = field(default_factory=set)  # video mids Janus receives
    talk_hold: asyncio.TimerHandle | None = None
    shown_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one refresh at a time
    pc_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        # The coroutine is the task itself: cancelled before it ever ran (the participant
        # left, the bridge stops), it is closed, never left un-awaited.
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(lambda done: self._finished(done, what))

    def _finished(self, task: asyncio.Task[None], what: str) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("%s failed for %s", what, self.id, exc_info=error)

    def forget_media(self) -> None:
        """A new Janus session: nothing Janus said about the old one holds."""
        self.publishing = self.camera_on = self.talking = self.janus_talking = False
        self.content_up = self.content_to_self = False
        self.video_receiving.clear()
        if self.talk_hold is not None:
            self.talk_hold.cancel()
            self.talk_hold = None

    @property
    def content_shown(self) -> bool:
        """Its shared screen is up at Janus and the domain lets it be seen."""
        return self.content_up and not self.content_muted

    def live_fields(self) -> dict[str, Any]:
        return {"client": self.client, "publishing": self.publishing,
                "camera_on": self.camera_on, "talking": self.talking}

    def announced(self) -> dict[str, Any]:
        """What other bridge processes need of it: the shown fields, its content, and
        for their cascade the server it receives on and its feeds' source streams."""
        media = (self.media.announced(self.publishing, self.content_up)
                 if self.media is not None else {})
        return {**self.live_fields(), "content": self.content_shown, **media}


def shown(person: p.Participant, lp: LiveParticipant) -> p.Participant:
    """A member as others see it. Talking needs audio rights and an open mic in the
    very message that says so: the update carrying a mute never shows talking, even
    before Janus's moderation (and then its talking state) catches up."""
    merged = lp.live_fields()
    if person.mic_muted or not person.audio_right:
        merged["talking"] = False
    return person.model_copy(update=merged)  # fields of the schema, already checked


LIVE_FIELDS = ("publishing", "camera_on", "talking")


def shown_remote(person: p.Participant, live: dict[str, Any]) -> p.Participant:
    """A member held by another process, with the live fields that process announced."""
    merged = {key: live[key] for key in (*LIVE_FIELDS, "client") if key in live}
    if person.mic_muted or not person.audio_right:
        merged["talking"] = False
    return person.model_copy(update=merged)


class LiveRoom:
    def __init__(
        self, address: str, gateway: MediaGateway,
        on_talking: Callable[[str, bool], Awaitable[None]] | None = None,
    ) -> None:
        self.address = address
        self.gateway = gateway
        self.on_talking = on_talking  # the domain counts speaking time
        self.participants: dict[str, LiveParticipant] = {}
        self.roster: dict[str, p.Participant] = {}  # the domain's latest view of each member
        # Several bridge processes: the live fields of members connected to another
        # process, as it announced them; and how this process announces its own.
        self.remote: dict[str, dict[str, Any]] = {}
        self.on_announce: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None

    # ---- the domain's roster, with the transport's fields merged in -------------------

    def augment(self, message: p.Outbound) -> p.Outbound:
        """Merge live media state into a roster message (and remember the domain's view)."""
        if isinstance(message, p.Welcome):
            return message.model_copy(update={
                "participants": [self._merge(x) for x in message.participants],
                "you": self._merge(message.you)})
        if isinstance(message, p.ParticipantJoined | p.ParticipantUpdated):
            return message.model_copy(update={"participant": self._merge(message.participant)})
        if isinstance(message, p.ParticipantLeft):
            self.roster.pop(message.id, None)
            gone = self.remote.pop(message.id, {})
            self.gateway.remote_member_gone(self.address, message.id)
            if gone.get("publishing") or gone.get("content"):
                self.resubscribe_all()
        return message

    def _merge(self, person: p.Participant) -> p.Participant:
        self.roster[person.id] = person
        lp = self.participants.get(person.id)
        if lp is not None:
            return shown(person, lp)
        remote = self.remote.get(person.id)
        return shown_remote(person, remote) if remote is not None else person

    def describe(self, lp: LiveParticipant) -> p.Participant:
        return shown(self.roster.get(lp.id) or p.Participant(id=lp.id, name=lp.id), lp)

    def may_send_camera(self, pid: str) -> bool:
        """The domain's latest word on the participant's camera right."""
        person = self.roster.get(pid)
        return person is not None and person.camera_right

    async def announce(self, lp: LiveParticipant) -> None:
        # One message, serialized once, for everyone in the room.
        text = p.dump(p.ParticipantUpdated(participant=self.describe(lp)))
        for other in list(self.participants.values()):
            await other.send_text(text)
        await self.announce_elsewhere(lp)

    async def announce_elsewhere(self, lp: LiveParticipant) -> None:
        if self.on_announce is not None:
            await self.on_announce(lp.id, lp.announced())

    async def remote_update(self, pid: str, fields: dict[str, Any]) -> None:
        """Another process announced the live state of a member it holds: merge it and
        tell this process's members; a feed going live or away changes subscriptions."""
        if pid in self.participants:
            return  # the seat moved here meanwhile: what this process sees is the truth
        live: dict[str, Any] = {key: bool(fields.get(key, False)) for key in LIVE_FIELDS}
        live["client"] = str(fields.get("client", "browser"))
        live["content"] = bool(fields.get("content", False))
        self.gateway.remote_member(self.address, pid, fields)  # before any resubscription
        before = self.remote.get(pid, {})
        self.remote[pid] = live
        if any(live[key] != before.get(key, False) for key in ("publishing", "content")):
            self.resubscribe_all()
        person = self.roster.get(pid)
        if person is None or not self.participants:
            return
        text = p.dump(p.ParticipantUpdated(participant=shown_remote(person, live)))
        for other in list(self.participants.values()):
            await other.send_text(text)

    def forget_others(self) -> None:
        """This process stopped following the room (no one of it here): what the others
        announced would go stale, so it is forgotten here and in the media gateway."""
        for pid in list(self.remote):
            self.gateway.remote_member_gone(self.address, pid)
        self.remote.clear()

    # ---- membership of the media side -------------------------------------------------

    async def add(self, lp: LiveParticipant) -> None:
        self.participants[lp.id] = lp
        self.remote.pop(lp.id, None)  # held here now
        self.gateway.remote_member_gone(self.address, lp.id)
        media = lp.media
        if media is not None:
            media.on_talking = lambda talking: self.janus_talking(lp, talking)
            media.on_pc = lambda up: self._pc_event(lp, up)
            media.on_media = lambda kind, mid, on: self.janus_media(lp, kind, mid, on)
            media.on_content_pc = lambda up: lp.spawn(self.content_changed(lp), "content")
            # Others' cascades count where it receives (placement across processes).
            lp.spawn(self.announce_elsewhere(lp), "announcement")
        self.resubscribe_all()

    async def remove(self, pid: str) -> None:
        lp = self.participants.pop(pid, None)
        if lp is None:
            return
        if lp.talk_hold is not None:
            lp.talk_hold.cancel()
        for task in list(lp.tasks):
            task.cancel()
        if lp.media is not None:
            await lp.media.close()
        self.resubscribe_all()

    @property
    def live_feeds(self) -> set[str]:
        """Cameras that publish, and content only while it is allowed: of the members
        held here and, as their processes announced them, of those held elsewhere."""
        local = ({pid for pid, lp in self.participants.items() if lp.publishing}
                 | {content_feed(pid) for pid, lp in self.participants.items()
                    if lp.content_shown})
        elsewhere = {pid: live for pid, live in self.remote.items()
                     if pid not in self.participants}
        return (local | {pid for pid, live in elsewhere.items() if live.get("publishing")}
                | {content_feed(pid) for pid, live in elsewhere.items() if live.get("content")})

    def resubscribe_all(self) -> None:
        """Bring every participant's subscription to the room's live feeds but its own.

        Only those whose wanted feeds changed get a task: a listener joining or leaving
        changes no one's feeds, and a task per member on every arrival made a class's
        joining grow with the square of its size."""
        feeds = self.live_feeds
        for lp in self.participants.values():
            media = lp.media
            # a room sees the screen its laptop shares for it, never its own HDMI
            own = {lp.id} if lp.content_to_self else {lp.id, content_feed(lp.id)}
            if media is not None and media.want(feeds - own):
                lp.spawn(media.reconcile(media.wanted), "subscription update")

    # ---- media state ------------------------------------------------------------------

    def _pc_event(self, lp: LiveParticipant, up: bool) -> None:
        if not up and lp.publishing:
            # At once, in Janus's order: a webrtcup right behind this hangup then finds
            # a publisher that is down and enforces the rights on its new streams.
            lp.publishing = False
            lp.video_receiving.clear()
            lp.spawn(self._publisher_gone(lp), "publisher state")
            return
        lp.spawn(self.publisher_changed(lp), "publisher state")

    async def _publisher_gone(self, lp: LiveParticipant) -> None:
        await self.refresh(lp, publishing_changed=True)
        self.resubscribe_all()

    async def publisher_changed(self, lp: LiveParticipant) -> None:
        """Janus said the publisher's PeerConnection came up or went: follow it (in
        order, whatever order the tasks run in: Janus's flag is the truth)."""
        async with lp.pc_lock:
            publisher = lp.media.publisher if lp.media is not None else None
            up = publisher is not None and publisher.webrtc_up.is_set()
            if up == lp.publishing:
                return
            if up:
                await self.enforce_rights(lp, new_pc=True)  # before anyone subscribes
            else:
                lp.video_receiving.clear()
            lp.publishing = up
            await self.refresh(lp, publishing_changed=True)
            self.resubscribe_all()

    async def content_changed(self, lp: LiveParticipant) -> None:
        """Janus said the content publisher's PeerConnection came up or went."""
        async with lp.pc_lock:
            content = lp.media.content if lp.media is not None else None
            up = content is not None and content.webrtc_up.is_set()
            if up == lp.content_up:
                return
            if up:
                await self.enforce_content(lp)  # before anyone subscribes to it
            elif lp.media is not None:
                lp.media.content_muted = {}  # a new PeerConnection's streams start unmuted
            lp.content_up = up
            self.resubscribe_all()
        await self.announce_elsewhere(lp)

    async def moderate(self, pid: str, audio_muted: bool, camera_muted: bool,
                       content_muted: bool = True) -> None:
        lp = self.participants.get(pid)
        if lp is None:
            return
        lp.audio_muted, lp.camera_muted = audio_muted, camera_muted
        await self.enforce_rights(lp)
        if content_muted != lp.content_muted:
            lp.content_muted = content_muted
            await self.enforce_content(lp)
            self.resubscribe_all()
            await self.announce_elsewhere(lp)
        await self.refresh(lp)  # a mute ends talking at once; a revoke hides the camera

    async def enforce_content(self, lp: LiveParticipant) -> None:
        """Mute the content publisher's streams at Janus unless it may present now."""
        media = lp.media
        # Janus forwards nothing of a PeerConnection before it is up, and its webrtcup
        # enforces this again (content_changed); one that hung up has no streams left.
        if media is None or media.content is None or not media.content.webrtc_up.is_set():
            return
        for mid in media.content_mids():
            if media.content_muted.get(mid) == lp.content_muted:
                continue
            if not await self.gateway.moderate(self.address, content_feed(lp.id), mid,
                                               mute=lp.content_muted, gone_ok=True):
                return  # hung up meanwhile: nothing of it is forwarded any more
            media.content_muted[mid] = lp.content_muted
        if not lp.content_muted:
            await media.content.request_keyframe()  # the slide shows now, not at the next

    async def enforce_rights(self, lp: LiveParticipant, new_pc: bool = False) -> None:
        """Mute at Janus every published stream the participant may not send.

        ``new_pc``: the publisher's PeerConnection just came up and nobody is subscribed
        to it yet. Janus 1.1.2's videoroom learns which SSRC is which simulcast layer
        only from packets it forwards (their rid extension, which a browser stops sending
        once Janus acknowledges the SSRC): a layer muted before its first packet is never
        forwarded, even after the right comes. So a simulcast camera the client says it
        sends is muted once Janus has had its first packet (at most FIRST_PACKET_WAIT_S),
        still before anyone subscribes; one it does not send yet is muted at once."""
        media = lp.media
        if media is None or media.publisher is None:
            return
        publisher = media.publisher
        for stream in list(publisher.streams):  # audio and video (Publisher.publish)
            if (new_pc and stream.kind == "video" and stream.simulcast
                    and "video" in publisher.sending and lp.camera_muted):
                await publisher.first_packet(stream.mid, FIRST_PACKET_WAIT_S)
            # read after any wait: a right granted meanwhile counts
            mute = lp.audio_muted if stream.kind == "audio" else lp.camera_muted
            if media.janus_muted.get(stream.mid) == mute:
                continue  # already as it should be
            await self.gateway.moderate(self.address, lp.id, stream.mid, mute=mute)
            media.janus_muted[stream.mid] = mute
            if not mute and stream.kind == "video":
                # An unmuted video stays frozen until the next keyframe: ask now.
                await publisher.request_keyframe()

    # ---- what Janus reports ------------------------------------------------------------

    def janus_media(self, lp: LiveParticipant, kind: str, mid: str, receiving: bool) -> None:
        if kind != "video":
            return
        if receiving:
            lp.video_receiving.add(mid)
        else:
            lp.video_receiving.discard(mid)
        lp.spawn(self.refresh(lp), "camera state")

    def janus_talking(self, lp: LiveParticipant, talking: bool) -> None:
        lp.janus_talking = talking
        self._end_hold(lp)
        if not talking and lp.talking:
            # Stopped: keep the frame over a pause in speech; talking again cancels this.
            lp.talk_hold = asyncio.get_running_loop().call_later(
                TALK_HOLD_S, lambda: self._hold_over(lp))
        lp.spawn(self.refresh(lp), "talk")

    def _hold_over(self, lp: LiveParticipant) -> None:
        lp.talk_hold = None
        lp.spawn(self.refresh(lp), "talk")

    @staticmethod
    def _end_hold(lp: LiveParticipant) -> None:
        if lp.talk_hold is not None:
            lp.talk_hold.cancel()
            lp.talk_hold = None

    async def refresh(self, lp: LiveParticipant, publishing_changed: bool = False) -> None:
        """Derive what others see from Janus's reports and the rights at Janus; tell
        the room (and the domain, for speaking time) what changed."""
        async with lp.shown_lock:  # the domain gets talking changes in the order they happen
            await self._refresh(lp, publishing_changed)

    async def _refresh(self, lp: LiveParticipant, publishing_changed: bool) -> None:
        if lp.id not in self.participants:
            return
        camera_on = lp.publishing and bool(lp.video_receiving) and not lp.camera_muted
        audible = lp.publishing and not lp.audio_muted
        if not audible:
            self._end_hold(lp)  # a mute or a revoke ends talking now, not after the hold
        talking = audible and (lp.janus_talking or lp.talk_hold is not None)
        talk_changed = talking != lp.talking
        # A publisher without rights changes neither camera nor talking, yet others are
        # shown that it publishes (or no longer does).
        if camera_on == lp.camera_on and not talk_changed and not publishing_changed:
            return
        lp.camera_on, lp.talking = camera_on, talking
        await self.announce(lp)
        if talk_changed and self.on_talking is not None:
            await self.on_talking(lp.id, talking)
