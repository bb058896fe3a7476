"""Schedules: a room's meetings as iCalendar entries; meetings remember their occurrence.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MEETING_COLUMNS = ("schedule_uid", "scheduled_start", "scheduled_end", "scheduled_title")


def upgrade() -> None:
    op.create_table(
        "schedule_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("room_id", sa.Integer(), sa.ForeignKey("rooms.id"), nullable=False),
        sa.Column("uid", sa.String(255), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("ical", sa.Text(), nullable=False),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),  # naive UTC
        sa.UniqueConstraint("room_id", "uid"),
    )
    op.create_index(op.f("ix_schedule_entries_room_id"), "schedule_entries", ["room_id"])
    # Plain ALTER TABLE on both databases (nullable, no default): no table is rebuilt,
    # so the partial index of open meetings and the events' triggers stay as they are.
    op.add_column("meetings", sa.Column("schedule_uid", sa.String(255), nullable=True))
    op.add_column("meetings", sa.Column("scheduled_start", sa.DateTime(), nullable=True))
    op.add_column("meetings", sa.Column("scheduled_end", sa.DateTime(), nullable=True))
    op.add_column("meetings", sa.Column("scheduled_title", sa.String(200), nullable=True))


def downgrade() -> None:
    for column in MEETING_COLUMNS:  # SQLite 3.35+ drops a column in place
        op.drop_column("meetings", column)
    op.drop_index(op.f("ix_schedule_entries_room_id"), "schedule_entries")
    op.drop_table("schedule_entries")
