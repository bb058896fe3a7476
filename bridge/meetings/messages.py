"""Every payload the meetings domain sends, in one place.

Plain dicts with a "type" field; salon/protocol.py is the schema authority
and these names follow it (participant ids are strings there, as here).
Times are ISO 8601 UTC strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from bridge.meetings.effects import FileInfo, Payload
from bridge.store.models import ChatMessage, Kind, Participant, Poll, Room

# Message types (server -> client).
WELCOME = "welcome"  # admitted: the whole room state
LOBBY_WAITING = "lobby_waiting"  # to a guest: wait for the host
LOBBY = "lobby"  # to hosts: the waiting queue
DENIED = "denied"  # to a guest the host turned away (then disconnected)
PARTICIPANT_JOINED = "participant_joined"
PARTICIPANT_UPDATED = "participant_updated"  # name, rights, mute, hand
PARTICIPANT_LEFT = "participant_left"
NOTICE = "notice"  # a toast for one participant, e.g. audio_granted (Ses Hakları Verildi)
CHAT = "chat"
POLL = "poll"
POLL_RESULTS = "poll_results"
POLL_ANSWER = "poll_answer"  # to the answering participant: their current choice
FILE_ADDED = "file_added"
MEETING_ENDED = "meeting_ended"

# Notice codes (the client shows the localized text).
AUDIO_GRANTED = "audio_granted"
AUDIO_REVOKED = "audio_revoked"
CAMERA_GRANTED = "camera_granted"
CAMERA_REVOKED = "camera_revoked"
MUTED_BY_HOST = "muted_by_host"
HAND_LOWERED_BY_HOST = "hand_lowered_by_host"

# Disconnect reasons.
REASON_DENIED = "denied"
REASON_REMOVED = "removed"
REASON_REPLACED = "replaced"  # the same account signed in again elsewhere
REASON_MEETING_ENDED = "meeting_ended"
REASON_BRIDGE_RESTART = "bridge_restart"  # the bridge stopped (or had stopped) meanwhile
# A connection that dropped (not a leave): the seat keeps its raised hand, which counts
# in the queue again, at its old place, when the participant comes back.
DROP_REASONS = frozenset({"disconnected", REASON_BRIDGE_RESTART, REASON_REPLACED})


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def pid(participant_id: int | None) -> str | None:
    return None if participant_id is None else str(participant_id)


class Seat(Protocol):
    """What a participant payload is made of: a Participant, or a row of just these
    columns (a roster of hundreds is read without loading an ORM object per member)."""

    @property
    def id(self) -> int: ...
    @property
    def display_name(self) -> str: ...
    @property
    def kind(self) -> Kind: ...
    @property
    def is_host(self) -> bool: ...
    @property
    def audio_right(self) -> bool: ...
    @property
    def camera_right(self) -> bool: ...
    @property
    def muted(self) -> bool: ...
    @property
    def hand_raised_at(self) -> datetime | None: ...


def role(p: Seat) -> str:
    if p.is_host:
        return "host"
    return {Kind.GUEST: "guest", Kind.DEVICE: "device"}.get(p.kind, "participant")


def participant(p: Seat, hand_position: int | None) -> Payload:
    """The protocol's Participant fields this domain decides (the transport adds media state)."""
    return {
        "id": str(p.id),
        "name": p.display_name,
        "role": role(p),
        "audio_right": p.audio_right,
        "camera_right": p.camera_right,
        "mic_muted": p.muted,
        "hand_position": hand_position,  # 1 = first in the queue; None = hand down
        "hand_raised_at": iso(p.hand_raised_at),
    }


def room(r: Room) -> Payload:
    return {"address": r.address, "title": r.title, "policy": r.policy.value,
            "open_floor": r.open_floor}


def chat(m: ChatMessage, sender_name: str) -> Payload:
    return {
        "type": CHAT,
        "id": m.id,
        "from": str(m.sender_id),
        "from_name": sender_name,
        "to": pid(m.recipient_id),
        "text": m.text,
        "at": iso(m.sent_at),
    }


def poll(p: Poll) -> Payload:
    return {
        "type": POLL,
        "id": p.id,
        "question": p.question,
        "options": list(p.options),
        "state": p.state.value,
        "results_visible": p.results_visible,
    }


def poll_results(p: Poll, counts: Sequence[int]) -> Payload:
    return {"type": POLL_RESULTS, "id": p.id, "counts": list(counts), "total": sum(counts)}


def poll_answer(poll_id: int, option: int | None) -> Payload:
    return {"type": POLL_ANSWER, "id": poll_id, "option": option}


def file(f: FileInfo) -> Payload:
    return {
        "id": f.id,
        "name": f.name,
        "size": f.size,
        "sha256": f.sha256,
        "content_type": f.content_type,
        "uploaded_at": f.uploaded_at,
        "uploader": f.uploader,
    }


def welcome(
    me: Payload,
    r: Room,
    meeting_id: int,
    people: list[Payload],
    chat_history: list[Payload],
    polls: list[Payload],
    files: list[Payload],
    lobby_queue: list[Payload] | None,
) -> Payload:
    body: dict[str, Any] = {
        "type": WELCOME,
        "you": me,
        "room": room(r),
        "meeting": meeting_id,
        "participants": people,
        "chat": chat_history,
        "polls": polls,
        "files": files,
    }
    if lobby_queue is not None:
        body["lobby"] = lobby_queue
    return body


def lobby_waiting(me: Participant) -> Payload:
    return {"type": LOBBY_WAITING, "you": {"id": str(me.id), "name": me.display_name}}


def lobby(waiting: Iterable[Participant]) -> Payload:
    return {"type": LOBBY, "waiting": lobby_entries(waiting)}


def lobby_entries(waiting: Iterable[Participant]) -> list[Payload]:
    return [{"id": str(p.id), "name": p.display_name, "since": iso(p.joined_at)} for p in waiting]


def simple(kind: str, **fields: Any) -> Payload:
    return {"type": kind, **fields}


def notice(code: str) -> Payload:
    return {"type": NOTICE, "code": code}
