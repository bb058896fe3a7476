"""Entering and leaving: sign-in, guests and the lobby, resume, names, the meeting's life.

A meeting is one occurrence of a room: it starts with the first arrival and
ends when a host ends it or it has stood empty for `meeting_idle_end` (at once when
the scheduled occurrence it started in is over).
Participants who lose their connection keep their seat (rights, hand, poll
answers) and may resume it with their session token, even across a bridge
restart; lobby guests keep their place in the queue the same way. Every resume
hands out a new token and the old one stops working.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import func, select

from bridge.meetings import chat, files, polls
from bridge.meetings import context as cx
from bridge.meetings import messages as msg
from bridge.meetings.effects import Broadcast, Disconnect, Joined, Refused
from bridge.meetings.names import display_name, guest_name_in_guide_form
from bridge.schedules import occurrence_at
from bridge.store import schedules as stored_schedule
from bridge.store.accounts import find_room
from bridge.store.models import (
    Account,
    Admission,
    Kind,
    Meeting,
    Participant,
    Policy,
    Role,
    Room,
)
from salon import protocol


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _room(tx: cx.Tx, address: str) -> Room:
    room = find_room(tx.db, address)
    if room is None:
        raise Refused("no_such_room", f"join: there is no room at /{address.strip('/')}")
    cx.enter_room(tx, room)
    return room


def current_meeting(tx: cx.Tx, room: Room) -> Meeting:
    """The room's meeting that is on, ending a stale one and starting a new one as needed."""
    meeting = tx.db.scalar(
        select(Meeting).where(Meeting.room_id == room.id, Meeting.ended_at.is_(None))
    )
    if meeting is not None and not end_if_idle(tx, meeting):
        return meeting
    meeting = Meeting(room_id=room.id, started_at=tx.now)
    occurrence = occurrence_at(stored_schedule.icals(tx.db, room), tx.now)
    if occurrence is not None:  # reports list each occurrence as a meeting of its own
        meeting.schedule_uid, meeting.scheduled_title = occurrence.uid, occurrence.title
        meeting.scheduled_start, meeting.scheduled_end = occurrence.start, occurrence.end
    tx.db.add(meeting)
    tx.db.flush()
    if occurrence is None:
        cx.record(tx, meeting, "meeting_started")
    else:
        cx.record(tx, meeting, "meeting_started", scheduled=occurrence.title,
                  uid=occurrence.uid, start=msg.iso(occurrence.start))
    return meeting


def end_if_idle(tx: cx.Tx, meeting: Meeting) -> bool:
    connected, last_left = tx.db.execute(
        select(
            func.count().filter(Participant.left_at.is_(None)),
            func.max(Participant.left_at),
        ).where(Participant.meeting_id == meeting.id)
    ).one()
    if connected:
        return False
    idle_since = last_left or meeting.started_at
    # An empty meeting whose scheduled time is over ends at once: the next occurrence
    # (a class right after) must be a meeting of its own.
    over = meeting.scheduled_end is not None and tx.now >= meeting.scheduled_end
    if not over and tx.now - idle_since < tx.limits.meeting_idle_end:
        return False
    meeting.ended_at = idle_since
    cx.record(tx, meeting, "meeting_ended", reason="schedule" if over else "idle")
    return True


def _new_participant(
    tx: cx.Tx, meeting: Meeting, name: str, kind: Kind, admission: Admission
) -> tuple[Participant, str]:
    token = secrets.token_urlsafe(32)
    p = Participant(
        meeting_id=meeting.id,
        kind=kind,
        is_host=False,
        display_name=name,
        token_hash=token_hash(token),
        admission=admission,
        joined_at=tx.now,
        epoch=1,
        audio_right=False,
        camera_right=False,
        muted=False,
        speaking_ms=0,
        node=tx.node,
        present_right=False,
        presenting_ms=0,
    )
    return p, token


