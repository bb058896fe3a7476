"""The room state machine's commands: what appliance/room.py tells the app to do.

Kept apart from room.py only for size; room.py re-exports every name, so callers
write `room.JoinMeeting` as before.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

MicColor = Literal["off", "red", "green"]
HandPattern = Literal["off", "waiting", "nudge"]
StatusPattern = Literal[
    "off", "connecting", "lobby", "in_meeting", "reconnecting", "config_error"]
# How the screen marks a notice (the room decides, the screen only shows): good news,
# plain information, something taken away or gone wrong, a broken configuration.
NoticeLevel = Literal["good", "info", "warning", "error"]
Notice = Literal[
    "joined", "rejoined", "waiting_in_lobby", "connection_lost", "removed_by_host",
    "left_meeting", "meeting_ended",
    "audio_granted", "audio_revoked", "camera_granted", "camera_granted_press",
    "camera_revoked",
    "muted_by_host", "unmuted_by_host", "hand_raised", "hand_lowered", "hand_lowered_by_host",
    "mic_muted", "mic_unmuted", "camera_started", "camera_stopped",
    "camera_failed", "camera_recovered",
    "request_to_speak_first", "camera_right_needed", "not_in_meeting", "hold_to_join",
    "config_error", "config_invalid_using_last_good",
    "joining_scheduled", "meeting_time_over", "clock_not_synced",
]
#: Every notice key, for the screen's translation table (Turkish and English).
NOTICE_KEYS: tuple[str, ...] = typing.get_args(Notice)


# --- commands -----------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """Something the app must do, in list order."""


@dataclass(frozen=True)
class BridgeRequest(Command):
    """A message for the bridge (the conference client maps it to the protocol)."""


@dataclass(frozen=True)
class JoinMeeting(BridgeRequest):
    pass


@dataclass(frozen=True)
class LeaveMeeting(BridgeRequest):
    pass


@dataclass(frozen=True)
class SetHand(BridgeRequest):
    raised: bool


@dataclass(frozen=True)
class ReportMic(BridgeRequest):
    """The room's mute for the bridge (Sesimi Bağla when false); only with audio rights."""

    muted: bool


@dataclass(frozen=True)
class MediaSwitch(Command):
    pass


@dataclass(frozen=True)
class SetMicLive(MediaSwitch):
    """False: no microphone sample leaves the box (silence or a stopped track)."""

    live: bool


@dataclass(frozen=True)
class SetCameraSending(MediaSwitch):
    """False: no frame is captured."""

    sending: bool


@dataclass(frozen=True)
class LedCommand(Command):
    pass


@dataclass(frozen=True)
class MicLed(LedCommand):
    color: MicColor


@dataclass(frozen=True)
class HandLed(LedCommand):
    """"nudge" is a short attention blink over the current pattern."""

    pattern: HandPattern


@dataclass(frozen=True)
class CameraLed(LedCommand):
    on: bool


@dataclass(frozen=True)
class StatusLed(LedCommand):
    pattern: StatusPattern


@dataclass(frozen=True)
class ShowNotice(Command):
    """A notice on the room's screen; the key is translated by the screen."""

    key: Notice
    level: NoticeLevel = "info"
