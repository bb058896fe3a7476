"""The client–bridge protocol: every message as a schema, shared by the bridge, the
appliance and (as documented in docs/protocol.md) the web client.

This module imports nothing from the bridge's server code, so the appliance can use
it alone. JSON objects over one WebSocket; each carries ``type``. A client request may
carry ``id``; the bridge's direct reply (or error) carries it back as ``re``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 256 * 1024  # an SDP with many m-lines fits comfortably
Name = Annotated[str, Field(min_length=1, max_length=64)]
RequestId = int | str | None
Sdp = Annotated[str, Field(min_length=10, max_length=200_000)]
RoomAddress = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class Inbound(BaseModel):
    """Base of client → bridge messages: unknown fields are an error, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: RequestId = None


class Outbound(BaseModel):
    model_config = ConfigDict(frozen=True)


# ---- client → bridge -------------------------------------------------------


class Join(Inbound):
    type: Literal["join"]
    protocol: int
    room: RoomAddress
    name: Name
    client: Literal["browser", "appliance", "bot"] = "browser"


class Publish(Inbound):
    """An SDP offer for the client's publisher PeerConnection (non-trickle)."""

    type: Literal["publish"]
    sdp: Sdp


class SubscribeAnswer(Inbound):
    """The answer to the bridge's latest ``subscribe_offer``."""

    type: Literal["subscribe_answer"]
    sdp: Sdp


class Resubscribe(Inbound):
    """The client's receiving PeerConnection failed: drop it and send a fresh offer."""

    type: Literal["resubscribe"]


class Leave(Inbound):
    type: Literal["leave"]


class SetHand(Inbound):
    """Söz Hakkı İste: raise (or lower) one's own hand."""

    type: Literal["set_hand"]
    raised: bool


class SetMediaState(Inbound):
    """What the participant itself has switched on (within the rights it holds)."""

    type: Literal["set_media_state"]
    mic_muted: bool | None = None
    camera_on: bool | None = None


class Ping(Inbound):
    type: Literal["ping"]


ClientMessage = Annotated[
    Join | Publish | SubscribeAnswer | Resubscribe | Leave | Ping | SetHand | SetMediaState,
    Field(discriminator="type"),
]
_client_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


# ---- bridge → client -------------------------------------------------------


class Participant(Outbound):
    id: str
    name: str
    client: str
    role: Literal["host", "participant", "guest", "device"] = "participant"
    publishing: bool = False
    audio_right: bool = False
    camera_right: bool = False
    hand_position: int | None = None  # 1 = first in the queue; None = hand down
    mic_muted: bool = True
    camera_on: bool = False
    talking: bool = False


class RoomInfo(Outbound):
    address: str
    title: str


class Welcome(Outbound):
    type: Literal["welcome"] = "welcome"
    re: RequestId = None
    protocol: int = PROTOCOL_VERSION
    you: Participant
    room: RoomInfo
    participants: list[Participant]


class ParticipantJoined(Outbound):
    type: Literal["participant_joined"] = "participant_joined"
    participant: Participant


class ParticipantUpdated(Outbound):
    type: Literal["participant_updated"] = "participant_updated"
    participant: Participant


class ParticipantLeft(Outbound):
    type: Literal["participant_left"] = "participant_left"
    id: str
    reason: str = "left"


class PublishAnswer(Outbound):
    type: Literal["publish_answer"] = "publish_answer"
    re: RequestId = None
    sdp: str


class StreamInfo(Outbound):
    """Which participant's audio or video arrives on an m-line (``mid``)."""

    mid: str
    kind: Literal["audio", "video"]
    participant: str


class SubscribeOffer(Outbound):
    type: Literal["subscribe_offer"] = "subscribe_offer"
    sdp: str
    streams: list[StreamInfo]


class MediaReset(Outbound):
    """The media server restarted or the bridge lost the client's media session:
    close both PeerConnections and publish again; a new subscribe_offer follows."""

    type: Literal["media_reset"] = "media_reset"
    reason: str


class Pong(Outbound):
    type: Literal["pong"] = "pong"
    re: RequestId = None


class Error(Outbound):
    type: Literal["error"] = "error"
    re: RequestId = None
    code: str
    message: str


class Bye(Outbound):
    type: Literal["bye"] = "bye"
    reason: str


ServerMessage = Annotated[
    Welcome | ParticipantJoined | ParticipantUpdated | ParticipantLeft | PublishAnswer
    | SubscribeOffer | MediaReset | Pong | Error | Bye,
    Field(discriminator="type"),
]
_server_adapter: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)


class ProtocolError(Exception):
    """A message that is not valid JSON or does not match its schema."""

    def __init__(self, code: str, message: str, request_id: RequestId = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "message"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def _request_id(raw: Any) -> RequestId:
    rid = raw.get("id") if isinstance(raw, dict) else None
    return rid if isinstance(rid, int | str) and not isinstance(rid, bool) else None


def parse_client_message(text: str | bytes) -> ClientMessage:
    """Validate one inbound frame; raise ProtocolError with a readable reason."""
    import json

    if len(text) > MAX_MESSAGE_BYTES:
        raise ProtocolError("too_large", f"message over {MAX_MESSAGE_BYTES} bytes")
    try:
        raw = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("bad_json", f"not JSON: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise ProtocolError("bad_message", "a message is a JSON object with a string 'type'")
    try:
        return _client_adapter.validate_python(raw)
    except ValidationError as exc:
        raise ProtocolError("bad_message", _describe(exc), _request_id(raw)) from None


def parse_server_message(text: str | bytes) -> ServerMessage:
    return _server_adapter.validate_json(text)


def dump(message: Outbound | Inbound) -> str:
    return message.model_dump_json(exclude_none=False)
