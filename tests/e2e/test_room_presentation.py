"""A presentation on the room's screen, through real parts: Chromium shares a tab with a
QR code and small text into a meeting, Janus forwards it, the appliance (aiortc, its real
receive path and renderer) shows it large, and its screenshot decodes. Figures: the
resolution the room receives, and the time from the click to content on its screen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pygame
import pytest
import pytest_asyncio
import zxingcpp
from playwright.async_api import Browser

from appliance.screen.model import content_key
from tests.support.browser import chromium
from tests.support.controls_harness import controls_toml, room_under_test, settings_from, wait_for
from tests.support.meetings import close, join_as_guest, open_room
from tests.support.procs import BridgeProcess, RoomSpec
from tests.support.shared_slide import QR_TEXT, SLIDE_TITLE, open_slide

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

ROOM = "ders"  # an open floor: everyone may present, one at a time


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bridge(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BridgeProcess]:
    proc = await asyncio.to_thread(BridgeProcess, tmp_path_factory.mktemp("room-content"),
                                   room_specs=[RoomSpec(ROOM, "Ders", moderated=False)])
    yield proc
    code = proc.stop()
    print(f"---- bridge log (exit {code}) ----\n" + proc.log_tail(4000))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium(share_tab_titled=SLIDE_TITLE) as b:
        yield b


def screen_qr(surface: pygame.Surface) -> list[str]:
    rgb = pygame.surfarray.array3d(surface).swapaxes(0, 1).astype(np.float32)
    gray = np.ascontiguousarray((rgb @ np.array([0.299, 0.587, 0.114])).astype(np.uint8))
    return [c.text for c in zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode)]


def room_toml(bridge: BridgeProcess, second_display: bool) -> str:
    text = controls_toml(bridge.url, ROOM, "SINIF 9-A – ANKARA")
    text = text.replace("width = 640\nheight = 360", "width = 1920\nheight = 1080")
    if second_display:
        text = text.replace("[display]", "[display]\nsecond_display = true", 1)
    return text


@pytest.mark.parametrize("second_display", [False, True], ids=["one-screen", "two-screens"])
async def test_a_shared_tab_shows_on_the_rooms_screen_at_full_resolution(
        bridge: BridgeProcess, browser: Browser, tmp_path: Path, second_display: bool) -> None:
    async with room_under_test(settings_from(room_toml(bridge, second_display)),
                               tmp_path / "state") as rut:
        app = rut.app
        await wait_for(lambda: app.state.connection == "in_meeting", 30, "the meeting")
        teacher = await open_room(browser, bridge.room_url(ROOM))
        try:
            await join_as_guest(teacher, "AYLA ÖĞRETMEN – ANKARA MEM")
            await open_slide(teacher)
            clicked = time.monotonic()
            await teacher.get_by_role("button", name="Share my screen").click()
            screen = app.panels.renderer if second_display and app.panels else app.renderer
            presenter = await wait_for(lambda: app.state.content_from, 30, "the presentation")
            key = content_key(presenter)
            await wait_for(lambda: key in screen._versions, 30, "content on the room's screen")
            shown_after = time.monotonic() - clicked
            slot = app.receivers.frames_by_participant()[key]
            await wait_for(lambda: slot.size == (1920, 1080), 20, "the full 1080p slide")
            print(f"{'two screens' if second_display else 'one screen'}: share click to "
                  f"content on the room's screen {shown_after:.2f} s; received {slot.size}")
            found = await wait_for(lambda: screen_qr(screen.surface), 20, "a decodable code")
            assert found == [QR_TEXT]
            if second_display:  # the people stay on the first screen, without the slide
                assert screen_qr(app.renderer.surface) == []
            await teacher.get_by_role("button", name="Stop sharing my screen").click()
            await wait_for(lambda: app.state.content_from is None, 20, "the end of it")
        finally:
            await close(teacher)
