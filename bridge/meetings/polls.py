"""Polls (Anket): hosts write, open and close them; an answer may change while open.

Hosts see live results; everyone else sees results only after closing, and
only if the host chose to show them.
"""

from __future__ import annotations

from sqlalchemy import func, select

from bridge.meetings import context as cx
from bridge.meetings import messages as msg
from bridge.meetings.effects import Refused
from bridge.store.accounts import InvalidValue, clean_text
from bridge.store.models import Poll, PollAnswer, PollState
from salon import protocol


def _text(value: str, field: str, limit: int) -> str:
    try:
        return clean_text(value, field, limit)
    except InvalidValue as exc:
        raise Refused("bad_poll", str(exc)) from exc


def create(tx: cx.Tx, pid: int, question: str, options: list[str], results_visible: bool) -> None:
    scope = cx.host(tx, pid, "create poll")
    lim = tx.limits
    if not 2 <= len(options) <= lim.poll_max_options:
        raise Refused("bad_poll", f"poll: give 2 to {lim.poll_max_options} options")
    poll = Poll(
        room_id=scope.room.id,
        meeting_id=scope.meeting.id,
        created_by=pid,
        question=_text(question, "poll question", lim.poll_question_chars),
        options=[
            _text(o, f"poll option {i + 1}", lim.poll_option_chars) for i, o in enumerate(options)
        ],
        state=PollState.DRAFT,
        results_visible=results_visible,
        created_at=tx.now,
    )
    tx.db.add(poll)
    tx.db.flush()
    cx.record(tx, scope.meeting, "poll_created", actor_id=pid, poll=poll.id, question=poll.question)
    cx.to_hosts(tx, scope, msg.poll(poll))


def _poll(tx: cx.Tx, scope: cx.Scope, poll_id: int, action: str) -> Poll:
    poll = tx.db.get(Poll, poll_id)
    if poll is None or poll.room_id != scope.room.id:
        raise Refused("no_such_poll", f"{action}: no such poll in this room", security=True)
    return poll


def counts(tx: cx.Tx, poll: Poll) -> list[int]:
    tally = [0] * len(poll.options)
    rows = tx.db.execute(
        select(PollAnswer.option, func.count())
        .where(PollAnswer.poll_id == poll.id)
        .group_by(PollAnswer.option)
    )
    for option, n in rows:
        tally[option] = n
    return tally


def open_(tx: cx.Tx, pid: int, poll_id: int) -> None:
    scope = cx.host(tx, pid, "open poll")
    poll = _poll(tx, scope, poll_id, "open poll")
    if poll.state is not PollState.DRAFT:
        raise Refused("poll_state", "open poll: only a draft can be opened")
    poll.state = PollState.OPEN
    poll.opened_at = tx.now
    cx.record(tx, scope.meeting, "poll_opened", actor_id=pid, poll=poll.id)
    cx.to_members(tx, scope, msg.poll(poll))
    cx.to_hosts(tx, scope, msg.poll_results(poll, counts(tx, poll)))


def close(tx: cx.Tx, pid: int, poll_id: int, results_visible: bool | None) -> None:
    scope = cx.host(tx, pid, "close poll")
    poll = _poll(tx, scope, poll_id, "close poll")
    if poll.state is not PollState.OPEN:
        raise Refused("poll_state", "close poll: the poll is not open")
    poll.state = PollState.CLOSED
    poll.closed_at = tx.now
    if results_visible is not None:
        poll.results_visible = results_visible
    cx.record(
        tx, scope.meeting, "poll_closed", actor_id=pid, poll=poll.id, shown=poll.results_visible
    )
    _announce(tx, scope, poll)


def show_results(tx: cx.Tx, pid: int, poll_id: int, visible: bool) -> None:
    scope = cx.host(tx, pid, "show poll results")
    poll = _poll(tx, scope, poll_id, "show poll results")
    if poll.results_visible == visible:
        return
    poll.results_visible = visible
    cx.record(tx, scope.meeting, "poll_results_shown", actor_id=pid, poll=poll.id, shown=visible)
    if poll.state is PollState.DRAFT:
        cx.to_hosts(tx, scope, msg.poll(poll))
    else:
        _announce(tx, scope, poll)


def _announce(tx: cx.Tx, scope: cx.Scope, poll: Poll) -> None:
    cx.to_members(tx, scope, msg.poll(poll))
    results = msg.poll_results(poll, counts(tx, poll))
    if poll.state is PollState.CLOSED and poll.results_visible:
        cx.to_members(tx, scope, results)
    else:
        cx.to_hosts(tx, scope, results)


def answer(tx: cx.Tx, pid: int, poll_id: int, option: int) -> None:
    scope = cx.actor(tx, pid, "answer poll")
    poll = _poll(tx, scope, poll_id, "answer poll")
    if poll.state is not PollState.OPEN:
        raise Refused("poll_not_open", "answer poll: the poll is not open")
    if not 0 <= option < len(poll.options):
        raise Refused("bad_option", "answer poll: no such option")
    current = tx.db.scalar(
        select(PollAnswer).where(PollAnswer.poll_id == poll.id, PollAnswer.participant_id == pid)
    )
    if current is None:
        tx.db.add(
            PollAnswer(poll_id=poll.id, participant_id=pid, option=option, answered_at=tx.now)
        )
    else:
        current.option = option
        current.answered_at = tx.now
    tx.db.flush()
    cx.record(
        tx,
        scope.meeting,
        "poll_answered",
        actor_id=pid,
        poll=poll.id,
        option=option,
        changed=current is not None,
    )
    cx.send(tx, pid, msg.poll_answer(poll.id, option))
    cx.to_hosts(tx, scope, msg.poll_results(poll, counts(tx, poll)))


def views(tx: cx.Tx, scope: cx.Scope) -> list[protocol.PollView]:
    """The polls a participant may see, with their own answer and results if allowed."""
    is_host = scope.me.is_host
    rows = tx.db.execute(
        select(PollAnswer.poll_id, PollAnswer.option).where(
            PollAnswer.participant_id == scope.me.id
        )
    )
    mine = {poll_id: option for poll_id, option in rows}
    out = []
    for poll in tx.db.scalars(select(Poll).where(Poll.room_id == scope.room.id).order_by(Poll.id)):
        if poll.state is PollState.DRAFT and not is_host:
            continue
        may_see = is_host or (poll.state is PollState.CLOSED and poll.results_visible)
        out.append(msg.poll_view(poll, mine.get(poll.id), counts(tx, poll) if may_see else None))
    return out
