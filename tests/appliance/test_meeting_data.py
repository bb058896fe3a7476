"""The room's view of the meeting's polls: its own answer stays marked across a new
welcome (a reconnect) and across the poll's later messages."""

from __future__ import annotations

from appliance.meeting_data import MeetingData, reduce
from salon import protocol as p

POLL = {"type": "poll", "id": 7, "question": "Hangi gün?", "options": ["Pzt", "Salı"],
        "state": "open"}


def welcome(**poll: object) -> p.ServerMessage:
    me = {"id": "3", "name": "ODA 1", "role": "device"}
    return p.validate_server_payload({
        "type": "welcome", "you": me, "participants": [me], "polls": [{**POLL, **poll}],
        "room": {"address": "testbim", "title": "Test", "policy": "public",
                 "open_floor": False}})


def test_the_rooms_own_answer_survives_a_welcome_and_the_polls_closing() -> None:
    data = reduce(MeetingData(), welcome(my_answer=1, counts=[0, 1]), now=10.0)
    assert (data.polls[7].answer, data.polls[7].counts) == (1, (0, 1))
    closed = p.validate_server_payload({**POLL, "state": "closed", "results_visible": True})
    data = reduce(data, closed, now=20.0)
    assert data.polls[7].info.state == "closed" and data.polls[7].answer == 1
