"""Ekranımı Paylaş in the web client, through real Janus and Debian's Chromium: a
participant given the right shares a tab holding a QR code and small text; the host's
page shows it large (people in a strip), decodably, at the tab's full resolution; the
host stops it; and a client that keeps sending content after its right is taken back
reaches nobody (measured at the receiver's own PeerConnection)."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pygame
import pytest
import pytest_asyncio
import zxingcpp
from playwright.async_api import Browser, Page, expect

from tests.support.browser import chromium
from tests.support.meetings import close, eventually, notice, open_room, person, sign_in
from tests.support.procs import BridgeProcess, RoomSpec, UserSpec
from tests.support.shared_slide import CONTENT_STATS, QR_TEXT, SLIDE_TITLE, open_slide

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

HOST, HOST_PW, HOST_NAME = "ogretmen", "ogretmen-parola-1", "Ayla Öğretmen"
PART, PART_PW, PART_NAME = "ayse", "ayse-parola-12", "Ayşe Yılmaz"
USERS = [UserSpec(HOST, HOST_PW, "host", HOST_NAME),
         UserSpec(PART, PART_PW, "participant", PART_NAME)]
ROOMS = [RoomSpec("sunum", "Sunum"), RoomSpec("kural", "Kural")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bridge(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BridgeProcess]:
    proc = await asyncio.to_thread(BridgeProcess, tmp_path_factory.mktemp("presenting"),
                                   room_specs=ROOMS, users=USERS)
    yield proc
    code = proc.stop()
    print(f"---- bridge log (exit {code}) ----\n" + proc.log_tail(6000))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium(share_tab_titled=SLIDE_TITLE) as b:
        yield b


CONTENT_VIDEO = """() => {
  const v = document.querySelector("#content video");
  return v && !document.getElementById("content").hidden
    ? {width: v.videoWidth, height: v.videoHeight} : null;
}"""


async def content_grows(page: Page, by: int = 5, timeout: float = 10.0) -> bool:
    start = await page.evaluate(CONTENT_STATS) or {"bytes": 0}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        now = await page.evaluate(CONTENT_STATS)
        if now and now["bytes"] > start["bytes"] + by * 1000:
            return True
        await asyncio.sleep(0.25)
    return False


async def decoded_qr(page: Page) -> str | None:
    shot = await page.locator("#content video").screenshot()
    rgb = pygame.surfarray.array3d(pygame.image.load(io.BytesIO(shot), "shot.png"))
    gray = rgb.swapaxes(0, 1).mean(axis=2).astype(np.uint8)
    found = zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode)
    return found[0].text if found else None


async def test_a_shared_tab_reaches_the_host_large_and_decodable(
        bridge: BridgeProcess, browser: Browser) -> None:
    host = await open_room(browser, bridge.room_url("sunum"), "tr", viewport=(1600, 1000))
    part = await open_room(browser, bridge.room_url("sunum"))
    try:
        await sign_in(host, HOST, HOST_PW, "tr")
        await sign_in(part, PART, PART_PW)
        share = part.get_by_role("button", name="Share my screen")
        await expect(share).to_have_count(0)  # no right yet: not offered
        await person(host, PART_NAME).get_by_role("button", name="Sunum Hakkı Ver").click()
        await expect(notice(part, "Presenting allowed")).to_be_visible()
        slide = await open_slide(part)

        clicked = time.monotonic()
        await share.click()
        await expect(part.get_by_role("button", name="Stop sharing my screen")).to_be_visible()
        await eventually(lambda: host.evaluate(CONTENT_VIDEO), 20, what="content on the host")
        shown_after = time.monotonic() - clicked
        await expect(host.locator("#content figcaption")).to_have_text(
            f"{PART_NAME} – ekran paylaşımı")
        await expect(person(host, PART_NAME).get_by_role("button", name="Sunumu Durdur")
                     ).to_be_visible()
        stats = await eventually(lambda: _full_size(host), 20, what="the full 1080p content")
        print(f"share click to content on the host's page: {shown_after:.2f} s; "
              f"received {stats['width']}x{stats['height']}")
        assert await eventually(lambda: decoded_qr(host), 15, what="a decodable QR") == QR_TEXT
        # content large, people small: the content box is wider than any person's tile
        box = await host.locator("#content").bounding_box()
        assert box is not None and box["width"] > 1000
        assert await host.locator("#stage").get_attribute("data-layout") == "content"

        # the host stops it: the presenter is told, the host's page goes back to people
        await person(host, PART_NAME).get_by_role("button", name="Sunumu Durdur").click()
        await expect(notice(part, "The host stopped your screen share")).to_be_visible()
        await expect(share).to_be_visible()
        await expect(host.locator("#content")).to_be_hidden()
        await slide.close()
    finally:
        await close(host)
        await close(part)


async def _full_size(page: Page) -> dict[str, Any] | None:
    stats = await page.evaluate(CONTENT_STATS)
    return stats if stats and stats["width"] >= 1920 and stats["height"] >= 1080 else None


async def test_content_sent_after_the_right_is_taken_back_reaches_nobody(
        bridge: BridgeProcess, browser: Browser) -> None:
    host = await open_room(browser, bridge.room_url("kural"), "tr")
    part = await open_room(browser, bridge.room_url("kural"))
    try:
        await sign_in(host, HOST, HOST_PW, "tr")
        await sign_in(part, PART, PART_PW)
        await open_slide(part)
        # without the right, the bridge refuses the presentation (and its content)
        refused = await part.evaluate("""async () => {
            const s = await navigator.mediaDevices.getDisplayMedia({video: true});
            try { await window.salon.conference.startPresenting(s); return "sent"; }
            catch (e) { return e.code; } finally { s.getTracks().forEach((t) => t.stop()); }
        }""")
        assert refused == "no_present_right"
        # nor does content offered straight away, without asking to present: the host's
        # own PeerConnection receives none of it
        rogue = await part.evaluate("""async () => {
            const s = await navigator.mediaDevices.getDisplayMedia({video: true});
            const pc = new RTCPeerConnection();
            pc.addTransceiver(s.getVideoTracks()[0], {direction: "sendonly"});
            await pc.setLocalDescription(await pc.createOffer());
            await new Promise((ok) => setTimeout(ok, 500));
            try {
              await window.salon.conference.request(
                {type: "publish_content", sdp: pc.localDescription.sdp});
              return "answered";
            } catch (e) { return e.code; }
        }""")
        assert rogue == "not_presenting"
        assert not await content_grows(host, by=1, timeout=4), "content without the right"

        await person(host, PART_NAME).get_by_role("button", name="Sunum Hakkı Ver").click()
        await expect(notice(part, "Presenting allowed")).to_be_visible()
        # a client that ignores the rules: its content outside the page's own controls,
        # so nothing stops it when the right goes
        await part.evaluate("""async () => {
            window.rogue = await navigator.mediaDevices.getDisplayMedia({video: true});
            await window.salon.conference.startPresenting(window.rogue);
        }""")
        assert await content_grows(host, by=20, timeout=20), "no content while allowed"

        await person(host, PART_NAME).get_by_role("button", name="Sunum Hakkını Al").click()
        await expect(host.locator("#content")).to_be_hidden()
        assert await part.evaluate(
            "() => window.salon.conference.contentPc.connectionState") == "connected"
        await asyncio.sleep(1.0)  # packets in flight at the revoke
        assert not await content_grows(host, by=1, timeout=4), "content reached the host"
    finally:
        await close(host)
        await close(part)
