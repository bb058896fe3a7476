"""Reports (Raporlar): attendance and activity from the event log, as rows and CSV."""

from __future__ import annotations

import csv
import io

import pytest

from bridge.meetings import Report, activity_csv, attendance_csv
from tests.support.meetings_world import World, ok, refused


def run_a_meeting(world: World) -> tuple[Report, dict[str, int]]:
    m, tick = world.meetings, world.clock.tick
    host = world.sign_in("ogretmen")
    tick(60)
    ali = world.sign_in("ali")
    guest = world.guest("Misafir")
    denied = world.guest('=HYPERLINK("http://x")')  # a name that is a spreadsheet formula
    tick(30)
    ok(m.admit(host.pid, guest.pid))
    ok(m.deny(host.pid, denied.pid))
    ok(m.raise_hand(ali.pid))
    ok(m.set_right(host.pid, ali.pid, "audio", True))
    ok(m.talking(ali.pid, True))
    tick(42)
    ok(m.talking(ali.pid, False))
    ok(m.chat(ali.pid, "soru: +1 mi?"))
    ok(m.chat(guest.pid, "özel not", to=host.pid))
    ok(m.create_poll(host.pid, "Anladınız mı?", ["Evet", "Hayır"]))
    ok(m.open_poll(host.pid, 1))
    ok(m.answer_poll(ali.pid, 1, 0))
    ok(m.answer_poll(ali.pid, 1, 1))
    added = ok(m.upload_file(host.pid, "notlar.pdf", b"pdf"))
    assert added.file is not None
    ok(m.open_file(guest.pid, added.file.id))
    ok(m.rename(guest.pid, "Misafir Bir"))
    tick(100)
    ok(m.leave(ali.pid, ali.epoch))
    tick(50)
    ok(m.end_meeting(host.pid))
    host = world.sign_in("ogretmen")  # the report is read from the room's next meeting
    report = ok(m.report(host.pid, 1)).report
    assert report is not None
    return report, {"host": 1, "ali": ali.pid, "guest": guest.pid, "denied": denied.pid}


def test_attendance_rows(world: World) -> None:
    report, ids = run_a_meeting(world)
    assert (report.room, report.meeting) == ("testbim", 1)
    assert (report.started, report.ended) == ("2026-03-02T08:30:00Z", "2026-03-02T08:34:42Z")
    rows = {row.participant: row for row in report.attendance}
    host, ali, guest, denied = (rows[ids[k]] for k in ("host", "ali", "guest", "denied"))
    assert (host.present_seconds, host.host, host.account) == (282, True, "ogretmen")
    assert (ali.first_joined, ali.last_left) == ("2026-03-02T08:31:00Z", "2026-03-02T08:33:52Z")
    assert (ali.present_seconds, ali.speaking_seconds, ali.hands_raised) == (172, 42, 1)
    assert (ali.chat_messages, ali.polls_answered) == (1, 1)
    assert (guest.name, guest.kind, guest.present_seconds) == ("Misafir Bir", "guest", 192)
    assert (guest.chat_messages, guest.files_downloaded) == (1, 1)
    assert (denied.admission, denied.present_seconds, denied.first_joined) == ("denied", 0, "")


def test_activity_rows_keep_public_chat_text_but_not_private(world: World) -> None:
    report, _ = run_a_meeting(world)
    kinds = [row.kind for row in report.activity]
    for kind in (
        "meeting_started",
        "lobby_entered",
        "admitted",
        "denied",
        "joined",
        "hand_raised",
        "audio_granted",
        "hand_lowered",
        "talk_start",
        "talk_stop",
        "chat",
        "poll_created",
        "poll_opened",
        "poll_answered",
        "file_uploaded",
        "file_downloaded",
        "renamed",
        "left",
        "meeting_ended",
    ):
        assert kind in kinds, kind
    chats = [row.details for row in report.activity if row.kind == "chat"]
    assert "text=soru: +1 mi?" in chats[0]
    assert "özel not" not in chats[1] and "chars=8" in chats[1]
    granted = next(row for row in report.activity if row.kind == "audio_granted")
    assert (granted.actor, granted.subject) == ("Öğretmen Ayşe", "Ali Yılmaz")


def test_csv_has_headers_and_defuses_formulas(world: World) -> None:
    report, ids = run_a_meeting(world)
    rows = list(csv.DictReader(io.StringIO(attendance_csv(report))))
    assert [int(r["participant"]) for r in rows] == sorted(ids.values())
    assert rows[0]["speaking_seconds"] == "0" and rows[0]["present_seconds"] == "282"
    activity = list(csv.DictReader(io.StringIO(activity_csv(report))))
    assert len(activity) == len(report.activity)
    cells = [cell for row in activity for cell in row.values()]
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    assert any(cell.startswith("'=HYPERLINK") for cell in cells)  # the denied guest's name
    names = [r["name"] for r in rows]
    assert names[-1] == '\'=HYPERLINK("http://x")'


def test_reports_are_for_the_hosts_of_that_room(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    refused(world.meetings.report(ali.pid), "not_host")
    refused(world.meetings.list_meetings(ali.pid), "not_host")
    other = world.sign_in("mudur", "kurul")
    refused(world.meetings.report(other.pid, 1), "no_such_meeting")
    meetings = ok(world.meetings.list_meetings(host.pid)).items
    assert [m["id"] for m in meetings] == [1] and meetings[0]["participants"] == 2


def test_the_event_log_is_append_only(world: World) -> None:
    import sqlalchemy.exc
    from sqlalchemy import text

    run_a_meeting(world)
    for statement in ("UPDATE events SET kind = 'x'", "DELETE FROM events"):
        with (
            pytest.raises(sqlalchemy.exc.IntegrityError, match="append-only"),
            world.store.transaction() as db,
        ):
            db.execute(text(statement))
