"""The room presenting its content input: plug, long press, the right, the bridge's word."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance import room_content
from appliance.room import (
    Admitted,
    ButtonPressed,
    Command,
    ContentPlugged,
    ContentState,
    ContentUnplugged,
    Disconnected,
    Event,
    HandLed,
    PresentationChanged,
    PresentationStoppedByHost,
    PresentRefused,
    RequestPresent,
    RightsChanged,
    RoomState,
    SetContentSending,
    ShowNotice,
    Started,
    content_sending,
    snapshot_commands,
    step,
)

HOLD_CAMERA = ButtonPressed("camera", long=True)
MEETING = RoomState(connection="in_meeting", content=ContentState(on_plug=True))
LOBBY = replace(MEETING, connection="in_lobby")
RIGHT = replace(MEETING, content=replace(MEETING.content, present_right=True))
PLUGGED = replace(RIGHT, content=replace(RIGHT.content, plugged=True))
PLUGGED_NO_RIGHT = replace(MEETING, content=replace(MEETING.content, plugged=True))
ASKED = replace(PLUGGED, content=replace(PLUGGED.content, wanted=True))
PRESENTING = replace(ASKED, content=replace(ASKED.content, presenting=True))
WAITING_FOR_RIGHT = replace(PLUGGED_NO_RIGHT,
                            content=replace(PLUGGED_NO_RIGHT.content, wanted=True))


def notice(key: str) -> ShowNotice:
    return ShowNotice(key, room_content.LEVELS.get(key, "info"))  # type: ignore[arg-type]


def content(state: RoomState, **changes: Any) -> dict[str, Any]:
    return {"content": replace(state.content, **changes)}


# (name, state before, event, fields changed after, exact commands)
CONTENT_TRANSITIONS: list[tuple[str, RoomState, Event, dict[str, Any], list[Command]]] = [
    ("plugging in with the right asks to present", RIGHT, ContentPlugged(),
     content(RIGHT, plugged=True, wanted=True), [RequestPresent(True)]),
    ("plugging in without the right asks the host for it", MEETING, ContentPlugged(),
     content(MEETING, plugged=True, wanted=True),
     [HandLed("nudge"), notice("present_right_needed")]),
    ("plugging in outside the meeting only notes it", LOBBY, ContentPlugged(),
     content(LOBBY, plugged=True), []),
    ("plugging in without present_on_plug only notes it",
     replace(RIGHT, content=replace(RIGHT.content, on_plug=False)), ContentPlugged(),
     {"content": ContentState(present_right=True, plugged=True)}, []),
    ("the bridge's yes starts sending", ASKED, PresentationChanged(True),
     content(ASKED, presenting=True),
     [SetContentSending(True), notice("presenting_started")]),
    ("unplugging stops sending and gives the presentation back", PRESENTING,
     ContentUnplugged(), content(PRESENTING, plugged=False, wanted=False),
     [SetContentSending(False), RequestPresent(False)]),
    ("unplugging while not presenting is quiet", PLUGGED, ContentUnplugged(),
     content(PLUGGED, plugged=False), []),
    ("a long press presents", PLUGGED, HOLD_CAMERA, content(PLUGGED, wanted=True),
     [RequestPresent(True)]),
    ("a long press while presenting stops", PRESENTING, HOLD_CAMERA,
     content(PRESENTING, wanted=False),
     [notice("presenting_stopped"), RequestPresent(False)]),
    ("a long press with nothing plugged in says so", RIGHT, HOLD_CAMERA, {},
     [notice("content_not_plugged")]),
    ("a long press without the right waits for it", PLUGGED_NO_RIGHT, HOLD_CAMERA,
     content(PLUGGED_NO_RIGHT, wanted=True),
     [HandLed("nudge"), notice("present_right_needed")]),
    ("the right granted to a room that waits for it asks at once", WAITING_FOR_RIGHT,
     RightsChanged(False, False, present=True), content(WAITING_FOR_RIGHT, present_right=True),
     [notice("present_granted"), RequestPresent(True)]),
    ("taking the right back stops at once", PRESENTING, RightsChanged(False, False, False),
     content(PRESENTING, present_right=False, wanted=False, presenting=False),
     [SetContentSending(False), notice("present_revoked")]),
    ("rights without a word on presenting leave it", PRESENTING, RightsChanged(False, True),
     {"camera_right": True}, [ShowNotice("camera_granted_press", "good")]),
    ("the host stopping it ends the wish", PRESENTING, PresentationStoppedByHost(),
     content(PRESENTING, wanted=False, presenting=False),
     [SetContentSending(False), notice("presentation_stopped_by_host")]),
    ("the bridge's no then stops sending without asking again", PRESENTING,
     PresentationChanged(False), content(PRESENTING, presenting=False),
     [SetContentSending(False), notice("presenting_stopped")]),
    ("someone else presenting refuses the room", ASKED, PresentRefused(busy=True),
     content(ASKED, wanted=False), [notice("presentation_busy")]),
    ("a refusal nobody asked for is quiet", PLUGGED, PresentRefused(), {}, []),
    ("a presentation event outside the meeting is ignored",
     replace(ASKED, connection="reconnecting"), PresentationChanged(True), {}, []),
    ("a host's stop outside the meeting is ignored", replace(ASKED, connection="left"),
     PresentationStoppedByHost(), {}, []),
    ("a drop keeps the wish and nothing the bridge granted", PRESENTING,
     Disconnected("cut"), {"connection": "reconnecting", "last_error": "cut",
                           **content(PRESENTING, present_right=False, presenting=False)},
     [SetContentSending(False), ShowNotice("connection_lost", "warning")]),
]


@pytest.mark.parametrize(("before", "event", "changes", "commands"),
                         [row[1:] for row in CONTENT_TRANSITIONS],
                         ids=[row[0] for row in CONTENT_TRANSITIONS])
def test_content_transition(before: RoomState, event: Event, changes: dict[str, Any],
                            commands: list[Command]) -> None:
    after, produced = step(before, event)
    assert after == replace(before, **changes)
    # the mic LED and status follow the connection; this table is about content
    assert [c for c in produced if type(c).__name__ not in ("MicLed", "StatusLed")] == commands


def test_the_table_covers_every_presenting_event() -> None:
    assert set(room_content.EVENTS) <= {type(row[2]) for row in CONTENT_TRANSITIONS}


def test_a_reconnect_asks_again_for_what_the_room_presented() -> None:
    state = replace(PRESENTING, connection="reconnecting",
                    content=replace(PRESENTING.content, present_right=False, presenting=False))
    state, commands = step(state, Admitted(present_right=True))
    assert RequestPresent(True) in commands and not content_sending(state)
    state, commands = step(state, PresentationChanged(True))
    assert SetContentSending(True) in commands and content_sending(state)


def test_started_sets_present_on_plug_and_the_snapshot_includes_content() -> None:
    state, _ = step(RoomState(), Started("power-on", present_on_plug=True))
    assert state.content.on_plug
    assert SetContentSending(False) in snapshot_commands(state)


EVENTS = st.sampled_from([
    ContentPlugged(), ContentUnplugged(), HOLD_CAMERA, PresentationChanged(True),
    PresentationChanged(False), PresentationStoppedByHost(), PresentRefused(True),
    PresentRefused(False), RightsChanged(False, False, True), RightsChanged(False, False, False),
    Admitted(present_right=True), Admitted(present_right=True, presenting=True), Admitted(),
    Disconnected("cut"), Started("power-on", present_on_plug=True),
])


@settings(max_examples=400, deadline=None)
@given(st.lists(EVENTS, max_size=40))
def test_content_is_sent_only_with_the_right_the_presentation_and_the_cable(
        events: list[Event]) -> None:
    state = MEETING
    sent = False
    for event in events:
        state, commands = step(state, event)
        for command in commands:
            if isinstance(command, SetContentSending):
                sent = command.sending
            if isinstance(command, RequestPresent) and command.active:
                assert state.content.present_right and state.content.plugged
        assert sent == content_sending(state)
        if sent:
            c = state.content
            assert state.connection == "in_meeting" and c.present_right and c.presenting
            assert c.plugged
        if not state.content.plugged:
            assert not state.content.wanted


def test_holding_the_camera_button_presents_and_a_short_press_still_toggles_the_camera(
) -> None:
    """gpiozero's mock pins: with a content input the camera button gets a long press."""
    from gpiozero.pins.mock import MockFactory

    from appliance.devices.buttons import ButtonBoard
    from appliance.provisioning.schema import ButtonsSettings

    factory = MockFactory()
    state = replace(PLUGGED, camera_right=True)
    sent: list[Command] = []

    def on_button(name: str, long: bool) -> None:
        nonlocal state
        state, commands = step(state, ButtonPressed(name, long))  # type: ignore[arg-type]
        sent.extend(commands)

    settings = ButtonsSettings.model_validate(
        {"pin_factory": "mock", "long_press_s": 0.5, "camera": {"pin": 13}})
    board = ButtonBoard.from_settings(settings, on_button, hand_long_press=False,
                                      camera_long_press=True, pin_factory=factory)
    board.min_gap_s = 0.0
    pin = factory.pin(13)
    try:
        pin.drive_low()  # held past long_press_s
        deadline = time.monotonic() + 30
        while RequestPresent(True) not in sent and time.monotonic() < deadline:
            time.sleep(0.02)
        pin.drive_high()
        assert state.content.wanted and not state.camera_on  # presenting, camera untouched
        time.sleep(0.1)
        pin.drive_low()  # a short press: the camera, on release
        time.sleep(0.1)
        pin.drive_high()
        deadline = time.monotonic() + 30
        while not state.camera_on and time.monotonic() < deadline:
            time.sleep(0.02)
        assert state.camera_on and state.content.wanted
    finally:
        board.close()
        factory.close()