def join_account(tx: cx.Tx, address: str, account: Account) -> Joined:
    room = _room(tx, address)
    meeting = current_meeting(tx, room)
    seat = tx.db.scalar(
        select(Participant)
        .where(Participant.meeting_id == meeting.id, Participant.account_id == account.id)
        .order_by(Participant.id.desc())
        .limit(1)
    )
    if seat is not None:
        if seat.admission is Admission.REMOVED:
            raise Refused("removed", "join: the host removed you from this meeting", security=True)
        token = secrets.token_urlsafe(32)
        seat.token_hash = token_hash(token)  # a new sign-in: older tokens stop working
        return _reconnect(tx, cx.scope_of(tx, seat), token)
    kind = Kind.DEVICE if account.role is Role.DEVICE else Kind.ACCOUNT
    p, token = _new_participant(tx, meeting, account.display_name, kind, Admission.ADMITTED)
    p.account_id = account.id
    p.is_host = account.role is Role.HOST
    p.audio_right = p.camera_right = p.present_right = p.is_host or room.open_floor
    p.decided_at = tx.now
    tx.db.add(p)
    tx.db.flush()
    scope = cx.Scope(p, meeting, room)
    cx.record(tx, scope.meeting, "joined", subject_id=p.id, account=account.username)
    _arrive(tx, scope)
    return Joined(participant=p.id, room=room.address, token=token, admitted=True, epoch=p.epoch)


def join_guest(tx: cx.Tx, address: str, raw_name: str) -> Joined:
    room = _room(tx, address)
    if room.policy is not Policy.PUBLIC:
        raise Refused("room_private", "join: this room is for signed-in users only", security=True)
    name = guest_name_in_guide_form(raw_name) if room.guest_name_format else display_name(raw_name)
    meeting = current_meeting(tx, room)
    if room.open_floor:  # an unmoderated room: no lobby, everyone may speak and show
        p, token = _new_participant(tx, meeting, name, Kind.GUEST, Admission.ADMITTED)
        p.audio_right = p.camera_right = p.present_right = True
        p.decided_at = tx.now
        tx.db.add(p)
        tx.db.flush()
        scope = cx.Scope(p, meeting, room)
        cx.record(tx, scope.meeting, "joined", subject_id=p.id, name=name, guest=True)
        _arrive(tx, scope)
        return Joined(participant=p.id, room=room.address, token=token, admitted=True,
                      epoch=p.epoch)
    p, token = _new_participant(tx, meeting, name, Kind.GUEST, Admission.LOBBY)
    tx.db.add(p)
    tx.db.flush()
    scope = cx.Scope(p, meeting, room)
    cx.record(tx, scope.meeting, "lobby_entered", subject_id=p.id, name=name)
    cx.send(tx, p.id, msg.lobby_waiting(p))
    cx.lobby_changed(tx, scope)
    return Joined(participant=p.id, room=room.address, token=token, admitted=False, epoch=p.epoch)


def resume(tx: cx.Tx, address: str, token: str) -> Joined:
    room = _room(tx, address)
    p = tx.db.scalar(select(Participant).where(Participant.token_hash == token_hash(token)))
    if p is None:
        raise Refused("bad_token", "resume: unknown session", security=True)
    scope = cx.scope_of(tx, p)
    if scope.room.id != room.id:
        raise Refused("bad_token", "resume: unknown session", security=True)
    if scope.meeting.ended_at is not None or end_if_idle(tx, scope.meeting):
        raise Refused("session_expired", "resume: that meeting is over; join again")
    if p.admission in (Admission.DENIED, Admission.REMOVED):
        raise Refused("removed", f"resume: you were {p.admission.value}", security=True)
    # A new token on every resume: one copied from a shared PC, a log or a proxy stops
    # working the moment its owner comes back, and the one replayed after that is refused.
    fresh = secrets.token_urlsafe(32)
    p.token_hash = token_hash(fresh)
    return _reconnect(tx, scope, fresh)


