"""Takvim: the host of a room keeps its schedule from the web client — one-off and weekly
meetings added, edited and removed, an .ics file imported. Only a host in this room's
meeting may (cx.host); every change is in the room's event log.

The admin's way is `salon-bridge schedule …` (bridge/schedule_admin.py); both write the
same entries (bridge/store/schedules.py) and both expand through bridge/schedules.py.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from bridge import schedules
from bridge.meetings import context as cx
from bridge.meetings.effects import Refused, Row
from bridge.schedules import ScheduleError
from bridge.store import schedules as stored
from bridge.store.models import ScheduleEntry

AHEAD = timedelta(days=14)  # what the tab lists of the coming meetings
UPLOAD = "upload: "  # the source of an .ics file a host imported (again: a sync of it)


def _refused(exc: ScheduleError) -> Refused:
    return Refused("bad_schedule", str(exc))


def _form(form: Any) -> tuple[str, datetime, int, str, bool, date | None]:
    """A typed-in meeting from the client's JSON; a field that does not fit is named."""
    if not isinstance(form, dict):
        raise Refused("bad_schedule", "schedule: send a JSON object")
    title = form.get("title")
    if not isinstance(title, str):
        raise Refused("bad_schedule", "title: a meeting needs a title")
    try:
        start = datetime.strptime(str(form.get("start", "")), "%Y-%m-%dT%H:%M")
    except ValueError:
        raise Refused("bad_schedule", "start: give the date and time, YYYY-MM-DDTHH:MM") from None
    minutes = form.get("minutes")
    if not isinstance(minutes, int) or isinstance(minutes, bool):
        raise Refused("bad_schedule", "minutes: a whole number of minutes")
    zone = form.get("time_zone")
    if not isinstance(zone, str):
        raise Refused("bad_schedule", "time_zone: an IANA name like Europe/Istanbul")
    weekly = form.get("weekly", False) is True
    until = None
    if form.get("until"):
        try:
            until = date.fromisoformat(str(form["until"]))
        except ValueError:
            raise Refused("bad_schedule", "until: give a date, YYYY-MM-DD") from None
    return title, start, minutes, zone, weekly, until


def _entry(tx: cx.Tx, scope: cx.Scope, entry_id: int, action: str) -> ScheduleEntry:
    entry = tx.db.get(ScheduleEntry, entry_id)
    if entry is None or entry.room_id != scope.room.id:
        raise Refused("no_such_entry", f"{action}: no such meeting in this room's schedule")
    return entry


def view(tx: cx.Tx, pid: int, calendars: list[Row]) -> Row:
    """The room's entries (typed-in ones with their fields, to edit), its coming meetings,
    and the calendars the bridge reads for it (with how the last reading went)."""
    scope = cx.host(tx, pid, "schedule")
    rows = stored.entries(tx.db, scope.room)
    occurrences = schedules.expand([e.ical for e in rows], tx.now, tx.now + AHEAD)
    by_uid = {e.uid: e.id for e in rows}
    entries = []
    for e in rows:
        typed = schedules.read_typed(e.ical) if not e.source else None
        entries.append({"id": e.id, "title": e.title, "source": e.source,
                        "typed": typed.as_json() if typed else None})
    mine = [c for c in calendars if c.get("room") == scope.room.address]
    return {"room": scope.room.address, "entries": entries, "calendars": mine,
            "occurrences": [{**o.as_json(), "entry": by_uid.get(o.uid)} for o in occurrences]}


def add(tx: cx.Tx, pid: int, form: Any) -> Row:
    scope = cx.host(tx, pid, "add to schedule")
    title, start, minutes, zone, weekly, until = _form(form)
    try:
        parsed = schedules.make_entry(title, start, minutes, zone, weekly=weekly, until=until)
    except ScheduleError as exc:
        raise _refused(exc) from None
    entry = stored.add_entry(tx.db, scope.room, parsed)
    cx.record(tx, scope.meeting, "schedule_added", actor_id=pid, entry=entry.id,
              title=parsed.title)
    return {"id": entry.id}


def edit(tx: cx.Tx, pid: int, entry_id: int, form: Any) -> Row:
    scope = cx.host(tx, pid, "edit schedule")
    entry = _entry(tx, scope, entry_id, "edit schedule")
    if entry.source or schedules.read_typed(entry.ical) is None:
        raise Refused("entry_imported", "edit schedule: this meeting came from a calendar; "
                                        "change it there (or remove it here)")
    title, start, minutes, zone, weekly, until = _form(form)
    try:
        parsed = schedules.make_entry(title, start, minutes, zone, weekly=weekly, until=until,
                                      uid=entry.uid)
    except ScheduleError as exc:
        raise _refused(exc) from None
    entry.title, entry.ical = parsed.title, parsed.ical
    cx.record(tx, scope.meeting, "schedule_edited", actor_id=pid, entry=entry.id,
              title=parsed.title)
    return {"id": entry.id}


def remove(tx: cx.Tx, pid: int, entry_id: int) -> Row:
    scope = cx.host(tx, pid, "remove from schedule")
    entry = _entry(tx, scope, entry_id, "remove from schedule")
    cx.record(tx, scope.meeting, "schedule_removed", actor_id=pid, entry=entry.id,
              title=entry.title)
    tx.db.delete(entry)
    return {"id": entry_id}


def import_file(tx: cx.Tx, pid: int, name: str, data: bytes) -> Row:
    """An .ics file the host chose; importing a file of the same name again is a sync."""
    scope = cx.host(tx, pid, "import schedule")
    name = " ".join(name.split())[:200] or "calendar.ics"
    try:
        parsed, notes = schedules.parse_calendar(data, name)
    except ScheduleError as exc:
        raise _refused(exc) from None
    summary = stored.import_entries(tx.db, scope.room, parsed, UPLOAD + name)
    cx.record(tx, scope.meeting, "schedule_imported", actor_id=pid, file=name,
              added=summary.added, updated=summary.updated, removed=summary.removed)
    return {"added": summary.added, "updated": summary.updated, "removed": summary.removed,
            "notes": notes}
