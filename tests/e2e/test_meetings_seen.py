"""What people see in the web client, checked in Chromium the way a person would see or
hear it: the meeting's address opens the meeting (and a wrong one says so at once), the
room's title and what a guest can expect before entering, Ses Hakları Verildi in the top
right corner clear of the participant list, a chat that follows the newest message, a
closed poll that still shows one's answer, a raised hand read out once, and what a
turned-away guest or a removed participant is told."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from tests.support.browser import chromium
from tests.support.meetings import (
    close,
    in_lobby,
    in_meeting,
    join_as_guest,
    notice,
    open_room,
    open_tab,
    person,
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


# ---- Ses Hakları Verildi: top right, clear of the participant list ----------------------

@pytest.mark.parametrize("width", [1280, 1024])
async def test_the_audio_rights_notice_is_top_right_clear_of_the_people_heading(
        bridge: BridgeProcess, browser: Browser, width: int) -> None:
    room = f"{bridge.url}/duyuru{width}"
    host = await open_room(browser, room, "tr", viewport=(width, 768))
    part = await open_room(browser, room, "tr", viewport=(width, 768))
    try:
        await sign_in(host, HOST, HOST_PW, "tr")
        await sign_in(part, PART, PART_PW, "tr")
        await person(host, PART_NAME).get_by_role("button", name="Ses Hakkı Ver").click()
        shown = notice(part, "Ses Hakları Verildi")
        await expect(shown).to_be_visible()
        await asyncio.sleep(0.4)  # its slide-in is over: measure where it rests
        note = await shown.bounding_box()
        assert note is not None
        heading = await box(part, "#people-heading")
        assert not overlaps(note, heading), (note, heading)
        assert note["y"] + note["height"] <= heading["y"], "above the list, at the top"
        # the right side of the window, not its middle
        assert note["x"] + note["width"] >= width - 150, (note, width)
        assert note["x"] > width / 2, (note, width)
        # and over no control: not the language switch, not the toolbar
        for control in await part.locator("#language, #toolbar button").all():
            where = await control.bounding_box()
            if where is not None:
                assert not overlaps(note, where), (note, where, await control.inner_text())
    finally:
        await close(host)
        await close(part)


# ---- Sohbet: the newest message in sight ------------------------------------------------

async def test_the_chat_follows_the_newest_message_with_four_people(bridge: BridgeProcess,
                                                                    browser: Browser) -> None:
    room = "sohbet"
    host = await open_room(browser, f"{bridge.url}/{room}", "tr", viewport=(1280, 800))
    part = await open_room(browser, f"{bridge.url}/{room}", "tr", viewport=(1280, 800))
    bots = [await RawClient.connect(bridge.ws_url) for _ in range(2)]
    try:
        await sign_in(host, HOST, HOST_PW, "tr")
        await sign_in(part, PART, PART_PW, "tr")
        for bot, user in zip(bots, (ALI, VELI), strict=True):
            assert (await bot.sign_in(room, user, BOT_PW, client="bot"))["type"] == "welcome"
        await expect(host.locator("#participants > li")).to_have_count(4)
        for i in range(1, 21):
            await say(bots[i % 2], f"Mesaj {i}: soru var mı?")
        last = part.locator(".chat-log .msg").filter(has_text="Mesaj 20:")
        for page in (host, part):
            await expect(page.locator(".chat-log .msg")).to_have_count(20)
            await expect(page.locator(".chat-log .msg").last).to_be_in_viewport()
        log = await box(part, ".chat-log")
        # room for a conversation, not a slit: at least four messages at once
        message = await box(part, ".chat-log .msg")
        assert log["height"] >= 4 * message["height"], (log, message)

        # read elsewhere meanwhile: back on Sohbet, the newest is in sight
        await open_tab(part, "Anket")
        for i in range(21, 26):
            await say(bots[i % 2], f"Mesaj {i}: ödev yarın")
        await expect(part.locator(".chat-log .msg")).to_have_count(25)
        await open_tab(part, "Sohbet")
        await expect(part.locator(".chat-log .msg").last).to_be_in_viewport()
        await expect(part.locator(".chat-log .msg").last).to_contain_text("Mesaj 25:")

        # one's own scrolling back is respected; one's own message brings the newest back
        await part.locator(".chat-log").evaluate("log => { log.scrollTop = 0; }")
        await say(bots[0], "Mesaj 26: geç kalan")
        await expect(part.locator(".chat-log .msg")).to_have_count(26)
        await expect(part.locator(".chat-log .msg").first).to_be_in_viewport()
        await part.get_by_label("Mesaj").fill("Benim sorum")
        await part.get_by_role("button", name="Gönder").click()
        await expect(part.locator(".chat-log .msg").last).to_contain_text("Benim sorum")
        await expect(part.locator(".chat-log .msg").last).to_be_in_viewport()
        assert await last.count() == 1
    finally:
        await close(host)
        await close(part)
        for bot in bots:
            await bot.close()


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


# ---- a raised hand is read out once -----------------------------------------------------

async def test_a_raised_hand_is_read_out_once_and_its_place_is_shown(bridge: BridgeProcess,
                                                                     browser: Browser) -> None:
    host = await open_room(browser, f"{bridge.url}/el", "tr")
    part = await open_room(browser, f"{bridge.url}/el", "tr")
    try:
        await sign_in(host, HOST, HOST_PW, "tr")
        await sign_in(part, PART, PART_PW, "tr")
        await part.get_by_role("button", name="Söz Hakkı İste").click()
        for page in (host, part):
            row = person(page, PART_NAME)
            await expect(row).to_contain_text("Söz istedi, sıra 1")
            # what a screen reader reads of the row, and the row's text as any tool takes it
            spoken = await row.aria_snapshot()
            assert spoken.count("Söz istedi, sıra 1") == 1, spoken
            assert "sıra 1 1" not in spoken and "sıra 11" not in spoken, spoken
            text = await row.evaluate("li => li.textContent")
            assert text.count("Söz istedi, sıra 1") == 1 and "sıra 11" not in text, text
            # the place is still shown beside the hand
            place = row.locator(".hand-place")
            shown = await place.evaluate(
                "el => getComputedStyle(el, '::after').content")
            assert "1" in shown or "attr(data-place)" in shown, shown
            assert (await place.bounding_box() or {"width": 0})["width"] > 0
    finally:
        await close(host)
        await close(part)


# ---- turned away, removed: told what happened, no way back offered ----------------------

ENDINGS = {
    "tr": {"denied": "Ev sahibi girişinizi onaylamadı",
           "removed": "Toplantıdan çıkarıldınız", "again": "Yeniden Katıl",
           "admit": "Kabul Et", "deny": "Reddet", "remove": "Çıkar",
           "confirm": "Çıkarmayı Onayla"},
    "en": {"denied": "The host did not let you in",
           "removed": "You were removed from the meeting", "again": "Join again",
           "admit": "Admit", "deny": "Deny", "remove": "Remove", "confirm": "Confirm removal"},
}


async def ended_as(page: Page, lang: str, what: str) -> None:
    words = ENDINGS[lang]
    await expect(page.get_by_role("status")).to_have_text(words[what])
    await expect(page.locator("#ended-view")).to_be_visible()
    assert await page.get_by_role("button", name=words["again"]).count() == 0
    await expect(page.get_by_role("heading", name={"tr": "Toplantı dışındasınız",
                                                   "en": "You are not in the meeting"}[lang])
                 ).to_be_focused()


@pytest.mark.parametrize("lang", ["tr", "en"])
async def test_a_denied_guest_and_a_removed_participant_are_told_so(
        bridge: BridgeProcess, browser: Browser, lang: str) -> None:
    room = f"{bridge.url}/ret-{lang}"
    words = ENDINGS[lang]
    host = await open_room(browser, room, lang)
    guest = await open_room(browser, room, lang)
    part = await open_room(browser, room, lang)
    pages: list[Any] = [host, guest, part]
    try:
        await sign_in(host, HOST, HOST_PW, lang)
        await sign_in(part, PART, PART_PW, lang)
        await join_as_guest(guest, "Geri Çevrilen", lang)
        await in_lobby(guest, lang)
        queued = host.locator("#lobby-queue li").filter(has_text="Geri Çevrilen")
        await queued.get_by_role("button", name=words["deny"], exact=True).click()
        await ended_as(guest, lang, "denied")

        row = person(host, PART_NAME)
        await row.get_by_role("button", name=words["remove"], exact=True).click()
        await row.get_by_role("button", name=words["confirm"], exact=True).click()
        await ended_as(part, lang, "removed")
    finally:
        for page in pages:
            await close(page)
