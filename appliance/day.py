"""The room's day: its schedule around the room's state machine (appliance/room.py).

Pure, like room.py: `step(day, event) -> (new_day, commands)`, no I/O and no clock
reads — the wall clock comes in as `ClockTick` events, its trustworthiness as
`ClockSynced`, the bridge's schedule as `ScheduleLoaded`. Room events pass through to
`room.step`; this module adds when to join and leave by schedule:

- join each meeting at its lead time before the start (provisioning [schedule]
  lead_min), also after a restart in the middle of one;
- leave at its end; while people still talk, after a grace period at most (until the
  room has been quiet for `quiet`, or `grace` has passed);
- a meeting right after the current one is joined without leaving in between;
- a long press joins by hand (left by hand only) or leaves; a meeting left by hand, or
  ended or left by the bridge (host ended it, room removed), is not rejoined;
- nothing is joined by schedule while the clock is not synchronised (a Pi has no RTC:
  until NTP answers it may believe it is 1970, or last week).

Between meetings the room is in standby: the state machine's "left" with the policy
"schedule" — no session, microphone and camera closed, LEDs off.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo

from appliance import room

Key = tuple[str, datetime]


@dataclass(frozen=True, order=True)
class ScheduledMeeting:
    """One occurrence of the room's schedule, as the bridge lists it (aware times)."""

    start: datetime
    end: datetime
    uid: str = ""
    title: str = ""

    @property
    def key(self) -> Key:
        return self.uid, self.start


@dataclass(frozen=True)
class DaySettings:
    lead: timedelta = timedelta(minutes=30)
    grace: timedelta = timedelta(minutes=10)
    quiet: timedelta = timedelta(minutes=2)


@dataclass(frozen=True)
class Day:
    room: room.RoomState = field(default_factory=room.RoomState)
    settings: DaySettings = field(default_factory=DaySettings)
    now: datetime | None = None
    clock_synced: bool = False
    meetings: tuple[ScheduledMeeting, ...] = ()
    schedule_loaded: bool = False
    current: ScheduledMeeting | None = None
    """The occurrence the room is in by schedule (None: not by schedule)."""
    by_hand: bool = False
    """The session was started by a long press: only a long press (or the bridge) ends it."""
    done: frozenset[Key] = frozenset()
    """Occurrences left by hand or ended by the bridge: not joined again."""
    talk_at: datetime | None = None


# --- events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockTick(room.Event):
    """The wall clock (aware), every few seconds."""

    now: datetime


@dataclass(frozen=True)
class ClockSynced(room.Event):
    synced: bool


@dataclass(frozen=True)
class ScheduleLoaded(room.Event):
    meetings: tuple[ScheduledMeeting, ...]


@dataclass(frozen=True)
class Talking(room.Event):
    """Someone in the meeting (here or far) is talking now."""


# --- what the day says ------------------------------------------------------------------


def following(day: Day) -> bool:
    return day.room.policy == "schedule"


def standby(day: Day) -> bool:
    """No meeting: the devices are released and the screen shows the day."""
    return following(day) and day.room.connection == "left"


def due(day: Day) -> ScheduledMeeting | None:
    """The meeting the room should be in now by its schedule, if the clock is trusted."""
    if not day.clock_synced or day.now is None:
        return None
    now, lead = day.now, day.settings.lead
    on = [m for m in day.meetings
          if m.start - lead <= now < m.end and m.key not in day.done]
    return min(on, default=None)


def near(day: Day) -> ScheduledMeeting | None:
    """A meeting within its lead time or on, by the clock as it is (trusted or not): the
    display wakes for it even if the room cannot join yet (the screen says why)."""
    if day.now is None:
        return None
    now, lead = day.now, day.settings.lead
    return min((m for m in day.meetings
                if m.start - lead <= now < m.end and m.key not in day.done), default=None)


def upcoming(day: Day) -> tuple[ScheduledMeeting, ...]:
    """The meetings that end after now, in order (the screen picks today's)."""
    if day.now is None:
        return ()
    return tuple(m for m in day.meetings if m.end > day.now)


def on_local_day(day: Day, zone: tzinfo) -> tuple[ScheduledMeeting, ...]:
    """The meetings starting on today's date in the room's zone (for the standby screen);
    the date is the zone's, so a DST change never moves a meeting to another day."""
    if day.now is None:
        return ()
    date = day.now.astimezone(zone).date()
    return tuple(m for m in day.meetings if m.start.astimezone(zone).date() == date)


def _leave_now(day: Day, current: ScheduledMeeting) -> bool:
    now = day.now
    assert now is not None
    if now < current.end:
        return False
    if now >= current.end + day.settings.grace:
        return True
    talking = day.talk_at is not None and now - day.talk_at < day.settings.quiet
    return not talking


# --- transitions ------------------------------------------------------------------------

Result = tuple[Day, list[room.Command]]


def _room(day: Day, event: room.Event) -> Result:
    new, commands = room.step(day.room, event)
    return replace(day, room=new), commands


def _follow(day: Day) -> Result:
    """Join or leave as the schedule says now."""
    now = day.now
    if not following(day) or now is None:
        return day, []
    connection = day.room.connection
    want = due(day)
    if connection == "left":
        if want is None:
            return day, []
        day = replace(day, current=want, by_hand=False, talk_at=None)
        return _room(day, room.ScheduledJoin())
    if connection not in room.SESSION or day.by_hand or day.current is None:
        return day, []
    if want is not None and want != day.current and now >= day.current.end:
        return replace(day, current=want), []  # the next meeting follows at once: stay
    if _leave_now(day, day.current):
        day = replace(day, current=None, done=day.done | {day.current.key})
        return _room(day, room.ScheduledLeave())
    return day, []


def _on_room_event(day: Day, event: room.Event) -> Result:
    before = day.room
    if isinstance(event, room.ButtonPressed) and event.long and event.button == "hand" \
            and following(day):
        if before.connection == "left":  # by hand, outside the schedule or early
            return _room(replace(day, current=None, by_hand=True), event)
        if before.connection in room.SESSION:  # left by hand: not rejoined by schedule
            gone = {day.current.key} if day.current else set()
            day = replace(day, current=None, by_hand=False, done=day.done | gone)
            return _room(day, event)
    day, commands = _room(day, event)
    if following(day) and before.connection in room.SESSION \
            and day.room.connection == "left":  # the bridge ended it, or removed the room
        gone = {day.current.key} if day.current else set()
        day = replace(day, current=None, by_hand=False, done=day.done | gone)
    return day, commands


def step(day: Day, event: room.Event) -> Result:
    """Apply `event`; room events go through `room.step`, then the schedule is
    followed, so one event's commands come in order."""
    if isinstance(event, ClockTick):
        day = replace(day, now=event.now)
        commands: list[room.Command] = []
    elif isinstance(event, ClockSynced):
        day = replace(day, clock_synced=event.synced)
        commands = []
        if not event.synced and following(day):
            commands.append(room.ShowNotice("clock_not_synced", "warning"))
    elif isinstance(event, ScheduleLoaded):
        day = replace(day, meetings=tuple(sorted(event.meetings)), schedule_loaded=True)
        commands = []
    elif isinstance(event, Talking):
        return replace(day, talk_at=day.now), []
    else:
        day, commands = _on_room_event(day, event)
    day, more = _follow(day)
    return day, [*commands, *more]
