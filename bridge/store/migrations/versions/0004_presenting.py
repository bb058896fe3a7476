"""Presenting: the right to share a screen, and who holds the meeting's one presentation
(and whether a room's seat presents through its companion page: a laptop in the room).

Hosts hold the right from the start (as with audio and camera), so seats made before
this revision get it from ``is_host``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("present_right", "presenting_since", "presenting_ms", "presenting_via")


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN on both databases: no table is rebuilt, so the rows
    # the event log references and its triggers stay as they are. The server defaults
    # fill existing rows; the models give every new row its value.
    op.add_column("participants", sa.Column("present_right", sa.Boolean(), nullable=False,
                                            server_default=sa.false()))
    op.add_column("participants", sa.Column("presenting_since", sa.DateTime(), nullable=True))
    op.add_column("participants", sa.Column("presenting_ms", sa.Integer(), nullable=False,
                                            server_default="0"))
    op.add_column("participants", sa.Column("presenting_via", sa.String(16), nullable=True))
    op.execute("UPDATE participants SET present_right = is_host")


def downgrade() -> None:
    for column in reversed(COLUMNS):  # SQLite 3.35+ drops a column in place
        op.drop_column("participants", column)
