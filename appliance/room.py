"""The room's state machine: every rule of rights, mute, hand and connection.

Pure data in, pure data out: `step(state, event) -> (new_state, commands)`. No
I/O, no asyncio, no clock; the app feeds button, bridge and device events and
carries out the commands in order. Outputs that mirror the state (media switches,
LEDs, the room's own mic/camera report to the bridge) are computed by comparing
the state before and after, so they can never drift from it.

Safety rules, enforced only here:
- the mic is live only in the meeting, with audio rights, muted neither by the
  room nor by the host; the camera sends only in the meeting, with camera rights,
  switched on by the room and working;
- rights, host mute and hand come from the bridge: they are dropped whenever the
  session ends and restored only from the bridge's own events after (re)join
  (`Admitted` carries the bridge's snapshot); events of a lost session are ignored;
- a camera right alone never puts the room on camera: the camera goes live by a
  press in the room, or at the grant only if provisioning says so ([camera]
  start_on_grant); the room's choice lasts while the right does (across a
  reconnect too) and goes with it;
- as on the bridge, the host mutes and the room may unmute itself (mute button);
  the room reports its mute only while it holds audio rights;
- when something stops, its media switch comes first in the command list.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

# Commands live in room_commands.py (for size); callers keep writing room.JoinMeeting.
from appliance.room_commands import (  # noqa: F401
    NOTICE_KEYS,
    BridgeRequest,
    CameraLed,
    Command,
    HandLed,
    HandPattern,
    JoinMeeting,
    LeaveMeeting,
    LedCommand,
    MediaSwitch,
    MicColor,
    MicLed,
    Notice,
    NoticeLevel,
    ReportMic,
    SetCameraSending,
    SetHand,
    SetMicLive,
    ShowNotice,
    StatusLed,
    StatusPattern,
)

Connection = Literal[
    "starting", "config_error", "connecting", "in_lobby", "in_meeting", "reconnecting", "left"]
ButtonName = Literal["hand", "mute", "camera"]
JoinPolicy = Literal["power-on", "button", "schedule"]
SESSION: frozenset[Connection] = frozenset(
    {"connecting", "in_lobby", "in_meeting", "reconnecting"})
JOINED: frozenset[Connection] = frozenset({"in_lobby", "in_meeting"})


@dataclass(frozen=True)
class RoomState:
    connection: Connection = "starting"
    policy: JoinPolicy = "power-on"
    audio_right: bool = False
    camera_right: bool = False
    hand_raised: bool = False
    hand_position: int | None = None
    """Place in the host's queue while the hand is up (1 = next), if the bridge says."""
    muted_by_room: bool = False
    muted_by_host: bool = False
    camera_on: bool = False
    """The room switched its camera on for the right it holds (a press, or the grant
    with `camera_on_grant`); the camera still needs that right to send."""
    camera_on_grant: bool = False
    """Provisioning's [camera] start_on_grant: a granted camera right goes live at once."""
    camera_failed: bool = False
    attempt: int = 0
    """Connection attempt the bridge client is on (0 once joined)."""
    last_error: str = ""
    """Why the last session ended, for the screen."""


def mic_live(state: RoomState) -> bool:
    """Whether microphone samples may leave the room."""
    return (state.connection == "in_meeting" and state.audio_right
            and not state.muted_by_room and not state.muted_by_host)


def camera_sending(state: RoomState) -> bool:
    """Whether camera frames may be captured and sent."""
    return (state.connection == "in_meeting" and state.camera_right
            and state.camera_on and not state.camera_failed)


# --- events -----------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """Something that happened; the app feeds it to `step`."""


@dataclass(frozen=True)
class ButtonPressed(Event):
    button: ButtonName
    long: bool = False


@dataclass(frozen=True)
class Started(Event):
    """Config loaded; join now (policy "power-on") or wait for a long press."""

    policy: JoinPolicy = "power-on"
    camera_on_grant: bool = False


@dataclass(frozen=True)
class ConfigFailed(Event):
    """The provisioning file is invalid; with `using_last_good` the room runs on."""

    using_last_good: bool = False


@dataclass(frozen=True)
class ScheduledJoin(Event):
    """The room's schedule says join now (appliance/day.py decides when)."""


@dataclass(frozen=True)
class ScheduledLeave(Event):
    """The scheduled meeting is over: leave, into standby."""


@dataclass(frozen=True)
class Connecting(Event):
    """The bridge client starts connection attempt `attempt` (1 = first)."""

    attempt: int = 1


@dataclass(frozen=True)
class InLobby(Event):
    """Connected; waiting for the host to admit the room."""


