"""What others are shown of a participant's media, as Janus reports it (issue 12:
items 10 and 11): talking, speaking time, and the room's camera.

- An open browser microphone that only beeps (Chromium's fake device: a 20 ms beep
  at intervals) accrues speaking time in the attendance report. Janus used to
  average the level over 50 packets (1 s), so a beep never counted: 0:00.
- A room that mutes stops being shown talking in the very update that says it is
  muted, and is not shown talking again while muted (the host saw a green frame for
  15 s: Janus freezes its talking verdict on a stream muted at the SFU).
- A room that switches its camera off is shown without a picture (the host's tile
  kept the frozen last frame: only browser participants' cameras were hidden).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import expect

from appliance.media.audio_send import OpusMicrophoneTrack
from tests.support.browser import chromium
from tests.support.controls_harness import controls_toml, room_under_test, settings_from, wait_for
from tests.support.controls_observer import Observer
from tests.support.meetings import (
    close,
    eventually,
    frames_grow,
    marks,
    open_room,
    person,
    sign_in,
    video_frames,
)
from tests.support.procs import BridgeProcess, RoomSpec, UserSpec

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

HOST, HOST_PW, HOST_NAME = "ogretmen", "ogretmen-parola-1", "Ayla Öğretmen"
PART, PART_PW, PART_NAME = "ayse", "ayse-parola-12", "Ayşe Yılmaz"
ROOM_NAME = "7-D SINIFI"
OPEN_MIC_S = 20.0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bridge(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BridgeProcess]:
    proc = await asyncio.to_thread(
        BridgeProcess, tmp_path_factory.mktemp("talking"),
        room_specs=[RoomSpec("bip", "Bip"), RoomSpec("sessiz", "Sessiz", moderated=False)],
        users=[UserSpec(HOST, HOST_PW, "host", HOST_NAME),
               UserSpec(PART, PART_PW, "participant", PART_NAME)])
    yield proc
    code = proc.stop()
    print(f"---- bridge log (exit {code}) ----\n" + proc.log_tail(3000))


async def attendance(bridge: BridgeProcess, token: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(
            f"{bridge.url}/api/reports/current",
            headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200, await resp.text()
        report = await resp.json()
    return {row["name"]: row for row in report["attendance"]}


async def test_a_beeping_open_mic_accrues_speaking_time(bridge: BridgeProcess) -> None:
    async with chromium() as browser:  # the fake microphone beeps
        host = await open_room(browser, bridge.room_url("bip"), "tr")
        part = await open_room(browser, bridge.room_url("bip"), "tr")
        try:
            await sign_in(host, HOST, HOST_PW, "tr")
            await sign_in(part, PART, PART_PW, "tr")
            await person(host, PART_NAME).get_by_role("button", name="Ses Hakkı Ver").click()
            mic = part.get_by_role("button", name="Sesimi Bağla", exact=True)
            await expect(mic).to_be_enabled()
            await mic.click()
            await eventually(lambda: host.locator("#participants li.person.talking").filter(
                has_text=PART_NAME).count(), timeout=20, what="the talking mark at the host")
            await asyncio.sleep(OPEN_MIC_S)
            await part.get_by_role("button", name="Mikrofonumu Kapat", exact=True).click()
            await eventually(lambda: _muted_mark(host), what="the mute at the host")
            token = await host.evaluate("() => window.salon.conference.token")
            rows = await attendance(bridge, token)
            spoke = rows[PART_NAME]["speaking_seconds"]
            print(f"beeping mic open ~{OPEN_MIC_S:.0f} s: speaking {spoke} s")
            assert spoke >= OPEN_MIC_S / 2, rows[PART_NAME]
            assert rows[HOST_NAME]["speaking_seconds"] == 0  # never had the mic open
        finally:
            await close(part)
            await close(host)


async def _muted_mark(host: Any) -> bool:
    return "Ses hakkı var, mikrofon kapalı" in await marks(host, PART_NAME)


async def test_a_room_that_mutes_is_not_shown_talking(
        bridge: BridgeProcess, tmp_path: Path) -> None:
    host = await Observer.account(bridge.ws_url, "sessiz", HOST, HOST_PW)
    text = controls_toml(bridge.url, "sessiz", ROOM_NAME, tone_hz=1000)
    try:
        async with room_under_test(settings_from(text), tmp_path / "room") as rut:
            await wait_for(lambda: rut.state.connection == "in_meeting", 30, "the room joined")
            # Its Opus is encoded on the capture thread: Janus hears its level only from
            # the audio-level extension the sender writes for those packets.
            assert isinstance(rut.app.media.audio, OpusMicrophoneTrack)
            for round_ in range(2):  # mute, unmute, and mute again
                await host.until(ROOM_NAME, lambda x: x["talking"], timeout=20,
                                 what="talking (the room's tone)")
                seen_before = len(host.seen)
                rut.press("mute")
                await host.until(ROOM_NAME, lambda x: x["mic_muted"], what="the mute")
                await host.settle(3.0)
                updates = [m["participant"] for _, m in host.seen[seen_before:]
                           if m.get("type") == "participant_updated"
                           and m["participant"]["name"] == ROOM_NAME]
                shown_talking_muted = [u for u in updates if u["mic_muted"] and u["talking"]]
                print(f"round {round_ + 1}: {len(updates)} updates after the mute")
                assert not shown_talking_muted, shown_talking_muted
                assert not host.person(ROOM_NAME)["talking"]  # type: ignore[index]
                rut.press("mute")
                await host.until(ROOM_NAME, lambda x: not x["mic_muted"], what="the unmute")
                await asyncio.sleep(1.0)  # a person's next press, not a bounce
    finally:
        await host.close()


async def test_the_host_sees_the_rooms_camera_go_off(bridge: BridgeProcess,
                                                     tmp_path: Path) -> None:
    text = controls_toml(bridge.url, "sessiz", "8-E SINIFI", tone_hz=1000)
    async with chromium() as browser:
        host = await open_room(browser, bridge.room_url("sessiz"), "tr")
        try:
            await sign_in(host, HOST, HOST_PW, "tr")
            async with room_under_test(settings_from(text), tmp_path / "room") as rut:
                await wait_for(lambda: rut.state.connection == "in_meeting", 30, "joined")
                rut.press("camera")
                assert await frames_grow(host, "8-E SINIFI", by=10, timeout=60)
                await eventually(lambda: _picture(host, "8-E SINIFI"), what="the picture")
                rut.press("camera")  # off: the room sends no frames
                await eventually(lambda: _no_picture(host, "8-E SINIFI"), timeout=10,
                                 what="the tile without a picture")
                state = await video_frames(host, "8-E SINIFI")
                print(f"room camera off at the host: {state}")
        finally:
            await close(host)


async def _picture(page: Any, name: str) -> bool:
    state = await video_frames(page, name)
    return bool(state and state["picture"])


async def _no_picture(page: Any, name: str) -> bool:
    state = await video_frames(page, name)
    return bool(state and not state["picture"])
