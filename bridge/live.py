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
Payload = dict[str, Any]
ROSTER_TYPES = ("welcome", "participant_joined", "participant_updated")
TALK_HOLD_S = 1.2  # a pause shorter than this is still talking (no flapping frame)


@dataclass
class LiveParticipant:
    id: str
    client: str
    send: Callable[[p.Outbound], Awaitable[None]]
    media: ParticipantMedia | None = None
    publishing: bool = False  # shown: the publisher's PeerConnection is up at Janus
    camera_on: bool = False  # shown: Janus receives video it forwards
    talking: bool = False  # shown: Janus hears talking that may be heard
    audio_muted: bool = True  # at Janus, as the domain last decided
    video_muted: bool = True
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

    def live_fields(self) -> Payload:
        return {"client": self.client, "publishing": self.publishing,
                "camera_on": self.camera_on, "talking": self.talking}


def shown(person: Payload, lp: LiveParticipant) -> Payload:
    """A member as others see it. Talking needs audio rights and an open mic in the
    very message that says so: the update carrying a mute never shows talking, even
    before Janus's moderation (and then its talking state) catches up."""
    merged = {**person, **lp.live_fields()}
    if person.get("mic_muted", True) or not person.get("audio_right", False):
        merged["talking"] = False
    return merged


LIVE_FIELDS = ("publishing", "camera_on", "talking")


def shown_remote(person: Payload, live: Payload) -> Payload:
    """A member held by another process, with the live fields that process announced."""
    merged = {**person, **live}
    if person.get("mic_muted", True) or not person.get("audio_right", False):
        merged["talking"] = False
    return merged


class LiveRoom:
    def __init__(
        self, address: str, gateway: MediaGateway,
        on_talking: Callable[[str, bool], Awaitable[None]] | None = None,
    ) -> None:
        self.address = address
        self.gateway = gateway
        self.on_talking = on_talking  # the domain counts speaking time
        self.participants: dict[str, LiveParticipant] = {}
        self.roster: dict[str, Payload] = {}  # the domain's latest view of each member
        # Several bridge processes: the live fields of members connected to another
        # process, as it announced them; and how this process announces its own.
        self.remote: dict[str, Payload] = {}
        self.on_announce: Callable[[Payload], Awaitable[None]] | None = None

    # ---- the domain's roster, with the transport's fields merged in -------------------

    def augment(self, payload: Payload) -> Payload:
        """Merge live media state into a roster payload (and remember the domain's view)."""
        kind = payload.get("type")
        if kind not in ROSTER_TYPES:
            if kind == "participant_left":
                self.roster.pop(str(payload.get("id")), None)
                if self.remote.pop(str(payload.get("id")), {}).get("publishing"):
                    self.resubscribe_all()
            return payload
        if kind == "welcome":
            people = [self._merge(x) for x in payload.get("participants", [])]
            return {**payload, "participants": people, "you": self._merge(payload["you"])}
        return {**payload, "participant": self._merge(payload["participant"])}

    def _merge(self, person: Payload) -> Payload:
        pid = str(person["id"])
        self.roster[pid] = person
        lp = self.participants.get(pid)
        if lp is not None:
            return shown(person, lp)
        remote = self.remote.get(pid)
        return shown_remote(person, remote) if remote is not None else person

    def describe(self, lp: LiveParticipant) -> Payload:
        return shown(self.roster.get(lp.id, {"id": lp.id, "name": lp.id}), lp)

    async def announce(self, lp: LiveParticipant) -> None:
        described = self.describe(lp)
        update = p.validate_server_payload(
            {"type": "participant_updated", "participant": described})
        for other in list(self.participants.values()):
            await other.send(update)
        if self.on_announce is not None:
            await self.on_announce(described)

    async def remote_update(self, person: Payload) -> None:
        """Another process announced the live state of a member it holds: merge it and
        tell this process's members; a feed going live or away changes subscriptions."""
        pid = str(person["id"])
        if pid in self.participants:
            return  # the seat moved here meanwhile: what this process sees is the truth
        live = {key: person.get(key, False) for key in LIVE_FIELDS}
        live["client"] = person.get("client", "browser")
        before = self.remote.get(pid, {}).get("publishing", False)
        self.remote[pid] = live
        if live["publishing"] != before:
            self.resubscribe_all()
        roster = self.roster.get(pid)
        if roster is None or not self.participants:
            return
        update = p.validate_server_payload(
            {"type": "participant_updated", "participant": shown_remote(roster, live)})
        for other in list(self.participants.values()):
            await other.send(update)

    # ---- membership of the media side -------------------------------------------------

    async def add(self, lp: LiveParticipant) -> None:
        self.participants[lp.id] = lp
        self.remote.pop(lp.id, None)  # held here now
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
        local = {pid for pid, lp in self.participants.items() if lp.publishing}
        return local | {pid for pid, live in self.remote.items()
                        if live.get("publishing") and pid not in self.participants}

    def resubscribe_all(self) -> None:
        """Bring every participant's subscription to the room's live feeds but its own.

        Only those whose wanted feeds changed get a task: a listener joining or leaving
        changes no one's feeds, and a task per member on every arrival made a class's
        joining grow with the square of its size."""
        feeds = self.live_feeds
        for lp in self.participants.values():
            media = lp.media
            if media is not None and media.want(feeds - {lp.id}):
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
                await self.enforce_rights(lp)  # before anyone subscribes to the new streams
            else:
                lp.video_receiving.clear()
            lp.publishing = up
            await self.refresh(lp, publishing_changed=True)
            self.resubscribe_all()

    async def moderate(self, pid: str, audio_muted: bool, video_muted: bool) -> None:
        lp = self.participants.get(pid)
        if lp is None:
            return
        lp.audio_muted, lp.video_muted = audio_muted, video_muted
        await self.enforce_rights(lp)
        await self.refresh(lp)  # a mute ends talking at once; a revoke hides the camera

    async def enforce_rights(self, lp: LiveParticipant) -> None:
        """Mute at Janus every published stream the participant may not send."""
        media = lp.media
        if media is None or media.publisher is None:
            return
        for kind, mute in (("audio", lp.audio_muted), ("video", lp.video_muted)):
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
        camera_on = lp.publishing and bool(lp.video_receiving) and not lp.video_muted
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