@dataclass(frozen=True)
class Admitted(Event):
    """In the meeting. Carries the bridge's view of this participant, applied on
    every (re)join."""

    audio_right: bool = False
    camera_right: bool = False
    hand_raised: bool = False
    hand_position: int | None = None
    mic_muted: bool = False
    """The bridge's mute of this seat (kept across a resume)."""


@dataclass(frozen=True)
class RightsChanged(Event):
    audio: bool
    camera: bool


@dataclass(frozen=True)
class HandChanged(Event):
    raised: bool
    position: int | None = None


@dataclass(frozen=True)
class HandLoweredByHost(Event):
    pass


@dataclass(frozen=True)
class MutedByHost(Event):
    muted: bool = True


@dataclass(frozen=True)
class Disconnected(Event):
    """The session was lost; the bridge client is reconnecting on its own."""

    reason: str = ""


@dataclass(frozen=True)
class Removed(Event):
    """The host removed the room; it stops its client and does not rejoin by itself."""

    reason: str = ""


@dataclass(frozen=True)
class MeetingLeft(Event):
    """The bridge ended our participation (meeting closed, or our leave done)."""

    reason: str = ""


@dataclass(frozen=True)
class CameraFailed(Event):
    detail: str = ""


@dataclass(frozen=True)
class CameraRecovered(Event):
    pass




# --- derived outputs ----------------------------------------------------------------

_STATUS: dict[Connection, StatusPattern] = {
    "starting": "connecting", "config_error": "config_error", "connecting": "connecting",
    "in_lobby": "lobby", "in_meeting": "in_meeting", "reconnecting": "reconnecting",
    "left": "off",
}


def mic_led(state: RoomState) -> MicColor:
    """Red whenever the room is in a session and not live: red wins."""
    if mic_live(state):
        return "green"
    return "red" if state.connection in SESSION else "off"


def led_commands(state: RoomState) -> list[LedCommand]:
    """The LED patterns that mirror `state`."""
    hand: HandPattern = (
        "waiting" if state.connection == "in_meeting" and state.hand_raised else "off")
    return [MicLed(mic_led(state)), HandLed(hand), CameraLed(camera_sending(state)),
            StatusLed(_STATUS[state.connection])]


def media_commands(state: RoomState) -> list[MediaSwitch]:
    return [SetMicLive(mic_live(state)), SetCameraSending(camera_sending(state))]


def snapshot_commands(state: RoomState) -> list[Command]:
    """Every media switch and LED for `state`: apply at start-up or after a device reset."""
    return [*media_commands(state), *led_commands(state)]


def _bridge_mute(state: RoomState) -> tuple[bool, bool]:
    """(audio rights, muted) as the bridge keeps them for this participant."""
    return state.audio_right, state.muted_by_room or state.muted_by_host


def _reports(old: RoomState, new: RoomState) -> list[Command]:
    """Keep the bridge's view of the room's mute in step, on every (re)join and change.
    Mute is reported only while the room holds audio rights: the bridge refuses an
    unmute without them and Janus silences the room anyway. (A grant is reported too:
    the room's own mute may have changed while it had no rights.) The camera is not
    reported: whether it is on is what Janus receives, never what a client says."""
    if new.connection != "in_meeting":
        return []
    rejoined = old.connection != "in_meeting"
    if new.audio_right and (rejoined or _bridge_mute(new) != _bridge_mute(old)):
        return [ReportMic(muted=_bridge_mute(new)[1])]
    return []


def _starts(command: Command) -> bool:
    return command in (SetMicLive(True), SetCameraSending(True))


def _changed(old: list[Command], new: list[Command]) -> list[Command]:
    return [after for before, after in zip(old, new, strict=True) if before != after]


# --- transitions ----------------------------------------------------------------------

Result = tuple[RoomState, list[Command]]


def _notice(key: Notice, level: NoticeLevel = "info") -> ShowNotice:
    return ShowNotice(key, level)


def _drop_session(state: RoomState, connection: Connection, reason: str = "") -> RoomState:
    """Forget everything the bridge granted; keep the room's own choices, its camera
    only across a reconnect (the same right, restored by the bridge's snapshot)."""
    return replace(state, connection=connection, audio_right=False, camera_right=False,
                   hand_raised=False, hand_position=None, muted_by_host=False,
                   camera_on=state.camera_on and connection == "reconnecting",
                   last_error=reason or state.last_error)


def _camera_choice(state: RoomState, camera_right: bool) -> bool:
    """The room's camera choice once it holds `camera_right`: kept while the right
    lasts, set by provisioning when the right is new, off without it."""
    if not camera_right:
        return False
    return state.camera_on or (not state.camera_right and state.camera_on_grant)


def _not_in_meeting(state: RoomState) -> Result:
    if state.connection == "config_error":
        return state, [_notice("config_error", "error")]
    return state, [_notice("not_in_meeting")]


