"""A room's schedule: a real iCalendar file (weekly RRULE, EXDATE, a moved occurrence,
VTIMEZONE with a DST change), typed-in entries, the admin commands, and occurrences
as separate meetings in reports — through SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import io
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bridge.admin import add_admin_commands, run_admin
from bridge.config import BridgeSettings
from bridge.schedules import ScheduleError, expand, make_entry, occurrence_at, parse_calendar
from bridge.store import Store
from bridge.store import schedules as stored
from bridge.store.accounts import add_room, find_room
from bridge.store.models import Policy
from tests.support.meetings_world import CHEAP, World, ok
from tests.support.postgres import postgres_cluster, server_binaries

ICS = Path(__file__).with_name("data") / "school.ics"
OCT, DEC = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def school() -> list[str]:
    entries, _ = parse_calendar(ICS.read_bytes(), ICS.name)
    return [e.ical for e in entries]


def test_the_school_calendar_becomes_one_entry_per_series_and_all_day_events_are_left_out(
) -> None:
    entries, notes = parse_calendar(ICS.read_bytes(), ICS.name)
    assert sorted(e.title for e in entries) == [
        "Kardeş okul: Berlin", "Matematik 9-A", "Veli toplantısı"]
    assert len(notes) == 1 and "Cumhuriyet Bayramı" in notes[0] and "all-day" in notes[0]


def test_weekly_class_skips_its_exdate_and_the_moved_occurrence_keeps_its_own_time() -> None:
    maths = [o for o in expand(school(), OCT, DEC) if o.uid.startswith("matematik")]
    starts = [o.start for o in maths]
    # Every Tuesday 09:00 Istanbul (06:00 UTC) but 27 October (EXDATE).
    assert utc(2026, 10, 20, 6, 0) in starts and utc(2026, 11, 10, 6, 0) in starts
    assert all(o.start.date() != date(2026, 10, 27) for o in maths)
    moved = next(o for o in maths if o.start.date() == date(2026, 11, 3))
    assert (moved.start, moved.end, moved.title) == (
        utc(2026, 11, 3, 7, 0), utc(2026, 11, 3, 8, 0), "Matematik 9-A (sınav)")
    assert all(o.end - o.start == timedelta(minutes=40) for o in maths if o is not moved)


def test_a_series_in_a_zone_with_dst_stays_at_its_local_hour_across_the_change() -> None:
    berlin = [o.start for o in expand(school(), OCT, DEC) if o.uid.startswith("partner")]
    # 14:00 in Berlin: CEST (UTC+2) before 25 October, CET (UTC+1) after; COUNT=3.
    assert berlin == [utc(2026, 10, 21, 12), utc(2026, 10, 28, 13), utc(2026, 11, 4, 13)]


def test_a_typed_in_weekly_meeting_follows_its_zone_and_ends_on_its_last_day() -> None:
    entry = make_entry("Kurul", datetime(2027, 3, 22, 9, 0), 40, "Europe/Berlin",
                       weekly=True, until=date(2027, 4, 5))
    found = expand([entry.ical], utc(2027, 3, 1), utc(2027, 12, 1))
    got = [(o.start, o.end - o.start) for o in found]
    assert got == [(utc(2027, 3, 22, 8), timedelta(minutes=40)),
                   (utc(2027, 3, 29, 7), timedelta(minutes=40)),  # after the spring change
                   (utc(2027, 4, 5, 7), timedelta(minutes=40))]


def test_bad_entries_and_files_are_refused_with_where_and_why(tmp_path: Path) -> None:
    with pytest.raises(ScheduleError, match="time zone 'Mars/Olympus'"):
        make_entry("x", datetime(2027, 1, 1, 9), 30, "Mars/Olympus")
    with pytest.raises(ScheduleError, match="minutes 0"):
        make_entry("x", datetime(2027, 1, 1, 9), 0, "UTC")
    with pytest.raises(ScheduleError, match=r"bad\.ics: not an iCalendar file"):
        parse_calendar(b"this is no calendar", "bad.ics")
    broken = ICS.read_text().replace("UID:veli-toplantisi@okul.example\n", "")
    with pytest.raises(ScheduleError, match=r"event \d \(Veli toplantısı\): UID is missing"):
        parse_calendar(broken, "x.ics")


def test_the_occurrence_of_a_meeting_starting_now_is_the_one_on_or_the_next_soon() -> None:
    texts = school()
    assert occurrence_at(texts, utc(2026, 10, 20, 5, 40)).start == utc(2026, 10, 20, 6)  # type: ignore[union-attr]
    assert occurrence_at(texts, utc(2026, 10, 20, 6, 39)).start == utc(2026, 10, 20, 6)  # type: ignore[union-attr]
    assert occurrence_at(texts, utc(2026, 10, 20, 6, 40)) is None  # over
    assert occurrence_at(texts, utc(2026, 10, 27, 5, 40)) is None  # the EXDATE


# -- the admin commands, on SQLite and PostgreSQL ---------------------------------------------


def admin(store: Store, *argv: str,
          settings: BridgeSettings | None = None) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    add_admin_commands(parser.add_subparsers(dest="command", required=True))
    out, err = io.StringIO(), io.StringIO()
    args = parser.parse_args(argv)
    args.settings = settings  # as bridge.cli passes the configuration
    status = run_admin(args, store, stdin=io.StringIO(), stdout=out,
                       stderr=err, passwords=CHEAP)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        with Store(f"sqlite:///{tmp_path / 'salon.sqlite3'}") as s:
            yield s
        return
    if server_binaries() is None:
        pytest.skip("no PostgreSQL server binaries")
    with postgres_cluster() as url, Store(url) as s:
        yield s


def test_admin_adds_imports_lists_and_removes_a_rooms_meetings(store: Store,
                                                                tmp_path: Path) -> None:
    with store.transaction() as db:
        add_room(db, "testbim", "Test BİM", Policy.PRIVATE)
    status, out, err = admin(store, "schedule", "add", "testbim", "--title", "Kurul",
                             "--start", "2030-01-07 10:00", "--end", "11:30", "--weekly")
    assert (status, err) == (0, "") and "90 min, every week" in out
    ics = tmp_path / "okul.ics"
    shutil.copyfile(ICS, ics)
    status, out, err = admin(store, "schedule", "import", "testbim", str(ics))
    assert status == 0 and "3 added, 0 updated, 0 removed" in out
    assert "Cumhuriyet Bayramı" in err  # the all-day event, noted
    # The school drops its parents' evening: importing again is a sync.
    ics.write_text(ICS.read_text().split("BEGIN:VEVENT\nUID:veli")[0]
                   + "END:VCALENDAR\n")
    status, out, _ = admin(store, "schedule", "import", "testbim", str(ics))
    assert status == 0 and "0 added, 2 updated, 1 removed" in out
    status, out, _ = admin(store, "schedule", "list", "testbim", "--days", "3650")
    assert status == 0
    assert "Kurul" in out and "weekly" in out and "Veli" not in out
    with store.transaction() as db:
        entry_id = next(e.id for e in stored.entries(db, find_room(db, "testbim"))  # type: ignore[arg-type]
                        if e.title == "Kurul")
    assert admin(store, "schedule", "remove", "testbim", str(entry_id))[0] == 0
    status, _, err = admin(store, "schedule", "remove", "testbim", str(entry_id))
    assert status == 2 and f"schedule entry {entry_id}: not in room" in err
    status, _, err = admin(store, "schedule", "add", "nowhere", "--title", "x",
                           "--start", "2030-01-07 10:00", "--minutes", "5")
    assert status == 2 and "no such room" in err
    status, _, err = admin(store, "schedule", "add", "testbim", "--title", "x", "--start",
                           "2030-01-07 10:00", "--minutes", "5", "--time-zone", "Asia/Nowhere")
    assert status == 2 and "time zone 'Asia/Nowhere': unknown" in err


# -- occurrences in reports -------------------------------------------------------------------


def test_each_occurrence_is_a_meeting_of_its_own_in_reports(world: World) -> None:
    # Two classes back to back: 09:00-09:40 and 09:50-10:30 (Istanbul) every Monday.
    with world.store.transaction() as db:
        room = find_room(db, "testbim")
        assert room is not None
        for title, start in (("Fizik", datetime(2026, 3, 2, 9, 0)),
                             ("Kimya", datetime(2026, 3, 2, 9, 50))):
            stored.add_entry(db, room, make_entry(title, start, 40, "Europe/Istanbul",
                                                  weekly=True))
    world.clock.now = utc(2026, 3, 9, 5, 35)  # 08:35, the room joins 25 minutes early
    teacher = world.sign_in("ogretmen")
    world.clock.now = utc(2026, 3, 9, 6, 41)  # the first class is over; everyone leaves
    ok(world.meetings.leave(teacher.pid))
    world.clock.now = utc(2026, 3, 9, 6, 45)  # and comes back for the next one at once
    teacher = world.sign_in("ogretmen")
    listed = world.meetings.list_meetings(teacher.pid)
    items = sorted(listed.items, key=lambda m: m["id"])  # type: ignore[union-attr]
    assert [m["scheduled"]["title"] for m in items] == ["Fizik", "Kimya"]
    assert items[0]["ended"] == "2026-03-09T06:41:00Z"
    assert items[1]["scheduled"]["start"] == "2026-03-09T06:50:00Z"
    report = world.meetings.report(teacher.pid, None)
    assert report.report.scheduled_title == "Kimya"  # type: ignore[union-attr]
