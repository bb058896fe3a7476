"""What people see in the web client, checked in Chromium the way a person would see or
hear it: the meeting's address opens the meeting (and a wrong one says so at once), the
room's title and what a guest can expect before entering, and a closed poll that still
shows one's answer."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from tests.support.browser import chromium
from tests.support.meetings import (
    close,
    in_lobby,
    in_meeting,
    join_as_guest,
    open_room,
    open_tab,
    sign_in,
)
from tests.support.procs import BridgeProcess, RoomSpec, UserSpec
from tests.support.wsclient import RawClient

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

HOST, HOST_PW, HOST_NAME = "ogretmen", "ogretmen-parola-1", "Ayla Öğretmen"
PART, PART_PW, PART_NAME = "ayse", "ayse-parola-12", "Ayşe Yılmaz"
ALI, VELI, BOT_PW = "ali", "veli", "ogrenci-parola-1"
ROOMS = [
    RoomSpec("testbim", "Test BİM"),
    RoomSpec("acik", "Açık Oda", moderated=False),
    RoomSpec("ozel", "Özel Toplantı", policy="private"),
    RoomSpec("duyuru1280", "Duyuru"),
    RoomSpec("duyuru1024", "Duyuru"),
    RoomSpec("sohbet", "Sohbet Odası"),
    RoomSpec("anket", "Anket Odası"),
    RoomSpec("el", "El Kaldırma"),
    RoomSpec("ret-tr", "Ret"),
    RoomSpec("ret-en", "Ret"),
]
USERS = [UserSpec(HOST, HOST_PW, "host", HOST_NAME),
         UserSpec(PART, PART_PW, "participant", PART_NAME),
         UserSpec(ALI, BOT_PW, "participant", "Ali Demir"),
         UserSpec(VELI, BOT_PW, "participant", "Veli Kaya")]
Box = dict[str, float]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bridge(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BridgeProcess]:
    proc = await asyncio.to_thread(BridgeProcess, tmp_path_factory.mktemp("seen"),
                                   room_specs=ROOMS, users=USERS)
    yield proc
    code = proc.stop()
    print(f"---- bridge log (exit {code}) ----\n" + proc.log_tail(6000))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


def http_status(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def overlaps(a: Box, b: Box) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


async def say(bot: RawClient, text: str) -> None:
    """A chat message from a bot, at the pace the bridge allows (it throttles bursts)."""
    while True:
        reply = await bot.request({"type": "chat", "text": text}, rid=hash(text) % 10**6)
        if reply["type"] == "ok":
            return
        assert reply.get("code") == "chat_rate_limited", reply
        await asyncio.sleep(0.5)


async def box(page: Page, selector: str) -> Box:
    found = await page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not shown"
    return found


# ---- the meeting's address ---------------------------------------------------------------

async def test_the_address_people_are_told_opens_the_meeting(bridge: BridgeProcess,
                                                             browser: Browser) -> None:
    # The page says the meeting is at /testbim: that address opens it (/r/testbim too).
    assert (await asyncio.to_thread(http_status, bridge.url + "/testbim"))[0] == 200
    assert (await asyncio.to_thread(http_status, bridge.url + "/r/testbim"))[0] == 200
    # The bridge's own paths are not rooms and still answer as before.
    status, body = await asyncio.to_thread(http_status, bridge.url + "/healthz")
    assert status == 200 and '"janus"' in body
    status, _ = await asyncio.to_thread(http_status, bridge.url + "/static/room.css")
    assert status == 200

    page = await open_room(browser, bridge.url + "/", "tr")
    try:
        await page.get_by_label("Toplantı adresi").fill("/testbim")
        await page.get_by_role("button", name="Toplantıya Git").click()
        await page.wait_for_url(bridge.url + "/testbim")
        await expect(page.get_by_text("Toplantı adresi: /testbim")).to_be_visible()
        # the room's title, before entering
        await expect(page.get_by_role("heading", name="Test BİM", exact=True)).to_be_visible()
        assert await page.title() == "Test BİM – Salon"
        await expect(page.locator("#guest-note")).to_have_text(
            "Misafirler, ev sahibi onayladıktan sonra toplantıya girer.")
        # ... and while waiting in the lobby
        await join_as_guest(page, "Bekleyen Misafir", "tr")
        await in_lobby(page, "tr")
        await expect(page.locator("#lobby-view")).to_contain_text("Test BİM")
        await expect(page.locator("#room-title")).to_have_text("Test BİM")
    finally:
        await close(page)


async def test_a_wrong_address_says_so_at_once(bridge: BridgeProcess, browser: Browser) -> None:
    for path in ("/yok-boyle-oda", "/r/yok-boyle-oda", "/api"):
        status, _ = await asyncio.to_thread(http_status, bridge.url + path)
        assert status == 404, path
    page = await open_room(browser, bridge.url + "/yok-boyle-oda", "tr")
    try:
        # no entry form to fill in first: the page says it before anything is typed
        await expect(page.get_by_role("alert")).to_contain_text(
            "Bu adreste bir toplantı odası yok: /yok-boyle-oda")
        assert await page.get_by_role("button", name="Odaya Gir").count() == 0
        address = page.get_by_label("Toplantı adresi")
        await expect(address).to_have_value("/yok-boyle-oda")
        await address.fill("testbim")
        await page.get_by_role("button", name="Toplantıya Git").click()
        await page.wait_for_url(bridge.url + "/testbim")
        await expect(page.get_by_role("button", name="Odaya Gir")).to_be_visible()
    finally:
        await close(page)
    page = await open_room(browser, bridge.url + "/r/yok-boyle-oda", "en")
    try:
        await expect(page.get_by_role("alert")).to_contain_text(
            "There is no meeting room at this address: /yok-boyle-oda")
    finally:
        await close(page)


async def test_the_entry_page_tells_guests_what_to_expect(bridge: BridgeProcess,
                                                          browser: Browser) -> None:
    page = await open_room(browser, bridge.url + "/acik", "tr")
    try:
        await expect(page.locator("#guest-note")).to_have_text(
            "Bu odada misafirler beklemeden doğrudan toplantıya girer.")
        await join_as_guest(page, "Doğrudan Giren", "tr")
        await in_meeting(page, "tr")  # and so it is: no lobby
    finally:
        await close(page)
    page = await open_room(browser, bridge.url + "/ozel", "en")
    try:
        only = page.get_by_text("Only signed-in users may join this meeting.")
        await expect(only).to_be_visible()
        await expect(page.get_by_role("heading", name="Özel Toplantı")).to_be_visible()
        await expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
        assert await page.get_by_role("button", name="Join the room").count() == 0
        await expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    finally:
        await close(page)


# ---- Anket: one's own answer stays marked once the poll closes -------------------------

async def test_a_closed_poll_still_shows_ones_own_answer(bridge: BridgeProcess,
                                                         browser: Browser) -> None:
    host = await open_room(browser, f"{bridge.url}/anket", "tr")
    part = await open_room(browser, f"{bridge.url}/anket", "tr")
    question = "Gezi hangi gün olsun?"
    try:
        await sign_in(host, HOST, HOST_PW, "tr")
        await sign_in(part, PART, PART_PW, "tr")
        await open_tab(host, "Anket")
        await host.get_by_label("Soru").fill(question)
        await host.get_by_label("Seçenekler (her satıra bir seçenek)").fill("Salı\nPerşembe")
        await host.get_by_role("button", name="Anketi Oluştur").click()
        card = host.locator("article.poll").filter(has_text=question)
        await card.get_by_role("button", name="Anketi Aç").click()
        await open_tab(part, "Anket")
        await part.get_by_label("Perşembe").check()
        await expect(part.get_by_text("Yanıtınız kaydedildi.")).to_be_visible()
        await expect(card.locator(".total")).to_have_text("Toplam 1 yanıt")

        await card.get_by_role("button", name="Anketi Kapat").click()
        await expect(part.get_by_label("Perşembe")).to_be_disabled()
        await expect(part.get_by_label("Perşembe")).to_be_checked()
        await expect(part.get_by_label("Salı")).not_to_be_checked()
        await card.get_by_role("button", name="Sonuçları Herkese Göster").click()
        await expect(part.locator("article.poll .total")).to_have_text("Toplam 1 yanıt")
        await expect(part.get_by_role("radio", name="Perşembe")).to_be_checked()
    finally:
        await close(host)
        await close(part)
