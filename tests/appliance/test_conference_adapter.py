"""The conference adapter (appliance/conference/adapter.py): the bridge's messages
become room events only for what the bridge says changed about this room, room
commands become protocol messages, and new meeting content raises a notice."""

from __future__ import annotations

from typing import Any

from appliance import room
from appliance.conference import client as c
from appliance.conference.adapter import ConferenceAdapter
from appliance.service.health import HealthState
from salon import protocol as p

ROOM = p.RoomInfo(address="testbim", title="Zümre")
ME = p.Participant(id="7", name="ODA 1", role="device")
HOST = p.Participant(id="3", name="Ayşe Öğretmen", role="host", audio_right=True)


class Sent:
    """Stands for the bridge client: what the adapter asks it to send."""

    def __init__(self) -> None:
        self.messages: list[p.Inbound] = []

    def send_soon(self, message: p.Inbound) -> None:
        self.messages.append(message)


class Harness:
    def __init__(self) -> None:
        self.events: list[room.Event] = []
        self.notices: list[tuple[str, Any]] = []
        self.adapter = ConferenceAdapter(
            self.events.append, HealthState("1"),
            show_notice=lambda k, a: self.notices.append((k, a)),
            streams_changed=lambda streams: None, trust_changed=lambda: None)

    def joined(self, me: p.Participant = ME) -> None:
        self.adapter.on_event(c.Joined(me, ROOM))
        self.adapter.on_event(c.ParticipantsChanged({"7": me, "3": HOST}))

    def update(self, person: p.Participant) -> None:
        everyone = {"7": self.adapter.me or ME, "3": HOST, person.id: person}
        self.adapter.on_event(c.ParticipantsChanged(everyone, person))


def test_a_resumed_seat_brings_the_bridges_mute_for_the_room_to_judge() -> None:
    h = Harness()
    h.joined(ME.model_copy(update={"audio_right": True, "mic_muted": True,
                                   "hand_position": 2}))
    assert h.events == [room.Admitted(audio_right=True, hand_raised=True, hand_position=2,
                                      mic_muted=True)]
    assert h.adapter.meeting_title == "Zümre" and list(h.adapter.others) == ["3"]


def test_only_what_the_bridge_says_changed_about_the_room_becomes_an_event() -> None:
    h = Harness()
    h.joined()
    h.events.clear()
    h.update(ME.model_copy(update={"talking": True}))  # nothing of the room's rules
    h.update(HOST.model_copy(update={"hand_position": 1}))  # someone else's
    assert h.events == []
    h.update(ME.model_copy(update={"audio_right": True, "talking": True}))
    h.update(ME.model_copy(update={"audio_right": True, "hand_position": 1}))
    assert h.events == [room.RightsChanged(audio=True, camera=False),
                        room.HandChanged(raised=True, position=1)]


def test_the_hosts_actions_arrive_as_notices_and_room_commands_as_messages() -> None:
    h = Harness()
    h.joined()
    h.adapter.on_event(c.NoticeReceived("muted_by_host"))
    h.adapter.on_event(c.NoticeReceived("hand_lowered_by_host"))
    assert h.events[-2:] == [room.MutedByHost(muted=True), room.HandLoweredByHost()]
    sent = Sent()
    h.adapter.client = sent  # type: ignore[assignment]
    h.adapter.carry_out(room.SetHand(raised=True))
    h.adapter.carry_out(room.ReportMic(muted=False))
    assert sent.messages == [p.SetHand(type="set_hand", raised=True),
                             p.SetMediaState(type="set_media_state", mic_muted=False)]


def test_new_meeting_content_raises_a_notice() -> None:
    h = Harness()
    h.joined()
    h.adapter.on_event(c.MeetingData(p.PollInfo(id=4, question="Hangi gün?",
                                                options=["Pzt", "Salı"], state="open")))
    h.adapter.on_event(c.MeetingData(p.ChatMessage.model_validate(
        {"id": 1, "from": "3", "from_name": "Ayşe", "to": "7", "text": "Merhaba",
         "at": "2026-03-02T08:30:00Z"})))
    assert h.notices == [("poll_opened", (("question", "Hangi gün?"),)),
                         ("chat_private", (("sender", "Ayşe"),))]
    assert h.adapter.meeting.polls[4].info.question == "Hangi gün?"
