"""Issue 12 item 2: the publish sequence (audio rights, Sesimi Bağla, camera rights a
few seconds later, Web Kameramı Başlat, Paylaşımı Başlat — and the room's equivalent
rights and presses) repeated SALON_PUBLISH_CYCLES times; the far end must hear and see
the participant EVERY time. Before the fix, adding the camera published anew on a new
Janus handle and Janus answered "User ID already exists" in about one run in three."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser

from appliance.conference import client as conf
from tests.support.browser import chromium
from tests.support.controls_harness import (
    CAMERA_LED,
    controls_toml,
    room_under_test,
    settings_from,
    wait_for,
)
from tests.support.controls_observer import MediaListener, Observer
from tests.support.media_files import write_solid_y4m, write_tone_wav
from tests.support.meetings import open_room, sign_in
from tests.support.procs import BridgeProcess, RoomSpec, UserSpec
from tests.support.publish_cycles import browser_cycle, cycles_from_env

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

HOST, HOST_PW, HOST_NAME = "ogretmen", "ogretmen-parola-1", "Ayla Öğretmen"
LISTENER, LISTENER_PW = "dinleyici", "dinleyici-parola-1"
GUEST_HZ, ROOM_HZ = 700, 1000
ROOM_NAME = "5-B SINIFI"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bridge(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BridgeProcess]:
    proc = await asyncio.to_thread(
        BridgeProcess, tmp_path_factory.mktemp("cycles"),
        room_specs=[RoomSpec("dongu", "Döngü"), RoomSpec("oda", "Oda")],
        users=[UserSpec(HOST, HOST_PW, "host", HOST_NAME),
               UserSpec(LISTENER, LISTENER_PW, "participant", "Dinleyici")])
    yield proc
    code = proc.stop()
    print(f"---- bridge log (exit {code}) ----\n" + proc.log_tail(3000))


async def test_browser_publish_sequence_reaches_the_host_every_time(
        bridge: BridgeProcess, tmp_path: Path) -> None:
    video = write_solid_y4m(tmp_path / "guest.y4m", (40, 200, 60), 320, 180)
    audio = write_tone_wav(tmp_path / "guest.wav", GUEST_HZ)
    async with chromium() as host_browser, chromium(video, audio) as guest_browser:
        results = await browser_cycles(bridge, host_browser, guest_browser, cycles_from_env())
    for r in results:
        print(r.describe())
    assert all(r.ok for r in results), [r.describe() for r in results if not r.ok]
    assert "already exists" not in bridge.log_tail(10**7)


async def browser_cycles(bridge: BridgeProcess, host_browser: Browser, guest_browser: Browser,
                         cycles: int) -> list:  # type: ignore[type-arg]
    host = await open_room(host_browser, bridge.room_url("dongu"), "tr")
    await sign_in(host, HOST, HOST_PW, "tr")
    results = []
    try:
        for i in range(cycles):
            results.append(await browser_cycle(host, guest_browser, bridge.room_url("dongu"),
                                               f"MİSAFİR {i + 1}", GUEST_HZ, i + 1))
    finally:
        await host.context.close()
    return results


async def test_room_publish_sequence_reaches_the_far_end_every_time(
        bridge: BridgeProcess, tmp_path: Path) -> None:
    host = await Observer.account(bridge.ws_url, "oda", HOST, HOST_PW)
    listener = MediaListener(bridge.url, "oda", conf.Credentials(user=LISTENER,
                                                                 password=LISTENER_PW))
    listener.start()
    text = controls_toml(bridge.url, "oda", ROOM_NAME, tone_hz=ROOM_HZ)
    lost = []
    try:
        async with room_under_test(settings_from(text), tmp_path / "room") as rut:
            await host.admit(ROOM_NAME, rid=1)
            await wait_for(lambda: rut.state.connection == "in_meeting", 30, "the room joined")
            await host.until(ROOM_NAME, lambda x: x["client"] == "appliance", what="arrival")
            await wait_for(lambda: listener.pid(ROOM_NAME), 10, "the listener sees the room")
            for i in range(cycles_from_env()):
                await host.set_right(ROOM_NAME, "audio", True, rid=10 + i)
                await asyncio.sleep(2.5)
                await host.until(ROOM_NAME, lambda x: x["audio_right"], what="audio granted")
                await host.set_right(ROOM_NAME, "camera", True, rid=100 + i)
                await wait_for(lambda: rut.state.camera_right, 5, "the camera right")
                rut.press("camera")
                await wait_for(lambda: rut.led_on(CAMERA_LED), 5, "the camera LED")
                heard = await _eventually(lambda: listener.tone_db(ROOM_NAME, ROOM_HZ) > 20, 20)
                seen = await listener.frames_grow(ROOM_NAME, by=10, within=60)
                print(f"room cycle {i + 1}: heard={heard} seen={seen}")
                if not (heard and seen):
                    lost.append((i + 1, heard, seen))
                await host.set_right(ROOM_NAME, "camera", False, rid=200 + i)
                await host.set_right(ROOM_NAME, "audio", False, rid=300 + i)
                await host.until(ROOM_NAME, lambda x: not x["audio_right"]
                                 and not x["camera_right"], what="rights taken back")
                await wait_for(lambda: not rut.state.camera_right and not rut.state.audio_right,
                               5, "rights taken back at the room")
                await asyncio.sleep(1.0)
    finally:
        await listener.close()
        await host.close()
    assert not lost, lost


async def _eventually(check, within: float) -> bool:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if check():
            return True
        await asyncio.sleep(0.2)
    return False
