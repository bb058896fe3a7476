"""The room's day end to end: a meeting scheduled on the real bridge (through the admin
command) two minutes ahead is joined by the simulated appliance at its lead time and
left at its end, into standby — where the camera and the microphone are closed at
their back-ends and nothing from the room reaches Janus any more (a second participant,
a real aiortc peer, counts what Janus forwards). And the schedule API's sign-in."""

from __future__ import annotations

import asyncio
import base64
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import aiohttp.web
import pytest
from sqlalchemy import select

from appliance import day as d
from appliance.conference import client as conf
from bridge.store import Store, default_url
from bridge.store.models import Meeting
from tests.support.controls_harness import (
    CAMERA_LED,
    STATUS_LED,
    controls_toml,
    room_under_test,
    settings_from,
    wait_for,
)
from tests.support.controls_observer import MediaListener
from tests.support.procs import BIN, BridgeProcess, RoomSpec, UserSpec

pytestmark = [pytest.mark.netns, pytest.mark.slow]
TONE_HZ = 1000
SCHEDULE = """
[schedule]
lead_min = 1
grace_min = 0
quiet_s = 10
refresh_s = 30
time_zone = "UTC"
clock = "simulated"
self_test = true
"""


def schedule_cli(bridge: BridgeProcess, *args: str) -> str:
    done = subprocess.run([str(BIN / "salon-bridge"), "--config", str(bridge.config),
                           "schedule", *args], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.timeout(600)  # a meeting two to three minutes ahead, a minute long, then standby
async def test_a_meeting_two_minutes_ahead_is_joined_and_left_by_itself(
        tmp_path: Path, bridge: BridgeProcess) -> None:
    # A whole minute two to three minutes away: joined at start - 1 min, over at +1.
    now = datetime.now(UTC)
    start = (now + timedelta(minutes=3)).replace(second=0, microsecond=0)
    schedule_cli(bridge, "add", "testbim", "--title", "Kurul", "--start",
                 f"{start:%Y-%m-%d %H:%M}", "--minutes", "1", "--time-zone", "UTC")
    toml = controls_toml(bridge.url, "testbim", "ODA 1", policy="schedule", tone_hz=TONE_HZ,
                         extra=SCHEDULE)
    toml = toml.replace('fps = 15\n', 'fps = 15\nstart_on_grant = true\n')
    toml = toml.replace('height = 360\n', 'height = 360\nblanking = "simulated"\n')
    listener = MediaListener(bridge.url, "testbim", conf.Credentials(name="Gözlemci"))
    listener.start()
    async with room_under_test(settings_from(toml), tmp_path / "room") as rut:
        app = rut.app
        await wait_for(lambda: app.day.schedule_loaded, 20, "the schedule")
        assert d.standby(app.day) and app.state.connection == "left"
        assert rut.runtime.health.snapshot()["meeting"]["state"] == "standby"
        assert not rut.led_on(CAMERA_LED) and not rut.led_on(STATUS_LED)
        assert [m.title for m in app.day.meetings] == ["Kurul"]
        await wait_for(lambda: listener.joined, 30, "the listener")

        # The device check ran at start (and again before the join): simulated parts.
        await wait_for(lambda: app.day_runner and app.day_runner.checks, 30, "the device check")
        assert app.day_runner is not None
        assert [c[:2] for c in app.day_runner.checks] == [
            ("camera", "ok"), ("microphone", "ok"), ("speaker", "simulated")]
        await wait_for(lambda: app.day_runner and app.day_runner._check is None, 30, "checked")
        if d.standby(app.day):  # the check closed what it opened
            assert app.media.devices_open == {"camera": False, "microphone": False}
        await wait_for(lambda: app.state.connection == "in_meeting", 200, "the scheduled join")
        joined_at = datetime.now(UTC)
        assert joined_at >= start - timedelta(minutes=1)  # not before its lead time
        await wait_for(lambda: listener.frames("ODA 1") > 10, 30, "the room's video")
        await wait_for(lambda: listener.tone_db("ODA 1", TONE_HZ) > 20, 30, "the room's tone")
        assert app.media.devices_open == {"camera": True, "microphone": True}

        await wait_for(lambda: d.standby(app.day), 150, "standby after the end")
        assert datetime.now(UTC) >= start + timedelta(minutes=1)
        assert app.media.devices_open == {"camera": False, "microphone": False}
        assert app.peer_connections() == (None, None)
        assert rut.runtime.health.snapshot()["meeting"]["state"] == "standby"
        assert not rut.led_on(CAMERA_LED) and rut.mic_led() == "off"
        # Only the listener is left in the room on the bridge (and so at Janus).
        await wait_for(lambda: bridge.health()["rooms"].get("testbim") == 1, 20,
                       "the room gone from the bridge")
        # A frame already on its way (in the listener's decoder on a busy machine) may
        # still land: once a second passes with none, nothing more arrives through Janus.
        frames = -1
        for _ in range(5):  # still growing after 5 s fails below
            if listener.frames("ODA 1") == frames:
                break
            frames = listener.frames("ODA 1")
            await asyncio.sleep(1)
        await asyncio.sleep(3)
        assert listener.frames("ODA 1") == frames
        assert listener.tone_db("ODA 1", TONE_HZ, seconds=2) == float("-inf")
        report = app.day_runner.report() if app.day_runner else {}
        assert report["devices_released"] >= 1 and report["standby"] is True
        assert report["device_check"]["parts"]["camera"]["state"] == "ok"
        health = rut.runtime.health.snapshot()
        assert health["schedule"]["display"]["backend"] == "simulated"
    await listener.close()
    with Store(default_url(bridge.state_dir)) as store, store.transaction() as db:
        titles = [m.scheduled_title for m in db.scalars(select(Meeting))]
    assert titles == ["Kurul"]  # the occurrence is the meeting in reports


async def test_the_schedule_api_signs_the_room_in_and_keeps_private_rooms_private(
        tmp_path: Path) -> None:
    bridge = BridgeProcess(tmp_path, room_specs=[RoomSpec("kurul", "Kurul", policy="private")],
                           users=[UserSpec("oda1", "oda-parolasi-1", role="device")])
    try:
        schedule_cli(bridge, "add", "kurul", "--title", "Haftalık kurul", "--start",
                     f"{datetime.now(UTC) + timedelta(days=1):%Y-%m-%d %H:%M}",
                     "--minutes", "40", "--weekly", "--time-zone", "UTC")
        url = f"{bridge.url}/api/rooms/kurul/schedule?days=10"

        def basic(user: str, password: str) -> dict[str, str]:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            return {"Authorization": f"Basic {token}"}

        async with aiohttp.ClientSession() as http:
            async with http.get(url) as r:
                assert r.status == 401
            async with http.get(url, headers=basic("oda1", "yanlış-parola")) as r:
                assert r.status == 401 and (await r.json())["code"] == "bad_credentials"
            async with http.get(url, headers=basic("oda1", "oda-parolasi-1")) as r:
                assert r.status == 200
                body = await r.json()
            async with http.get(f"{bridge.url}/api/rooms/yok/schedule",
                                headers=basic("oda1", "oda-parolasi-1")) as r:
                assert r.status == 404
        assert [o["title"] for o in body["occurrences"]] == ["Haftalık kurul"] * 2
        assert all(o["start"].endswith("Z") for o in body["occurrences"])
    finally:
        bridge.stop()


async def test_a_calendar_is_imported_from_the_url_the_schools_system_exports(
        tmp_path: Path, bridge: BridgeProcess) -> None:
    ics = (Path(__file__).parents[1] / "bridge" / "data" / "school.ics").read_bytes()
    calendar = aiohttp.web.Application()

    async def serve(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(body=ics, content_type="text/calendar")

    calendar.router.add_get("/oda1.ics", serve)
    runner = aiohttp.web.AppRunner(calendar)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        out = await asyncio.to_thread(schedule_cli, bridge, "import", "testbim",
                                      f"http://127.0.0.1:{port}/oda1.ics")
        assert "3 added, 0 updated, 0 removed" in out
        again = await asyncio.to_thread(schedule_cli, bridge, "import", "testbim",
                                        f"http://127.0.0.1:{port}/oda1.ics")
        assert "0 added, 3 updated, 0 removed" in again
        listed = await asyncio.to_thread(schedule_cli, bridge, "list", "testbim")
        assert "Matematik 9-A" in listed and f"http://127.0.0.1:{port}/oda1.ics" in listed
    finally:
        await runner.cleanup()


@pytest.mark.timeout(600)  # a meeting up to two minutes ahead, a minute long, then the grace
async def test_a_restart_mid_meeting_rejoins_and_the_room_stays_while_it_talks_after_the_end(
        tmp_path: Path, bridge: BridgeProcess) -> None:
    """The room restarts in the middle of a scheduled meeting and is back in it by itself;
    at the end it is still talking (its tone reaches Janus, which says "talking"), so it
    stays for the grace period, and leaves when that is over."""
    now = datetime.now(UTC)
    start = (now + timedelta(minutes=2)).replace(second=0, microsecond=0)
    end = start + timedelta(minutes=1)
    schedule_cli(bridge, "add", "testbim", "--title", "Kurul", "--start",
                 f"{start:%Y-%m-%d %H:%M}", "--minutes", "1", "--time-zone", "UTC")
    extra = SCHEDULE.replace("grace_min = 0", "grace_min = 1").replace(
        "self_test = true", "self_test = false")
    toml = controls_toml(bridge.url, "testbim", "ODA 1", policy="schedule", tone_hz=TONE_HZ,
                         extra=extra)
    state_dir = tmp_path / "room"
    async with room_under_test(settings_from(toml), state_dir) as rut:
        await wait_for(lambda: rut.app.state.connection == "in_meeting", 200, "the join")
        now = datetime.now(UTC)
        if now < start:  # the meeting itself has begun: the middle of it
            await asyncio.sleep((start - now).total_seconds())
        assert rut.app.day.current is not None
    # The service restarted (power, watchdog, update): a new process, the same state.
    async with room_under_test(settings_from(toml), state_dir) as rut:
        app = rut.app
        await wait_for(lambda: app.state.connection == "in_meeting", 90, "the rejoin")
        assert app.day.current is not None and app.day.current.title == "Kurul"
        await wait_for(app.someone_talking, 60, "the room talking")
        await wait_for(lambda: datetime.now(UTC) >= end + timedelta(seconds=15), 120, "the end")
        # Past the end the room talks on: still in the meeting (the grace).
        assert app.state.connection == "in_meeting" and not d.standby(app.day)
        assert app.day.talk_at is not None and app.day.now is not None
        await wait_for(lambda: d.standby(app.day), 150, "leaving after the grace")
        assert datetime.now(UTC) >= end + timedelta(minutes=1)  # not before the grace ran out
        assert rut.runtime.health.snapshot()["meeting"]["state"] == "standby"
        assert app.media.devices_open == {"camera": False, "microphone": False}
