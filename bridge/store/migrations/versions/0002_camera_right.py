"""One word for the camera: participants.video_right becomes camera_right, and the event
log's video_granted/video_revoked become camera_granted/camera_revoked.

The event log refuses edits (0001's triggers); this one rename is a schema change, so
the triggers are lifted for it and put back in the same transaction.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = (("video_granted", "camera_granted"), ("video_revoked", "camera_revoked"))


def upgrade() -> None:
    # RENAME COLUMN in place (SQLite >= 3.25, PostgreSQL): no copy of the table, whose
    # rows the event log references.
    op.execute("ALTER TABLE participants RENAME COLUMN video_right TO camera_right")
    _rename_kinds(KINDS)


def downgrade() -> None:
    op.execute("ALTER TABLE participants RENAME COLUMN camera_right TO video_right")
    _rename_kinds(tuple((new, old) for old, new in KINDS))


def _rename_kinds(pairs: Sequence[tuple[str, str]]) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS events_no_update")
    elif dialect == "postgresql":
        op.execute("ALTER TABLE events DISABLE TRIGGER events_append_only")
    for old, new in pairs:
        op.execute(f"UPDATE events SET kind = '{new}' WHERE kind = '{old}'")
    if dialect == "sqlite":
        op.execute(
            "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
            "BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END"
        )
    elif dialect == "postgresql":
        op.execute("ALTER TABLE events ENABLE TRIGGER events_append_only")
