"""A laptop in the room shares its screen wirelessly, through real parts: the room's
companion page opened in Debian's Chromium on the laptop offers "Ekranımı Paylaş" only
while the room holds the right to present; the tab it shares (a QR code and small text)
goes through Janus as the room seat's presentation, and the room's own screen (the
appliance in this process: aiortc, its receive path and renderer) shows it decodably.
The host's stop ends it on the laptop; the room leaving ends it too."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pygame
import pytest
import zxingcpp
from playwright.async_api import Page, expect

from appliance.screen.model import content_key
from tests.support.browser import chromium
from tests.support.controls_harness import (
    RoomUnderTest,
    controls_toml,
    room_under_test,
    settings_from,
    wait_for,
)
from tests.support.procs import BridgeProcess, RoomSpec, UserSpec
from tests.support.shared_slide import QR_TEXT, SLIDE_TITLE, open_slide
from tests.support.wsclient import RawClient

pytestmark = [pytest.mark.netns, pytest.mark.slow]

ROOM, HOST, HOST_PW = "sinif", "ogretmen", "ogretmen-parola-1"
LAPTOP = {"viewport": {"width": 1280, "height": 800}, "locale": "tr-TR"}


def screen_qr(surface: pygame.Surface) -> list[str]:
    rgb = pygame.surfarray.array3d(surface).swapaxes(0, 1).astype(np.float32)
    gray = np.ascontiguousarray((rgb @ np.array([0.299, 0.587, 0.114])).astype(np.uint8))
    return [c.text for c in zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode)]


async def host_admits_the_room(bridge: BridgeProcess, rut: RoomUnderTest
                               ) -> tuple[RawClient, str]:
    host = await RawClient.connect(bridge.ws_url)
    welcome = await host.request({"type": "join", "protocol": 1, "room": ROOM, "user": HOST,
                                  "password": HOST_PW}, 1)
    waiting = welcome.get("lobby") or (await host.expect_where(
        lambda m: m.get("type") == "lobby" and m["waiting"], timeout=60,
        what="the room waiting"))["waiting"]
    room_id = str(waiting[0]["id"])
    assert (await host.request({"type": "admit", "participant": room_id}, 2))["type"] == "ok"
    await wait_for(lambda: rut.state.connection == "in_meeting", 30, "the room admitted")
    return host, room_id


def presenting(room_id: str, via: str | None) -> Any:
    return lambda m: (m.get("type") == "participant_updated"
                      and m["participant"]["id"] == room_id
                      and m["participant"]["presenting"] == (via is not None)
                      and m["participant"].get("presenting_via") == via)


async def test_a_laptop_shares_its_screen_for_the_room_through_the_companion_page(
        tmp_path: Path) -> None:
    bridge = BridgeProcess(tmp_path, room_specs=[RoomSpec(ROOM, "Sınıf 9-A")],
                           users=[UserSpec(HOST, HOST_PW, "host", "Ayla Öğretmen")])
    text = controls_toml(bridge.url, ROOM, "SINIF 9-A")
    settings = settings_from(text.replace("width = 640\nheight = 360",
                                          "width = 1920\nheight = 1080"))
    host = None
    try:
        async with room_under_test(settings, tmp_path / "room") as rut, \
                chromium(share_tab_titled=SLIDE_TITLE) as browser:
            host, room_id = await host_admits_the_room(bridge, rut)
            url = await wait_for(lambda: rut.app.companion_url, 30, "a companion link")
            laptop = await (await browser.new_context(**LAPTOP)).new_page()
            await laptop.goto(url)
            await laptop.get_by_role("status").filter(has_text="SINIF 9-A adına").wait_for()
            share = laptop.get_by_role("button", name="Ekranımı Paylaş")
            await expect(share).to_have_count(0)  # the room may not present yet

            await host.send({"type": "set_right", "participant": room_id, "right": "present",
                             "granted": True})
            await open_slide(laptop)
            await share.click()
            await host.expect_where(presenting(room_id, "companion"), timeout=30)
            await laptop.get_by_role("button", name="Paylaşımı Durdur").wait_for()
            await shown_on_the_rooms_screen(rut, room_id)
            assert not rut.state.content.presenting  # not the room's own input's to send

            # the host ends it: the laptop's page is told and offers to share again
            await host.send({"type": "stop_presenting", "participant": room_id})
            await host.expect_where(presenting(room_id, None), timeout=30)
            await share.wait_for()
            await wait_for(lambda: rut.state.content_from is None, 30, "the end on the room")

            # shared again, then the room leaves: the laptop's share ends with it
            await share.click()
            await host.expect_where(presenting(room_id, "companion"), timeout=30)
            await rut.stop()
            await laptop.get_by_text("Oda toplantıdan ayrıldı").wait_for(timeout=30_000)
            assert await live_capture(laptop) == 0
        log = bridge.log_tail(200_000)
        assert "companion-present" in log
    finally:
        if host is not None:
            await host.close()
        bridge.stop()


async def shown_on_the_rooms_screen(rut: RoomUnderTest, room_id: str) -> None:
    """The laptop's slide on the room's own screen, at 1080p, its QR code decodable."""
    app = rut.app
    await wait_for(lambda: app.state.content_from == room_id, 30, "the room showing it")
    key = content_key(room_id)
    await wait_for(lambda: key in app.renderer._versions, 60, "content on the room's screen")
    slot = app.receivers.frames_by_participant()[key]
    await wait_for(lambda: slot.size == (1920, 1080), 30, "the full 1080p slide")
    found = await wait_for(lambda: screen_qr(app.renderer.surface), 30, "a decodable code")
    assert found == [QR_TEXT]


async def live_capture(page: Page) -> int:
    """How many screen-capture tracks the laptop's page still has live (none once over)."""
    await asyncio.sleep(0)
    return int(await page.evaluate(
        "() => (window.salonShare?.stream?.getTracks() || [])"
        ".filter((t) => t.readyState === 'live').length"))
