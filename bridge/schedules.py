"""A room's schedule: meetings typed in or imported from iCalendar, and their occurrences.

Every entry is kept as iCalendar text, whether an admin typed it (`make_entry`) or it
came from a school's calendar (`parse_calendar`), and expanded by one library for both:
`icalendar` parses (and writes) the format, `recurring-ical-events` expands RRULE,
RDATE, EXDATE and moved occurrences (RECURRENCE-ID) in the event's own time zone, so a
weekly 09:00 class stays at 09:00 across a DST change. Both are maintained, widely used
and pure Python; hand-written RRULE code is the classic source of calendar bugs.

An occurrence is (entry uid, start): the bridge tags the meeting that starts in it
(bridge/meetings/joining.py) so reports list every occurrence as a meeting of its own.
"""

from __future__ import annotations

import secrets
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import recurring_ical_events

#: How far ahead of its start a meeting that begins counts as that occurrence (the
#: room's appliance joins up to its lead time early, at most two hours).
EARLY_START = timedelta(hours=2)
MAX_CALENDAR_BYTES = 5 * 1024 * 1024
MAX_TITLE = 200
PRODID = "-//Salon//schedule//EN"


class ScheduleError(ValueError):
    """A schedule entry or calendar that cannot be used; the message names where."""


@dataclass(frozen=True, order=True)
class Occurrence:
    start: datetime  # aware UTC
    end: datetime
    uid: str
    title: str

    def as_json(self) -> dict[str, str]:
        return {"uid": self.uid, "title": self.title,
                "start": _iso(self.start), "end": _iso(self.end)}


@dataclass(frozen=True)
class ParsedEntry:
    uid: str
    title: str
    ical: str


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"time zone {name!r}: unknown (an IANA name like Europe/Istanbul)") from None


# -- entries typed in -----------------------------------------------------------------------


def make_entry(title: str, start: datetime, minutes: int, zone: str, *,
               weekly: bool = False, until: date | None = None,
               uid: str | None = None) -> ParsedEntry:
    """A one-off or weekly meeting from `start` (local wall time in `zone`); an entry
    edited keeps its `uid`."""
    title = _title(title, "title")
    if not 1 <= minutes <= 24 * 60:
        raise ScheduleError(f"minutes {minutes}: a meeting lasts 1 to 1440 minutes")
    if start.tzinfo is not None:
        raise ScheduleError("start: give the local wall time; the zone comes separately")
    tz = time_zone(zone)
    if until is not None and not weekly:
        raise ScheduleError("until: only a weekly meeting has an end date")
    if until is not None and until < start.date():
        raise ScheduleError(f"until {until}: before the first meeting on {start.date()}")
    event = icalendar.Event()
    uid = uid or f"{secrets.token_hex(8)}@salon"
    event.add("uid", uid)
    event.add("summary", title)
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", start.replace(tzinfo=tz))
    event.add("duration", timedelta(minutes=minutes))
    if weekly:
        rule: dict[str, object] = {"freq": "weekly"}
        if until is not None:  # the whole last day, in the meeting's zone
            last = datetime.combine(until, datetime.max.time(), tzinfo=tz)
            rule["until"] = last.astimezone(UTC).replace(microsecond=0)
        event.add("rrule", rule)
    cal = _calendar([event])
    return ParsedEntry(uid, title, cal.to_ical().decode())


@dataclass(frozen=True)
class TypedEntry:
    """What `make_entry` was given, read back from the entry's iCalendar (to edit it)."""

    title: str
    start: datetime  # local wall time, naive
    minutes: int
    zone: str
    weekly: bool
    until: date | None

    def as_json(self) -> dict[str, object]:
        return {"title": self.title, "start": self.start.strftime("%Y-%m-%dT%H:%M"),
                "minutes": self.minutes, "time_zone": self.zone, "weekly": self.weekly,
                "until": self.until.isoformat() if self.until else None}


