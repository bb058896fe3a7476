"""SQLAlchemy models: the durable state of rooms, meetings and their history.

Times are stored as naive UTC (SQLite has no time zone type) and come back as
aware UTC datetimes, so the domain never compares naive with aware times.
The event log is append-only; the initial migration enforces that in the
database itself.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, naive UTC on disk."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC time")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Role(enum.StrEnum):
    HOST = "host"
    PARTICIPANT = "participant"
    DEVICE = "device"


class Policy(enum.StrEnum):
    PRIVATE = "private"  # accounts only
    PUBLIC = "public"  # guests too, through the lobby


class Kind(enum.StrEnum):
    ACCOUNT = "account"
    GUEST = "guest"
    DEVICE = "device"


class Admission(enum.StrEnum):
    LOBBY = "lobby"
    ADMITTED = "admitted"
    DENIED = "denied"
    REMOVED = "removed"


class PollState(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    # Stored as the value strings; a CHECK constraint keeps bad values out.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda e: [m.value for m in e],
    )


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    display_name: Mapped[str] = mapped_column(String(80))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Room(Base):
    __tablename__ = "rooms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    policy: Mapped[Policy] = mapped_column(_enum(Policy, "policy"))
    guest_name_format: Mapped[bool] = mapped_column(Boolean, default=False)
    # Everyone admitted gets audio and camera rights at once (informal rooms, demos).
    open_floor: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Several bridge processes: the number of the room's last event (RoomEvent).
    event_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


OPEN_MEETING = text("ended_at IS NULL")


class Meeting(Base):
    __tablename__ = "meetings"
    __table_args__ = (
        Index(None, "room_id", "ended_at"),
        # At most one meeting of a room is on at a time.
        Index(
            "uq_meetings_open_room_id",
            "room_id",
            unique=True,
            sqlite_where=OPEN_MEETING,
            postgresql_where=OPEN_MEETING,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The schedule's occurrence this meeting is (bridge/schedules.py), when it started
    # within one: each occurrence of a weekly class is a meeting of its own in reports.
    schedule_uid: Mapped[str | None] = mapped_column(String(255), nullable=True)
    scheduled_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    scheduled_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    scheduled_title: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Participant(Base):
    """One person's (or device's) session in one meeting, lobby included."""

    __tablename__ = "participants"
    __table_args__ = (Index(None, "meeting_id", "admission", "left_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    kind: Mapped[Kind] = mapped_column(_enum(Kind, "kind"))
    is_host: Mapped[bool] = mapped_column(Boolean, default=False)
    display_name: Mapped[str] = mapped_column(String(80))
    # sha256 of the session token; the token itself is only ever held by the client.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    admission: Mapped[Admission] = mapped_column(_enum(Admission, "admission"))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Counts connections: a stale connection's close must not end a newer one.
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    # None while connected; set when the connection goes (a resume clears it).
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    audio_right: Mapped[bool] = mapped_column(Boolean, default=False)
    camera_right: Mapped[bool] = mapped_column(Boolean, default=False)
    muted: Mapped[bool] = mapped_column(Boolean, default=False)
    hand_raised_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    talking_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    speaking_ms: Mapped[int] = mapped_column(Integer, default=0)
    # Several bridge processes: which one holds the seat's connection (None: one process).
    node: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Presenting (a shared screen): the right, and the meeting's one presentation while
    # it lasts (at most one participant of a meeting has presenting_since set).
    present_right: Mapped[bool] = mapped_column(Boolean, default=False)
    presenting_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    presenting_ms: Mapped[int] = mapped_column(Integer, default=0)
    # "companion": the seat (a room) presents through its companion page, a laptop in
    # the room sharing its screen wirelessly; None: the seat's own client presents.
    presenting_via: Mapped[str | None] = mapped_column(String(16), nullable=True)


class Event(Base):
    """Append-only log of everything that happened, the source of reports."""

    __tablename__ = "events"
    __table_args__ = (Index(None, "meeting_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"))
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id"), nullable=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"), nullable=True)
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (Index(None, "meeting_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"))
    sender_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    # None: to everyone (Herkes); otherwise a private message to one participant.
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Poll(Base):
    __tablename__ = "polls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"), index=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id"), nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("participants.id"), nullable=True)
    question: Mapped[str] = mapped_column(Text)
    options: Mapped[list[str]] = mapped_column(JSON)
    state: Mapped[PollState] = mapped_column(_enum(PollState, "poll_state"))
    results_visible: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PollAnswer(Base):
    __tablename__ = "poll_answers"
    __table_args__ = (UniqueConstraint("poll_id", "participant_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    option: Mapped[int] = mapped_column(Integer)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StoredFile(Base):
    __tablename__ = "files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"), index=True)
    original_name: Mapped[str] = mapped_column(String(255))
    # Generated by the bridge (hex); the uploader's name never becomes a path.
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uploader_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"), nullable=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ScheduleEntry(Base):
    """One meeting of a room's schedule, one-off or recurring, kept as iCalendar text
    (a VCALENDAR with the VEVENT, its overridden occurrences and the VTIMEZONEs they
    name), so entries typed by an admin and imported ones expand the same way."""

    __tablename__ = "schedule_entries"
    __table_args__ = (UniqueConstraint("room_id", "uid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"), index=True)
    uid: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(200))
    ical: Mapped[str] = mapped_column(Text)
    # Where it came from: "" typed in (admin or host), else the imported file or URL;
    # importing the same source again replaces what it brought before.
    source: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RoomEvent(Base):
    """Several bridge processes: what one action in a room made every process do, in
    the room's order. The bus carries it at once; a process that missed some (a bus
    reconnect, a gap) reads them here. Kept a few minutes."""

    __tablename__ = "room_events"

    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    node: Mapped[str] = mapped_column(String(64))  # the process whose action made it
    effects: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class BridgeNode(Base):
    """A bridge process's heartbeat: a process not seen for a while is gone, and the
    seats it held are no longer connected."""

    __tablename__ = "bridge_nodes"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RateBucket(Base):
    """A token bucket every bridge process takes from (chat and action limits)."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated: Mapped[datetime] = mapped_column(UTCDateTime)


class StoredGrant(Base):
    """A download ticket or a phone-companion code every bridge process honours (several
    processes; one process keeps them in memory). Only the code's SHA-256 is stored."""

    __tablename__ = "grants"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    participant: Mapped[int] = mapped_column(Integer, index=True)
    scope: Mapped[str] = mapped_column(String(600))  # a ticket's resource, a code's room
    expires: Mapped[float] = mapped_column(Float, index=True)  # seconds since the epoch
