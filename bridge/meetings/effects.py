"""What the domain answers: a refusal, or what the transport must do (effects).

The WebSocket layer executes effects in order and never decides anything
itself: recipients are resolved here, so a lobby guest can never be on a
Broadcast's list. Messages are the protocol's own types (salon/protocol.py),
built and validated once by the domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from salon import protocol

Message = protocol.Outbound  # a bridge → client message of the protocol
Row = dict[str, Any]  # a row of an HTTP listing (reports), not a protocol message


@dataclass(frozen=True)
class Broadcast:
    """One message to many participants (serialized once, sent to each)."""

    room: str
    message: Message
    recipients: tuple[int, ...]


@dataclass(frozen=True)
class SendTo:
    participant: int
    message: Message


@dataclass(frozen=True)
class JanusModerate:
    """Mute or unmute a publisher's streams at the SFU (rights are enforced there)."""

    participant: int
    room: str
    audio_muted: bool
    camera_muted: bool
    # The participant's content publisher (a shared screen): open only while it holds
    # the right to present and the meeting's one presentation.
    content_muted: bool = True


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


@dataclass(frozen=True, kw_only=True)
class FileAdded(Done):
    file: protocol.FileEntry


@dataclass(frozen=True, kw_only=True)
class Files(Done):
    """A room's files, oldest first."""

    files: tuple[protocol.FileEntry, ...]


@dataclass(frozen=True, kw_only=True)
class RoomView(Done):
    """The room as one participant sees it now (its welcome, without token or request id)
    and, with several processes, the number of the room's last event it includes."""

    welcome: protocol.Welcome
    seq: int | None = None


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
    content_muted: bool = True


@dataclass(frozen=True, kw_only=True)
class Listing(Done):
    items: tuple[Row, ...]


Outcome = Refusal | Done
