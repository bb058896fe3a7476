"""Chat (Sohbet): to everyone (Herkes) or privately to one participant.

Text is stored and relayed exactly as typed (minus control characters): it is
text, and clients must render it as text. Private messages reach only the
sender and the recipient, in live delivery and in history alike.
"""

from __future__ import annotations

import unicodedata

from sqlalchemy import or_, select

from bridge.meetings import context as cx
from bridge.meetings import messages as msg
from bridge.meetings.effects import Refused
from bridge.store.models import Admission, ChatMessage, Participant
from salon import protocol


def clean(text: str, limit: int) -> str:
    kept = "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    )
    if not kept.strip():
        raise Refused("chat_empty", "chat: the message is empty")
    if len(kept) > limit:
        raise Refused("chat_too_long", f"chat: at most {limit} characters per message")
    return kept


def send(tx: cx.Tx, pid: int, text: str, to: int | None) -> None:
    scope = cx.actor(tx, pid, "chat")
    body = clean(text, tx.limits.chat_max_chars)
    if to is not None:
        recipient = tx.db.get(Participant, to)
        if (
            recipient is None
            or recipient.meeting_id != scope.meeting.id
            or recipient.admission is not Admission.ADMITTED
            or recipient.left_at is not None
            or recipient.id == pid
        ):
            raise Refused("no_such_recipient", "chat: that participant is not in the meeting")
    if not tx.guards.chat.take(pid, tx.now):
        raise Refused("chat_rate_limited", "chat: too many messages, wait a moment")
    message = ChatMessage(
        meeting_id=scope.meeting.id, sender_id=pid, recipient_id=to, text=body, sent_at=tx.now
    )
    tx.db.add(message)
    tx.db.flush()
    cx.record(
        tx, scope.meeting, "chat", actor_id=pid, subject_id=to, message=message.id, chars=len(body)
    )
    said = msg.chat(message, scope.me.display_name)
    if to is None:
        cx.to_members(tx, scope, said)
    else:
        cx.send(tx, pid, said)
        cx.send(tx, to, said)


def history(tx: cx.Tx, scope: cx.Scope) -> list[protocol.ChatMessage]:
    """The meeting's public messages and this participant's private ones, oldest first."""
    me = scope.me.id
    rows = tx.db.execute(
        select(ChatMessage, Participant.display_name)
        .join(Participant, Participant.id == ChatMessage.sender_id)
        .where(
            ChatMessage.meeting_id == scope.meeting.id,
            or_(
                ChatMessage.recipient_id.is_(None),
                ChatMessage.sender_id == me,
                ChatMessage.recipient_id == me,
            ),
        )
        .order_by(ChatMessage.id.desc())
        .limit(tx.limits.chat_history)
    ).all()
    return [msg.chat(m, name) for m, name in reversed(rows)]