def _reconnect(tx: cx.Tx, scope: cx.Scope, token: str) -> Joined:
    """The same seat on a new connection; an older connection still open is closed."""
    p = scope.me
    was_connected = p.left_at is None
    if was_connected:
        tx.effects.append(Disconnect(p.id, msg.REASON_REPLACED, p.epoch))
    queue = cx.hand_queue(tx, scope.meeting.id)
    p.epoch += 1
    p.left_at = None
    p.node = tx.node  # this process holds the seat's connection now
    admitted = p.admission is Admission.ADMITTED
    if admitted:
        if not was_connected:
            cx.record(tx, scope.meeting, "joined", subject_id=p.id, resumed=True)
        _arrive(tx, scope, announce=not was_connected)
        if not was_connected and p.hand_raised_at is not None:
            cx.announce_queue_moves(tx, scope, {**queue, p.id: 0})  # back in its place
    else:
        if not was_connected:
            cx.record(tx, scope.meeting, "lobby_entered", subject_id=p.id, resumed=True)
        cx.send(tx, p.id, msg.lobby_waiting(p))
        cx.lobby_changed(tx, scope)
    return Joined(
        participant=p.id, room=scope.room.address, token=token, admitted=admitted, epoch=p.epoch
    )


def _arrive(tx: cx.Tx, scope: cx.Scope, *, announce: bool = True) -> None:
    """An admitted participant's connection: the room's state to it, its arrival to others."""
    cx.send(tx, scope.me.id, welcome(tx, scope))
    if announce:
        cx.to_members(
            tx,
            scope,
            msg.joined(cx.view(tx, scope, scope.me)),
            exclude=scope.me.id,
        )


def welcome(tx: cx.Tx, scope: cx.Scope) -> protocol.Welcome:
    lobby = msg.lobby_entries(cx.waiting(tx, scope.meeting.id)) if scope.me.is_host else None
    people = cx.member_views(tx, scope.meeting.id)
    me = str(scope.me.id)
    you = next((person for person in people if person.id == me), None)
    return msg.welcome(
        you or msg.participant(scope.me, None),
        scope.room,
        scope.meeting.id,
        people,
        chat.history(tx, scope),
        polls.views(tx, scope),
        files.listing(tx, scope.room.id),
        lobby,
    )


def _lobby_guest(tx: cx.Tx, scope: cx.Scope, gid: int, action: str) -> Participant:
    guest = cx.subject(tx, scope, gid, action)
    if guest.admission is not Admission.LOBBY or guest.left_at is not None:
        raise Refused("not_waiting", f"{action}: that guest is not waiting in the lobby")
    return guest


def admit(tx: cx.Tx, host_id: int, guest_id: int) -> None:
    scope = cx.host(tx, host_id, "admit")
    guest = _lobby_guest(tx, scope, guest_id, "admit")
    guest.admission = Admission.ADMITTED
    guest.decided_at = tx.now
    guest.audio_right = guest.camera_right = guest.present_right = scope.room.open_floor
    tx.db.flush()
    guest_scope = cx.Scope(guest, scope.meeting, scope.room)
    cx.record(tx, scope.meeting, "admitted", actor_id=host_id, subject_id=guest.id)
    cx.record(tx, scope.meeting, "joined", subject_id=guest.id)
    _arrive(tx, guest_scope)
    cx.lobby_changed(tx, scope)


def deny(tx: cx.Tx, host_id: int, guest_id: int) -> None:
    scope = cx.host(tx, host_id, "deny")
    guest = _lobby_guest(tx, scope, guest_id, "deny")
    guest.admission = Admission.DENIED
    guest.decided_at = tx.now
    guest.left_at = tx.now
    cx.record(tx, scope.meeting, "denied", actor_id=host_id, subject_id=guest.id)
    cx.send(tx, guest.id, msg.denied())
    tx.effects.append(Disconnect(guest.id, msg.REASON_DENIED, guest.epoch))
    cx.lobby_changed(tx, scope)


