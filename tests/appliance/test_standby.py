"""Standby between scheduled meetings: what the screen says (tr/en), the devices released
at their back-ends, the clock and blanking back-ends, and reading the bridge's answer."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import asyncio
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance import day as d
from appliance import room, view
from appliance.devices.audio import SimulatedMicrophone
from appliance.devices.blanking import SimulatedBlanker, SysfsBlanker
from appliance.devices.camera_simulated import SimulatedCamera
from appliance.devices.clock import SimulatedClock, SystemdClock
from appliance.local_media import RoomMedia
from appliance.schedule_fetch import ScheduleUnavailable, _json_body, load_saved, parse, save
from appliance.screen.model import Phase
from appliance.screen.render import Renderer

ISTANBUL = ZoneInfo("Europe/Istanbul")
NOW = datetime(2026, 12, 8, 6, 12, tzinfo=UTC)  # Tuesday 09:12 in Istanbul
MATHS = d.ScheduledMeeting(datetime(2026, 12, 8, 7, 0, tzinfo=UTC),
                           datetime(2026, 12, 8, 7, 40, tzinfo=UTC), "m", "Matematik 9-A")
TOMORROW = d.ScheduledMeeting(datetime(2026, 12, 9, 6, 0, tzinfo=UTC),
                              datetime(2026, 12, 9, 7, 0, tzinfo=UTC), "k", "Kurul")


def standby_day(*meetings: d.ScheduledMeeting, synced: bool = True) -> d.Day:
    day = d.Day()
    for event in (room.Started(policy="schedule"), d.ClockSynced(synced), d.ClockTick(NOW),
                  d.ScheduleLoaded(meetings)):
        day, _ = d.step(day, event)
    return day


def screen_texts(day: d.Day, language: str,
                 checks: tuple[tuple[str, str, str], ...] = ()) -> list[str]:
    inputs = view.ViewInputs(
        state=day.room, room_name="TOPLANTI ODASI 1", meeting_title="", version="1",
        language=language, me=None, others={}, notices=(), self_view=True,
        self_view_position="bottom-right", day=day, zone=ISTANBUL, checks=checks)
    model = view.screen_model(inputs)
    assert model.phase is Phase.STANDBY
    renderer = Renderer((1920, 1080), language)  # type: ignore[arg-type]
    renderer.render(model, {})
    return [t.text for t in renderer.texts]


def test_the_standby_screen_shows_the_time_today_and_the_next_meeting_in_turkish() -> None:
    texts = screen_texts(standby_day(MATHS, TOMORROW), "tr",
                         checks=(("camera", "ok", ""), ("speaker", "failed", "silent")))
    joined = " ".join(texts)
    assert "09:12" in texts and "8 Aralık 2026 Salı" in texts
    assert "Bugünün toplantıları" in texts
    assert "10:00–10:40 Matematik 9-A" in texts
    assert "Sıradaki: 10:00 · Matematik 9-A" in joined
    assert "Kamera ✓" in joined and "Hoparlör ✗" in joined


def test_in_english_after_the_last_meeting_of_the_day_the_next_is_tomorrow() -> None:
    day = d.step(standby_day(MATHS, TOMORROW), d.ClockTick(MATHS.end + timedelta(hours=1)))[0]
    joined = " ".join(screen_texts(day, "en"))
    assert "No more meetings today" in joined
    assert "Next: Wednesday 09:00 · Kurul" in joined


def test_an_unsynchronised_clock_is_said_on_the_standby_screen() -> None:
    joined = " ".join(screen_texts(standby_day(MATHS, synced=False), "tr"))
    assert "Saat henüz eşitlenmedi" in joined


async def test_release_closes_camera_and_microphone_at_their_back_ends() -> None:
    camera = SimulatedCamera(320, 180, 15, 500_000)
    microphone = SimulatedMicrophone(tone_hz=440.0)
    media = RoomMedia(camera, microphone)
    video, audio = media.new_tracks()
    media.set_mic_live(True)
    media.set_camera_sending(True)
    assert video is not None and audio is not None
    await asyncio.wait_for(audio.recv(), 5)
    await asyncio.wait_for(video.recv(), 5)
    assert media.devices_open == {"camera": True, "microphone": True}
    media.release()
    assert media.devices_open == {"camera": False, "microphone": False}
    assert media.video is None and media.audio is None
    assert video.readyState == "ended" and audio.readyState == "ended"
    sent = media.frames_sent()
    await asyncio.sleep(0.3)
    assert media.frames_sent() == sent and not camera.running


def test_clock_back_ends(tmp_path: Path) -> None:
    flag = tmp_path / "synchronized"
    fake = tmp_path / "timedatectl"
    fake.write_text("#!/bin/sh\necho no\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    clock = SystemdClock(flag, timedatectl=str(fake))
    assert not clock.synchronised()  # timedated says no
    flag.touch()  # timesyncd's first synchronisation
    assert clock.synchronised()
    sim = SimulatedClock(tmp_path / "unsynced")
    assert sim.synchronised()
    (tmp_path / "unsynced").touch()
    assert not sim.synchronised()


def test_blanking_back_ends(tmp_path: Path) -> None:
    sim = SimulatedBlanker()
    sim.set_blanked(True)
    sim.set_blanked(True)
    assert sim.report() == {"backend": "simulated", "blanked": True, "changes": 1}
    switch = tmp_path / "blank"
    sysfs = SysfsBlanker(switch)
    sysfs.set_blanked(True)
    assert switch.read_text() == "4" and sysfs.blanked
    sysfs.set_blanked(False)
    assert switch.read_text() == "0"
    broken = SysfsBlanker(tmp_path / "no" / "such" / "blank")
    broken.set_blanked(True)  # logged, never raised; the display stays lit
    assert not broken.blanked


def test_the_bridges_answer_is_read_and_kept(tmp_path: Path) -> None:
    body = (b'{"occurrences": [{"uid": "m", "title": "Matematik 9-A", '
            b'"start": "2026-12-08T07:00:00Z", "end": "2026-12-08T07:40:00Z"}]}')
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               + f"{len(body):x}".encode() + b"\r\n" + body + b"\r\n0\r\n\r\n")
    meetings = parse(_json_body(chunked))
    assert meetings == (MATHS,)
    save(tmp_path, meetings)
    assert load_saved(tmp_path) == meetings
    refused = b'HTTP/1.1 401 Unauthorized\r\n\r\n{"code": "bad_credentials", "message": "no"}'
    with pytest.raises(ScheduleUnavailable, match="401: no"):
        _json_body(refused)
    with pytest.raises(ScheduleUnavailable, match="not understood"):
        parse({"occurrences": [{"start": "yesterday"}]})
