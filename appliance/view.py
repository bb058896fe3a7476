"""Compose what the screen shows from the room's state and the meeting as the bridge
reports it. Pure: the screen reads this model, it never decides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from appliance import day as d
from appliance import room
from appliance.meeting_data import MeetingData
from appliance.screen import model as sm
from salon import protocol as p

PHASES: dict[str, sm.Phase] = {
    "starting": sm.Phase.STARTING,
    "config_error": sm.Phase.CONFIG_ERROR,
    "connecting": sm.Phase.CONNECTING,
    "in_lobby": sm.Phase.LOBBY,
    "in_meeting": sm.Phase.MEETING,
    "reconnecting": sm.Phase.RECONNECTING,
    "left": sm.Phase.LEFT,
}
SELF_ID = "self"


@dataclass(frozen=True)
class ViewInputs:
    """Everything the screen model is made of, gathered by the app."""

    state: room.RoomState
    room_name: str
    meeting_title: str
    version: str
    language: str
    me: p.Participant | None
    others: Mapping[str, p.Participant]
    notices: tuple[sm.Notice, ...]
    self_view: bool
    self_view_position: str
    config_problems: tuple[sm.ConfigProblem, ...] = ()
    running_last_good_config: bool = False
    reconnect_reason: str = ""
    now: float = 0.0
    meeting: MeetingData = field(default_factory=MeetingData)
    companion_url: str | None = None
    day: d.Day | None = None  # following a schedule
    zone: tzinfo = UTC  # the room's time zone ([schedule] time_zone)
    checks: tuple[tuple[str, str, str], ...] = ()  # the last device check


def _tile(x: p.Participant) -> sm.Participant:
    return sm.Participant(
        id=x.id, name=x.name, has_audio_right=x.audio_right, talking=x.talking,
        hand_position=x.hand_position, hand_raised=x.hand_position is not None,
        muted=x.mic_muted, camera_on=x.camera_on,
    )


def _room_itself(x: p.Participant, s: room.RoomState) -> sm.Participant:
    """This room as its own screen shows it: hand, rights, mute and camera as the state
    machine holds them, so the screen says them at once and for as long as they last
    (notices fade; the bridge's echo comes later)."""
    return sm.Participant(
        id=SELF_ID, name=x.name, has_audio_right=s.audio_right, talking=x.talking,
        hand_position=s.hand_position if s.hand_raised else None,
        hand_raised=s.hand_raised, is_self=True,
        muted=s.muted_by_room or s.muted_by_host, camera_on=room.camera_sending(s),
    )


def active_speaker(others: Mapping[str, p.Participant]) -> str | None:
    talking = sorted(pid for pid, x in others.items() if x.talking)
    return talking[0] if talking else None


def screen_model(v: ViewInputs) -> sm.ScreenModel:
    s = v.state
    people = [_tile(x) for x in sorted(v.others.values(), key=lambda x: (x.name, x.id))]
    if v.me is not None:
        people.append(_room_itself(v.me, s))
    standby = v.day is not None and d.standby(v.day)
    return sm.ScreenModel(
        phase=sm.Phase.STANDBY if standby else PHASES[s.connection],
        standby=standby_info(v) if standby else None,
        version=v.version, room_name=v.room_name,
        meeting_title=v.meeting_title,
        status=sm.StatusInfo(progress="", reason=v.reconnect_reason or s.last_error,
                             attempt=s.attempt),
        config_problems=v.config_problems,
        running_last_good_config=v.running_last_good_config,
        participants=tuple(people), active_speaker_id=active_speaker(v.others),
        self_view=sm.SelfView(enabled=v.self_view, position=v.self_view_position,  # type: ignore[arg-type]
                              camera_on=room.camera_sending(s)),
        notices=v.notices, language=v.language,  # type: ignore[arg-type]
        chat=tuple(
            sm.ChatMessage(sender=c.from_name, text=c.text,
                           private_to_room=c.to is not None, at=_epoch(c.at))
            for c in v.meeting.chat),
        poll=_poll(v.meeting),
        files=tuple(sm.SharedFile(name=f.name, size_bytes=f.size) for f in v.meeting.files),
        companion_url=v.companion_url,
        content=_content(v),
        now=v.now,
    )


def _content(v: ViewInputs) -> sm.Content | None:
    presenter = v.state.content_from
    if presenter is None or v.state.connection != "in_meeting":
        return None
    who = v.me if v.me is not None and v.me.id == presenter else v.others.get(presenter)
    return sm.Content(presenter_id=presenter, presenter_name=who.name if who else presenter,
                      starved=v.state.content_starved)


def _item(m: d.ScheduledMeeting, zone: tzinfo, today: bool) -> sm.ScheduledItem:
    start, end = m.start.astimezone(zone), m.end.astimezone(zone)
    return sm.ScheduledItem(title=m.title, start=f"{start:%H:%M}", end=f"{end:%H:%M}",
                            weekday=start.weekday(), today=today)


def standby_info(v: ViewInputs) -> sm.StandbyInfo:
    """The standby screen from the day: local time, today's meetings, the next one."""
    assert v.day is not None
    now = (v.day.now or datetime.fromtimestamp(v.now, UTC)).astimezone(v.zone)
    todays = set(d.on_local_day(v.day, v.zone))
    coming = d.upcoming(v.day)
    nxt = next((m for m in coming if m.start > now), None)
    return sm.StandbyInfo(
        clock=f"{now:%H:%M}", day=now.day, month=now.month, year=now.year,
        weekday=now.weekday(),
        today=tuple(_item(m, v.zone, True) for m in sorted(todays) if m.end > now),
        next=None if nxt is None else _item(nxt, v.zone, nxt in todays),
        clock_synced=v.day.clock_synced, schedule_known=v.day.schedule_loaded,
        checks=v.checks)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _poll(meeting: MeetingData) -> sm.Poll | None:
    current = meeting.open_poll
    if current is None:
        return None
    return sm.Poll(question=current.info.question, options=tuple(current.info.options),
                   opened_at=current.opened_at, answer=current.answer)
