"""Reports (Raporlar): a meeting's attendance and activity, read from the event log."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import astuple, dataclass, fields
from datetime import datetime

from sqlalchemy import func, select

from bridge.meetings import context as cx
from bridge.meetings import messages as msg
from bridge.meetings.effects import Done, Refused, Row
from bridge.store.models import Account, ChatMessage, Event, Meeting, Participant, Room

# Spreadsheets run cells starting with these as formulas (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AttendanceRow:
    participant: int
    name: str
    kind: str
    account: str
    host: bool
    admission: str
    first_joined: str
    last_left: str
    present_seconds: int
    speaking_seconds: int
    hands_raised: int
    chat_messages: int
    polls_answered: int
    files_downloaded: int


@dataclass(frozen=True)
class ActivityRow:
    at: str
    kind: str
    actor: str
    subject: str
    details: str


@dataclass(frozen=True)
class Report:
    room: str
    title: str
    meeting: int
    started: str
    ended: str
    attendance: tuple[AttendanceRow, ...]
    activity: tuple[ActivityRow, ...]
    # The schedule's occurrence it was (empty when it was not scheduled).
    scheduled_title: str = ""
    scheduled_start: str = ""
    scheduled_end: str = ""


@dataclass(frozen=True, kw_only=True)
class ReportReady(Done):
    report: Report


def meetings_of_room(tx: cx.Tx, pid: int) -> list[Row]:
    scope = cx.host(tx, pid, "list meetings")
    rows = tx.db.execute(
        select(Meeting, func.count(Participant.id))
        .outerjoin(Participant, Participant.meeting_id == Meeting.id)
        .where(Meeting.room_id == scope.room.id)
        .group_by(Meeting.id)
        .order_by(Meeting.id.desc())
    ).all()
    return [
        {
            "id": m.id,
            "started": msg.iso(m.started_at),
            "ended": msg.iso(m.ended_at),
            "participants": n,
            "scheduled": None if m.schedule_uid is None else {
                "title": m.scheduled_title, "start": msg.iso(m.scheduled_start),
                "end": msg.iso(m.scheduled_end)},
        }
        for m, n in rows
    ]


def for_host(tx: cx.Tx, pid: int, meeting_id: int | None) -> Report:
    scope = cx.host(tx, pid, "report")
    meeting = scope.meeting if meeting_id is None else tx.db.get(Meeting, meeting_id)
    if meeting is None or meeting.room_id != scope.room.id:
        raise Refused("no_such_meeting", "report: no such meeting in this room", security=True)
    return build(tx, meeting)


def build(tx: cx.Tx, meeting: Meeting) -> Report:
    room = tx.db.get(Room, meeting.room_id)
    assert room is not None
    people = {
        p.id: (p, username)
        for p, username in tx.db.execute(
            select(Participant, Account.username)
            .outerjoin(Account, Account.id == Participant.account_id)
            .where(Participant.meeting_id == meeting.id)
            .order_by(Participant.id)
        )
    }
    events = list(
        tx.db.scalars(select(Event).where(Event.meeting_id == meeting.id).order_by(Event.id))
    )
    until = meeting.ended_at or tx.now
    names = {pid: p.display_name for pid, (p, _) in people.items()}
    attendance = tuple(_attendance(p, username, events, until) for p, username in people.values())
    public_chat = dict(
        tx.db.execute(
            select(ChatMessage.id, ChatMessage.text).where(
                ChatMessage.meeting_id == meeting.id, ChatMessage.recipient_id.is_(None)
            )
        ).all()
    )
    activity = tuple(_activity(e, names, public_chat) for e in events)
    return Report(
        room=room.address,
        title=room.title,
        meeting=meeting.id,
        started=msg.iso(meeting.started_at) or "",
        ended=msg.iso(meeting.ended_at) or "",
        attendance=attendance,
        activity=activity,
        scheduled_title=meeting.scheduled_title or "",
        scheduled_start=msg.iso(meeting.scheduled_start) or "",
        scheduled_end=msg.iso(meeting.scheduled_end) or "",
    )


def _attendance(
    p: Participant, username: str | None, events: list[Event], until: datetime
) -> AttendanceRow:
    present = 0.0
    speaking = 0.0
    joined: datetime | None = None
    talk: datetime | None = None
    first: datetime | None = None
    last_left: datetime | None = None
    counts: Counter[str] = Counter()
    polls: set[int] = set()
    for e in events:
        if e.subject_id == p.id:
            if e.kind == "joined":
                joined = joined or e.at
                first = first or e.at
            elif e.kind == "left":
                if joined is not None:
                    present += (e.at - joined).total_seconds()
                joined, last_left = None, e.at
            elif e.kind == "talk_start":
                talk = e.at
            elif e.kind == "talk_stop":
                speaking += e.data.get("ms", 0) / 1000
                talk = None
            elif e.kind == "hand_raised":
                counts["hands"] += 1
        if e.actor_id == p.id:
            if e.kind == "chat":
                counts["chat"] += 1
            elif e.kind == "poll_answered":
                polls.add(int(e.data.get("poll", 0)))
            elif e.kind == "file_downloaded":
                counts["downloads"] += 1
    if joined is not None:
        present += (until - joined).total_seconds()
    if talk is not None:
        speaking += (until - talk).total_seconds()
    return AttendanceRow(
        participant=p.id,
        name=p.display_name,
        kind=p.kind.value,
        account=username or "",
        host=p.is_host,
        admission=p.admission.value,
        first_joined=msg.iso(first) or "",
        last_left="" if joined is not None else (msg.iso(last_left) or ""),
        present_seconds=round(present),
        speaking_seconds=round(speaking),
        hands_raised=counts["hands"],
        chat_messages=counts["chat"],
        polls_answered=len(polls),
        files_downloaded=counts["downloads"],
    )


def _activity(e: Event, names: dict[int, str], public_chat: dict[int, str]) -> ActivityRow:
    data = dict(e.data)
    if e.kind == "chat" and data.get("message") in public_chat:
        # Public messages are part of the record; private ones stay private.
        data["text"] = public_chat[data["message"]]
    return ActivityRow(
        at=msg.iso(e.at) or "",
        kind=e.kind,
        actor=names.get(e.actor_id, "") if e.actor_id is not None else "",
        subject=names.get(e.subject_id, "") if e.subject_id is not None else "",
        details="; ".join(f"{k}={v}" for k, v in sorted(data.items())),
    )


def _cell(value: object) -> str:
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def to_csv(rows: tuple[AttendanceRow, ...] | tuple[ActivityRow, ...], kind: type) -> str:
    """CSV with a header row; cells that a spreadsheet would execute are defused."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([f.name for f in fields(kind)])
    for row in rows:
        writer.writerow([_cell(v) for v in astuple(row)])
    return out.getvalue()


def attendance_csv(report: Report) -> str:
    return to_csv(report.attendance, AttendanceRow)


def activity_csv(report: Report) -> str:
    return to_csv(report.activity, ActivityRow)
