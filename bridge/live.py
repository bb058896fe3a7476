"""Live rooms: the media side of the admitted participants who are connected now.

The meetings domain decides who is in a room and with which rights; this module
holds what only the transport knows (who publishes, camera on, who is talking,
each participant's Janus session) and merges it into the domain's roster.

Rights are enforced at Janus: a published stream the participant has no right to is
muted at the SFU with ``moderate`` before anyone is subscribed to it, so a client that
publishes anyway is heard and seen by nobody.
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


@dataclass
class LiveParticipant:
    id: str
    client: str
    send: Callable[[p.Outbound], Awaitable[None]]
    media: ParticipantMedia | None = None
    publishing: bool = False
    camera_on: bool = False
    talking: bool = False
    audio_muted: bool = True  # at Janus, as the domain last decided
    video_muted: bool = True
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

    def live_fields(self) -> Payload:
        return {"client": self.client, "publishing": self.publishing,
                "camera_on": self.camera_on, "talking": self.talking}


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

    # ---- the domain's roster, with the transport's fields merged in -------------------

    def augment(self, payload: Payload) -> Payload:
        """Merge live media state into a roster payload (and remember the domain's view)."""
        kind = payload.get("type")
        if kind not in ROSTER_TYPES:
            if kind == "participant_left":
                self.roster.pop(str(payload.get("id")), None)
            return payload
        if kind == "welcome":
            people = [self._merge(x) for x in payload.get("participants", [])]
            return {**payload, "participants": people, "you": self._merge(payload["you"])}
        return {**payload, "participant": self._merge(payload["participant"])}

    def _merge(self, person: Payload) -> Payload:
        pid = str(person["id"])
        self.roster[pid] = person
        lp = self.participants.get(pid)
        return {**person, **lp.live_fields()} if lp else person

    def describe(self, lp: LiveParticipant) -> Payload:
        return {**self.roster.get(lp.id, {"id": lp.id, "name": lp.id}), **lp.live_fields()}

    async def announce(self, lp: LiveParticipant) -> None:
        update = p.validate_server_payload(
            {"type": "participant_updated", "participant": self.describe(lp)})
        for other in list(self.participants.values()):
            await other.send(update)

    # ---- membership of the media side -------------------------------------------------

    async def add(self, lp: LiveParticipant) -> None:
        self.participants[lp.id] = lp
        if lp.media is not None:
            lp.media.on_talking = lambda talking: lp.spawn(self.set_talking(lp, talking), "talk")
        self.resubscribe_all()

    async def remove(self, pid: str) -> None:
        lp = self.participants.pop(pid, None)
        if lp is None:
            return
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

    async def set_publishing(self, lp: LiveParticipant, publishing: bool) -> None:
        if lp.publishing == publishing:
            return
        if publishing:
            await self.enforce_rights(lp)  # before anyone subscribes to the new streams
        lp.publishing = publishing
        await self.announce(lp)
        self.resubscribe_all()

    async def moderate(self, pid: str, audio_muted: bool, video_muted: bool) -> None:
        lp = self.participants.get(pid)
        if lp is None:
            return
        lp.audio_muted, lp.video_muted = audio_muted, video_muted
        await self.enforce_rights(lp)

    async def enforce_rights(self, lp: LiveParticipant) -> None:
        """Mute at Janus every published stream the participant may not send."""
        media = lp.media
        if media is None or media.publisher is None:
            return
        for kind, mute in (("audio", lp.audio_muted), ("video", lp.video_muted)):
            for mid in media.published_mids(kind):
                if (mid in media.janus_muted) == mute:
                    continue  # already as it should be
                await self.gateway.moderate(self.address, lp.id, mid, mute=mute)
                if mute:
                    media.janus_muted.add(mid)
                    continue
                media.janus_muted.discard(mid)
                if kind == "video":
                    # An unmuted video stays frozen until the next keyframe: ask now.
                    await media.publisher.request_keyframe()

    async def set_camera_on(self, lp: LiveParticipant, on: bool) -> None:
        if lp.camera_on != on:
            lp.camera_on = on
            await self.announce(lp)

    async def set_talking(self, lp: LiveParticipant, talking: bool) -> None:
        if lp.talking != talking and lp.id in self.participants:
            lp.talking = talking
            await self.announce(lp)
            if self.on_talking is not None:
                await self.on_talking(lp.id, talking)
