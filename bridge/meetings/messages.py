"""Every message the meetings domain sends, in one place, as the protocol's own types.

salon/protocol.py is the one schema: each message is built (and so validated) here
once; the transport adds only what it alone knows (media state, the recipient's
token and request id) and serialises each broadcast once. Participant ids are
strings on the wire; times are ISO 8601 UTC strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from bridge.store.models import ChatMessage, Kind, Participant, Poll, Room
from salon import protocol as p

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


def role(person: Participant) -> str:
    if person.is_host:
        return "host"
    return {Kind.GUEST: "guest", Kind.DEVICE: "device"}.get(person.kind, "participant")


def participant(person: Participant, hand_position: int | None) -> p.Participant:
    """The protocol's Participant fields this domain decides (the transport adds media state)."""
    return p.Participant.model_validate({
        "id": str(person.id),
        "name": person.display_name,
        "role": role(person),
        "audio_right": person.audio_right,
        "camera_right": person.camera_right,
        "mic_muted": person.muted,
        "hand_position": hand_position,  # 1 = first in the queue; None = hand down
        "hand_raised_at": iso(person.hand_raised_at),
    })


def joined(person: p.Participant) -> p.ParticipantJoined:
    return p.ParticipantJoined(participant=person)


def updated(person: p.Participant) -> p.ParticipantUpdated:
    return p.ParticipantUpdated(participant=person)


def left(participant_id: int, reason: str) -> p.ParticipantLeft:
    return p.ParticipantLeft(id=str(participant_id), reason=reason)


def room(r: Room) -> p.RoomInfo:
    return p.RoomInfo.model_validate({"address": r.address, "title": r.title,
                                      "policy": r.policy.value, "open_floor": r.open_floor})


def chat(m: ChatMessage, sender_name: str) -> p.ChatMessage:
    return p.ChatMessage.model_validate({
        "id": m.id,
        "from": str(m.sender_id),
        "from_name": sender_name,
        "to": pid(m.recipient_id),
        "text": m.text,
        "at": iso(m.sent_at),
    })


def poll(q: Poll) -> p.PollInfo:
    return p.PollInfo.model_validate({
        "id": q.id, "question": q.question, "options": list(q.options),
        "state": q.state.value, "results_visible": q.results_visible})


def poll_view(q: Poll, my_answer: int | None, counts: list[int] | None) -> p.PollView:
    """A poll in a welcome: with this participant's answer, and the counts if it may see them."""
    return p.PollView.model_validate({
        **poll(q).model_dump(), "my_answer": my_answer, "counts": counts})


def poll_results(q: Poll, counts: Sequence[int]) -> p.PollResults:
    return p.PollResults(id=q.id, counts=list(counts), total=sum(counts))


def poll_answer(poll_id: int, option: int | None) -> p.PollChoice:
    return p.PollChoice(id=poll_id, option=option)


def file_added(f: p.FileEntry) -> p.FileAdded:
    return p.FileAdded(file=f)


def welcome(
    me: p.Participant,
    r: Room,
    meeting_id: int,
    people: list[p.Participant],
    chat_history: list[p.ChatMessage],
    polls: list[p.PollView],
    files: list[p.FileEntry],
    lobby_queue: list[p.LobbyEntry] | None,
) -> p.Welcome:
    """Admitted: the room as it is now (the transport adds the token and request id)."""
    return p.Welcome(you=me, room=room(r), meeting=meeting_id, participants=people,
                     chat=chat_history, polls=polls, files=files, lobby=lobby_queue)


def lobby_waiting(me: Participant) -> p.LobbyWaiting:
    return p.LobbyWaiting(you=p.LobbyEntry(id=str(me.id), name=me.display_name))


def lobby(waiting: Iterable[Participant]) -> p.Lobby:
    return p.Lobby(waiting=lobby_entries(waiting))


def lobby_entries(waiting: Iterable[Participant]) -> list[p.LobbyEntry]:
    return [p.LobbyEntry(id=str(w.id), name=w.display_name, since=iso(w.joined_at))
            for w in waiting]


def denied() -> p.Denied:
    return p.Denied()


def meeting_ended() -> p.MeetingEnded:
    return p.MeetingEnded()


def notice(code: str) -> p.Notice:
    return p.Notice(code=code)