def _join(state: RoomState) -> Result:
    return replace(state, connection="connecting", attempt=1, last_error=""), [JoinMeeting()]


def _on_started(state: RoomState, event: Started) -> Result:
    if state.connection not in ("starting", "config_error"):
        return state, []
    state = replace(state, policy=event.policy, camera_on_grant=event.camera_on_grant)
    if event.policy == "power-on":
        return _join(state)
    if event.policy == "schedule":  # standby until the schedule (appliance/day.py) says
        return replace(state, connection="left"), []
    return replace(state, connection="left"), [_notice("hold_to_join")]


def _on_scheduled_join(state: RoomState, event: ScheduledJoin) -> Result:
    if state.connection != "left":
        return state, []
    joined, commands = _join(state)
    return joined, [*commands, _notice("joining_scheduled")]


def _on_scheduled_leave(state: RoomState, event: ScheduledLeave) -> Result:
    if state.connection not in SESSION:
        return state, []
    left = replace(_drop_session(state, "left"), last_error="")
    return left, [LeaveMeeting(), _notice("meeting_time_over")]


def _on_config_failed(state: RoomState, event: ConfigFailed) -> Result:
    if event.using_last_good:
        return state, [_notice("config_invalid_using_last_good", "warning")]
    leave: list[Command] = [LeaveMeeting()] if state.connection in SESSION else []
    return _drop_session(state, "config_error"), [*leave, _notice("config_error", "error")]


def _on_connecting(state: RoomState, event: Connecting) -> Result:
    if state.connection in ("left", "config_error"):
        return state, []  # a late attempt after leaving
    if state.connection in JOINED:  # the client restarted a session we thought we had
        return replace(_drop_session(state, "reconnecting"), attempt=event.attempt), []
    target: Connection = "reconnecting" if state.connection == "reconnecting" else "connecting"
    return replace(state, connection=target, attempt=event.attempt), []


def _on_in_lobby(state: RoomState, event: InLobby) -> Result:
    if state.connection not in SESSION or state.connection == "in_lobby":
        return state, []
    return _drop_session(state, "in_lobby"), [_notice("waiting_in_lobby")]


def _on_admitted(state: RoomState, event: Admitted) -> Result:
    if state.connection not in SESSION:
        return state, []
    key: Notice = "rejoined" if state.connection == "reconnecting" else "joined"
    notices: list[Command] = [] if state.connection == "in_meeting" else [_notice(key)]
    return replace(
        state, connection="in_meeting", attempt=0, last_error="",
        audio_right=event.audio_right, camera_right=event.camera_right,
        camera_on=_camera_choice(state, event.camera_right), hand_raised=event.hand_raised,
        hand_position=event.hand_position if event.hand_raised else None,
        # A resumed seat keeps the bridge's mute: if the room did not mute itself, the
        # host did (the room reports its own mute only while it has rights).
        muted_by_host=event.mic_muted and event.audio_right and not state.muted_by_room,
    ), notices


def _on_rights(state: RoomState, event: RightsChanged) -> Result:
    if state.connection not in JOINED:
        return state, []
    new = replace(state, audio_right=event.audio, camera_right=event.camera,
                  camera_on=_camera_choice(state, event.camera))
    out: list[Command] = []
    if event.audio and not state.audio_right:
        out.append(_notice("audio_granted", "good"))
        if state.hand_raised:
            # The grant answers the room's request to speak; the bridge lowered the
            # hand itself with the grant, so nothing is sent back.
            new = replace(new, muted_by_room=False, hand_raised=False, hand_position=None)
    elif state.audio_right and not event.audio:
        out.append(_notice("audio_revoked", "warning"))
    if event.camera and not state.camera_right:
        out.append(_notice("camera_granted" if new.camera_on else "camera_granted_press", "good"))
    elif state.camera_right and not event.camera:
        out.append(_notice("camera_revoked", "warning"))
    return new, out


def _on_hand_changed(state: RoomState, event: HandChanged) -> Result:
    if state.connection not in JOINED:
        return state, []
    position = event.position if event.raised else None
    return replace(state, hand_raised=event.raised, hand_position=position), []


def _on_hand_lowered_by_host(state: RoomState, event: HandLoweredByHost) -> Result:
    if state.connection not in JOINED:
        return state, []
    new = replace(state, hand_raised=False, hand_position=None)
    return new, [_notice("hand_lowered_by_host", "warning")] if state.hand_raised else []


def _on_muted_by_host(state: RoomState, event: MutedByHost) -> Result:
    if state.connection not in JOINED or event.muted == state.muted_by_host:
        return state, []
    notice = _notice("muted_by_host", "warning") if event.muted else _notice("unmuted_by_host")
    return replace(state, muted_by_host=event.muted), [notice]


