"""Admin commands for a room's schedule: `salon-bridge schedule add|list|import|remove`.

    salon-bridge schedule add testbim --title "Matematik 9-A" --start "2026-12-08 09:00" \\
        --minutes 40 --weekly [--until 2027-06-15] [--time-zone Europe/Istanbul]
    salon-bridge schedule import testbim ders-programi.ics       (or an https:// URL)
    salon-bridge schedule list testbim [--days 7]
    salon-bridge schedule remove testbim 3
    salon-bridge schedule sync [testbim]      (the [[schedule.calendars]] of bridge.toml, now)

Wired in by bridge.admin.add_admin_commands; handlers share its signature
(arguments, store, bridge.console.Console).
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bridge import calendar_sync, schedules
from bridge.config import BridgeSettings, CalendarSource
from bridge.console import Console, table
from bridge.schedules import ScheduleError
from bridge.store import Store
from bridge.store import schedules as stored
from bridge.store.accounts import InvalidValue, find_room
from bridge.store.models import Room

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

DEFAULT_ZONE = "Europe/Istanbul"


def add_schedule_commands(
        subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = subparsers.add_parser("schedule", help="a room's scheduled meetings").add_subparsers(
        dest="schedule_command", required=True, metavar="{add,list,import,remove,sync}")
    p = sub.add_parser("add", help="a one-off or weekly meeting")
    p.add_argument("room", help="the room's address, e.g. testbim")
    p.add_argument("--title", required=True)
    p.add_argument("--start", required=True, type=_local_time,
                   help='first meeting, local time: "2026-12-08 09:00"')
    length = p.add_mutually_exclusive_group(required=True)
    length.add_argument("--minutes", type=int, help="how long it lasts")
    length.add_argument("--end", type=_clock, help="when it ends, HH:MM the same day")
    p.add_argument("--weekly", action="store_true", help="again every week on that day")
    p.add_argument("--until", type=date.fromisoformat, help="last week's date (YYYY-MM-DD)")
    _zone(p)
    p.set_defaults(admin=_add)
    p = sub.add_parser("import", help="meetings from an iCalendar file or URL (again: sync)")
    p.add_argument("room")
    p.add_argument("source", help="an .ics file, or an https:// or webcal:// URL")
    p.set_defaults(admin=_import)
    p = sub.add_parser("list", help="the room's entries and its coming meetings")
    p.add_argument("room")
    p.add_argument("--days", type=int, default=7, help="how far ahead (default 7)")
    _zone(p)
    p.set_defaults(admin=_list)
    p = sub.add_parser("remove", help="remove an entry (all its meetings)")
    p.add_argument("room")
    p.add_argument("id", type=int, help="the entry's ID from `schedule list`")
    p.set_defaults(admin=_remove)
    p = sub.add_parser("sync", help="read the rooms' calendars of bridge.toml again, now")
    p.add_argument("room", nargs="?", help="only this room's calendars")
    p.set_defaults(admin=_sync)


def _zone(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--time-zone", default=DEFAULT_ZONE,
                        help=f"zone of the times given and shown (default {DEFAULT_ZONE})")


def _local_time(text: str) -> datetime:
    try:
        return datetime.strptime(text.strip().replace("T", " "), "%Y-%m-%d %H:%M")
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r}: give "YYYY-MM-DD HH:MM"') from None


def _clock(text: str) -> tuple[int, int]:
    try:
        at = datetime.strptime(text.strip(), "%H:%M")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give HH:MM") from None
    return at.hour, at.minute


def _room(db: Session, address: str) -> Room:
    room = find_room(db, address)
    if room is None:
        raise InvalidValue(f"room address {address!r}: no such room")
    return room


def _add(args: argparse.Namespace, store: Store, console: Console) -> int:
    start: datetime = args.start
    minutes = args.minutes
    if args.end is not None:
        end = start.replace(hour=args.end[0], minute=args.end[1])
        minutes = int((end - start).total_seconds() // 60)
        if minutes <= 0:
            raise ScheduleError(f"--end {end:%H:%M}: not after --start {start:%H:%M}")
    parsed = schedules.make_entry(args.title, start, minutes, args.time_zone,
                                  weekly=args.weekly, until=args.until)
    with store.transaction() as db:
        entry = stored.add_entry(db, _room(db, args.room), parsed)
        entry_id = entry.id
    repeats = "every week" if args.weekly else "once"
    print(f"added entry {entry_id}: {parsed.title}, {start:%Y-%m-%d %H:%M} {args.time_zone}, "
          f"{minutes} min, {repeats}", file=console.stdout)
    return 0


def _import(args: argparse.Namespace, store: Store, console: Console) -> int:
    source: str = args.source
    if "://" in source:
        data = schedules.fetch_calendar(source)
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise ScheduleError(f"{source}: cannot read ({exc.strerror})") from None
        source = str(Path(source).resolve())
    parsed, notes = schedules.parse_calendar(data, args.source)
    with store.transaction() as db:
        summary = stored.import_entries(db, _room(db, args.room), parsed, source)
    for note in notes:
        print(f"note: {note}", file=console.stderr)
    print(f"imported {args.source}: {summary.added} added, {summary.updated} updated, "
          f"{summary.removed} removed", file=console.stdout)
    return 0


def _list(args: argparse.Namespace, store: Store, console: Console) -> int:
    zone = schedules.time_zone(args.time_zone)
    now = datetime.now(UTC)
    with store.transaction() as db:
        rows = stored.entries(db, _room(db, args.room))
        listed = [(str(e.id), e.title, _repeats(e.ical), e.source or "typed in") for e in rows]
        texts = [e.ical for e in rows]
    table(console.stdout, ("ID", "TITLE", "REPEATS", "SOURCE"), listed)
    _calendars(args, console)
    coming = schedules.expand(texts, now, now + timedelta(days=max(1, args.days)))
    print(f"\ncoming {args.days} days ({args.time_zone}):", file=console.stdout)
    table(console.stdout, ("START", "END", "TITLE"), [
        (f"{o.start.astimezone(zone):%a %Y-%m-%d %H:%M}", f"{o.end.astimezone(zone):%H:%M}",
         o.title) for o in coming])
    return 0


def _repeats(ical: str) -> str:
    return "weekly" if "FREQ=WEEKLY" in ical else ("repeats" if "RRULE" in ical else "once")


def _remove(args: argparse.Namespace, store: Store, console: Console) -> int:
    with store.transaction() as db:
        entry = stored.remove_entry(db, _room(db, args.room), args.id)
        if entry is None:
            raise InvalidValue(f"schedule entry {args.id}: not in room {args.room!r}")
        title = entry.title
    print(f"removed entry {args.id}: {title}", file=console.stdout)
    return 0


def _configured(args: argparse.Namespace, room: str | None) -> list[CalendarSource]:
    settings: BridgeSettings | None = getattr(args, "settings", None)
    if settings is None:
        return []
    return [c for c in settings.schedule.calendars if room is None or c.room == room]


def _calendars(args: argparse.Namespace, console: Console) -> None:
    """The room's calendars of bridge.toml and how their last reading went."""
    sources = _configured(args, args.room)
    if not sources:
        return
    assert args.settings is not None
    status = calendar_sync.read_status(args.settings.state_dir)
    rows = []
    for c in sources:
        s = status.get(c.key)
        state = "not read yet" if s is None or s.last_attempt is None else (
            f"FAILED {s.last_attempt}: {s.error} (keeping the last good one)" if s.error
            else f"ok {s.last_ok}: {s.summary}")
        rows.append(("caldav" if c.caldav else "ical", c.url, state))
    print(f"\ncalendars (read every {args.settings.schedule.refresh_min:g} min):",
          file=console.stdout)
    table(console.stdout, ("KIND", "URL", "LAST READ"), rows)
    print(file=console.stdout)


def _sync(args: argparse.Namespace, store: Store, console: Console) -> int:
    sources = _configured(args, args.room)
    if not sources:
        raise InvalidValue("no [[schedule.calendars]] in the configuration"
                           + (f" for room {args.room!r}" if args.room else ""))
    failed = 0
    for source in sources:
        status = calendar_sync.SourceStatus(source.room, source.url, "")
        calendar_sync.sync_once(store, source, status)
        if status.error:
            failed += 1
            print(f"{source.room}: {status.error}", file=console.stderr)
        else:
            print(f"{source.room}: {source.url}: {status.summary}", file=console.stdout)
    return 1 if failed else 0
