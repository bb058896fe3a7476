"""The room's day at run time: feeds the pure schedule logic (appliance/day.py) the wall
clock, whether it is synchronised, the bridge's schedule and who is talking, and does
what standby means at the devices.

In standby the camera and the microphone are closed at their back-ends (not muted:
released, so no frame or sample exists to leak), the LEDs are off (the state machine
says so), the display is blanked after [display] blank_after_min without a press, and
/healthz says "standby".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from appliance import day as d
from appliance import room, schedule_fetch
from appliance.device_check import check_devices
from appliance.devices.blanking import Blanker
from appliance.devices.clock import ClockCheck
from appliance.health import HealthSink
from appliance.local_media import RoomMedia
from appliance.media.audio import RemoteAudioMixer
from appliance.provisioning.loader import Settings

log = logging.getLogger("salon.standby")
TICK_S = 2.0
CHECK_AHEAD = timedelta(minutes=2)  # the device check, this long before a join time
RETRY_S = 30.0  # a failed fetch is tried again sooner than refresh_s


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class DayRunner:
    """What the app hands it: the settings, the way into the state machine (``dispatch``)
    and its day as it is now (``day``), the room's media, and whether anyone talks."""

    config: Settings
    state_dir: Path
    dispatch: Callable[[room.Event], None]
    current_day: Callable[[], d.Day]
    media: RoomMedia
    mixer: RemoteAudioMixer
    health: HealthSink
    someone_talking: Callable[[], bool]
    clock: ClockCheck
    blanker: Blanker
    wall: Callable[[], datetime] = wall_clock
    fetch_error: str = ""
    fetched_at: datetime | None = None
    last_activity: float = field(default_factory=time.monotonic)
    was_standby: bool = False
    releases: int = 0  # times standby released the camera and microphone
    checks: tuple[tuple[str, str, str], ...] = ()  # the last device check
    checked_at: datetime | None = None
    checked_for: set[d.Key] = field(default_factory=set)
    _check: asyncio.Task[None] | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.config.schedule.time_zone)

    def settings(self) -> d.DaySettings:
        sch = self.config.schedule
        return d.DaySettings(lead=_minutes(sch.lead_min), grace=_minutes(sch.grace_min),
                             quiet=_minutes(sch.quiet_s / 60))

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            if self._check is not None:  # the room is stopping: no check outlives it
                self._check.cancel()

    async def _run(self) -> None:
        synced: bool | None = None
        booted = False
        while True:
            now_synced = self.clock.synchronised()
            if now_synced != synced:
                synced = now_synced
                log.info("clock %s", "synchronised" if synced else "NOT synchronised yet")
                self.dispatch(d.ClockSynced(synced))
            self.dispatch(d.ClockTick(self.wall()))
            if self.someone_talking():
                self.dispatch(d.Talking())
            if not booted or self._check_due():
                booted = True
                self._start_check()
            await asyncio.sleep(TICK_S)

    # -- the device check: at start, and before each scheduled join --------------------

    def _check_due(self) -> bool:
        """A meeting's join time is under CHECK_AHEAD away and it has not been checked for."""
        day = self.current_day()
        if not d.standby(day) or day.now is None or not day.clock_synced:
            return False
        ahead = day.settings.lead + CHECK_AHEAD
        return any(m.start - ahead <= day.now < m.end and m.key not in self.checked_for
                   for m in day.meetings if m.key not in day.done)

    def _start_check(self) -> None:
        day = self.current_day()
        if not self.config.schedule.self_test or self._check is not None \
                or not d.standby(day):
            return
        if day.now is not None:
            ahead = day.settings.lead + CHECK_AHEAD
            self.checked_for |= {m.key for m in day.meetings
                                 if m.start - ahead <= day.now < m.end}
        self._check = asyncio.get_running_loop().create_task(self._run_check())

    async def _run_check(self) -> None:
        media = self.media
        try:
            results = await check_devices(media.camera, media.microphone,
                                          self.mixer,
                                          mine=lambda: d.standby(self.current_day()))
            self.checks = tuple(r.row() for r in results)
            self.checked_at = self.wall()
            for r in results:
                if r.state == "failed":
                    self.health.record_error(f"device check: {r.part}: {r.detail}")
        finally:
            self._check = None

    async def fetch_loop(self) -> None:
        saved = schedule_fetch.load_saved(self.state_dir)
        if saved is not None:  # the last good one until the bridge answers
            self.dispatch(d.ScheduleLoaded(saved))
        while True:
            try:
                meetings = await schedule_fetch.fetch(self.config)
            except schedule_fetch.ScheduleUnavailable as exc:
                if str(exc) != self.fetch_error:
                    log.warning("schedule: %s", exc)
                    self.health.record_error(f"schedule: {exc}")
                self.fetch_error = str(exc)
                await asyncio.sleep(min(RETRY_S, self.config.schedule.refresh_s))
                continue
            self.fetch_error, self.fetched_at = "", self.wall()
            if meetings != self.current_day().meetings:
                log.info("schedule: %d meetings in the coming week", len(meetings))
                schedule_fetch.save(self.state_dir, meetings)
            self.dispatch(d.ScheduleLoaded(meetings))
            await asyncio.sleep(self.config.schedule.refresh_s)

    def touch(self) -> None:
        """A button was pressed: the room is in use (wakes a blanked display)."""
        self.last_activity = time.monotonic()
        self.after_change()

    def after_change(self) -> None:
        """After every dispatch: release the devices on entering standby; blank after the
        idle time, wake for a press (touch) or a meeting's lead time."""
        standby = d.standby(self.current_day())
        if standby and not self.was_standby:
            self.last_activity = time.monotonic()
            self.media.release()
            self.releases += 1
            log.info("standby: camera and microphone released")
        self.was_standby = standby
        blank_after = self.config.display.blank_after_min * 60
        idle = time.monotonic() - self.last_activity
        due_soon = d.near(self.current_day()) is not None
        self.blanker.set_blanked(standby and blank_after > 0 and idle >= blank_after
                                 and not due_soon)

    def report(self) -> dict[str, Any]:
        day = self.current_day()
        zone = self.zone

        def show(m: d.ScheduledMeeting | None) -> dict[str, str] | None:
            if m is None:
                return None
            return {"title": m.title, "start": m.start.astimezone(zone).isoformat(),
                    "end": m.end.astimezone(zone).isoformat()}

        return {
            "policy": day.room.policy, "standby": d.standby(day),
            "clock": {"backend": self.clock.name, "synchronised": day.clock_synced},
            "time_zone": self.config.schedule.time_zone,
            "lead_min": self.config.schedule.lead_min,
            "schedule_loaded": day.schedule_loaded, "fetch_error": self.fetch_error,
            "fetched_at": self.fetched_at.isoformat() if self.fetched_at else None,
            "current": show(day.current), "by_hand": day.by_hand,
            "next": show(next((m for m in d.upcoming(day)
                               if day.now is None or m.start > day.now), None)),
            "today": [show(m) for m in d.on_local_day(day, zone)],
            "devices_released": self.releases,
            "device_check": {
                "at": self.checked_at.isoformat() if self.checked_at else None,
                "parts": {part: {"state": state, "detail": detail}
                          for part, state, detail in self.checks}},
            "display": self.blanker.report(),
        }


def _minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
