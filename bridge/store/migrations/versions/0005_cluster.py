"""Several bridge processes: each room's numbered events (the outbox the bus fans out and
a process resyncs from), which process holds each seat's connection, the processes'
heartbeats and the rate limits they share.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN on both databases (no table rebuilt: the event log's
    # triggers and the rows it references stay as they are).
    op.add_column("rooms", sa.Column("event_seq", sa.Integer(), nullable=False,
                                     server_default="0"))
    op.add_column("participants", sa.Column("node", sa.String(64), nullable=True))
    op.create_table(
        "room_events",
        sa.Column("room_id", sa.Integer(), sa.ForeignKey("rooms.id"), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(), nullable=False),  # naive UTC
        sa.Column("node", sa.String(64), nullable=False),  # the process that made it
        sa.Column("effects", sa.JSON(), nullable=False),
    )
    op.create_table(
        "bridge_nodes",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_buckets")
    op.drop_table("bridge_nodes")
    op.drop_table("room_events")
    with op.batch_alter_table("participants") as batch:
        batch.drop_column("node")
    with op.batch_alter_table("rooms") as batch:
        batch.drop_column("event_seq")
