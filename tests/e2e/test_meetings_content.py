"""The guide's rows 14–17 in the web client: Anket (answer with one click, change it
while open, live results for the host), Sohbet (Herkes or private, history for late
joiners), Dosyalar (Bilgisayarıma Kaydet with one's session) and Raporlar (CSV and a
page). A host, a signed-in participant and a guest in browsers, and a room appliance
through the protocol."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser, FilePayload, Page, expect

from tests.support.browser import chromium
from tests.support.meetings import (
    chat_texts,
    close,
    eventually,
    in_lobby,
    in_meeting,
    join_as_guest,
    notice,
    open_room,
    open_tab,
    sign_in,
)
from tests.support.procs import BridgeProcess, RoomSpec, UserSpec
from tests.support.wsclient import RawClient

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

HOST, HOST_PW, HOST_NAME = "ogretmen", "ogretmen-parola-1", "Ayla Öğretmen"
PART, PART_PW, PART_NAME = "ayse", "ayse-parola-12", "Ayşe Yılmaz"
DEVICE, DEVICE_PW, DEVICE_NAME = "sinif1", "sinif1-parola-9", "5-A SINIFI"
USERS = [UserSpec(HOST, HOST_PW, "host", HOST_NAME),
         UserSpec(PART, PART_PW, "participant", PART_NAME),
         UserSpec(DEVICE, DEVICE_PW, "device", DEVICE_NAME)]
ROOMS = [RoomSpec("anket", "Anket"), RoomSpec("sohbet", "Sohbet"),
         RoomSpec("dosya", "Dosyalar"), RoomSpec("rapor", "Rapor")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bridge(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BridgeProcess]:
    proc = await asyncio.to_thread(BridgeProcess, tmp_path_factory.mktemp("content"),
                                   room_specs=ROOMS, users=USERS)
    yield proc
    code = proc.stop()
    print(f"---- bridge log (exit {code}) ----\n" + proc.log_tail(6000))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


class Meeting:
    """A host, a participant and an admitted guest in browsers, and the appliance."""

    def __init__(self, host: Page, part: Page, guest: Page, appliance: RawClient,
                 appliance_welcome: dict[str, object]) -> None:
        self.host, self.part, self.guest = host, part, guest
        self.appliance, self.appliance_welcome = appliance, appliance_welcome

    async def close(self) -> None:
        for page in (self.host, self.part, self.guest):
            await close(page)
        await self.appliance.close()


async def meeting(bridge: BridgeProcess, browser: Browser, room: str,
                  guest_name: str = "MİSAFİR ÖĞRENCİ") -> Meeting:
    host = await open_room(browser, bridge.room_url(room), "tr")
    part = await open_room(browser, bridge.room_url(room))
    guest = await open_room(browser, bridge.room_url(room), "tr")
    await sign_in(host, HOST, HOST_PW, "tr")
    await sign_in(part, PART, PART_PW)
    await admit(host, guest, guest_name)
    appliance = await RawClient.connect(bridge.ws_url)
    welcome = await appliance.sign_in(room, DEVICE, DEVICE_PW, client="appliance")
    return Meeting(host, part, guest, appliance, welcome)


async def admit(host: Page, guest: Page, name: str) -> None:
    await join_as_guest(guest, name, "tr")
    await in_lobby(guest, "tr")
    await host.locator("#lobby-queue li").filter(has_text=name).get_by_role(
        "button", name="Kabul Et").click()
    await in_meeting(guest, "tr")


async def votes(page: Page, poll: str) -> list[str]:
    card = page.locator("article.poll").filter(has_text=poll)
    return await card.locator(".votes").all_inner_texts()


# ---- row 14: polls -------------------------------------------------------------------

async def test_row14_polls_answered_with_one_click_and_changed_while_open(
        bridge: BridgeProcess, browser: Browser) -> None:
    m = await meeting(bridge, browser, "anket")
    question = "Deney hangi gün yapılsın?"
    try:
        await open_tab(m.host, "Anket")
        await m.host.get_by_label("Soru").fill(question)
        await m.host.get_by_label("Seçenekler (her satıra bir seçenek)").fill(
            "Pazartesi\nÇarşamba\nCuma")
        await m.host.get_by_role("button", name="Anketi Oluştur").click()
        card = m.host.locator("article.poll").filter(has_text=question)
        await expect(card.locator(".badge")).to_have_text("Taslak")
        # a draft is the host's alone
        await open_tab(m.part, "Polls")
        await expect(m.part.get_by_text("No polls yet.")).to_be_visible()

        await card.get_by_role("button", name="Anketi Aç").click()
        await expect(notice(m.part, f"New poll: {question}")).to_be_visible()
        await expect(m.part.get_by_role("tab", name="Polls")).to_be_visible()
        poll = await m.appliance.expect("poll", state="open")

        # one click each, no confirmation; the appliance answers through the protocol
        await m.part.get_by_label("Çarşamba").check()
        await expect(m.part.get_by_text("Your answer is saved.")).to_be_visible()
        await open_tab(m.guest, "Anket")
        await m.guest.get_by_label("Pazartesi").check()
        await m.appliance.send({"type": "poll_answer", "poll": poll["id"], "option": 2})
        await eventually(lambda: _eq(votes(m.host, question), ["1 oy", "1 oy", "1 oy"]),
                         what="live results at the host")
        # the participant changes its mind while the poll is open
        await m.part.get_by_label("Cuma").check()
        await eventually(lambda: _eq(votes(m.host, question), ["1 oy", "0 oy", "2 oy"]),
                         what="the changed answer at the host")
        await expect(m.host.locator("article.poll .total")).to_have_text("Toplam 3 yanıt")
        # participants do not see running results
        assert await m.part.locator("article.poll .results").count() == 0

        # a reload keeps the seat and shows one's own answer (late joiners too)
        await m.part.reload()
        await in_meeting(m.part)
        await open_tab(m.part, "Polls")
        await expect(m.part.get_by_label("Cuma")).to_be_checked()

        await card.get_by_role("button", name="Anketi Kapat").click()
        await expect(m.part.get_by_label("Cuma")).to_be_disabled()
        await expect(m.part.get_by_text("The poll is closed.")).to_be_visible()
        refused = await m.appliance.request(
            {"type": "poll_answer", "poll": poll["id"], "option": 0}, 77)
        assert refused["code"] == "poll_not_open"
        await card.get_by_role("button", name="Sonuçları Herkese Göster").click()
        await eventually(lambda: _eq(votes(m.part, question), ["1 votes", "0 votes", "2 votes"]),
                         what="results shown to the participant")
        await eventually(lambda: _eq(votes(m.guest, question), ["1 oy", "0 oy", "2 oy"]),
                         what="results shown to the guest")
    finally:
        await m.close()


async def _eq(coro, expected: object) -> bool:  # type: ignore[no-untyped-def]
    return bool(await coro == expected)


# ---- row 15: chat to everyone (Herkes) or privately ------------------------------------

async def test_row15_chat_to_everyone_or_privately_with_history(
        bridge: BridgeProcess, browser: Browser) -> None:
    m = await meeting(bridge, browser, "sohbet")
    try:
        # Herkes: the guest writes to everyone
        await expect(m.guest.get_by_label("Kime")).to_have_value("")
        await expect(m.guest.locator("#chat-to option:checked")).to_have_text("Herkes")
        hello = "Merhaba herkese!\nİkinci satır"
        await m.guest.get_by_label("Mesaj").fill(hello)
        await m.guest.get_by_label("Mesaj").press("Enter")
        for page in (m.host, m.part, m.guest):
            await eventually(_shows(page, hello), what="the public message")
        heard = await m.appliance.expect("chat")
        assert heard["to"] is None and heard["from_name"] == "MİSAFİR ÖĞRENCİ"

        # privately to the host
        await m.part.get_by_label("To").select_option(label=HOST_NAME)
        await m.part.get_by_label("Message").fill("Only for the teacher")
        await m.part.get_by_role("button", name="Send").click()
        private = m.host.locator(".msg.private").filter(has_text="Only for the teacher")
        await expect(private.locator(".private-tag")).to_have_text("Size özel")
        await expect(m.part.locator(".msg.private .private-tag")).to_have_text(
            f"Private → {HOST_NAME}")
        # the appliance speaks too; the guest sees it but never the private one
        await m.appliance.send({"type": "chat", "text": "Sınıftan selam"})
        await eventually(lambda: _contains(chat_texts(m.guest), "Sınıftan selam"),
                         what="the appliance's message at the guest")
        assert "Only for the teacher" not in await chat_texts(m.guest)
        assert all(msg.get("text") != "Only for the teacher" for msg in m.appliance.drain())

        # limits: the box holds 2000 characters; the bridge refuses more, and floods
        await expect(m.part.get_by_label("Message")).to_have_attribute("maxlength", "2000")
        await expect(m.part.locator("#chat-count")).to_have_text("0/2000")
        too_long = await m.appliance.request({"type": "chat", "text": "x" * 2001}, 50)
        assert too_long["code"] == "chat_too_long"
        codes = []
        for i in range(8):
            await m.appliance.send({"type": "chat", "text": f"sel {i}", "id": 100 + i})
        for msg in await _collect(m.appliance, 1.5):
            if msg.get("type") == "error":
                codes.append(msg["code"])
        assert "chat_rate_limited" in codes, codes

        # a late joiner gets the public history, not the private message
        late = await open_room(browser, bridge.room_url("sohbet"), "tr")
        try:
            await admit(m.host, late, "GEÇ GELEN")
            texts = await chat_texts(late)
            assert hello in texts and "Sınıftan selam" in texts
            assert "Only for the teacher" not in texts
        finally:
            await close(late)
    finally:
        await m.close()


async def _contains(coro, item: str) -> bool:  # type: ignore[no-untyped-def]
    return item in await coro


def _shows(page: Page, text: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return text in await chat_texts(page)
    return check


async def _collect(client: RawClient, seconds: float) -> list[dict[str, object]]:
    await asyncio.sleep(seconds)
    return client.drain()


# ---- row 16: files shared by the host, saved by everyone -------------------------------

async def test_row16_files_uploaded_by_the_host_saved_by_everyone(
        bridge: BridgeProcess, browser: Browser, tmp_path: Path) -> None:
    m = await meeting(bridge, browser, "dosya")
    payload = os.urandom(300_000)
    digest = hashlib.sha256(payload).hexdigest()
    try:
        await open_tab(m.host, "Dosyalar")
        await m.host.get_by_label("Paylaşılacak dosya").set_input_files(
            files=[FilePayload(name="Ünite 3 – Sunum.pdf", mimeType="application/pdf",
                               buffer=payload)])
        await m.host.get_by_role("button", name="Yükle", exact=True).click()
        added = await m.appliance.expect("file_added")
        assert added["file"]["sha256"] == digest

        # everyone lists it and saves it with their own session
        await open_tab(m.part, "Files")
        row = m.part.locator(".file").filter(has_text="Ünite 3 – Sunum.pdf")
        async with m.part.expect_download() as info:
            await row.get_by_role("link", name="Save to my computer").click()
        download = await info.value
        assert download.suggested_filename == "Ünite 3 – Sunum.pdf"
        saved = Path(await download.path()).read_bytes()
        assert hashlib.sha256(saved).hexdigest() == digest
        await expect(notice(m.guest, "Yeni dosya: Ünite 3 – Sunum.pdf")).to_be_visible()

        # a late joiner sees the list, and saves it too
        late = await open_room(browser, bridge.room_url("dosya"), "tr")
        try:
            await admit(m.host, late, "GEÇ GELEN")
            await open_tab(late, "Dosyalar")
            async with late.expect_download() as info:
                await late.get_by_role("link", name="Bilgisayarıma Kaydet").click()
            saved = Path(await (await info.value).path()).read_bytes()
            assert hashlib.sha256(saved).hexdigest() == digest
        finally:
            await close(late)

        # the appliance lists and fetches through HTTP with its session token
        token = str(m.appliance_welcome["token"])
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            async with http.get(f"{bridge.url}/api/files") as resp:
                listed = await resp.json()
            assert [f["name"] for f in listed] == ["Ünite 3 – Sunum.pdf"]
            async with http.get(f"{bridge.url}/api/files/{listed[0]['id']}") as resp:
                assert hashlib.sha256(await resp.read()).hexdigest() == digest
            # only the host uploads
            form = aiohttp.FormData()
            form.add_field("file", b"x", filename="x.txt")
            async with http.post(f"{bridge.url}/api/files", data=form) as resp:
                assert resp.status == 403 and (await resp.json())["code"] == "not_host"

        # the size limit is checked before a byte is sent
        big = tmp_path / "big.bin"
        with big.open("wb") as f:
            f.truncate(50 * 1024 * 1024 + 1)
        await m.host.get_by_label("Paylaşılacak dosya").set_input_files(big)
        await m.host.get_by_role("button", name="Yükle", exact=True).click()
        await expect(m.host.locator("#file-error")).to_contain_text("Dosya çok büyük")
    finally:
        await m.close()


# ---- row 17: reports --------------------------------------------------------------------

async def test_row17_the_host_downloads_and_views_the_reports(
        bridge: BridgeProcess, browser: Browser) -> None:
    m = await meeting(bridge, browser, "rapor")
    try:
        await m.part.get_by_role("button", name="Request to speak").click()
        await m.part.get_by_label("Message").fill("Bir sorum var")
        await m.part.get_by_role("button", name="Send").click()
        await eventually(lambda: _contains(chat_texts(m.host), "Bir sorum var"), what="chat")
        # participants have no Raporlar; the bridge refuses them too
        assert await m.part.get_by_role("tab", name="Reports").count() == 0
        token = await m.part.evaluate("() => window.salon.conference.token")
        async with aiohttp.ClientSession() as http, http.get(
                f"{bridge.url}/api/reports/current",
                headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 403

        await open_tab(m.host, "Raporlar")
        await m.host.get_by_role("button", name="Raporu Görüntüle").click()
        dialog = m.host.get_by_role("dialog")
        await expect(dialog.get_by_role("heading", name="Toplantı Raporu – Rapor")).to_be_visible()
        attendance = dialog.locator("table").first
        for name in (HOST_NAME, PART_NAME, "MİSAFİR ÖĞRENCİ", DEVICE_NAME):
            await expect(attendance.locator("tr").filter(has_text=name)).to_have_count(1)
        activity = dialog.locator("table").nth(1)
        await expect(activity.locator("tr").filter(has_text="Söz istedi")).to_have_count(1)
        await expect(activity.locator("tr").filter(has_text="Bir sorum var")).to_have_count(1)
        await dialog.get_by_role("button", name="Raporu Kapat").click()
        await expect(dialog).to_be_hidden()

        async with m.host.expect_download() as info:
            await m.host.get_by_role("link", name="Katılım Raporu (CSV)").click()
        rows = list(csv.DictReader(io.StringIO(
            Path(await (await info.value).path()).read_text(encoding="utf-8"))))
        by_name = {r["name"]: r for r in rows}
        assert by_name[PART_NAME]["chat_messages"] == "1"
        assert by_name[PART_NAME]["hands_raised"] == "1"
        assert by_name["MİSAFİR ÖĞRENCİ"]["kind"] == "guest"
        assert by_name[DEVICE_NAME]["kind"] == "device"
        assert by_name[HOST_NAME]["host"] == "True"
        async with m.host.expect_download() as info:
            await m.host.get_by_role("link", name="Etkinlik Raporu (CSV)").click()
        kinds = [r["kind"] for r in csv.DictReader(io.StringIO(
            Path(await (await info.value).path()).read_text(encoding="utf-8")))]
        for kind in ("joined", "lobby_entered", "admitted", "hand_raised", "chat"):
            assert kind in kinds, kinds

        # the host ends the meeting for everyone (two steps, so no slip of a finger)
        await m.host.get_by_role("button", name="Toplantıyı Bitir").click()
        await m.host.get_by_role("button", name="Herkes İçin Bitir").click()
        await expect(m.part.locator("#ended-reason")).to_have_text("The meeting has ended.")
        await expect(m.guest.locator("#ended-reason")).to_have_text("Toplantı sona erdi.")
        await m.appliance.expect("meeting_ended")
    finally:
        await m.close()
