"""The frame of one domain action: its transaction, its time, and the checks
every action starts with (who is acting, may they, on whom)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from bridge.meetings import messages as msg
from bridge.meetings.effects import (
    Broadcast,
    Effect,
    JanusModerate,
    Message,
    Refused,
    SendTo,
)
from bridge.meetings.ratelimit import Buckets
from bridge.meetings.signin import MemoryLedger, SignInLedger, SignInLimits
from bridge.store.models import Admission, Event, Meeting, Participant, Room
from salon import protocol


@dataclass(frozen=True)
class Limits:
    chat_max_chars: int = 2000
    chat_burst: int = 5  # messages at once, then
    chat_per_second: float = 1.0  # sustained
    chat_history: int = 500  # messages a late joiner receives
    actions_burst: int = 30  # any other client action
    actions_per_second: float = 10.0
    # Failed sign-ins by address and by (address, account).
    sign_in: SignInLimits = field(default_factory=SignInLimits)
    file_max_bytes: int = 50 * 1024 * 1024
    poll_max_options: int = 10
    poll_option_chars: int = 200
    poll_question_chars: int = 500
    meeting_idle_end: timedelta = timedelta(minutes=15)


@dataclass
class Guards:
    """In-memory rate limiters; they live as long as the service (not the store)."""

    chat: Buckets
    actions: Buckets
    sign_in: SignInLedger

    @classmethod
    def from_limits(cls, limits: Limits) -> Guards:
        return cls(
            chat=Buckets(limits.chat_burst, limits.chat_per_second),
            actions=Buckets(limits.actions_burst, limits.actions_per_second),
            sign_in=MemoryLedger(limits.sign_in),
        )


@dataclass
class Tx:
    db: Session
    now: datetime
    limits: Limits
    guards: Guards
    effects: list[Effect] = field(default_factory=list)
    # Side effects outside the database to reverse if the transaction rolls back.
    undo: list[Callable[[], None]] = field(default_factory=list)


@dataclass(frozen=True)
class Scope:
    """A participant with its meeting and room, loaded once per action."""

    me: Participant
    meeting: Meeting
    room: Room


def scope_of(tx: Tx, p: Participant) -> Scope:
    meeting = tx.db.get(Meeting, p.meeting_id)
    assert meeting is not None  # foreign key
    room = tx.db.get(Room, meeting.room_id)
    assert room is not None
    return Scope(p, meeting, room)


def load_scope(tx: Tx, pid: int) -> Scope | None:
    """A participant with its meeting and room, in one query."""
    row = tx.db.execute(
        select(Participant, Meeting, Room)
        .join(Meeting, Meeting.id == Participant.meeting_id)
        .join(Room, Room.id == Meeting.room_id)
        .where(Participant.id == pid)
    ).first()
    return None if row is None else Scope(*row)


def actor(tx: Tx, pid: int, action: str) -> Scope:
    """The participant doing `action`: connected, admitted, in a meeting that is on."""
    scope = load_scope(tx, pid)
    if scope is None:
        raise Refused("unknown_participant", f"{action}: no such participant", security=True)
    p = scope.me
    if p.admission is not Admission.ADMITTED:
        raise Refused(
            "not_admitted", f"{action}: only admitted participants may do this", security=True
        )
    if p.left_at is not None or scope.meeting.ended_at is not None:
        raise Refused("not_in_meeting", f"{action}: you are not in the meeting", security=True)
    # Hosts are signed-in organisers who may admit a whole class at once; everyone
    # else is held to a steady pace.
    if not p.is_host and not tx.guards.actions.take(pid, tx.now):
        raise Refused("rate_limited", f"{action}: too many requests, slow down")
    return scope


def host(tx: Tx, pid: int, action: str) -> Scope:
    scope = actor(tx, pid, action)
    if not scope.me.is_host:
        raise Refused("not_host", f"{action}: only the host may do this", security=True)
    return scope


def subject(tx: Tx, scope: Scope, sid: int, action: str) -> Participant:
    """Someone an action is done to: must be of the actor's meeting."""
    p = tx.db.get(Participant, sid)
    if p is None or p.meeting_id != scope.meeting.id:
        raise Refused(
            "unknown_participant", f"{action}: no such participant in this meeting", security=True
        )
    return p


def _present(meeting_id: int) -> tuple[ColumnElement[bool], ...]:
    """Who receives room data: admitted and connected. Never the lobby."""
    return (
        Participant.meeting_id == meeting_id,
        Participant.admission == Admission.ADMITTED,
        Participant.left_at.is_(None),
    )


def members(tx: Tx, meeting_id: int) -> list[Participant]:
    query = select(Participant).where(*_present(meeting_id)).order_by(Participant.id)
    return list(tx.db.scalars(query))


