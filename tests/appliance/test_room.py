"""The room state machine, transition by transition, and its safety properties."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance import room
from appliance.room import (
    NOTICE_KEYS,
    Admitted,
    ButtonPressed,
    CameraFailed,
    CameraLed,
    CameraRecovered,
    Command,
    ConfigFailed,
    Connecting,
    Disconnected,
    Event,
    HandChanged,
    HandLed,
    HandLoweredByHost,
    InLobby,
    JoinMeeting,
    LeaveMeeting,
    MeetingLeft,
    MicLed,
    MutedByHost,
    Removed,
    ReportMic,
    RightsChanged,
    RoomState,
    ScheduledJoin,
    ScheduledLeave,
    SetCameraSending,
    SetHand,
    SetMicLive,
    ShowNotice,
    Started,
    StatusLed,
    camera_sending,
    mic_live,
    snapshot_commands,
    step,
)

HAND, HAND_LONG = ButtonPressed("hand"), ButtonPressed("hand", long=True)
MUTE, CAMERA = ButtonPressed("mute"), ButtonPressed("camera")

START = RoomState()
IDLE = RoomState(connection="left", policy="button")
CONNECTING = RoomState(connection="connecting", attempt=1)
LOBBY = RoomState(connection="in_lobby")
MEETING = RoomState(connection="in_meeting")
RECONNECTING = RoomState(connection="reconnecting", attempt=3, last_error="network")
HAND_UP = replace(MEETING, hand_raised=True, hand_position=2)
AUDIO = replace(MEETING, audio_right=True)
ROOM_MUTED = replace(AUDIO, muted_by_room=True)
HOST_MUTED = replace(AUDIO, muted_by_host=True)
CAMERA_SENDING = replace(MEETING, camera_right=True, camera_on=True)  # switched on in the room
BOTH = replace(MEETING, audio_right=True, camera_right=True, camera_on=True)
BOTH_HAND_UP = replace(BOTH, hand_raised=True, hand_position=1)
CAMERA_OFF = replace(CAMERA_SENDING, camera_on=False)
CAMERA_BROKEN = replace(CAMERA_SENDING, camera_failed=True)
BUTTON_MEETING = replace(BOTH, policy="button")
CONFIG_ERROR = RoomState(connection="config_error")
STANDBY = RoomState(connection="left", policy="schedule")


def notice(key: str, level: str = "info") -> ShowNotice:
    return ShowNotice(key, level)  # type: ignore[arg-type]


# (name, state before, event, fields changed after, exact commands)
TRANSITIONS: list[tuple[str, RoomState, Event, dict[str, Any], list[Command]]] = [
    # start-up
    ("power-on joins at start", START, Started("power-on"),
     {"connection": "connecting", "attempt": 1},
     [MicLed("red"), JoinMeeting()]),
    ("button policy waits for a long press", START, Started("button"),
     {"connection": "left", "policy": "button"},
     [StatusLed("off"), notice("hold_to_join")]),
    ("config error without a last good copy", START, ConfigFailed(),
     {"connection": "config_error"},
     [StatusLed("config_error"), notice("config_error", "error")]),
    ("config error with a last good copy only warns", MEETING, ConfigFailed(True), {},
     [notice("config_invalid_using_last_good", "warning")]),
    ("a fixed config starts from config error", CONFIG_ERROR, Started("power-on"),
     {"connection": "connecting", "attempt": 1},
     [MicLed("red"), StatusLed("connecting"), JoinMeeting()]),
    ("config error in a session leaves it", BOTH, ConfigFailed(),
     {"connection": "config_error", "audio_right": False, "camera_right": False,
      "camera_on": False},
     [SetMicLive(False), SetCameraSending(False), MicLed("off"), CameraLed(False),
      StatusLed("config_error"), LeaveMeeting(), notice("config_error", "error")]),
    ("a second Started is ignored", MEETING, Started("button"), {}, []),
    # connecting
    ("first attempt", START, Connecting(1), {"connection": "connecting", "attempt": 1},
     [MicLed("red")]),
    ("next attempt while connecting", CONNECTING, Connecting(2), {"attempt": 2}, []),
    ("next attempt while reconnecting", RECONNECTING, Connecting(4), {"attempt": 4}, []),
    ("late attempt after leaving is ignored", IDLE, Connecting(2), {}, []),
    ("new attempt while joined means the session was lost", BOTH, Connecting(1),
     {"connection": "reconnecting", "audio_right": False, "camera_right": False,
      "attempt": 1},
     [SetMicLive(False), SetCameraSending(False), MicLed("red"), CameraLed(False),
      StatusLed("reconnecting")]),
    ("a failed first attempt retries, showing why", CONNECTING, Disconnected("refused"),
     {"connection": "reconnecting", "last_error": "refused"}, [StatusLed("reconnecting")]),
    ("lobby", CONNECTING, InLobby(), {"connection": "in_lobby"},
     [StatusLed("lobby"), notice("waiting_in_lobby")]),
    ("lobby again is quiet", LOBBY, InLobby(), {}, []),
    ("sent back to the lobby drops rights", BOTH_HAND_UP, InLobby(),
     {"connection": "in_lobby", "audio_right": False, "camera_right": False,
      "hand_raised": False, "hand_position": None, "camera_on": False},
     [SetMicLive(False), SetCameraSending(False), MicLed("red"), HandLed("off"),
      CameraLed(False), StatusLed("lobby"), notice("waiting_in_lobby")]),
    ("admitted without rights", LOBBY, Admitted(), {"connection": "in_meeting"},
     [StatusLed("in_meeting"), notice("joined")]),
    ("admitted straight from connecting", CONNECTING, Admitted(),
     {"connection": "in_meeting", "attempt": 0},
     [StatusLed("in_meeting"), notice("joined")]),
    ("rejoin restores the bridge's rights, the hand and the room's camera",
     replace(RECONNECTING, camera_on=True),
     Admitted(audio_right=True, camera_right=True, hand_raised=True, hand_position=1),
     {"connection": "in_meeting", "audio_right": True, "camera_right": True,
      "hand_raised": True, "hand_position": 1, "attempt": 0, "last_error": ""},
     [SetMicLive(True), SetCameraSending(True), MicLed("green"), HandLed("waiting"),
      CameraLed(True), StatusLed("in_meeting"), notice("rejoined"), ReportMic(False)]),
    ("rejoin keeps the room's own mute and camera choice",
     replace(RECONNECTING, muted_by_room=True, camera_on=False),
     Admitted(audio_right=True, camera_right=True),
     {"connection": "in_meeting", "audio_right": True, "camera_right": True, "attempt": 0,
      "last_error": ""},
     [StatusLed("in_meeting"), notice("rejoined"), ReportMic(True)]),
    ("rejoin with the host's mute", RECONNECTING, Admitted(audio_right=True,
                                                           mic_muted=True),
     {"connection": "in_meeting", "audio_right": True, "muted_by_host": True, "attempt": 0,
      "last_error": ""},
     [StatusLed("in_meeting"), notice("rejoined"), ReportMic(True)]),
    ("a snapshot in the meeting resyncs quietly", BOTH, Admitted(audio_right=True),
     {"camera_right": False, "camera_on": False},
     [SetCameraSending(False), CameraLed(False)]),
    ("a snapshot stops the camera before opening the mic", CAMERA_SENDING,
     Admitted(audio_right=True),
     {"audio_right": True, "camera_right": False, "camera_on": False},
     [SetCameraSending(False), SetMicLive(True), MicLed("green"), CameraLed(False),
      ReportMic(False)]),
    ("admitted after leaving is ignored", IDLE, Admitted(audio_right=True), {}, []),
    ("admitted during a config error is ignored", CONFIG_ERROR, Admitted(True, True), {}, []),
    # losing the session
    ("disconnect drops every right", BOTH_HAND_UP, Disconnected("ice failed"),
     {"connection": "reconnecting", "audio_right": False, "camera_right": False,
      "hand_raised": False, "hand_position": None, "last_error": "ice failed"},
     [SetMicLive(False), SetCameraSending(False), MicLed("red"), HandLed("off"),
      CameraLed(False), StatusLed("reconnecting"), notice("connection_lost", "warning")]),
    ("disconnect drops the host's mute too", HOST_MUTED, Disconnected(),
     {"connection": "reconnecting", "audio_right": False, "muted_by_host": False},
     [StatusLed("reconnecting"), notice("connection_lost", "warning")]),
    ("disconnect keeps the room's own mute", ROOM_MUTED, Disconnected(),
     {"connection": "reconnecting", "audio_right": False, "muted_by_room": True},
     [StatusLed("reconnecting"), notice("connection_lost", "warning")]),
    ("disconnect from the lobby", LOBBY, Disconnected("bridge restarted"),
     {"connection": "reconnecting", "last_error": "bridge restarted"},
     [StatusLed("reconnecting"), notice("connection_lost", "warning")]),
    ("disconnect while reconnecting", RECONNECTING, Disconnected("again"),
     {"last_error": "again"}, []),
    ("disconnect after leaving is ignored", IDLE, Disconnected(), {}, []),
    ("removed by the host", BOTH, Removed("kicked"),
     {"connection": "left", "audio_right": False, "camera_right": False,
      "camera_on": False, "last_error": "kicked"},
     [SetMicLive(False), SetCameraSending(False), MicLed("off"), CameraLed(False),
      StatusLed("off"), LeaveMeeting(), notice("removed_by_host", "warning")]),
    ("meeting ended", MEETING, MeetingLeft("closed"),
     {"connection": "left", "last_error": "closed"},
     [MicLed("off"), StatusLed("off"), LeaveMeeting(), notice("meeting_ended")]),
    ("left confirmation after our own leave is quiet", IDLE, MeetingLeft(), {}, []),
    # rights from the host
    ("audio granted", MEETING, RightsChanged(audio=True, camera=False),
     {"audio_right": True},
     [SetMicLive(True), MicLed("green"), notice("audio_granted", "good"), ReportMic(False)]),
    ("audio granted answers the raised hand", replace(HAND_UP, muted_by_room=True),
     RightsChanged(audio=True, camera=False),
     {"audio_right": True, "hand_raised": False, "hand_position": None,
      "muted_by_room": False},
     [SetMicLive(True), MicLed("green"), HandLed("off"),  # the bridge lowered the hand
      notice("audio_granted", "good"), ReportMic(False)]),
    ("a grant the room did not ask for keeps its mute", ROOM_MUTED,
     RightsChanged(audio=True, camera=False), {}, []),
    ("fresh grant without a hand keeps the room's mute", replace(MEETING, muted_by_room=True),
     RightsChanged(audio=True, camera=False), {"audio_right": True, "muted_by_room": True},
     [notice("audio_granted", "good"), ReportMic(True)]),
    ("audio revoked", AUDIO, RightsChanged(audio=False, camera=False),
     {"audio_right": False},
     [SetMicLive(False), MicLed("red"), notice("audio_revoked", "warning")]),
    ("audio granted while host-muted stays silent", replace(MEETING, muted_by_host=True),
     RightsChanged(audio=True, camera=False), {"audio_right": True},
     [notice("audio_granted", "good"), ReportMic(True)]),
    ("camera granted: the camera waits for a press in the room", AUDIO,
     RightsChanged(audio=True, camera=True), {"camera_right": True},
     [notice("camera_granted_press", "good")]),
    ("camera granted where provisioning starts it at the grant",
     replace(AUDIO, camera_on_grant=True), RightsChanged(audio=True, camera=True),
     {"camera_right": True, "camera_on": True},
     [SetCameraSending(True), CameraLed(True), notice("camera_granted", "good")]),
    ("camera revoked", BOTH, RightsChanged(audio=True, camera=False),
     {"camera_right": False, "camera_on": False},
     [SetCameraSending(False), CameraLed(False), notice("camera_revoked", "warning")]),
    ("both revoked", BOTH, RightsChanged(audio=False, camera=False),
     {"audio_right": False, "camera_right": False, "camera_on": False},
     [SetMicLive(False), SetCameraSending(False), MicLed("red"), CameraLed(False),
      notice("audio_revoked", "warning"), notice("camera_revoked", "warning")]),
    ("rights in the lobby are held for admission", LOBBY, RightsChanged(True, True),
     {"audio_right": True, "camera_right": True},
     [notice("audio_granted", "good"), notice("camera_granted_press", "good")]),
    ("rights of a lost session are ignored", RECONNECTING, RightsChanged(True, True), {}, []),
    ("rights while connecting are ignored", CONNECTING, RightsChanged(True, True), {}, []),
    ("rights after leaving are ignored", IDLE, RightsChanged(True, True), {}, []),
    # the host's mute and hand
    ("muted by the host", AUDIO, MutedByHost(True), {"muted_by_host": True},
     [SetMicLive(False), MicLed("red"), notice("muted_by_host", "warning"), ReportMic(True)]),
    ("unmuted by the host", HOST_MUTED, MutedByHost(False), {"muted_by_host": False},
     [SetMicLive(True), MicLed("green"), notice("unmuted_by_host"), ReportMic(False)]),
    ("repeated host mute is quiet", HOST_MUTED, MutedByHost(True), {}, []),
    ("host mute of a lost session is ignored", RECONNECTING, MutedByHost(True), {}, []),
    ("hand confirmed with its queue place", replace(MEETING, hand_raised=True),
     HandChanged(True, 3), {"hand_position": 3}, []),
    ("hand raised by the bridge (e.g. companion)", MEETING, HandChanged(True, 1),
     {"hand_raised": True, "hand_position": 1}, [HandLed("waiting")]),
    ("hand lowered by the bridge", HAND_UP, HandChanged(False, 1),
     {"hand_raised": False, "hand_position": None}, [HandLed("off")]),
    ("hand lowered by the host", HAND_UP, HandLoweredByHost(),
     {"hand_raised": False, "hand_position": None},
     [HandLed("off"), notice("hand_lowered_by_host", "warning")]),
    ("hand lowered by the host when already down", MEETING, HandLoweredByHost(), {}, []),
    ("hand change of a lost session is ignored", RECONNECTING, HandChanged(True, 1), {}, []),
    # buttons: hand
    ("hand press raises", MEETING, HAND, {"hand_raised": True},
     [HandLed("waiting"), SetHand(True), notice("hand_raised")]),
    ("hand press again lowers", HAND_UP, HAND,
     {"hand_raised": False, "hand_position": None},
     [HandLed("off"), SetHand(False), notice("hand_lowered")]),
    ("hand press in the lobby", LOBBY, HAND, {}, [notice("not_in_meeting")]),
    ("hand press while connecting", CONNECTING, HAND, {}, [notice("not_in_meeting")]),
    ("hand press with a config error", CONFIG_ERROR, HAND, {},
     [notice("config_error", "error")]),
    ("short press when idle under button policy", IDLE, HAND, {},
     [notice("hold_to_join")]),
    ("press after removal rejoins under power-on", replace(IDLE, policy="power-on"), HAND,
     {"connection": "connecting", "attempt": 1},
     [MicLed("red"), StatusLed("connecting"), JoinMeeting()]),
    ("long press joins", IDLE, HAND_LONG, {"connection": "connecting", "attempt": 1},
     [MicLed("red"), StatusLed("connecting"), JoinMeeting()]),
    ("long press leaves under button policy", BUTTON_MEETING, HAND_LONG,
     {"connection": "left", "audio_right": False, "camera_right": False, "camera_on": False},
     [SetMicLive(False), SetCameraSending(False), MicLed("off"), CameraLed(False),
      StatusLed("off"), LeaveMeeting(), notice("left_meeting")]),
    ("long press leaves the lobby under button policy", replace(LOBBY, policy="button"),
     HAND_LONG, {"connection": "left"},
     [MicLed("off"), StatusLed("off"), LeaveMeeting(), notice("left_meeting")]),
    ("long press stops reconnecting under button policy",
     replace(RECONNECTING, policy="button"), HAND_LONG,
     {"connection": "left", "last_error": ""},
     [MicLed("off"), StatusLed("off"), LeaveMeeting(), notice("left_meeting")]),
    # the schedule (appliance/day.py decides when)
    ("standby after start under the schedule", START, Started(policy="schedule"),
     {"connection": "left", "policy": "schedule"}, [StatusLed("off")]),
    ("the schedule joins from standby", STANDBY, ScheduledJoin(),
     {"connection": "connecting", "attempt": 1},
     [MicLed("red"), StatusLed("connecting"), JoinMeeting(), notice("joining_scheduled")]),
    ("the schedule does not join twice", replace(CONNECTING, policy="schedule"),
     ScheduledJoin(), {}, []),
    ("the schedule leaves at the end, into standby", replace(BOTH, policy="schedule"),
     ScheduledLeave(),
     {"connection": "left", "audio_right": False, "camera_right": False, "camera_on": False},
     [SetMicLive(False), SetCameraSending(False), MicLed("off"), CameraLed(False),
      StatusLed("off"), LeaveMeeting(), notice("meeting_time_over")]),
    ("a scheduled leave in standby is quiet", STANDBY, ScheduledLeave(), {}, []),
    ("long press leaves a scheduled meeting", replace(BOTH, policy="schedule"), HAND_LONG,
     {"connection": "left", "audio_right": False, "camera_right": False, "camera_on": False},
     [SetMicLive(False), SetCameraSending(False), MicLed("off"), CameraLed(False),
      StatusLed("off"), LeaveMeeting(), notice("left_meeting")]),
    ("long press is a press under power-on", MEETING, HAND_LONG, {"hand_raised": True},
     [HandLed("waiting"), SetHand(True), notice("hand_raised")]),
    # buttons: mute
    ("mute press with rights mutes", AUDIO, MUTE, {"muted_by_room": True},
     [SetMicLive(False), MicLed("red"), notice("mic_muted"), ReportMic(True)]),
    ("mute press again unmutes", ROOM_MUTED, MUTE, {"muted_by_room": False},
     [SetMicLive(True), MicLed("green"), notice("mic_unmuted"), ReportMic(False)]),
    ("mute press without rights asks to request the floor", MEETING, MUTE, {},
     [HandLed("nudge"), notice("request_to_speak_first")]),
    ("mute press lifts the host's mute, as on the bridge", HOST_MUTED, MUTE,
     {"muted_by_host": False},
     [SetMicLive(True), MicLed("green"), notice("mic_unmuted"), ReportMic(False)]),
    ("mute press outside the meeting", LOBBY, MUTE, {}, [notice("not_in_meeting")]),
    ("mute press with a config error", CONFIG_ERROR, MUTE, {},
     [notice("config_error", "error")]),
    # buttons: camera
    ("camera press with rights stops the camera", CAMERA_SENDING, CAMERA, {"camera_on": False},
     [SetCameraSending(False), CameraLed(False), notice("camera_stopped")]),
    ("camera press again starts video", CAMERA_OFF, CAMERA, {"camera_on": True},
     [SetCameraSending(True), CameraLed(True), notice("camera_started")]),
    ("camera press without rights", AUDIO, CAMERA, {},
     [HandLed("nudge"), notice("camera_right_needed")]),
    ("camera press with a broken camera", CAMERA_BROKEN, CAMERA, {},
     [notice("camera_failed", "warning")]),
    ("camera press outside the meeting", RECONNECTING, CAMERA, {},
     [notice("not_in_meeting")]),
    # devices
    ("camera fails while sending", CAMERA_SENDING, CameraFailed("unplugged"),
     {"camera_failed": True},
     [SetCameraSending(False), CameraLed(False), notice("camera_failed", "warning")]),
    ("camera recovers", CAMERA_BROKEN, CameraRecovered(), {"camera_failed": False},
     [SetCameraSending(True), CameraLed(True), notice("camera_recovered")]),
    ("camera failure before joining is remembered", CONNECTING, CameraFailed(),
     {"camera_failed": True}, [notice("camera_failed", "warning")]),
    ("repeated camera failure is quiet", CAMERA_BROKEN, CameraFailed(), {}, []),
    ("recovery without failure is quiet", CAMERA_SENDING, CameraRecovered(), {}, []),
]


@pytest.mark.parametrize(("before", "event", "changes", "commands"),
                         [row[1:] for row in TRANSITIONS], ids=[row[0] for row in TRANSITIONS])
def test_transition(before: RoomState, event: Event, changes: dict[str, Any],
                    commands: list[Command]) -> None:
    after, produced = step(before, event)
    assert after == replace(before, **changes)
    assert produced == commands


def test_the_table_covers_every_event_and_connection() -> None:
    events = {type(row[2]) for row in TRANSITIONS}
    assert events == set(room._HANDLERS)
    starts = {row[1].connection for row in TRANSITIONS}
    assert starts == {"starting", "config_error", "connecting", "in_lobby", "in_meeting",
                      "reconnecting", "left"}


def test_notices_are_all_declared() -> None:
    used = {c.key for row in TRANSITIONS for c in row[4] if isinstance(c, ShowNotice)}
    assert used <= set(NOTICE_KEYS)
    assert len(set(NOTICE_KEYS)) == len(NOTICE_KEYS)


def test_unknown_event_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        step(START, Event())


def test_snapshot_commands_mirror_the_state() -> None:
    assert snapshot_commands(START) == [
        SetMicLive(False), SetCameraSending(False), MicLed("off"), HandLed("off"),
        CameraLed(False), StatusLed("connecting")]
    assert snapshot_commands(replace(BOTH, hand_raised=True)) == [
        SetMicLive(True), SetCameraSending(True), MicLed("green"), HandLed("waiting"),
        CameraLed(True), StatusLed("in_meeting")]


def test_a_whole_meeting() -> None:
    """Power on, lobby, admitted, ask to speak, granted, mute, camera, network cut, back."""
    state = START
    script: list[Event] = [
        Started("power-on"), Connecting(1), InLobby(), Admitted(), HAND,
        HandChanged(True, 1), RightsChanged(True, False), MUTE, MUTE,
        RightsChanged(True, True), CAMERA, Disconnected("network down"), Connecting(2),
        Admitted(audio_right=True, camera_right=True),
    ]
    for event in script:
        state, _ = step(state, event)
    assert state.connection == "in_meeting" and mic_live(state)
    assert camera_sending(state) and state.camera_on  # the room's press survives the cut


# --- properties ------------------------------------------------------------------------

EVENTS = st.one_of(
    st.builds(ButtonPressed, st.sampled_from(["hand", "mute", "camera"]), st.booleans()),
    st.builds(Started, st.sampled_from(["power-on", "button"])),
    st.builds(ConfigFailed, st.booleans()),
    st.builds(Connecting, st.integers(1, 9)),
    st.just(InLobby()),
    st.builds(Admitted, st.booleans(), st.booleans(), st.booleans(),
              st.none() | st.integers(1, 5), st.booleans()),
    st.builds(RightsChanged, st.booleans(), st.booleans()),
    st.builds(HandChanged, st.booleans(), st.none() | st.integers(1, 5)),
    st.just(HandLoweredByHost()),
    st.builds(MutedByHost, st.booleans()),
    st.builds(Disconnected, st.sampled_from(["", "ice failed", "network"])),
    st.builds(Removed, st.just("")),
    st.builds(MeetingLeft, st.just("")),
    st.builds(CameraFailed, st.just("")),
    st.just(CameraRecovered()),
)

# Events that lead towards a live mic and camera, so the properties are exercised in the
# states that matter (uniform random events rarely get there).
TOWARDS_LIVE = st.sampled_from([
    Started("power-on"), Admitted(audio_right=True, camera_right=True),
    RightsChanged(True, True), MutedByHost(False), MUTE, CAMERA, CameraRecovered(), HAND,
])
PREFIXES = st.sampled_from([
    [], [Started("power-on"), Admitted(True, True)],
    [Started("button"), HAND_LONG, InLobby(), Admitted(True, False)],
])
SEQUENCES = st.tuples(PREFIXES, st.lists(st.one_of(EVENTS, TOWARDS_LIVE), max_size=60)).map(
    lambda parts: [*parts[0], *parts[1]])


@settings(max_examples=400, deadline=None)
@given(SEQUENCES)
def test_random_events_never_open_the_mic_or_camera_without_rights(events: list[Event]) -> None:
    state = RoomState()
    outputs: dict[type, Command] = {SetMicLive: SetMicLive(False),
                                    SetCameraSending: SetCameraSending(False),
                                    MicLed: MicLed("off"), CameraLed: CameraLed(False)}
    granted = {"audio": False, "camera": False}  # what the bridge said this session
    for event in events:
        before = state
        state, commands = step(state, event)
        for command in commands:
            outputs[type(command)] = command
        if isinstance(event, Admitted | RightsChanged) and state.connection in (
                "in_lobby", "in_meeting"):
            granted = {"audio": state.audio_right, "camera": state.camera_right}
        if state.connection not in ("in_lobby", "in_meeting"):
            granted = {"audio": False, "camera": False}

        # the state's own rules
        if mic_live(state):
            assert state.connection == "in_meeting" and state.audio_right
            assert not state.muted_by_room and not state.muted_by_host
        if camera_sending(state):
            assert state.connection == "in_meeting" and state.camera_right
            assert state.camera_on and not state.camera_failed
        # rights exist only inside a session, and only as the bridge granted them
        if state.connection not in ("in_lobby", "in_meeting"):
            assert not (state.audio_right or state.camera_right or state.muted_by_host)
        assert state.audio_right <= granted["audio"]
        assert state.camera_right <= granted["camera"]
        # what the app was told matches the state
        assert outputs[SetMicLive] == SetMicLive(mic_live(state))
        assert outputs[SetCameraSending] == SetCameraSending(camera_sending(state))
        assert outputs[MicLed] == MicLed("green" if mic_live(state) else (
            "off" if state.connection in ("starting", "left", "config_error") else "red"))
        assert outputs[CameraLed] == CameraLed(camera_sending(state))
        # privacy first: switching off comes before anything else in the list
        stops = [c for c in commands if c in (SetMicLive(False), SetCameraSending(False))]
        assert commands[: len(stops)] == stops
        if mic_live(before) and not mic_live(state):
            assert SetMicLive(False) in commands


@settings(max_examples=200, deadline=None)
@given(SEQUENCES, st.lists(EVENTS, max_size=20))
def test_rejoin_never_keeps_rights_the_bridge_did_not_restore(
        before: list[Event], after: list[Event]) -> None:
    """Whatever happened before a disconnect, after it the room holds no right until the
    bridge grants one again."""
    state = RoomState()
    for event in before:
        state, _ = step(state, event)
    state, _ = step(state, Disconnected("cut"))
    for event in after:
        if isinstance(event, Admitted | RightsChanged):
            break
        state, _ = step(state, event)
        assert not state.audio_right and not state.camera_right and not mic_live(state)


@settings(max_examples=400, deadline=None)
@given(SEQUENCES)
def test_a_camera_right_alone_never_puts_the_room_on_camera(events: list[Event]) -> None:
    """Without [camera] start_on_grant, the camera goes live only by a press in the room;
    the choice lasts while the right does (a reconnect included) and goes with it."""
    state = RoomState()
    for event in events:
        before = state
        state, commands = step(state, event)
        pressed = isinstance(event, ButtonPressed) and event.button == "camera"
        if state.camera_on and not before.camera_on:
            assert pressed, (before, event)
        if camera_sending(state) and not camera_sending(before):
            assert before.camera_on or pressed
            assert SetCameraSending(True) in commands and CameraLed(True) in commands
        if not state.camera_right and state.connection != "reconnecting":
            assert not state.camera_on


@settings(max_examples=200, deadline=None)
@given(SEQUENCES)
def test_start_on_grant_puts_the_room_on_camera_as_the_right_comes(events: list[Event]) -> None:
    state, _ = step(RoomState(), Started("power-on", camera_on_grant=True))
    for event in events:
        before = state
        state, commands = step(state, event)
        fresh = state.camera_right and not before.camera_right
        if (fresh and isinstance(event, RightsChanged) and not state.camera_failed
                and state.connection == "in_meeting"):
            assert camera_sending(state) and SetCameraSending(True) in commands
            assert notice("camera_granted", "good") in commands