def _on_disconnected(state: RoomState, event: Disconnected) -> Result:
    if state.connection not in SESSION and state.connection != "starting":
        return state, []
    if state.connection in JOINED:
        return _drop_session(state, "reconnecting", event.reason), [
            _notice("connection_lost", "warning")]
    # A failed first attempt: the next one is a retry, and the screen says why.
    target: Connection = "connecting" if state.connection == "starting" else "reconnecting"
    return _drop_session(state, target, event.reason), []


def _on_removed(state: RoomState, event: Removed) -> Result:
    if state.connection not in SESSION:
        return state, []
    reason = event.reason or "removed by the host"
    return _drop_session(state, "left", reason), [
        LeaveMeeting(), _notice("removed_by_host", "warning")]


def _on_meeting_left(state: RoomState, event: MeetingLeft) -> Result:
    if state.connection not in SESSION:
        return state, []
    return _drop_session(state, "left", event.reason), [LeaveMeeting(), _notice("meeting_ended")]


def _on_camera_failed(state: RoomState, event: CameraFailed) -> Result:
    if state.camera_failed:
        return state, []
    return replace(state, camera_failed=True), [_notice("camera_failed", "warning")]


def _on_camera_recovered(state: RoomState, event: CameraRecovered) -> Result:
    if not state.camera_failed:
        return state, []
    return replace(state, camera_failed=False), [_notice("camera_recovered")]


def _on_button(state: RoomState, event: ButtonPressed) -> Result:
    if event.button == "hand":
        return _hand_long(state) if event.long else _hand_press(state)
    if state.connection != "in_meeting":
        return _not_in_meeting(state)
    if event.button == "mute":
        return _mute_press(state)
    return _camera_press(state)


def _hand_press(state: RoomState) -> Result:
    if state.connection == "left":
        if state.policy == "power-on":
            return _join(state)
        return state, [_notice("hold_to_join")]
    if state.connection != "in_meeting":
        return _not_in_meeting(state)
    raised = not state.hand_raised
    new = replace(state, hand_raised=raised, hand_position=None)
    return new, [SetHand(raised=raised), _notice("hand_raised" if raised else "hand_lowered")]


def _hand_long(state: RoomState) -> Result:
    if state.connection == "left":
        return _join(state)
    if state.policy in ("button", "schedule") and state.connection in SESSION:
        left = replace(_drop_session(state, "left"), last_error="")
        return left, [LeaveMeeting(), _notice("left_meeting")]
    return _hand_press(state)


def _mute_press(state: RoomState) -> Result:
    if not state.audio_right:
        return state, [HandLed("nudge"), _notice("request_to_speak_first")]
    if state.muted_by_host:  # as on the bridge: the host mutes, the room may unmute
        return replace(state, muted_by_host=False, muted_by_room=False), [
            _notice("mic_unmuted")]
    muted = not state.muted_by_room
    return replace(state, muted_by_room=muted), [
        _notice("mic_muted" if muted else "mic_unmuted")]


def _camera_press(state: RoomState) -> Result:
    if not state.camera_right:
        return state, [HandLed("nudge"), _notice("camera_right_needed")]
    if state.camera_failed:
        return state, [_notice("camera_failed", "warning")]
    on = not state.camera_on
    return replace(state, camera_on=on), [_notice("camera_started" if on else "camera_stopped")]


_HANDLERS: dict[type[Event], Callable[[RoomState, typing.Any], Result]] = {
    ButtonPressed: _on_button,
    Started: _on_started,
    ScheduledJoin: _on_scheduled_join,
    ScheduledLeave: _on_scheduled_leave,
    ConfigFailed: _on_config_failed,
    Connecting: _on_connecting,
    InLobby: _on_in_lobby,
    Admitted: _on_admitted,
    RightsChanged: _on_rights,
    HandChanged: _on_hand_changed,
    HandLoweredByHost: _on_hand_lowered_by_host,
    MutedByHost: _on_muted_by_host,
    Disconnected: _on_disconnected,
    Removed: _on_removed,
    MeetingLeft: _on_meeting_left,
    CameraFailed: _on_camera_failed,
    CameraRecovered: _on_camera_recovered,
}


def step(state: RoomState, event: Event) -> Result:
    """Apply `event`. Commands come in this order: media switches (so privacy is
    restored first), LEDs, then requests to the bridge and notices."""
    handler = _HANDLERS.get(type(event))
    if handler is None:
        raise TypeError(f"not a room event: {event!r}")
    new, commands = handler(state, event)
    switches = _changed(list(media_commands(state)), list(media_commands(new)))
    switches.sort(key=_starts)  # stop before start
    derived = [*switches, *_changed(list(led_commands(state)), list(led_commands(new)))]
    return new, [*derived, *commands, *_reports(state, new)]
