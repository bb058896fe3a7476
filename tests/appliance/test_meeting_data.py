"""The room's view of the meeting's polls: its own answer stays marked across a new
welcome (a reconnect) and across the poll's later messages."""

from __future__ import annotations

import json

from appliance.meeting_data import CHAT_KEPT, MeetingData, reduce
from salon import protocol as p

POLL = {"type": "poll", "id": 7, "question": "Hangi gün?", "options": ["Pzt", "Salı"],
        "state": "open"}


def server_message(fields: dict[str, object]) -> p.ServerMessage:
    return p.parse_server_message(json.dumps(fields))


def welcome(**poll: object) -> p.ServerMessage:
    me = {"id": "3", "name": "ODA 1", "role": "device"}
    return server_message({
        "type": "welcome", "you": me, "participants": [me], "polls": [{**POLL, **poll}],
        "room": {"address": "testbim", "title": "Test", "policy": "public",
                 "open_floor": False}})


def test_the_rooms_own_answer_survives_a_welcome_and_the_polls_closing() -> None:
    data = reduce(MeetingData(), welcome(my_answer=1, counts=[0, 1]), now=10.0)
    assert (data.polls[7].answer, data.polls[7].counts) == (1, (0, 1))
    closed = server_message({**POLL, "state": "closed", "results_visible": True})
    data = reduce(data, closed, now=20.0)
    assert data.polls[7].info.state == "closed" and data.polls[7].answer == 1


def chat(n: int) -> p.ChatMessage:
    return p.ChatMessage.model_validate({"id": n, "from": "3", "from_name": "Ayşe",
                                         "text": f"mesaj {n}", "at": "2026-03-02T08:30:00Z"})


def test_the_room_keeps_the_latest_chat_only() -> None:
    data = MeetingData()
    for n in range(CHAT_KEPT + 5):
        data = reduce(data, chat(n), now=1.0)
    assert len(data.chat) == CHAT_KEPT and data.chat[-1].id == CHAT_KEPT + 4
    assert data.chat[0].id == 5


def test_the_room_is_asked_the_newest_open_poll_opened_when_it_opened() -> None:
    data = MeetingData()
    for pid, state in ((1, "open"), (2, "open"), (3, "draft")):
        data = reduce(data, p.PollInfo.model_validate({**POLL, "id": pid, "state": state}),
                      now=float(pid))
    assert data.open_poll is not None and data.open_poll.info.id == 2
    data = reduce(data, p.PollInfo.model_validate({**POLL, "id": 2, "state": "open",
                                                   "question": "Değişti"}), now=50.0)
    assert data.open_poll is not None and data.open_poll.opened_at == 2.0, "still open"
    data = reduce(data, p.PollInfo.model_validate({**POLL, "id": 2, "state": "closed"}), 60.0)
    assert data.open_poll is not None and data.open_poll.info.id == 1
    data = reduce(data, p.PollInfo.model_validate({**POLL, "id": 2, "state": "open"}), 70.0)
    assert data.open_poll is not None and data.open_poll.opened_at == 70.0, "opened again"


def test_answers_and_results_of_unknown_polls_and_other_messages_change_nothing() -> None:
    data = reduce(MeetingData(), welcome(), now=1.0)
    for message in (p.PollChoice(id=99, option=0),
                    p.PollResults(id=99, counts=[1], total=1),
                    p.Notice(code="muted_by_host")):
        assert reduce(data, message, now=2.0) is data
    results = reduce(data, p.PollResults(id=7, counts=[2, 3], total=5), now=3.0)
    assert results.polls[7].counts == (2, 3)
