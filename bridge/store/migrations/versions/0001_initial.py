"""Initial schema: accounts, rooms, meetings, participants, events, chat, polls, files.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(), nullable=nullable)  # naive UTC


def _choice(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def _id() -> sa.Column[object]:
    return sa.Column("id", sa.Integer(), primary_key=True)


def _ref(name: str, table: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.Integer(), sa.ForeignKey(f"{table}.id"), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "accounts",
        _id(),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("role", _choice("role", "host", "participant", "device"), nullable=False),
        sa.Column("display_name", sa.String(80), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        _time("created_at"),
    )
    op.create_table(
        "rooms",
        _id(),
        sa.Column("address", sa.String(64), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("policy", _choice("policy", "private", "public"), nullable=False),
        sa.Column("guest_name_format", sa.Boolean(), nullable=False),
        sa.Column("open_floor", sa.Boolean(), nullable=False),
        _time("created_at"),
    )
    op.create_table(
        "meetings",
        _id(),
        _ref("room_id", "rooms"),
        _time("started_at"),
        _time("ended_at", nullable=True),
    )
    op.create_index(op.f("ix_meetings_room_id_ended_at"), "meetings", ["room_id", "ended_at"])
    open_meeting = sa.text("ended_at IS NULL")
    op.create_index(
        "uq_meetings_open_room_id",
        "meetings",
        ["room_id"],
        unique=True,
        sqlite_where=open_meeting,
        postgresql_where=open_meeting,
    )
    op.create_table(
        "participants",
        _id(),
        _ref("meeting_id", "meetings"),
        _ref("account_id", "accounts", nullable=True),
        sa.Column("kind", _choice("kind", "account", "guest", "device"), nullable=False),
        sa.Column("is_host", sa.Boolean(), nullable=False),
        sa.Column("display_name", sa.String(80), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "admission",
            _choice("admission", "lobby", "admitted", "denied", "removed"),
            nullable=False,
        ),
        _time("joined_at"),
        _time("decided_at", nullable=True),
        sa.Column("epoch", sa.Integer(), nullable=False),
        _time("left_at", nullable=True),
        sa.Column("audio_right", sa.Boolean(), nullable=False),
        sa.Column("video_right", sa.Boolean(), nullable=False),
        sa.Column("muted", sa.Boolean(), nullable=False),
        _time("hand_raised_at", nullable=True),
        _time("talking_since", nullable=True),
        sa.Column("speaking_ms", sa.Integer(), nullable=False),
    )
    op.create_index(
        op.f("ix_participants_meeting_id_admission_left_at"),
        "participants",
        ["meeting_id", "admission", "left_at"],
    )
    op.create_table(
        "events",
        _id(),
        _time("at"),
        _ref("room_id", "rooms"),
        _ref("meeting_id", "meetings", nullable=True),
        _ref("actor_id", "participants", nullable=True),
        _ref("subject_id", "participants", nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index(op.f("ix_events_meeting_id_id"), "events", ["meeting_id", "id"])
    _make_events_append_only()
    op.create_table(
        "chat_messages",
        _id(),
        _ref("meeting_id", "meetings"),
        _ref("sender_id", "participants"),
        _ref("recipient_id", "participants", nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        _time("sent_at"),
    )
    op.create_index(op.f("ix_chat_messages_meeting_id_id"), "chat_messages", ["meeting_id", "id"])
    op.create_table(
        "polls",
        _id(),
        _ref("room_id", "rooms"),
        _ref("meeting_id", "meetings", nullable=True),
        _ref("created_by", "participants", nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("state", _choice("poll_state", "draft", "open", "closed"), nullable=False),
        sa.Column("results_visible", sa.Boolean(), nullable=False),
        _time("created_at"),
        _time("opened_at", nullable=True),
        _time("closed_at", nullable=True),
    )
    op.create_index(op.f("ix_polls_room_id"), "polls", ["room_id"])
    op.create_table(
        "poll_answers",
        _id(),
        _ref("poll_id", "polls"),
        _ref("participant_id", "participants"),
        sa.Column("option", sa.Integer(), nullable=False),
        _time("answered_at"),
        sa.UniqueConstraint("poll_id", "participant_id"),
    )
    op.create_table(
        "files",
        _id(),
        _ref("room_id", "rooms"),
        sa.Column("original_name", sa.String(255), nullable=False),
        sa.Column("stored_name", sa.String(64), nullable=False, unique=True),
        sa.Column("content_type", sa.String(128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        _ref("uploader_id", "participants", nullable=True),
        _time("uploaded_at"),
    )
    op.create_index(op.f("ix_files_room_id"), "files", ["room_id"])


def _make_events_append_only() -> None:
    """Reports are only as good as the log: the database refuses edits to it."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER events_no_{verb.lower()} BEFORE {verb} ON events "
                "BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'the event log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION events_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_append_only ON events")
        op.execute("DROP FUNCTION IF EXISTS events_append_only()")
    for table in (
        "files",
        "poll_answers",
        "polls",
        "chat_messages",
        "events",
        "participants",
        "meetings",
        "rooms",
        "accounts",
    ):
        op.drop_table(table)