def member_ids(tx: Tx, meeting_id: int, *, hosts_only: bool = False) -> list[int]:
    query = select(Participant.id).where(*_present(meeting_id)).order_by(Participant.id)
    if hosts_only:
        query = query.where(Participant.is_host.is_(True))
    return list(tx.db.scalars(query))


def waiting(tx: Tx, meeting_id: int) -> list[Participant]:
    return list(
        tx.db.scalars(
            select(Participant)
            .where(
                Participant.meeting_id == meeting_id,
                Participant.admission == Admission.LOBBY,
                Participant.left_at.is_(None),
            )
            .order_by(Participant.joined_at, Participant.id)
        )
    )


def record(
    tx: Tx,
    meeting: Meeting,
    kind: str,
    *,
    actor_id: int | None = None,
    subject_id: int | None = None,
    **data: Any,
) -> None:
    tx.db.add(
        Event(
            at=tx.now,
            room_id=meeting.room_id,
            meeting_id=meeting.id,
            actor_id=actor_id,
            subject_id=subject_id,
            kind=kind,
            data=data,
        )
    )


def to_members(tx: Tx, scope: Scope, message: Message, *, exclude: int | None = None) -> None:
    ids = tuple(pid for pid in member_ids(tx, scope.meeting.id) if pid != exclude)
    if ids:
        tx.effects.append(Broadcast(scope.room.address, message, ids))


def to_hosts(tx: Tx, scope: Scope, message: Message) -> None:
    ids = tuple(member_ids(tx, scope.meeting.id, hosts_only=True))
    if ids:
        tx.effects.append(Broadcast(scope.room.address, message, ids))


def send(tx: Tx, pid: int, message: Message) -> None:
    tx.effects.append(SendTo(pid, message))


def hand_queue(tx: Tx, meeting_id: int) -> dict[int, int]:
    """Raised hands of those present, by time: participant id -> 1-based position."""
    query = (
        select(Participant.id)
        .where(*_present(meeting_id), Participant.hand_raised_at.is_not(None))
        .order_by(Participant.hand_raised_at, Participant.id)
    )
    return {pid: n for n, pid in enumerate(tx.db.scalars(query), start=1)}


def view(tx: Tx, scope: Scope, p: Participant) -> protocol.Participant:
    return msg.participant(p, hand_queue(tx, scope.meeting.id).get(p.id))


def updated(tx: Tx, scope: Scope, p: Participant) -> None:
    to_members(tx, scope, msg.updated(view(tx, scope, p)))


def lobby_changed(tx: Tx, scope: Scope) -> None:
    to_hosts(tx, scope, msg.lobby(waiting(tx, scope.meeting.id)))


def janus_state(scope: Scope, p: Participant) -> JanusModerate:
    return JanusModerate(
        participant=p.id,
        room=scope.room.address,
        audio_muted=not p.audio_right or p.muted,
        camera_muted=not p.camera_right,
    )


def stop_talking(tx: Tx, scope: Scope, p: Participant) -> None:
    """Close an open speaking interval (on silence, mute, revoke or departure)."""
    if p.talking_since is None:
        return
    ms = max(0, int((tx.now - p.talking_since).total_seconds() * 1000))
    p.speaking_ms += ms
    p.talking_since = None
    record(tx, scope.meeting, "talk_stop", subject_id=p.id, ms=ms)


def put_hand_down(
    tx: Tx,
    scope: Scope,
    p: Participant,
    reason: str,
    *,
    actor_id: int | None = None,
    queue_before: dict[int, int] | None = None,
    announce: bool = True,
) -> bool:
    """Lower p's hand and announce everyone whose place in the queue moved up (p itself
    is left to the caller). Pass `queue_before` if p already stopped counting as present."""
    if p.hand_raised_at is None:
        return False
    before = hand_queue(tx, scope.meeting.id) if queue_before is None else queue_before
    p.hand_raised_at = None
    record(tx, scope.meeting, "hand_lowered", actor_id=actor_id, subject_id=p.id, reason=reason)
    if not announce:
        return True
    announce_queue_moves(tx, scope, before)
    return True


def announce_queue_moves(tx: Tx, scope: Scope, before: dict[int, int]) -> None:
    """Tell everyone about each raised hand whose place in the queue changed since `before`."""
    after = hand_queue(tx, scope.meeting.id)
    for pid in sorted(pid for pid, n in after.items() if before.get(pid) != n):
        moved = tx.db.get(Participant, pid)
        assert moved is not None
        to_members(
            tx, scope, msg.updated(view(tx, scope, moved))
        )