def read_typed(ical: str) -> TypedEntry | None:
    """A typed-in entry's fields, or None for anything `make_entry` would not have made
    (an imported series with EXDATEs, moved occurrences, other rules)."""
    try:
        events = list(icalendar.Calendar.from_ical(ical).walk("VEVENT"))
    except (ValueError, IndexError):
        return None
    if len(events) != 1 or "EXDATE" in events[0] or "RDATE" in events[0]:
        return None
    event = events[0]
    start = event.decoded("DTSTART")
    duration = event.decoded("DURATION", None)
    if not isinstance(start, datetime) or not isinstance(start.tzinfo, ZoneInfo) \
            or not isinstance(duration, timedelta):
        return None
    rule = event.get("RRULE")
    weekly, until = rule is not None, None
    if rule is not None:
        if rule.get("FREQ") != ["WEEKLY"] or set(rule) - {"FREQ", "UNTIL"}:
            return None
        if rule.get("UNTIL"):
            last = rule["UNTIL"][0]
            until = (last.astimezone(start.tzinfo).date() if isinstance(last, datetime)
                     else last)
    return TypedEntry(str(event.get("SUMMARY", "")), start.replace(tzinfo=None),
                      int(duration.total_seconds() // 60), start.tzinfo.key, weekly, until)


def _calendar(components: Iterable[icalendar.cal.Component]) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    for c in components:
        cal.add_component(c)
    return cal


def _title(value: object, where: str) -> str:
    text = " ".join(str(value or "").split())
    if not text:
        raise ScheduleError(f"{where}: a meeting needs a title")
    return text[:MAX_TITLE]


# -- calendars imported ---------------------------------------------------------------------


def parse_calendar(text: str | bytes, source: str) -> tuple[list[ParsedEntry], list[str]]:
    """The meetings of an iCalendar file: one entry per UID (the series with its moved
    occurrences), and notes on what was left out (all-day events are not meetings)."""
    try:
        cal = icalendar.Calendar.from_ical(text)
    except (ValueError, IndexError) as exc:
        raise ScheduleError(f"{source}: not an iCalendar file ({exc})") from None
    if cal.name != "VCALENDAR":
        raise ScheduleError(f"{source}: not an iCalendar file (no VCALENDAR)")
    zones = list(cal.walk("VTIMEZONE"))
    series: dict[str, list[icalendar.cal.Component]] = {}
    notes: list[str] = []
    for n, event in enumerate(cal.walk("VEVENT"), start=1):
        where = f"{source}: event {n} ({event.get('SUMMARY', 'no title')})"
        uid = str(event.get("UID") or "").strip()
        if not uid:
            raise ScheduleError(f"{where}: UID is missing")
        if "DTSTART" not in event:
            raise ScheduleError(f"{where}: DTSTART is missing")
        if not isinstance(event.decoded("DTSTART"), datetime):
            notes.append(f"{where}: an all-day event, left out")
            continue
        if str(event.get("STATUS", "")).upper() == "CANCELLED" and "RECURRENCE-ID" not in event:
            notes.append(f"{where}: cancelled, left out")
            continue
        series.setdefault(uid, []).append(event)
    entries = []
    for uid, events in series.items():
        master = next((e for e in events if "RECURRENCE-ID" not in e), events[0])
        where = f"{source}: event {uid!r}"
        entry = ParsedEntry(uid[:255], _title(master.get("SUMMARY"), f"{where}: SUMMARY"),
                            _calendar([*zones, *events]).to_ical().decode())
        _check_expands(entry, where)
        entries.append(entry)
    return entries, notes


def _check_expands(entry: ParsedEntry, where: str) -> None:
    now = datetime.now(UTC)
    try:
        expand([entry.ical], now - timedelta(days=1), now + timedelta(days=400))
    except Exception as exc:  # the library's errors are many kinds; name the event
        raise ScheduleError(f"{where}: cannot expand its dates ({exc})") from None


def check_url(url: str) -> None:
    """An http(s) URL without a user name or password in it: a URL is written in logs,
    shown to admins and kept in files, a secret is not (it goes in a password file)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ScheduleError(f"{url}: give a file or an http(s):// or webcal:// URL")
    if parts.username or parts.password:
        raise ScheduleError(f"{parts.scheme}://…@{parts.hostname}: no user name or password "
                            "in a calendar URL (give user and password_file instead)")


def merge_calendars(texts: Iterable[str | bytes], source: str) -> str:
    """One calendar of the events and time zones of several (a CalDAV collection hands
    out one object per event)."""
    components: list[icalendar.cal.Component] = []
    zones: dict[str, icalendar.cal.Component] = {}
    for n, text in enumerate(texts, start=1):
        try:
            cal = icalendar.Calendar.from_ical(text)
        except (ValueError, IndexError) as exc:
            raise ScheduleError(f"{source}: object {n} is not iCalendar ({exc})") from None
        for zone in cal.walk("VTIMEZONE"):
            zones.setdefault(str(zone.get("TZID")), zone)
        components.extend(cal.walk("VEVENT"))
    return _calendar([*zones.values(), *components]).to_ical().decode()


def fetch_calendar(url: str, timeout_s: float = 20.0, user: str | None = None,
                   password: str | None = None) -> bytes:
    """A calendar the school's system exports (https://, or webcal:// as https). With a
    user and password, HTTP Basic answers the server's challenge for that URL only (the
    credentials never follow a redirect to another site)."""
    if url.startswith("webcal://"):
        url = "https://" + url.removeprefix("webcal://")
    check_url(url)
    handlers: list[urllib.request.BaseHandler] = []
    if user is not None and password is not None:
        passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        passwords.add_password(None, url, user, password)
        handlers.append(urllib.request.HTTPBasicAuthHandler(passwords))
    request = urllib.request.Request(url, headers={"User-Agent": "salon-bridge"})
    try:
        with urllib.request.build_opener(*handlers).open(request, timeout=timeout_s) as response:
            data: bytes = response.read(MAX_CALENDAR_BYTES + 1)
    except OSError as exc:
        raise ScheduleError(f"{url}: cannot fetch the calendar ({exc})") from None
    if len(data) > MAX_CALENDAR_BYTES:
        raise ScheduleError(f"{url}: larger than {MAX_CALENDAR_BYTES} bytes")
    return data


# -- occurrences ----------------------------------------------------------------------------


def _utc(value: date | datetime) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.combine(value, datetime.min.time())
    if value.tzinfo is None:  # "floating" time: the school's own, i.e. the bridge's
        value = value.astimezone()
    return value.astimezone(UTC)


def expand(icals: Sequence[str], start: datetime, end: datetime) -> list[Occurrence]:
    """Every occurrence of the entries that overlaps [start, end), in order."""
    found: set[Occurrence] = set()
    for text in icals:
        cal = icalendar.Calendar.from_ical(text)
        for event in recurring_ical_events.of(cal).between(start, end):
            begins = event.decoded("DTSTART")
            if not isinstance(begins, datetime) or str(event.get("STATUS", "")) == "CANCELLED":
                continue
            if "DTEND" in event:
                ends = event.decoded("DTEND")
            else:
                ends = begins + event.decoded("DURATION", timedelta(0))
            found.add(Occurrence(_utc(begins), _utc(ends), str(event.get("UID")),
                                 _title(event.get("SUMMARY"), "SUMMARY")))
    return sorted(found)


def occurrence_at(icals: Sequence[str], now: datetime,
                  early: timedelta = EARLY_START) -> Occurrence | None:
    """The occurrence a meeting starting `now` belongs to: one that is on, else the next
    one starting within `early` (the room joins ahead of time)."""
    candidates = [o for o in expand(icals, now - timedelta(days=1), now + early)
                  if o.end > now and o.start - early <= now]
    on = [o for o in candidates if o.start <= now]
    if on:
        return max(on, key=lambda o: o.start)  # the latest that began
    return min(candidates, default=None)
