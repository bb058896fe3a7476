"""What the domain answers: a refusal, or what the transport must do (effects).

The WebSocket layer executes effects in order and never decides anything
itself: recipients are resolved here, so a lobby guest can never be on a
Broadcast's list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

Payload = dict[str, Any]


@dataclass(frozen=True)
class Broadcast:
    """One payload to many participants (serialize once, send to each)."""

    room: str
    payload: Payload
    recipients: tuple[int, ...]


@dataclass(frozen=True)
class SendTo:
    participant: int
    payload: Payload


@dataclass(frozen=True)
class JanusModerate:
    """Mute or unmute a publisher's streams at the SFU (rights are enforced there)."""

    participant: int
    room: str
    audio_muted: bool
    camera_muted: bool


@dataclass(frozen=True)
class Disconnect:
    """Close the participant's connection and tear down its Janus handles.

    `epoch` names which connection (see Joined.epoch); None means whichever is open.
    """

    participant: int
    reason: str
    epoch: int | None = None


Effect = Broadcast | SendTo | JanusModerate | Disconnect


@dataclass(frozen=True)
class Refusal:
    """The action was not done. `code` is stable (for translations), `message` English."""

    code: str
    message: str


class Refused(Exception):
    """Raised inside the domain; the service turns it into a Refusal and rolls back."""

    def __init__(self, code: str, message: str, *, security: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.refusal = Refusal(code, message)
        self.security = security


@dataclass(frozen=True)
class Sequenced:
    """Several bridge processes: an action's number in its room's order of events, and
    the effects the other processes carry out (bridge/meetings/outbox.py)."""

    room: str
    seq: int
    shared: tuple[Effect, ...]
    node: str = ""  # the process whose action it was


@dataclass(frozen=True)
class Done:
    effects: tuple[Effect, ...] = ()
    sequenced: Sequenced | None = None


@dataclass(frozen=True, kw_only=True)
class Joined(Done):
    """A connection now belongs to a participant (admitted, or waiting in the lobby)."""

    participant: int
    room: str
    token: str  # secret: resumes the seat, authorizes file downloads and reports
    admitted: bool
    epoch: int  # this connection's number; pass it to leave() when it closes


@dataclass(frozen=True)
class FileInfo:
    id: int
    name: str
    size: int
    sha256: str
    content_type: str
    uploaded_at: str
    uploader: str


@dataclass(frozen=True, kw_only=True)
class FileAdded(Done):
    file: FileInfo


@dataclass(frozen=True, kw_only=True)
class FileDownload(Done):
    """Serve `path` as an attachment named `name` (never inline: it is user content)."""

    path: Path
    name: str
    size: int
    content_type: str
    sha256: str


@dataclass(frozen=True, kw_only=True)
class MediaAccess(Done):
    """An admitted participant may publish and subscribe; mute its streams as given."""

    room: str
    audio_muted: bool
    camera_muted: bool


@dataclass(frozen=True, kw_only=True)
class Listing(Done):
    items: tuple[Payload, ...]


Outcome = Refusal | Done
