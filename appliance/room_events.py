"""The events the room's state machine (appliance/room.py) answers: buttons, the
room's lifecycle, the bridge's word on this seat, and its devices.

Kept apart from room.py for size, as commands are (room_commands.py) and presenting's
events (room_content.py); room.py re-exports them all, so callers write
`room.ButtonPressed`. Events are plain frozen data: the app and the conference
adapter make them, only room.py reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from appliance.room_commands import Event

ButtonName = Literal["hand", "mute", "camera"]
JoinPolicy = Literal["power-on", "button", "schedule"]


@dataclass(frozen=True)
class ButtonPressed(Event):
    button: ButtonName
    long: bool = False


@dataclass(frozen=True)
class Started(Event):
    """Config loaded; join now (policy "power-on") or wait for a long press."""

    policy: JoinPolicy = "power-on"
    camera_on_grant: bool = False
    present_on_plug: bool = False


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
    present_right: bool = False
    presenting: bool = False


@dataclass(frozen=True)
class RightsChanged(Event):
    audio: bool
    camera: bool
    present: bool | None = None
    """The right to present; None: unchanged."""


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


@dataclass(frozen=True)
class ContentChanged(Event):
    """Whose presentation the room now receives (None: nobody presents)."""

    presenter: str | None


@dataclass(frozen=True)
class ContentBandwidth(Event):
    """Whether the room's link carries the presentation (appliance/content.py judges)."""

    enough: bool