def leave(tx: cx.Tx, pid: int, epoch: int | None, reason: str) -> None:
    """A connection ended (or the participant left). A stale connection changes nothing."""
    p = tx.db.get(Participant, pid)
    if p is None or p.left_at is not None or (epoch is not None and epoch != p.epoch):
        return
    scope = cx.scope_of(tx, p)
    _depart(tx, scope, p, reason)
    tx.guards.chat.forget(pid)
    tx.guards.actions.forget(pid)
    if p.admission is Admission.LOBBY:
        cx.lobby_changed(tx, scope)
    else:
        # Made even with no one left to tell: every process carries it out, and one
        # holding this seat's phones ends them (several processes, bridge/web/app.py).
        ids = tuple(cx.member_ids(tx, scope.meeting.id))
        tx.effects.append(Broadcast(scope.room.address, msg.left(p.id, reason), ids))


def _depart(
    tx: cx.Tx, scope: cx.Scope, p: Participant, reason: str, *, announce: bool = True
) -> None:
    queue = cx.hand_queue(tx, scope.meeting.id)
    p.left_at = tx.now
    cx.stop_talking(tx, scope, p)
    cx.stop_presenting(tx, scope, p, reason=reason)  # others see it go with the departure
    if reason not in msg.DROP_REASONS:
        cx.put_hand_down(tx, scope, p, "left", queue_before=queue, announce=announce)
    elif announce and p.hand_raised_at is not None:
        cx.announce_queue_moves(tx, scope, queue)  # the hands behind move up meanwhile
    cx.record(tx, scope.meeting, "left", subject_id=p.id, reason=reason)


def rename(tx: cx.Tx, pid: int, raw_name: str) -> None:
    scope = cx.actor(tx, pid, "rename")
    p = scope.me
    guide_form = p.kind is Kind.GUEST and scope.room.guest_name_format
    name = guest_name_in_guide_form(raw_name) if guide_form else display_name(raw_name)
    if name == p.display_name:
        return
    cx.record(
        tx, scope.meeting, "renamed", actor_id=pid, subject_id=pid, old=p.display_name, new=name
    )
    p.display_name = name
    cx.updated(tx, scope, p)


def end_meeting(tx: cx.Tx, host_id: int) -> None:
    scope = cx.host(tx, host_id, "end meeting")
    everyone = list(
        tx.db.scalars(
            select(Participant).where(
                Participant.meeting_id == scope.meeting.id, Participant.left_at.is_(None)
            )
        )
    )
    cx.to_members(tx, scope, msg.meeting_ended())
    for p in everyone:
        _depart(tx, scope, p, msg.REASON_MEETING_ENDED, announce=False)
        tx.effects.append(Disconnect(p.id, msg.REASON_MEETING_ENDED, p.epoch))
    scope.meeting.ended_at = tx.now
    cx.record(tx, scope.meeting, "meeting_ended", actor_id=host_id, reason="host")


def recover(tx: cx.Tx) -> int:
    """At start-up: no connection survived the restart; seats stay for resuming. With
    several processes, only this one's connections (the others' are alive)."""
    query = select(Participant).where(Participant.left_at.is_(None))
    if tx.node is not None:
        query = query.where(Participant.node == tx.node)
    stale = list(tx.db.scalars(query))
    for p in stale:
        _depart(tx, cx.scope_of(tx, p), p, msg.REASON_BRIDGE_RESTART, announce=False)
    return len(stale)


def sweep(tx: cx.Tx) -> int:
    """End meetings that have stood empty long enough; returns how many."""
    ended = 0
    for meeting in list(tx.db.scalars(select(Meeting).where(Meeting.ended_at.is_(None)))):
        ended += end_if_idle(tx, meeting)
    return ended
