"""The room's day (appliance/day.py): the schedule through the pure state machine, with
the clock coming in as events — lead time, grace while people talk, restarts in the
middle, long presses, an untrusted clock, and DST changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance import day as d
from appliance import room

BERLIN = ZoneInfo("Europe/Berlin")  # has DST (Europe/Istanbul has had none since 2016)
ISTANBUL = ZoneInfo("Europe/Istanbul")
T0 = datetime(2026, 12, 8, 6, 0, tzinfo=UTC)  # 09:00 in Istanbul
CLASS = d.ScheduledMeeting(T0, T0 + timedelta(minutes=40), "mat@okul", "Matematik 9-A")
NEXT = d.ScheduledMeeting(T0 + timedelta(minutes=40), T0 + timedelta(minutes=80), "fiz", "Fizik")
MIN = timedelta(minutes=1)


def started(*meetings: d.ScheduledMeeting, synced: bool = True,
            now: datetime = T0 - timedelta(hours=2)) -> d.Day:
    day = d.Day()
    for event in (room.Started(policy="schedule"), d.ClockSynced(synced), d.ClockTick(now),
                  d.ScheduleLoaded(meetings)):
        day, _ = d.step(day, event)
    return day


def at(day: d.Day, when: datetime) -> tuple[d.Day, list[room.Command]]:
    return d.step(day, d.ClockTick(when))


def joined(commands: list[room.Command]) -> bool:
    return room.JoinMeeting() in commands


def left(commands: list[room.Command]) -> bool:
    return room.LeaveMeeting() in commands


def in_meeting(day: d.Day) -> d.Day:
    """The bridge lets the room in."""
    for event in (room.Connecting(1), room.Admitted(audio_right=True)):
        day, _ = d.step(day, event)
    return day


def test_standby_until_the_lead_time_then_joins_by_itself() -> None:
    day = started(CLASS)
    assert d.standby(day) and not room.mic_live(day.room)
    day, commands = at(day, T0 - timedelta(minutes=31))
    assert not joined(commands) and d.standby(day)
    day, commands = at(day, T0 - timedelta(minutes=30))
    assert joined(commands) and room.ShowNotice("joining_scheduled") in commands
    assert day.current == CLASS and day.room.connection == "connecting"
    day, commands = at(in_meeting(day), T0 + timedelta(minutes=5))
    assert commands == [] and day.room.connection == "in_meeting"


def test_leaves_at_the_end_when_quiet_and_not_again_in_the_same_meeting() -> None:
    day = in_meeting(at(started(CLASS), T0 - MIN)[0])
    day, commands = at(day, CLASS.end - MIN)
    assert not left(commands)
    day, commands = at(day, CLASS.end)
    assert left(commands) and room.ShowNotice("meeting_time_over") in commands
    assert d.standby(day) and not room.camera_sending(day.room)
    assert [c for c in commands if isinstance(c, room.MediaSwitch)] == [
        room.SetMicLive(False)]  # the mic closes first (the camera was not on)
    day, commands = at(day, CLASS.end + MIN)
    assert commands == [] and d.standby(day)


def test_stays_while_people_talk_after_the_end_but_no_longer_than_the_grace() -> None:
    day = in_meeting(at(started(CLASS), T0 - MIN)[0])
    day, _ = d.step(at(day, CLASS.end - MIN)[0], d.Talking())
    for minute in range(0, 10):  # still talking every minute after the end
        day, commands = at(day, CLASS.end + minute * MIN)
        assert not left(commands), minute
        day, _ = d.step(day, d.Talking())
    day, commands = at(day, CLASS.end + 10 * MIN)  # the grace (10 minutes) is over
    assert left(commands)


def test_after_the_end_a_quiet_moment_is_enough() -> None:
    day = in_meeting(at(started(CLASS), T0 - MIN)[0])
    day, _ = at(day, CLASS.end - MIN)
    day, _ = d.step(day, d.Talking())
    day, commands = at(day, CLASS.end)
    assert not left(commands)  # talked a moment ago
    day, commands = at(day, CLASS.end - MIN + day.settings.quiet)
    assert left(commands)


def test_the_meeting_right_after_follows_without_leaving() -> None:
    day = in_meeting(at(started(CLASS, NEXT), T0 - MIN)[0])
    day, commands = at(day, CLASS.end)
    assert commands == [] and day.current == NEXT
    day, commands = at(day, NEXT.end)
    assert left(commands)


def test_a_restart_in_the_middle_of_a_meeting_rejoins_it() -> None:
    day = started(CLASS, now=T0 + timedelta(minutes=20))
    assert day.room.connection == "connecting" and day.current == CLASS


def test_an_unsynchronised_clock_joins_nothing_and_says_so() -> None:
    day = d.Day()
    day, _ = d.step(day, room.Started(policy="schedule"))
    day, commands = d.step(day, d.ClockSynced(False))
    assert commands == [room.ShowNotice("clock_not_synced", "warning")]
    for event in (d.ClockTick(T0), d.ScheduleLoaded((CLASS,))):
        day, commands = d.step(day, event)
        assert not joined(commands)
    day, commands = d.step(day, d.ClockSynced(True))
    assert joined(commands)  # synchronised in the middle of the meeting: in at once


def test_a_long_press_leaves_and_the_schedule_does_not_pull_the_room_back() -> None:
    day = in_meeting(at(started(CLASS), T0)[0])
    day, commands = d.step(day, room.ButtonPressed("hand", long=True))
    assert left(commands) and d.standby(day)
    day, commands = at(day, T0 + 5 * MIN)
    assert not joined(commands)
    day, commands = d.step(day, room.ButtonPressed("hand", long=True))  # back by hand
    assert joined(commands) and day.by_hand


def test_joined_by_hand_stays_past_any_end_until_a_long_press() -> None:
    day = started(CLASS)
    day, commands = d.step(day, room.ButtonPressed("hand", long=True))
    assert joined(commands) and day.by_hand and day.current is None
    day = in_meeting(day)
    day, commands = at(day, CLASS.end + timedelta(hours=1))
    assert not left(commands) and day.room.connection == "in_meeting"
    day, commands = d.step(day, room.ButtonPressed("hand", long=True))
    assert left(commands)


def test_a_meeting_the_host_ended_is_not_rejoined() -> None:
    day = in_meeting(at(started(CLASS), T0)[0])
    day, commands = d.step(day, room.MeetingLeft(reason="meeting ended"))
    assert d.standby(day) and CLASS.key in day.done
    day, commands = at(day, T0 + MIN)
    assert not joined(commands)


def test_a_dst_change_the_night_before_moves_nothing() -> None:
    # Berlin springs forward on 28 March 2027 at 02:00 (CET) to 03:00 (CEST). A class at
    # 03:15 CEST starts at 01:15 UTC; its lead time is 30 real minutes, whatever the
    # wall clock did meanwhile.
    start = datetime(2027, 3, 28, 3, 15, tzinfo=BERLIN)
    early = d.ScheduledMeeting(start.astimezone(UTC), start.astimezone(UTC) + 40 * MIN, "x")
    day = started(early, now=datetime(2027, 3, 28, 1, 0, tzinfo=BERLIN))
    day, commands = at(day, datetime(2027, 3, 28, 1, 44, tzinfo=BERLIN))
    assert not joined(commands)
    day, commands = at(day, datetime(2027, 3, 28, 1, 45, tzinfo=BERLIN))  # = 03:15 - 30 min
    assert joined(commands)
    assert d.on_local_day(day, BERLIN) == (early,)


def test_the_autumn_hour_twice_joins_once() -> None:
    # 31 October 2027: 02:00-03:00 Berlin happens twice. A class at the first 02:30.
    first = datetime(2027, 10, 31, 2, 30, tzinfo=BERLIN, fold=0).astimezone(UTC)
    meeting = d.ScheduledMeeting(first, first + 20 * MIN, "y")
    day = in_meeting(at(started(meeting), first)[0])
    day, commands = at(day, meeting.end)
    assert left(commands)
    again = datetime(2027, 10, 31, 2, 30, tzinfo=BERLIN, fold=1)  # the wall clock repeats
    day, commands = at(day, again)
    assert not joined(commands) and d.standby(day)


def test_today_is_the_rooms_own_date() -> None:
    late = d.ScheduledMeeting(datetime(2026, 12, 8, 21, 30, tzinfo=UTC),  # 00:30 on the 9th
                              datetime(2026, 12, 8, 22, 0, tzinfo=UTC), "late")
    day = started(CLASS, late, now=T0 - timedelta(hours=3))
    assert d.on_local_day(day, ISTANBUL) == (CLASS,)
    assert d.on_local_day(day, UTC) == (CLASS, late)


# -- properties over any sequence -------------------------------------------------------------

MEETINGS = st.lists(st.builds(
    lambda start, minutes: d.ScheduledMeeting(T0 + start * MIN,
                                              T0 + (start + minutes) * MIN, f"m{start}"),
    st.integers(-120, 600), st.integers(5, 120)), max_size=4).map(tuple)
EVENTS = st.one_of(
    st.integers(0, 90).map(lambda m: ("tick", m)),
    st.booleans().map(lambda b: ("sync", b)),
    MEETINGS.map(lambda ms: ("schedule", ms)),
    st.just(("talk", None)),
    st.sampled_from([room.ButtonPressed("hand", long=True), room.ButtonPressed("hand"),
                     room.Connecting(1), room.Admitted(audio_right=True), room.InLobby(),
                     room.Disconnected("network"), room.MeetingLeft("ended"),
                     room.ButtonPressed("camera")]).map(lambda e: ("room", e)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(EVENTS, max_size=60))
def test_rules_hold_after_any_sequence(script: list[tuple[str, object]]) -> None:
    day = started()
    now = day.now
    assert now is not None
    for kind, value in script:
        by_hand_before = day.by_hand
        if kind == "tick":
            now += int(value) * MIN  # type: ignore[call-overload]
            event: room.Event = d.ClockTick(now)
        elif kind == "sync":
            event = d.ClockSynced(bool(value))
        elif kind == "schedule":
            event = d.ScheduleLoaded(value)  # type: ignore[arg-type]
        elif kind == "talk":
            event = d.Talking()
        else:
            event = value  # type: ignore[assignment]
        day, commands = d.step(day, event)
        pressed = isinstance(event, room.ButtonPressed)
        if joined(commands) and not pressed:
            # Only the schedule joins by itself, with a trusted clock, in a due window.
            assert day.clock_synced and day.current is not None
            assert day.current.start - day.settings.lead <= now < day.current.end
        if d.standby(day):  # nothing can be seen or heard
            assert not room.mic_live(day.room) and not room.camera_sending(day.room)
        current = day.current
        if current is not None and not by_hand_before and day.room.connection in room.SESSION:
            assert now < current.end + day.settings.grace
    assert replace(day, room=day.room) == day


# -- a DST change end to end: the bridge's expansion, its JSON, the room's day ------------------


def test_a_weekly_class_across_the_spring_change_is_joined_at_its_local_lead_time() -> None:
    # Typed in on the bridge: every Monday 09:00 in Berlin, the weeks around 28 March 2027
    # (CET, UTC+1, before; CEST, UTC+2, after). Expanded there, sent as UTC JSON, read by
    # the room, which joins at 08:30 Berlin wall time both weeks (07:30 and 06:30 UTC).
    from appliance.schedule_fetch import parse
    from bridge.schedules import expand, make_entry

    entry = make_entry("Kardeş okul", datetime(2027, 3, 22, 9, 0), 40, "Europe/Berlin",
                       weekly=True)
    found = expand([entry.ical], datetime(2027, 3, 21, tzinfo=UTC),
                   datetime(2027, 4, 1, tzinfo=UTC))
    body = {"occurrences": [o.as_json() for o in found]}
    meetings = parse(body)
    assert [m.start.astimezone(BERLIN).hour for m in meetings] == [9, 9]
    assert [m.start.astimezone(UTC).hour for m in meetings] == [8, 7]
    for meeting in meetings:
        on = meeting.start.astimezone(BERLIN).date()
        day = started(*meetings, now=datetime(on.year, on.month, on.day, 7, 0, tzinfo=BERLIN))
        day, commands = at(day, datetime(on.year, on.month, on.day, 8, 29, tzinfo=BERLIN))
        assert not joined(commands)
        day, commands = at(day, datetime(on.year, on.month, on.day, 8, 30, tzinfo=BERLIN))
        assert joined(commands) and day.current == meeting
        assert d.on_local_day(day, BERLIN) == (meeting,)
