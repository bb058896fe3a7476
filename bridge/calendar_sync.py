"""Keeping rooms' schedules in line with the school's calendars ([[schedule.calendars]]).

Every [schedule] refresh_min the bridge reads each calendar again — an iCalendar URL or a
CalDAV collection — and imports it as `salon-bridge schedule import` does: a changed
event is updated, one gone from the calendar disappears, what was typed in stays. A
calendar that cannot be fetched or read changes nothing: the room keeps the last good
schedule, and the failure is logged and kept in the status file the admin commands
and the hosts' Takvim tab show (`schedule-sync.json` in the state directory).

CalDAV goes through the `caldav` package (RFC 4791; maintained, used by Home Assistant
and many sync tools): it speaks PROPFIND/REPORT and hands over each event's iCalendar
text, which then goes through the same parsing and expansion as a file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bridge import schedules
from bridge.config import CalendarSource, ScheduleSettings
from bridge.schedules import ScheduleError
from bridge.store import Store
from bridge.store import schedules as stored
from bridge.store.accounts import find_room

log = logging.getLogger("salon.schedule")
STATUS_FILE = "schedule-sync.json"
TIMEOUT_S = 20.0


@dataclass
class SourceStatus:
    """The last attempt at one calendar, as admins and hosts see it."""

    room: str
    url: str
    kind: str
    last_attempt: str | None = None
    last_ok: str | None = None
    error: str = ""  # the last attempt's failure; "" when it worked
    summary: str = ""  # what the last good import did, in words (the admin's list)
    counts: dict[str, int] = field(default_factory=dict)  # added, updated, removed, left_out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def fetch_source(source: CalendarSource) -> bytes | str:
    """The calendar's text, or ScheduleError saying why not (never its password)."""
    password = _password(source)
    if not source.caldav:
        return schedules.fetch_calendar(source.url, TIMEOUT_S, source.user, password)
    return fetch_caldav(source.url, source.user, password)


def _password(source: CalendarSource) -> str | None:
    if source.password_file is None:
        return None
    try:
        return source.password_file.read_text(encoding="utf-8").splitlines()[0].strip()
    except (OSError, IndexError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "empty"
        raise ScheduleError(f"password_file {source.password_file}: cannot read ({why})") from None


def fetch_caldav(url: str, user: str | None, password: str | None) -> str:
    """Every event of a CalDAV calendar collection, as one iCalendar text."""
    from caldav.davclient import DAVClient  # loaded by the bridges that read CalDAV only

    schedules.check_url(url)
    client = DAVClient(url=url, username=user, password=password,
                       timeout=int(TIMEOUT_S))
    try:
        texts = [str(event.data) for event in client.calendar(url=url).events()]
    except Exception as exc:  # caldav raises its own errors, requests' and lxml's
        raise ScheduleError(f"{url}: CalDAV failed ({type(exc).__name__}: "
                            f"{_first_line(exc)})") from None
    finally:
        client.close()
    return schedules.merge_calendars(texts, url)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


def import_source(store: Store, source: CalendarSource, data: bytes | str
                  ) -> dict[str, int]:
    """Parse and import what was fetched; ScheduleError (nothing changed) if unusable."""
    parsed, notes = schedules.parse_calendar(data, source.url)
    with store.transaction() as db:
        room = find_room(db, source.room)
        if room is None:
            raise ScheduleError(f"room {source.room!r}: no such room")
        summary = stored.import_entries(db, room, parsed, source.url)
    return {"added": summary.added, "updated": summary.updated, "removed": summary.removed,
            "left_out": len(notes)}


def describe(counts: dict[str, int]) -> str:
    text = f"{counts['added']} added, {counts['updated']} updated, {counts['removed']} removed"
    return text + (f"; {counts['left_out']} left out" if counts.get("left_out") else "")


def sync_once(store: Store, source: CalendarSource, status: SourceStatus) -> None:
    """One attempt, recorded in `status` (blocking: run it on a thread)."""
    status.last_attempt = _now()
    try:
        status.counts = import_source(store, source, fetch_source(source))
        status.summary = describe(status.counts)
    except Exception as exc:  # a bad calendar, or the database busy: the next round retries
        status.error = str(exc) if isinstance(exc, ScheduleError) else \
            f"{type(exc).__name__}: {_first_line(exc)}"
        log.warning("calendar of room %s not updated, keeping the last good schedule: %s",
                    source.room, status.error, extra={"EVENT": "calendar-sync-failed"})
        return
    status.error, status.last_ok = "", status.last_attempt
    log.info("calendar of room %s: %s", source.room, status.summary)


class CalendarSync:
    """The bridge's task that reads every configured calendar again and again."""

    def __init__(self, store: Store, settings: ScheduleSettings, state_dir: Path) -> None:
        self.store = store
        self.settings = settings
        self.path = state_dir / STATUS_FILE
        known = read_status(state_dir)
        self.status = {c.key: known.get(c.key) or SourceStatus(
            c.room, c.url, "caldav" if c.caldav else "ical") for c in settings.calendars}

    async def run(self) -> None:
        while True:
            await self.sync_all()
            await asyncio.sleep(self.settings.refresh_min * 60)

    async def sync_all(self) -> None:
        for source in self.settings.calendars:
            # A blocking fetch (urllib, caldav) and a short transaction, off the loop.
            await asyncio.to_thread(sync_once, self.store, source, self.status[source.key])
        await asyncio.to_thread(self.save)

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps([asdict(s) for s in self.status.values()],
                                      ensure_ascii=False, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.path, exc)


def read_status(state_dir: Path) -> dict[str, SourceStatus]:
    """The last attempts the bridge recorded, by "room url" (empty if none yet)."""
    try:
        rows: list[dict[str, Any]] = json.loads((state_dir / STATUS_FILE).read_text("utf-8"))
        found = [SourceStatus(**row) for row in rows]
    except (OSError, ValueError, TypeError):
        return {}
    return {f"{s.room} {s.url}": s for s in found}
