"""What the room knows of the meeting's chat, polls and files: a pure reducer over the
bridge's messages (the welcome carries the history; later messages add to it)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from salon import protocol as p

CHAT_KEPT = 50


@dataclass(frozen=True)
class PollState:
    info: p.PollInfo
    answer: int | None = None
    counts: tuple[int, ...] = ()
    opened_at: float = 0.0


@dataclass(frozen=True)
class MeetingData:
    chat: tuple[p.ChatMessage, ...] = ()
    polls: dict[int, PollState] = field(default_factory=dict)
    files: tuple[p.FileEntry, ...] = ()

    @property
    def open_poll(self) -> PollState | None:
        """The poll the room is asked to answer: the newest open one."""
        open_ones = [x for x in self.polls.values() if x.info.state == "open"]
        return max(open_ones, key=lambda x: x.info.id) if open_ones else None


def _epoch(iso: str | None) -> float:
    if not iso:
        return 0.0
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def reduce(data: MeetingData, message: p.ServerMessage, now: float) -> MeetingData:
    if isinstance(message, p.Welcome):
        # A welcome (a join, or a seat taken again) carries the room's own answers.
        polls = {x.id: PollState(x, x.my_answer, tuple(x.counts or ()), now)
                 for x in message.polls}
        return MeetingData(tuple(message.chat[-CHAT_KEPT:]), polls, tuple(message.files))
    if isinstance(message, p.ChatMessage):
        return replace(data, chat=(*data.chat, message)[-CHAT_KEPT:])
    if isinstance(message, p.FileAdded):
        return replace(data, files=(*data.files, message.file))
    polls = dict(data.polls)
    if isinstance(message, p.PollInfo):
        old = polls.get(message.id)
        opened = now if old is None or old.info.state != "open" else old.opened_at
        polls[message.id] = PollState(message, old.answer if old else None,
                                      old.counts if old else (), opened)
    elif isinstance(message, p.PollChoice) and message.id in polls:
        polls[message.id] = replace(polls[message.id], answer=message.option)
    elif isinstance(message, p.PollResults) and message.id in polls:
        polls[message.id] = replace(polls[message.id], counts=tuple(message.counts))
    else:
        return data
    return replace(data, polls=polls)
