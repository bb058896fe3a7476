"""The screen model the view composes (appliance/view.py), without pixels: who is shown
and in which order, the room's own tile from its state machine, the active speaker,
the phase, and the meeting's chat, poll and files as the bridge sent them."""

from __future__ import annotations

from dataclasses import replace

from appliance import room, view
from appliance.meeting_data import MeetingData, reduce
from appliance.screen import model as sm
from salon import protocol as p

ME = p.Participant(id="7", name="ODA 1", client="appliance", role="device")
IN_MEETING = room.RoomState(connection="in_meeting", audio_right=True)


def model(state: room.RoomState = IN_MEETING, others: list[p.Participant] | None = None,
          meeting: MeetingData | None = None, **inputs: object) -> sm.ScreenModel:
    fields: dict[str, object] = dict(
        state=state, room_name="ODA 1", meeting_title="Zümre", version="1",
        language="tr", me=ME, others={x.id: x for x in others or []}, notices=(),
        self_view=True, self_view_position="bottom-right",
        meeting=meeting or MeetingData())
    fields.update(inputs)
    return view.screen_model(view.ViewInputs(**fields))  # type: ignore[arg-type]


def test_others_are_shown_by_name_and_the_room_itself_last() -> None:
    shown = model(others=[p.Participant(id="4", name="Zeynep"),
                          p.Participant(id="2", name="Ali"),
                          p.Participant(id="9", name="Ali")]).participants
    assert [(x.id, x.name) for x in shown] == [("2", "Ali"), ("9", "Ali"), ("4", "Zeynep"),
                                               (view.SELF_ID, "ODA 1")]
    assert [x.is_self for x in shown] == [False, False, False, True]


def test_the_rooms_own_tile_follows_its_state_machine_not_the_bridges_echo() -> None:
    state = replace(IN_MEETING, hand_raised=True, hand_position=2, muted_by_host=True,
                    camera_right=True, camera_on=True)
    me = model(state=state).participants[-1]  # the bridge's record still says none of it
    assert (me.hand_raised, me.hand_position, me.muted, me.camera_on) == (True, 2, True, True)
    assert model(state=replace(state, camera_failed=True)).participants[-1].camera_on is False


def test_the_active_speaker_is_one_of_the_others_who_talks() -> None:
    talking = [p.Participant(id="5", name="B", talking=True),
               p.Participant(id="3", name="C", talking=True),
               p.Participant(id="1", name="A")]
    assert model(others=talking).active_speaker_id == "3"
    assert model(others=talking[2:]).active_speaker_id is None


def test_each_connection_state_has_its_phase_and_the_reason_shown() -> None:
    for connection, phase in view.PHASES.items():
        state = room.RoomState(connection=connection)  # type: ignore[arg-type]
        assert model(state=state).phase == phase
    lost = room.RoomState(connection="reconnecting", attempt=3, last_error="timed out")
    assert (model(state=lost).status.reason, model(state=lost).status.attempt) == (
        "timed out", 3)
    assert model(state=lost, reconnect_reason="the bridge is restarting").status.reason == \
        "the bridge is restarting"


def test_chat_poll_and_files_come_from_the_meeting_data() -> None:
    chat = [p.ChatMessage.model_validate({"id": n, "from": "3", "from_name": "Ayşe", "to": to,
                                          "text": f"mesaj {n}", "at": "2026-03-02T08:30:00Z"})
            for n, to in ((1, None), (2, "7"))]
    poll = p.PollInfo(id=4, question="Hangi gün?", options=["Pzt", "Salı"], state="open")
    files = [p.FileEntry(id=1, name="plan.pdf", size=2048, sha256="0" * 64,
                         content_type="application/pdf", uploaded_at="2026-03-02T08:31:00Z",
                         uploader="Ayşe")]
    data = MeetingData()
    for message in (*chat, poll, p.PollChoice(id=4, option=1), p.FileAdded(file=files[0])):
        data = reduce(data, message, now=100.0)
    shown = model(meeting=data)
    assert [(m.text, m.private_to_room) for m in shown.chat] == [
        ("mesaj 1", False), ("mesaj 2", True)]
    assert shown.chat[0].at == 1772440200.0  # 2026-03-02 08:30 UTC
    assert shown.poll is not None and (shown.poll.question, shown.poll.answer) == (
        "Hangi gün?", 1)
    assert [(f.name, f.size_bytes) for f in shown.files] == [("plan.pdf", 2048)]
    closed = reduce(data, poll.model_copy(update={"state": "closed"}), now=200.0)
    assert model(meeting=closed).poll is None, "a closed poll asks nothing of the room"
