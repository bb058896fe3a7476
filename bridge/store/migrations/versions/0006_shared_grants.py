"""Several bridge processes: download tickets and phone-companion codes in the database,
so one minted on a process is good on any (a balancer sends the browser's download, or
the phone's request, wherever it likes). Only their hashes are stored.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "grants",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),  # "ticket" or "companion"
        sa.Column("participant", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(600), nullable=False),  # a ticket's path, a code's room
        sa.Column("expires", sa.Float(), nullable=False),  # seconds since the epoch
    )
    op.create_index(op.f("ix_grants_participant"), "grants", ["participant"])
    op.create_index(op.f("ix_grants_expires"), "grants", ["expires"])


def downgrade() -> None:
    op.drop_index(op.f("ix_grants_expires"), "grants")
    op.drop_index(op.f("ix_grants_participant"), "grants")
    op.drop_table("grants")
