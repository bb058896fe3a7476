"""Live rooms: the media side of the admitted participants who are connected now.

The meetings domain decides who is in a room and with which rights; this module
holds what only the transport knows (who publishes, camera on, who is talking,
each participant's Janus session) and merges it into the domain's roster.

Rights are enforced at Janus: a published stream the participant has no right to is
muted at the SFU with ``moderate`` before anyone is subscribed to it, so a client that
publishes anyway is heard and seen by nobody.

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

from bridge.gateway import MediaGateway, ParticipantMedia
from salon import protocol as p

log = logging.getLogger("salon.live")
TALK_HOLD_S = 1.2  # a pause shorter than this is still talking (no flapping frame)


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
        self.video_receiving.clear()
        if self.talk_hold is not None:
            self.talk_hold.cancel()
            self.talk_hold = None

    def live_fields(self) -> dict[str, Any]:
        return {"client": self.client, "publishing": self.publishing,
                "camera_on": self.camera_on, "talking": self.talking}


def shown(person: p.Participant, lp: LiveParticipant) -> p.Participant:
    """A member as others see it. Talking needs audio rights and an open mic in the
    very message that says so: the update carrying a mute never shows talking, even
    before Janus's moderation (and then its talking state) catches up."""
    merged = lp.live_fields()
    if person.mic_muted or not person.audio_right:
        merged["talking"] = False
    return person.model_copy(update=merged)  # fields of the schema, already checked


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
        return message

    def _merge(self, person: p.Participant) -> p.Participant:
        self.roster[person.id] = person
        lp = self.participants.get(person.id)
        return shown(person, lp) if lp else person

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

    # ---- membership of the media side -------------------------------------------------

    async def add(self, lp: LiveParticipant) -> None:
        self.participants[lp.id] = lp
        media = lp.media
        if media is not None:
            media.on_talking = lambda talking: self.janus_talking(lp, talking)
            media.on_pc = lambda up: self._pc_event(lp, up)
            media.on_media = lambda kind, mid, on: self.janus_media(lp, kind, mid, on)
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
        return {pid for pid, lp in self.participants.items() if lp.publishing}

    def resubscribe_all(self) -> None:
        """Bring every participant's subscription to the room's live feeds but its own."""
        feeds = self.live_feeds
        for lp in self.participants.values():
            if lp.media is not None:
                lp.spawn(lp.media.reconcile(feeds - {lp.id}), "subscription update")

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
                await self.enforce_rights(lp)  # before anyone subscribes to the new streams
            else:
                lp.video_receiving.clear()
            lp.publishing = up
            await self.refresh(lp, publishing_changed=True)
            self.resubscribe_all()

    async def moderate(self, pid: str, audio_muted: bool, camera_muted: bool) -> None:
        lp = self.participants.get(pid)
        if lp is None:
            return
        lp.audio_muted, lp.camera_muted = audio_muted, camera_muted
        await self.enforce_rights(lp)
        await self.refresh(lp)  # a mute ends talking at once; a revoke hides the camera

    async def enforce_rights(self, lp: LiveParticipant) -> None:
        """Mute at Janus every published stream the participant may not send."""
        media = lp.media
        if media is None or media.publisher is None:
            return
        for kind, mute in (("audio", lp.audio_muted), ("video", lp.camera_muted)):
            for mid in media.published_mids(kind):
                if media.janus_muted.get(mid) == mute:
                    continue  # already as it should be
                await self.gateway.moderate(self.address, lp.id, mid, mute=mute)
                media.janus_muted[mid] = mute
                if not mute and kind == "video":
                    # An unmuted video stays frozen until the next keyframe: ask now.
                    await media.publisher.request_keyframe()

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
