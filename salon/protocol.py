"""The client–bridge protocol: every message as a schema, shared by the bridge, the
appliance and (as documented in docs/protocol.md) the web client.

This module imports nothing from the bridge's server code, so the appliance can use
it alone. JSON objects over one WebSocket; each carries ``type``. A client request may
carry ``id``; the bridge's direct reply (or error) carries it back as ``re``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    model_validator,
)

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 256 * 1024  # an SDP with many m-lines fits comfortably
# Frames up to this size are read and answered `too_large`; a bigger one closes the
# socket (1009) as it arrives, so one client cannot make the bridge buffer more.
MAX_FRAME_BYTES = 4 * 1024 * 1024
# The one bound on every id a client names (participant, poll): the largest row id any
# supported database holds (ids are 32-bit INTEGER columns on PostgreSQL).
MAX_ID = 2**31 - 1
Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
# A request's own id, echoed back as ``re``: a number a JavaScript client keeps exact,
# or a short string.
RequestId = (Annotated[StrictInt, Field(ge=-(2**53 - 1), le=2**53 - 1)]
             | Annotated[StrictStr, Field(max_length=64)] | None)
Name = Annotated[str, Field(min_length=1, max_length=64)]
Sdp = Annotated[str, Field(min_length=10, max_length=200_000)]
RoomAddress = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class Inbound(BaseModel):
    """Base of client → bridge messages: unknown fields are an error, not ignored, and
    types are strict (``"1"`` is not a number, ``1`` or ``"yes"`` not a boolean)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    id: RequestId = None


class Outbound(BaseModel):
    # Unknown fields are ignored, so a newer bridge can add fields to protocol 1.
    model_config = ConfigDict(frozen=True, populate_by_name=True)


# ---- client → bridge -------------------------------------------------------

def _within_id_range(value: str) -> str:
    if not 1 <= int(value) <= MAX_ID:
        raise ValueError(f"a participant id is between 1 and {MAX_ID}")
    return value


ParticipantId = Annotated[str, Field(min_length=1, max_length=10, pattern=r"^[0-9]+$"),
                          AfterValidator(_within_id_range)]
Text = Annotated[str, Field(min_length=1, max_length=4000)]


class Join(Inbound):
    """Enter a room: as a guest (``name``), signed in (``user`` + ``password``: Oturum
    Aç / Parola), or taking one's seat again after a drop (``token``)."""

    type: Literal["join"]
    protocol: int
    room: RoomAddress
    name: Name | None = None
    user: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    password: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    token: Annotated[str, Field(min_length=16, max_length=128)] | None = None
    # A phone companion's code: act for the room that showed it, without its seat.
    companion: Annotated[str, Field(min_length=16, max_length=64)] | None = None
    client: Literal["browser", "appliance", "companion", "bot"] = "browser"

    @model_validator(mode="after")
    def one_way_in(self) -> Join:
        ways = [self.name, self.user, self.token, self.companion]
        if sum(x is not None for x in ways) != 1:
            raise ValueError(
                "give exactly one of name (guest), user+password, token or companion")
        if (self.user is None) != (self.password is None):
            raise ValueError("user and password go together")
        return self


class Publish(Inbound):
    """An SDP offer for the client's publisher PeerConnection (non-trickle)."""

    type: Literal["publish"]
    sdp: Sdp
    # The kinds the offer's senders carry a track of now (a camera started before the
    # right came is shown once it comes: see docs/protocol.md); none said: none.
    sending: list[Literal["audio", "video"]] = []


class SubscribeAnswer(Inbound):
    """The answer to the bridge's latest ``subscribe_offer``."""

    type: Literal["subscribe_answer"]
    sdp: Sdp


class Resubscribe(Inbound):
    """The client's receiving PeerConnection failed: drop it and send a fresh offer."""

    type: Literal["resubscribe"]


Mid = Annotated[str, Field(min_length=1, max_length=8, pattern=r"^[0-9]+$")]


