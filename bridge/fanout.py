"""Several bridge processes: every process carries out each room's events in the room's
order, whichever process's action made them.

An action's effects come back from the domain numbered in their room
(`Done.sequenced`, bridge/meetings/outbox.py). The process that ran the action
publishes what others must do on the bus and carries out all of it itself; every
process applies a room's events strictly by number: one that arrives early waits for
the ones before it, a gap that does not fill within ``GAP_WAIT_S`` is read back from
the database, an event seen twice is dropped. After a bus reconnect (and every
``CHECK_S``, for a lost last event) the numbers are compared with the database's.

A process follows only the rooms it holds someone of (``follow`` before a join reaches
the domain, ``unfollow`` after the last one left): it hears their subjects alone and
keeps no order for the others (bridge/bus.py).

Live media state (who publishes, camera, talking; for the cascade, where each member
receives and its feeds' source streams) is not in the database: it goes over the bus
as it changes and each process merges it into its roster (bridge/live.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from bridge.bus import EVENTS, LIVE, Bus, room_subject, subject_kind
from bridge.meetings.effects import Effect, Sequenced
from bridge.meetings.outbox import from_json, to_json

log = logging.getLogger("salon.fanout")
GAP_WAIT_S = 0.5
# This process's own events reach it from its own actions (with the effects only it
# carries out, e.g. a welcome); one is read back from the database only if it has not
# come that way for this long.
OWN_GRACE_S = 5.0
EARLY_KEPT = 500  # events of a room this process does not follow yet, kept for a join

CarryOut = Callable[[Effect], Awaitable[None]]
ReadEvents = Callable[[str, int], Awaitable[list[Sequenced]]]
LastEvents = Callable[[list[str]], Awaitable[dict[str, int]]]
OnLive = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass
class RoomOrder:
    next: int | None = None  # None: no event of our own yet, so no place to start
    pending: dict[int, tuple[Effect, ...]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    gap_check: asyncio.TimerHandle | None = None
    behind_since: float | None = None  # when a missing event was first noticed


class Fanout:
    def __init__(self, bus: Bus, node: str, carry_out: CarryOut, read_events: ReadEvents,
                 last_events: LastEvents, on_live: OnLive) -> None:
        self.bus = bus
        self.node = node
        self.carry_out = carry_out
        self.read_events = read_events
        self.last_events = last_events
        self.on_live = on_live
        self.rooms: dict[str, RoomOrder] = {}
        self.resyncs = 0  # how often events were read back from the database
        self._tasks: set[asyncio.Task[None]] = set()
        self._followers: dict[str, int] = {}  # room → this process's connections in it
        self.subscribed: set[str] = set()  # rooms whose subjects the bus hears (/healthz)
        self._following = asyncio.Lock()  # one subscription change at a time

    async def start(self) -> None:
        await self.bus.start(self._message, self.resync_all)

    async def close(self) -> None:
        for order in self.rooms.values():
            if order.gap_check is not None:
                order.gap_check.cancel()
        for task in list(self._tasks):
            task.cancel()
        await self.bus.close()

    # ---- the rooms this process follows ---------------------------------------------------

    async def follow(self, room: str) -> None:
        """A connection of this process is joining ``room``: hear its events from now on
        (returns once the bus delivers them). Counted: one ``unfollow`` per ``follow``."""
        self._followers[room] = self._followers.get(room, 0) + 1
        async with self._following:
            if room in self._followers and room not in self.subscribed:
                await self.bus.follow(room)
                self.subscribed.add(room)

    def follows(self, room: str) -> bool:
        return room in self._followers

    async def unfollow(self, room: str) -> None:
        """A connection that followed ``room`` is done with it; after the last, the room's
        subjects and order are dropped (a later join follows it afresh)."""
        left = self._followers.get(room, 0) - 1
        if left > 0:
            self._followers[room] = left
            return
        self._followers.pop(room, None)
        async with self._following:
            if room in self.subscribed and room not in self._followers:
                await self.bus.unfollow(room)
                self.subscribed.discard(room)
                order = self.rooms.pop(room, None)
                if order is not None and order.gap_check is not None:
                    order.gap_check.cancel()

    # ---- what this process did -----------------------------------------------------------

    async def own(self, effects: tuple[Effect, ...], sequenced: Sequenced) -> None:
        """An action of this process: others are told (even with nothing for them to do:
        every number must reach every process), then it is carried out here in order —
        or at once, in a room this process does not follow (it leaves a dead process's
        seats, say)."""
        body = {"room": sequenced.room, "seq": sequenced.seq, "node": self.node,
                "effects": [to_json(e) for e in sequenced.shared]}
        await self.bus.publish(room_subject(EVENTS, sequenced.room), json.dumps(body).encode())
        if sequenced.room not in self.subscribed:
            for effect in effects:
                await self._carry_out_one(effect)
            return
        order = self.rooms.setdefault(sequenced.room, RoomOrder())
        if order.next is None:  # the first event here: follow the room from now on
            order.next = sequenced.seq
            order.pending = {s: e for s, e in order.pending.items() if s > sequenced.seq}
        await self._feed(sequenced.room, sequenced.seq, effects)

    async def start_after(self, room: str, seq: int) -> None:
        """A connection here entered ``room`` with no action of its own (a phone
        companion): its events are carried out from ``seq + 1``, what came before being
        in the view it was given."""
        if room not in self.subscribed:
            return
        order = self.rooms.setdefault(room, RoomOrder())
        if order.next is not None:
            return
        order.next = seq + 1
        order.pending = {s: e for s, e in order.pending.items() if s > seq}
        if order.pending:
            first = min(order.pending)
            await self._feed(room, first, order.pending.pop(first))

    async def ask_live(self, room: str) -> None:
        """Ask the other processes to announce the live state of the members they hold."""
        await self.publish_live(room, {"ask": True})

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def publish_live(self, room: str, person: dict[str, Any]) -> None:
        body = {"room": room, "node": self.node, "person": person}
        await self.bus.publish(room_subject(LIVE, room), json.dumps(body).encode())

    # ---- what the bus brings -----------------------------------------------------------

    async def _message(self, subject: str, data: bytes) -> None:
        try:
            body = json.loads(data)
            if body.get("node") == self.node:
                return  # our own, carried out already
            if str(body["room"]) not in self.subscribed:
                return  # in flight as this process stopped following the room
            if subject_kind(subject) == LIVE:
                await self.on_live(str(body["room"]), body["person"])
                return
            effects = tuple(from_json(e) for e in body["effects"])
            await self._feed(str(body["room"]), int(body["seq"]), effects)
        except Exception:
            log.exception("a bus message on %s could not be handled", subject)

    async def _feed(self, room: str, seq: int, effects: tuple[Effect, ...]) -> None:
        if room not in self.subscribed:
            return  # a read-back that finished after the room was left
        order = self.rooms.setdefault(room, RoomOrder())
        if order.next is None:
            order.pending[seq] = effects
            if len(order.pending) > EARLY_KEPT:
                del order.pending[min(order.pending)]
            return
        if seq < order.next or seq in order.pending:
            return  # seen already
        order.pending[seq] = effects
        async with order.lock:
            while order.next in order.pending:
                for effect in order.pending.pop(order.next):
                    await self._carry_out_one(effect)
                order.next += 1
        if not order.pending:
            order.behind_since = None
        elif order.gap_check is None:
            loop = asyncio.get_running_loop()
            order.behind_since = order.behind_since or loop.time()
            order.gap_check = loop.call_later(GAP_WAIT_S, self._spawn_resync, room)

    async def _carry_out_one(self, effect: Effect) -> None:
        try:
            await self.carry_out(effect)
        except Exception:
            log.exception("could not carry out %s", type(effect).__name__)

    # ---- reading back what was missed ---------------------------------------------------

    def _spawn_resync(self, room: str) -> None:
        order = self.rooms.get(room)
        if order is not None:
            order.gap_check = None
            self.spawn(self.resync(room))

    async def resync(self, room: str) -> None:
        order = self.rooms.get(room)
        if order is None or order.next is None:
            return
        missed = await self.read_events(room, order.next - 1)
        self.resyncs += 1
        loop = asyncio.get_running_loop()
        behind = order.behind_since if order.behind_since is not None else loop.time()
        own_lost = loop.time() - behind > OWN_GRACE_S
        if own_lost:
            order.behind_since = None
        taken = [e for e in missed if e.node != self.node or own_lost]
        if taken:
            log.info("room %s: %d events read back from the database (from %d)",
                     room, len(taken), order.next, extra={"EVENT": "resync", "ROOM": room})
        for event in taken:
            await self._feed(room, event.seq, event.shared)
        if own_lost and order.pending and min(order.pending) > order.next:
            # Gone from the database too (kept minutes): go on from what there is.
            log.error("room %s: events %d..%d are lost; going on", room, order.next,
                      min(order.pending) - 1)
            order.next = min(order.pending)
            await self._feed(room, order.next, order.pending.pop(order.next))

    async def resync_all(self) -> None:
        for room in self.following():
            await self.resync(room)
            await self.ask_live(room)

    def following(self) -> list[str]:
        return [room for room, order in self.rooms.items() if order.next is not None]

    async def check(self) -> None:
        """Read back any room whose last event in the database has not arrived here."""
        rooms = self.following()
        if not rooms:
            return
        last = await self.last_events(rooms)
        for room in _behind(self.rooms, last):
            order = self.rooms[room]
            if order.behind_since is None:  # noticed now; read back now and later
                order.behind_since = asyncio.get_running_loop().time()
            await self.resync(room)


def _behind(rooms: dict[str, RoomOrder], last: dict[str, int]) -> Iterable[str]:
    for room, seq in last.items():
        order = rooms.get(room)
        if order is not None and order.next is not None and seq >= order.next:
            yield room
