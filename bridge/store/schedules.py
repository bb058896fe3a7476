"""A room's schedule entries in the database (the iCalendar side is bridge/schedules.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.schedules import ParsedEntry
from bridge.store.models import Room, ScheduleEntry


@dataclass(frozen=True)
class ImportSummary:
    added: int
    updated: int
    removed: int


def entries(db: Session, room: Room) -> list[ScheduleEntry]:
    return list(db.scalars(
        select(ScheduleEntry).where(ScheduleEntry.room_id == room.id).order_by(ScheduleEntry.id)))


def icals(db: Session, room: Room) -> list[str]:
    return [e.ical for e in entries(db, room)]


def add_entry(db: Session, room: Room, parsed: ParsedEntry, source: str = "") -> ScheduleEntry:
    entry = ScheduleEntry(room_id=room.id, uid=parsed.uid, title=parsed.title, ical=parsed.ical,
                          source=source, created_at=datetime.now(UTC))
    db.add(entry)
    db.flush()
    return entry


def import_entries(db: Session, room: Room, parsed: list[ParsedEntry],
                   source: str) -> ImportSummary:
    """Bring the room's entries from `source` in line with `parsed`: new UIDs added,
    known ones replaced (even if typed in or from another source before), and the
    source's entries that are gone from it removed — importing again is a sync."""
    known = {e.uid: e for e in entries(db, room)}
    added = updated = 0
    for p in parsed:
        entry = known.get(p.uid)
        if entry is None:
            add_entry(db, room, p, source)
            added += 1
        else:
            entry.title, entry.ical, entry.source = p.title, p.ical, source
            updated += 1
    wanted = {p.uid for p in parsed}
    gone = [e for e in known.values() if e.source == source and e.uid not in wanted]
    for e in gone:
        db.delete(e)
    return ImportSummary(added, updated, len(gone))


def remove_entry(db: Session, room: Room, entry_id: int) -> ScheduleEntry | None:
    entry = db.get(ScheduleEntry, entry_id)
    if entry is None or entry.room_id != room.id:
        return None
    db.delete(entry)
    return entry