class VideoLayers(Inbound):
    """Which simulcast layer to receive on each video m-line (``mid`` of the latest
    ``subscribe_offer``): "low" for a small tile, "high" for the active speaker or a
    content share. m-lines not named keep their layer (Janus starts on "high"); a
    sender that does not send simulcast (a room appliance) sends its one stream."""

    type: Literal["video_layers"]
    layers: Annotated[dict[Mid, Literal["low", "medium", "high"]], Field(max_length=100)]


class Leave(Inbound):
    type: Literal["leave"]


class Ping(Inbound):
    type: Literal["ping"]


class SetHand(Inbound):
    """Söz Hakkı İste: raise (or lower) one's own hand."""

    type: Literal["set_hand"]
    raised: bool


class SetMediaState(Inbound):
    """What the participant itself has switched on (within the rights it holds):
    ``mic_muted`` false is Sesimi Bağla; ``camera_on`` is Paylaşımı Başlat."""

    type: Literal["set_media_state"]
    mic_muted: bool | None = None
    camera_on: bool | None = None


class Rename(Inbound):
    """Bilgilerimi Düzenle: change one's own display name."""

    type: Literal["rename"]
    name: Name


class Chat(Inbound):
    """Sohbet: to everyone (Herkes, ``to`` absent) or privately to one participant."""

    type: Literal["chat"]
    text: Text
    to: ParticipantId | None = None


class PollAnswer(Inbound):
    """Anket: pick an option (0-based); may change while the poll is open."""

    type: Literal["poll_answer"]
    poll: Id
    option: Annotated[int, Field(ge=0, le=63)]


# -- host requests (the bridge checks the role; anyone else gets "not_host") --


class Admit(Inbound):
    type: Literal["admit"]
    participant: ParticipantId


class Deny(Inbound):
    type: Literal["deny"]
    participant: ParticipantId


class LowerHand(Inbound):
    type: Literal["lower_hand"]
    participant: ParticipantId


class SetRight(Inbound):
    """Grant or take back audio rights (Ses Hakları) or, separately, camera rights or
    the right to present (share a screen; the host always holds it)."""

    type: Literal["set_right"]
    participant: ParticipantId
    right: Literal["audio", "camera", "present"]
    granted: bool


class Present(Inbound):
    """Ekranımı Paylaş: take the meeting's one presentation (``active`` true, needs the
    right to present and nobody else presenting) or end one's own (false)."""

    type: Literal["present"]
    active: bool


class StopPresenting(Inbound):
    """Host: end someone's presentation (the right stays; revoke it to keep them off)."""

    type: Literal["stop_presenting"]
    participant: ParticipantId


class PublishContent(Inbound):
    """An SDP offer for the presenter's content PeerConnection (the shared screen and its
    audio), a publisher of its own beside the camera's; reply ``publish_answer``."""

    type: Literal["publish_content"]
    sdp: Sdp


class Mute(Inbound):
    type: Literal["mute"]
    participant: ParticipantId


class Remove(Inbound):
    type: Literal["remove"]
    participant: ParticipantId


class PollCreate(Inbound):
    type: Literal["poll_create"]
    question: Annotated[str, Field(min_length=1, max_length=500)]
    options: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]],
                       Field(min_length=2, max_length=20)]


class PollOpen(Inbound):
    type: Literal["poll_open"]
    poll: Id


class PollClose(Inbound):
    type: Literal["poll_close"]
    poll: Id
    results_visible: bool | None = None


class PollShowResults(Inbound):
    type: Literal["poll_show_results"]
    poll: Id
    visible: bool


class EndMeeting(Inbound):
    type: Literal["end_meeting"]


class CompanionLinkRequest(Inbound):
    """A room appliance asks for a short-lived link for its phone companion."""

    type: Literal["companion_link"]


ClientMessage = Annotated[
    Join | Publish | SubscribeAnswer | Resubscribe | VideoLayers | Leave | Ping | SetHand
    | SetMediaState | Rename | Chat | PollAnswer | Admit | Deny | LowerHand | SetRight | Mute
    | Remove | PollCreate | PollOpen | PollClose | PollShowResults | EndMeeting
    | CompanionLinkRequest | Present | StopPresenting | PublishContent,
    Field(discriminator="type"),
]
_client_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


