"""Several bridge processes: what an action makes every process do, numbered in its room.

Each action that has effects in a room bumps the room's `event_seq` (its row is locked
for the whole transaction, see `context.enter_room`) and stores the effects other
processes must carry out as a `RoomEvent` with that number, in the same transaction.
The bus then carries the event at once; a process applies a room's events in number
order, and reads a missed one (a gap, a bus reconnect) back from the table: nothing is
lost and nothing is done twice. Effects only this process can carry out (a message to
a seat whose connection it holds) are left out of the stored event.

Also here: the seats of processes that stopped sending heartbeats, and token buckets
kept in the database so that a limit holds across processes.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from bridge.meetings import context as cx
from bridge.meetings.effects import (
    Broadcast,
    Disconnect,
    Effect,
    JanusModerate,
    SendTo,
    Sequenced,
)
from bridge.store.models import BridgeNode, Participant, RateBucket, Room, RoomEvent
from salon import protocol

KEEP_EVENTS = timedelta(minutes=10)

_KINDS: dict[str, type[Any]] = {
    "broadcast": Broadcast, "send": SendTo, "moderate": JanusModerate, "disconnect": Disconnect}
_NAMES = {kind: name for name, kind in _KINDS.items()}


def to_json(effect: Effect) -> dict[str, Any]:
    """An effect as JSON; a protocol message as the text clients get (serialized once)."""
    fields = {f.name: getattr(effect, f.name) for f in dataclasses.fields(effect)}
    if isinstance(effect, Broadcast | SendTo):
        fields["message"] = protocol.dump(effect.message)
    return {"kind": _NAMES[type(effect)], **fields}


def from_json(data: dict[str, Any]) -> Effect:
    """Back from JSON: a message is checked against the protocol once, here."""
    fields = dict(data)
    kind = _KINDS[fields.pop("kind")]
    if kind is Broadcast:
        fields["recipients"] = tuple(fields["recipients"])
    if kind in (Broadcast, SendTo):
        fields["message"] = protocol.parse_server_message(fields["message"])
    effect: Effect = kind(**fields)
    return effect


def stamp(tx: cx.Tx) -> Sequenced | None:
    """Number this action's effects in its room and store those others must carry out.
    Call last in the transaction (the room's row is already locked)."""
    if tx.node is None or tx.room is None or not tx.effects:
        return None
    seq = tx.db.scalar(update(Room).where(Room.id == tx.room.id)
                       .values(event_seq=Room.event_seq + 1).returning(Room.event_seq))
    assert seq is not None
    shared = _for_others(tx, tx.effects)
    tx.db.add(RoomEvent(room_id=tx.room.id, seq=seq, at=tx.now, node=tx.node,
                        effects=[to_json(e) for e in shared]))
    return Sequenced(room=tx.room.address, seq=seq, shared=tuple(shared), node=tx.node)


def _for_others(tx: cx.Tx, effects: Sequence[Effect]) -> list[Effect]:
    """Leave out what only this process does: a message or a moderation for a seat it
    holds (a welcome is most of a join's bytes). A disconnect always goes: the seat may
    just have moved here from the process that must close the old connection."""
    targets = {e.participant for e in effects if isinstance(e, SendTo | JanusModerate)}
    mine = set(tx.db.scalars(select(Participant.id).where(
        Participant.id.in_(targets), Participant.node == tx.node,
        Participant.left_at.is_(None)))) if targets else set()
    return [e for e in effects
            if not (isinstance(e, SendTo | JanusModerate) and e.participant in mine)]


def events_after(tx: cx.Tx, address: str, after: int) -> list[Sequenced]:
    """A room's stored events numbered above ``after``, in order (a process resyncing)."""
    rows = tx.db.execute(
        select(RoomEvent.seq, RoomEvent.node, RoomEvent.effects)
        .join(Room, Room.id == RoomEvent.room_id)
        .where(Room.address == address, RoomEvent.seq > after).order_by(RoomEvent.seq)).all()
    return [Sequenced(room=address, seq=seq, shared=tuple(from_json(e) for e in effects),
                      node=node) for seq, node, effects in rows]


def last_seqs(tx: cx.Tx, addresses: Sequence[str]) -> dict[str, int]:
    rows = tx.db.execute(select(Room.address, Room.event_seq)
                         .where(Room.address.in_(addresses))).all()
    return {address: seq for address, seq in rows}


def forget_old_events(tx: cx.Tx) -> None:
    tx.db.execute(delete(RoomEvent).where(RoomEvent.at < tx.now - KEEP_EVENTS))


# ---- processes ---------------------------------------------------------------------------

def heartbeat(tx: cx.Tx, node: str) -> None:
    row = tx.db.get(BridgeNode, node)
    if row is None:
        tx.db.add(BridgeNode(name=node, seen_at=tx.now))
    else:
        row.seen_at = tx.now


def seats_of_gone(tx: cx.Tx, gone_after: timedelta, also: str | None = None
                  ) -> list[tuple[int, int]]:
    """Connected seats (id, epoch) held by processes silent for ``gone_after`` (and by
    ``also``: this process, just started, whose earlier run held them)."""
    alive = select(BridgeNode.name).where(BridgeNode.seen_at >= tx.now - gone_after)
    if also is not None:
        alive = alive.where(BridgeNode.name != also)
    rows = tx.db.execute(select(Participant.id, Participant.epoch).where(
        Participant.left_at.is_(None), Participant.node.is_not(None),
        or_(Participant.node.not_in(alive), Participant.node == also))).all()
    return [(pid, epoch) for pid, epoch in rows]


# ---- limits every process shares ---------------------------------------------------------

@dataclasses.dataclass
class StoredBuckets:
    """`Buckets` kept in the database: a burst of ``capacity``, then ``rate`` a second,
    whichever process is asked. Each take is its own short transaction (a take counts
    even when the action is then refused, as in memory)."""

    store: Any  # bridge.store.db.Store (not imported: the domain takes it as given)
    kind: str
    capacity: float
    rate: float

    def _key(self, key: object) -> str:
        return f"{self.kind}:{key}"[:300]

    def take(self, key: object, now: datetime) -> bool:
        with self.store.transaction() as db:
            # Made if missing without a race between processes, then locked.
            db.execute(pg_insert(RateBucket).values(key=self._key(key), tokens=self.capacity,
                                                    updated=now).on_conflict_do_nothing())
            row = db.get(RateBucket, self._key(key), with_for_update=True)
            assert row is not None
            elapsed = max(0.0, (now - row.updated).total_seconds())
            tokens = min(self.capacity, row.tokens + elapsed * self.rate)
            row.updated = now
            taken = tokens >= 1.0
            row.tokens = tokens - 1.0 if taken else tokens
            return taken

    def available(self, key: object, now: datetime) -> bool:
        with self.store.transaction() as db:
            row = db.get(RateBucket, self._key(key))
            if row is None:
                return True
            elapsed = max(0.0, (now - row.updated).total_seconds())
            return row.tokens + elapsed * self.rate >= 1.0

    def forget(self, key: object) -> None:
        with self.store.transaction() as db:
            db.execute(delete(RateBucket).where(RateBucket.key == self._key(key)))


def bucket_maker(store: Any) -> Callable[[float, float], StoredBuckets]:
    """Makes the guards' buckets (chat, actions, sign-in by address and by account, in
    that order: the same names in every process)."""
    kinds = itertools.count(1)

    def make(capacity: float, rate: float) -> StoredBuckets:
        return StoredBuckets(store, f"b{next(kinds)}", capacity, rate)

    return make
