"""Live rooms: who is connected right now, whose media is live, rights and hands, and
the fan-out of participant changes and subscriptions.

Rights are enforced at Janus: a published stream the participant has no right to is
muted at the SFU with ``moderate`` before anyone is subscribed to it, so a client that
publishes anyway is heard and seen by nobody.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from bridge import protocol as p
from bridge.gateway import MediaGateway, ParticipantMedia

log = logging.getLogger("salon.live")
_hand_clock = itertools.count(1)  # raise order; a counter, so equal timestamps cannot tie


@dataclass
class LiveParticipant:
    id: str
    name: str
    client: str
    send: Callable[[p.Outbound], Awaitable[None]]
    role: str = "participant"
    media: ParticipantMedia | None = None
    publishing: bool = False
    audio_right: bool = False
    camera_right: bool = False
    hand_raised_at: int | None = None
    mic_muted: bool = True
    camera_on: bool = False
    talking: bool = False
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        async def guarded() -> None:
            try:
                await coro
            except Exception:
                log.exception("%s failed for %s", what, self.id)
        task = asyncio.get_running_loop().create_task(guarded())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


class LiveRoom:
    def __init__(self, address: str, title: str, gateway: MediaGateway,
                 moderated: bool = False) -> None:
        self.address = address
        self.title = title
        self.gateway = gateway
        self.moderated = moderated
        self.participants: dict[str, LiveParticipant] = {}

    def info(self) -> p.RoomInfo:
        return p.RoomInfo(address=self.address, title=self.title)

    def hand_position(self, lp: LiveParticipant) -> int | None:
        if lp.hand_raised_at is None:
            return None
        return 1 + sum(1 for o in self.participants.values()
                       if o.hand_raised_at is not None and o.hand_raised_at < lp.hand_raised_at)

    def describe(self, lp: LiveParticipant) -> p.Participant:
        return p.Participant(
            id=lp.id, name=lp.name, client=lp.client, role=lp.role,  # type: ignore[arg-type]
            publishing=lp.publishing, audio_right=lp.audio_right, camera_right=lp.camera_right,
            hand_position=self.hand_position(lp), mic_muted=lp.mic_muted,
            camera_on=lp.camera_on, talking=lp.talking,
        )

    @property
    def live_feeds(self) -> set[str]:
        return {pid for pid, lp in self.participants.items() if lp.publishing}

    async def broadcast(self, message: p.Outbound, exclude: str | None = None) -> None:
        for pid, lp in list(self.participants.items()):
            if pid != exclude:
                await lp.send(message)

    async def announce(self, *changed: LiveParticipant) -> None:
        for lp in changed:
            await self.broadcast(p.ParticipantUpdated(participant=self.describe(lp)))

    async def add(self, lp: LiveParticipant) -> None:
        if not self.moderated:
            lp.audio_right = lp.camera_right = True
        self.participants[lp.id] = lp
        if lp.media is not None:
            lp.media.on_talking = lambda talking: lp.spawn(self.set_talking(lp, talking), "talk")
        await self.broadcast(p.ParticipantJoined(participant=self.describe(lp)), exclude=lp.id)
        self.resubscribe_all()

    async def remove(self, pid: str, reason: str) -> None:
        lp = self.participants.pop(pid, None)
        if lp is None:
            return
        for task in list(lp.tasks):
            task.cancel()
        if lp.media is not None:
            await lp.media.close()
        await self.broadcast(p.ParticipantLeft(id=pid, reason=reason))
        if lp.hand_raised_at is not None:  # everyone behind moves up the queue
            await self.announce(*[o for o in self.participants.values()
                                  if o.hand_raised_at and o.hand_raised_at > lp.hand_raised_at])
        self.resubscribe_all()

    async def set_publishing(self, lp: LiveParticipant, publishing: bool) -> None:
        if lp.publishing == publishing:
            return
        if publishing:
            await self.enforce_rights(lp)  # before anyone subscribes to the new streams
        lp.publishing = publishing
        await self.announce(lp)
        self.resubscribe_all()

    async def enforce_rights(self, lp: LiveParticipant) -> None:
        """Mute at Janus every published stream the participant has no right to."""
        media = lp.media
        if media is None or media.publisher is None:
            return
        for kind, allowed in (("audio", lp.audio_right), ("video", lp.camera_right)):
            for mid in media.published_mids(kind):
                if (mid in media.janus_muted) == (not allowed):
                    continue  # already as it should be
                await self.gateway.moderate(self.address, lp.id, mid, mute=not allowed)
                if allowed:
                    media.janus_muted.discard(mid)
                    if kind == "video":
                        # An unmuted video stays frozen until the next keyframe: ask now.
                        await media.publisher.request_keyframe()
                else:
                    media.janus_muted.add(mid)

    async def set_hand(self, lp: LiveParticipant, raised: bool) -> None:
        if raised == (lp.hand_raised_at is not None):
            return
        before = lp.hand_raised_at
        lp.hand_raised_at = next(_hand_clock) if raised else None
        moved = [o for o in self.participants.values()
                 if not raised and before is not None and o.hand_raised_at
                 and o.hand_raised_at > before]
        await self.announce(lp, *moved)

    async def set_media_state(self, lp: LiveParticipant, mic_muted: bool | None,
                              camera_on: bool | None) -> None:
        if mic_muted is not None:
            lp.mic_muted = mic_muted
        if camera_on is not None:
            lp.camera_on = camera_on
        await self.announce(lp)

    async def set_talking(self, lp: LiveParticipant, talking: bool) -> None:
        if lp.talking != talking and lp.id in self.participants:
            lp.talking = talking
            await self.announce(lp)

    def resubscribe_all(self) -> None:
        """Bring every participant's subscription to the room's live feeds but its own."""
        feeds = self.live_feeds
        for lp in self.participants.values():
            if lp.media is not None:
                lp.spawn(lp.media.reconcile(feeds - {lp.id}), "subscription update")