# ---- bridge → client -------------------------------------------------------


class Participant(Outbound):
    id: str
    name: str
    client: str = "browser"
    role: Literal["host", "participant", "guest", "device"] = "participant"
    publishing: bool = False
    audio_right: bool = False
    camera_right: bool = False
    present_right: bool = False  # may share a screen (hosts always)
    presenting: bool = False  # holds the meeting's one presentation
    presenting_via: Literal["companion"] | None = None  # a room's laptop, by its companion
    hand_position: int | None = None  # 1 = first in the queue; None = hand down
    hand_raised_at: str | None = None
    mic_muted: bool = True
    camera_on: bool = False
    talking: bool = False


class RoomInfo(Outbound):
    address: str
    title: str
    policy: Literal["private", "public"] = "public"
    open_floor: bool = False  # unmoderated: everyone holds audio and camera rights


class ChatMessage(Outbound):
    type: Literal["chat"] = "chat"
    id: int
    from_: str = Field(alias="from")
    from_name: str
    to: str | None = None  # None: to everyone (Herkes)
    text: str
    at: str


class PollInfo(Outbound):
    """A poll as everyone is told of it (created, opened, closed, results shown): the
    same message for all, so nothing of any one participant's own is in it."""

    type: Literal["poll"] = "poll"
    id: int
    question: str
    options: list[str]
    state: Literal["draft", "open", "closed"]
    results_visible: bool = False


class PollView(PollInfo):
    """A poll in a welcome: also this participant's own answer, and the counts if it
    may see them. A later ``poll`` message changes only the fields it carries."""

    my_answer: int | None = None
    counts: list[int] | None = None


class PollResults(Outbound):
    type: Literal["poll_results"] = "poll_results"
    id: int
    counts: list[int]
    total: int


class PollChoice(Outbound):
    """To the answering participant: their current choice (None: not answered)."""

    type: Literal["poll_answer"] = "poll_answer"
    id: int
    option: int | None


class FileEntry(Outbound):
    id: int
    name: str
    size: int
    sha256: str
    content_type: str
    uploaded_at: str
    uploader: str


class FileAdded(Outbound):
    type: Literal["file_added"] = "file_added"
    file: FileEntry


class LobbyEntry(Outbound):
    id: str
    name: str
    since: str | None = None


