"""Standby between scheduled meetings: what the screen says (tr/en), the devices released
at their back-ends, the clock and blanking back-ends, and reading the bridge's answer."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import asyncio
import ctypes.util
import stat
import time
from collections.abc import Callable
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


class _Media:
    def __init__(self) -> None:
        self.released = 0

    def release(self) -> None:
        self.released += 1


def test_the_display_blanks_when_idle_and_wakes_for_a_press_and_the_next_meetings_lead_time(
        tmp_path: Path) -> None:
    from types import SimpleNamespace

    from appliance.standby import DayRunner

    # The clock is not synchronised: the room cannot join, yet the screen wakes to say so.
    app = SimpleNamespace(day=standby_day(MATHS, synced=False), media=_Media())
    blanker = SimulatedBlanker()
    runner = DayRunner(
        config=SimpleNamespace(display=SimpleNamespace(blank_after_min=1)),  # type: ignore[arg-type]
        state_dir=tmp_path, dispatch=lambda event: None, current_day=lambda: app.day,
        media=app.media, mixer=None, health=None,  # type: ignore[arg-type]
        someone_talking=lambda: False, clock=SimulatedClock(tmp_path / "unsynced"),
        blanker=blanker)
    runner.after_change()
    assert app.media.released == 1 and not blanker.blanked  # just entered standby
    runner.last_activity -= 61  # a minute without a press
    runner.after_change()
    assert blanker.blanked
    runner.touch()  # any button
    assert not blanker.blanked
    runner.last_activity -= 61
    runner.after_change()
    assert blanker.blanked
    # 06:29 Istanbul-UTC: MATHS (07:00) is 31 minutes away, over its 30-minute lead: dark.
    app.day = d.step(app.day, d.ClockTick(MATHS.start - timedelta(minutes=31)))[0]
    runner.after_change()
    assert blanker.blanked
    app.day = d.step(app.day, d.ClockTick(MATHS.start - timedelta(minutes=30)))[0]
    runner.after_change()
    assert not blanker.blanked and d.standby(app.day)  # woken at the lead time
    app.day = d.step(app.day, d.ClockTick(MATHS.end))[0]  # over: idle, dark again
    runner.after_change()
    assert blanker.blanked
    assert blanker.changes == 5


def test_the_drm_back_end_finds_the_display_file_and_stays_lit_when_it_cannot(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from appliance.devices import registry
    from appliance.devices.blanking import DrmBlanker, display_files

    assert isinstance(registry.blanker("drm"), DrmBlanker)
    fds = tmp_path / "fd"
    fds.mkdir()
    with open(tmp_path / "not-a-card", "w") as f:  # a real open file, not a DRM card
        (fds / str(f.fileno())).symlink_to("/dev/dri/card0")
        (fds / "0").symlink_to("/dev/null")
        assert list(display_files(fds)) == [f.fileno()]
        blanker = DrmBlanker(fds)
        blanker.set_blanked(True)  # libdrm asks the kernel, which says: no such card here
    assert not blanker.blanked
    [warning] = [r.getMessage() for r in caplog.records if "through DRM" in r.getMessage()]
    assert warning.startswith("cannot blank the display through DRM")
    if ctypes.util.find_library("drm"):  # libdrm ran the kernel's ioctl on the file
        assert "not a mode-setting card" in warning
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = DrmBlanker(empty)
    nothing.set_blanked(True)
    assert not nothing.blanked and nothing.report()["backend"] == "drm"


async def _until(check: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def _open_by_this_process(path: Path) -> bool:
    for fd in Path("/proc/self/fd").iterdir():
        try:
            if Path(os.readlink(fd)) == path:
                return True
        except OSError:
            continue
    return False


async def test_standby_closes_the_alsa_capture_device_itself_not_just_muting_it(
        tmp_path: Path) -> None:
    """The real ALSA microphone (pyalsaaudio on a file-backed PCM): while the room may be
    heard, the process holds the capture device open; in standby it holds nothing."""
    pytest.importorskip("alsaaudio")
    from appliance.devices.alsa import AlsaMicrophone
    from appliance.devices.alsa_files import alsa_file_devices

    capture = tmp_path / "array.raw"
    capture.write_bytes(bytes(2 * 48_000 * 4))  # 4 s of silence, S16_LE mono
    alsa = alsa_file_devices(tmp_path, capture_file=capture)
    with alsa.active():
        microphone = AlsaMicrophone(alsa.capture_pcm, clock="software")
        media = RoomMedia(SimulatedCamera(320, 180, 15, 500_000), microphone)
        _video, audio = media.new_tracks()
        media.set_mic_live(True)
        assert audio is not None
        await asyncio.wait_for(audio.recv(), 5)
        await _until(lambda: _open_by_this_process(capture))  # libasound's file plugin
        media.release()
        assert media.devices_open == {"camera": False, "microphone": False}
        await _until(lambda: not _open_by_this_process(capture))  # the PCM is closed
