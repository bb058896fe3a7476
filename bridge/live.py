"""Live rooms: who is connected right now, whose media is live, and the fan-out of
participant changes and subscriptions. The per-client protocol handling lives in
``bridge.web.client``; decisions about who may do what will live in the meetings
domain."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bridge import protocol as p
from bridge.gateway import MediaGateway, ParticipantMedia

log = logging.getLogger("salon.live")


@dataclass
class LiveParticipant:
    id: str
    name: str
    client: str
    send: Callable[[p.Outbound], Awaitable[None]]
    media: ParticipantMedia | None = None
    publishing: bool = False
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def info(self) -> p.Participant:
        return p.Participant(id=self.id, name=self.name, client=self.client,
                             publishing=self.publishing)

    def spawn(self, coro: Awaitable[None], what: str) -> None:
        async def guarded() -> None:
            try:
                await coro
            except Exception:
                log.exception("%s failed for %s", what, self.id)
        task = asyncio.get_running_loop().create_task(guarded())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


class LiveRoom:
    def __init__(self, address: str, title: str, gateway: MediaGateway) -> None:
        self.address = address
        self.title = title
        self.gateway = gateway
        self.participants: dict[str, LiveParticipant] = {}

    def info(self) -> p.RoomInfo:
        return p.RoomInfo(address=self.address, title=self.title)

    @property
    def live_feeds(self) -> set[str]:
        return {pid for pid, lp in self.participants.items() if lp.publishing}

    async def broadcast(self, message: p.Outbound, exclude: str | None = None) -> None:
        for pid, lp in list(self.participants.items()):
            if pid != exclude:
                await lp.send(message)

    async def add(self, lp: LiveParticipant) -> None:
        self.participants[lp.id] = lp
        await self.broadcast(p.ParticipantJoined(participant=lp.info()), exclude=lp.id)
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
        self.resubscribe_all()

    async def set_publishing(self, pid: str, publishing: bool) -> None:
        lp = self.participants.get(pid)
        if lp is None or lp.publishing == publishing:
            return
        lp.publishing = publishing
        await self.broadcast(p.ParticipantUpdated(participant=lp.info()))
        self.resubscribe_all()

    def resubscribe_all(self) -> None:
        """Bring every participant's subscription to the room's live feeds but its own."""
        feeds = self.live_feeds
        for lp in self.participants.values():
            if lp.media is not None:
                lp.spawn(lp.media.reconcile(feeds - {lp.id}), "subscription update")