class IceServer(Outbound):
    """A STUN/TURN server for the client's PeerConnections, as WebRTC's RTCIceServer:
    ``urls`` like ``turn:turn.example.org:3478?transport=udp`` or
    ``turns:turn.example.org:443?transport=tcp``; TURN credentials are short-lived and
    minted for this seat (coturn's ``use-auth-secret`` scheme)."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None


class Welcome(Outbound):
    """Admitted: the whole room as it is now. ``token`` resumes this seat after a drop
    and authorizes file downloads; keep it secret. ``ice_servers`` are for every
    PeerConnection made from now on (empty: the media server is reached directly)."""

    type: Literal["welcome"] = "welcome"
    re: RequestId = None
    protocol: int = PROTOCOL_VERSION
    token: str | None = None
    you: Participant
    room: RoomInfo
    meeting: int | None = None
    participants: list[Participant]
    chat: list[ChatMessage] = []
    polls: list[PollView] = []
    files: list[FileEntry] = []
    lobby: list[LobbyEntry] | None = None  # hosts only
    ice_servers: list[IceServer] = []


class LobbyWaiting(Outbound):
    """To a guest: wait until the host admits you (no room data until then)."""

    type: Literal["lobby_waiting"] = "lobby_waiting"
    re: RequestId = None
    protocol: int = PROTOCOL_VERSION
    token: str | None = None
    you: LobbyEntry


class Lobby(Outbound):
    """To hosts: the guests waiting, in arrival order."""

    type: Literal["lobby"] = "lobby"
    waiting: list[LobbyEntry]


class Denied(Outbound):
    type: Literal["denied"] = "denied"


class Notice(Outbound):
    """A notice for this participant, e.g. ``audio_granted`` (Ses Hakları Verildi)."""

    type: Literal["notice"] = "notice"
    code: str


class MeetingEnded(Outbound):
    type: Literal["meeting_ended"] = "meeting_ended"
    reason: str | None = None


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
    """Which participant's audio or video arrives on an m-line (``mid``), and whether it
    is their camera and microphone or the content they present (a shared screen)."""

    mid: str
    kind: Literal["audio", "video"]
    participant: str
    source: Literal["camera", "content"] = "camera"


class SubscribeOffer(Outbound):
    type: Literal["subscribe_offer"] = "subscribe_offer"
    sdp: str
    streams: list[StreamInfo]


class MediaReset(Outbound):
    """The media server restarted or the bridge lost the client's media session:
    close both PeerConnections and publish again; a new subscribe_offer follows."""

    type: Literal["media_reset"] = "media_reset"
    reason: str


class IceServers(Outbound):
    """Fresh TURN credentials before the ones in the welcome expire: PeerConnections
    made from now on use these (connections already up keep their relay)."""

    type: Literal["ice_servers"] = "ice_servers"
    servers: list[IceServer]


class CompanionLink(Outbound):
    """The companion page's path on the bridge (``/c/<code>``), valid for ``expires_in_s``
    and only while the room is in the meeting."""

    type: Literal["companion_link"] = "companion_link"
    re: RequestId = None
    path: str
    expires_in_s: int


class Pong(Outbound):
    type: Literal["pong"] = "pong"
    re: RequestId = None


class Ok(Outbound):
    """A request with an ``id`` was done (its effects, if any, arrive as their own messages)."""

    type: Literal["ok"] = "ok"
    re: RequestId = None


class Error(Outbound):
    type: Literal["error"] = "error"
    re: RequestId = None
    code: str
    message: str


# Why the bridge closes a connection (``bye {reason}``). Only ``restarting`` asks the
# client to come back: reconnect with backoff and resume the seat with its token.
BYE_RESTARTING = "restarting"
BYE_REASONS = ("left", "removed", "denied", "replaced", "meeting_ended", "room_left",
               BYE_RESTARTING)


class Bye(Outbound):
    """The bridge is closing this connection; ``reason`` is one of BYE_REASONS (a client
    treats one it does not know as a drop)."""

    type: Literal["bye"] = "bye"
    reason: str


ServerMessage = Annotated[
    Welcome | LobbyWaiting | Lobby | Denied | Notice | MeetingEnded | ChatMessage | PollInfo
    | PollResults | PollChoice | FileAdded | ParticipantJoined | ParticipantUpdated
    | ParticipantLeft | PublishAnswer | SubscribeOffer | MediaReset | IceServers | CompanionLink
    | Pong | Ok | Error | Bye,
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


_request_id_adapter: TypeAdapter[RequestId] = TypeAdapter(RequestId)


def _request_id(raw: Any) -> RequestId:
    """The id to answer with, if the message has a valid one."""
    try:
        return _request_id_adapter.validate_python(raw.get("id") if isinstance(raw, dict)
                                                   else None)
    except ValidationError:
        return None


def parse_client_message(text: str | bytes) -> ClientMessage:
    """Validate one inbound frame; raise ProtocolError with a readable reason."""
    import json

    if len(text) > MAX_MESSAGE_BYTES:
        raise ProtocolError("too_large", f"message over {MAX_MESSAGE_BYTES} bytes")
    try:
        raw = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("bad_json", f"not JSON: {exc}") from None
    except RecursionError:
        raise ProtocolError("bad_json", "JSON nested too deeply") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise ProtocolError("bad_message", "a message is a JSON object with a string 'type'")
    try:
        return _client_adapter.validate_python(raw)
    except ValidationError as exc:
        raise ProtocolError("bad_message", _describe(exc), _request_id(raw)) from None


def parse_server_message(text: str | bytes) -> ServerMessage:
    return _server_adapter.validate_json(text)


def dump(message: Outbound | Inbound) -> str:
    return message.model_dump_json(by_alias=True)

