"""The phone companion: a phone-sized browser acts for a room appliance — raises its hand
and answers a poll for it — and the host sees the room's hand and answer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import expect

from tests.support.browser import chromium
from tests.support.procs import Appliance, BridgeProcess, wait_until
from tests.support.wsclient import RawClient

pytestmark = [pytest.mark.netns, pytest.mark.slow]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "locale": "tr-TR"}


async def test_phone_companion_acts_for_the_room(tmp_path: Path) -> None:
    secret = tmp_path / "host.password"
    secret.write_text("öğretmen-parolası\n")
    secret.chmod(0o600)
    bridge = BridgeProcess(tmp_path, rooms=[("testbim", "Test BİM")], extra_toml=(
        f'[[users]]\nname = "ogretmen"\nrole = "host"\ndisplay_name = "Öğretmen"\n'
        f'password_file = "{secret}"\n'))
    room = Appliance(tmp_path, bridge, "ODA 1", size=(320, 180))
    host = None
    try:
        await asyncio.to_thread(room.wait_in_meeting)
        host = await RawClient.connect(bridge.ws_url)
        welcome = await host.request({"type": "join", "protocol": 1, "room": "testbim",
                                      "user": "ogretmen", "password": "öğretmen-parolası"}, 1)
        assert welcome["type"] == "welcome" and welcome["you"]["role"] == "host"
        room_id = next(x["id"] for x in welcome["participants"] if x["name"] == "ODA 1")
        url = await asyncio.to_thread(
            wait_until, lambda: room.health()["companion"]["url"], 30, "a companion link")
        assert url.startswith(bridge.url + "/c/")

        async with chromium() as browser:
            context = await browser.new_context(**PHONE)
            phone = await context.new_page()
            await phone.goto(url)
            await phone.get_by_role("status").filter(has_text="ODA 1 adına").wait_for()

            await phone.get_by_role("button", name="Söz Hakkı İste").click()
            raised = await host.expect("participant_updated", timeout=10)
            while (raised["participant"]["id"], raised["participant"]["hand_position"]) != (
                    room_id, 1):
                raised = await host.expect("participant_updated", timeout=10)
            await phone.get_by_text("sırada 1").wait_for()

            await host.send({"type": "poll_create", "question": "Hangi gün?",
                             "options": ["Pazartesi", "Salı", "Çarşamba"]})
            poll_id = (await host.expect("poll"))["id"]
            assert (await host.request({"type": "poll_open", "poll": poll_id}, 3))["type"] == "ok"
            await phone.get_by_role("button", name="2. Salı").click()
            results = await host.expect("poll_results", timeout=10)
            while results["total"] == 0:
                results = await host.expect("poll_results", timeout=10)
            assert results["counts"] == [0, 1, 0]

            await phone.get_by_label("Herkese mesaj").fill("<b>merhaba</b> telefondan")
            await phone.get_by_role("button", name="Gönder").click()
            chat = await host.expect("chat", timeout=10)
            assert (chat["from_name"], chat["text"]) == ("ODA 1", "<b>merhaba</b> telefondan")

            # the room leaves: the link stops working at once
            room.stop()
            await phone.get_by_text("Oda toplantıdan ayrıldı").wait_for(timeout=15_000)
            late = await context.new_page()
            await late.goto(url)
            await late.get_by_text("süresi doldu").wait_for(timeout=15_000)
        log = bridge.log_tail(200_000)
        assert "companion-join" in log and "acts for participant" in log
    finally:
        room.stop()
        if host is not None:
            await host.close()
        bridge.stop()


LINK_TTL_S = 30


async def fresh_link(room: Appliance, than: str | None = None) -> str:
    """The companion link the room shows now (a newer one than ``than``)."""
    def shown() -> str | None:
        url = room.health()["companion"]["url"]
        return url if url and url != than else None
    return str(await asyncio.to_thread(wait_until, shown, 2 * LINK_TTL_S, "a companion link"))


async def test_a_phone_session_ends_with_its_code(tmp_path: Path) -> None:
    """A phone page opened before its code expires stops acting for the room at expiry:
    the bridge ends the session, later actions reach nothing, and the page says so in its
    own language with nothing left that looks usable. Its file links say İndir."""
    secret = tmp_path / "host.password"
    secret.write_text("öğretmen-parolası\n")
    bridge = BridgeProcess(tmp_path, rooms=[("testbim", "Test BİM")], extra_toml=(
        f"[companion]\nlink_ttl_s = {LINK_TTL_S}\n\n"
        f'[[users]]\nname = "ogretmen"\nrole = "host"\ndisplay_name = "Öğretmen"\n'
        f'password_file = "{secret}"\n'))
    room = Appliance(tmp_path, bridge, "ODA 1", size=(320, 180))
    host = raw_phone = None
    try:
        await asyncio.to_thread(room.wait_in_meeting)
        host = await RawClient.connect(bridge.ws_url)
        welcome = await host.request({"type": "join", "protocol": 1, "room": "testbim",
                                      "user": "ogretmen", "password": "öğretmen-parolası"}, 1)
        room_id = next(x["id"] for x in welcome["participants"] if x["name"] == "ODA 1")
        async with aiohttp.ClientSession() as http:
            form = aiohttp.FormData()
            form.add_field("file", b"ders notlari", filename="notlar.txt")
            uploaded = await http.post(f"{bridge.url}/api/files", data=form, headers={
                "Authorization": f"Bearer {welcome['token']}"})
            assert uploaded.status == 201, await uploaded.text()
        url = await fresh_link(room, await fresh_link(room))  # a whole lifetime ahead

        async with chromium() as browser:
            context = await browser.new_context(**PHONE)
            phone = await context.new_page()
            await phone.goto(url)
            await phone.get_by_role("status").filter(has_text="ODA 1 adına").wait_for()
            link = phone.get_by_role("link", name="notlar.txt — İndir")
            await expect(link).to_be_visible()
            href = await link.get_attribute("href") or ""
            assert "Bilgisayarıma" not in await phone.locator("body").inner_text()
            async with phone.expect_download() as download:
                await link.click()
            assert Path(await (await download.value).path()).read_bytes() == b"ders notlari"
            # a second phone on the same code, speaking the protocol
            raw_phone = await RawClient.connect(bridge.ws_url)
            joined = await raw_phone.request({
                "type": "join", "protocol": 1, "room": "testbim", "client": "companion",
                "companion": url.split("/c/")[1].split("?")[0]}, 1)
            assert joined["type"] == "welcome"

            await phone.get_by_role("button", name="Söz Hakkı İste").click()
            await host.expect_where(lambda m: m.get("type") == "participant_updated" and (
                m["participant"]["id"], m["participant"]["hand_position"]) == (room_id, 1),
                what="the room's hand raised from the phone")

            # the code expires: the bridge ends both sessions, the page says why
            ended = phone.get_by_role("alert")
            await expect(ended).to_contain_text(
                "Bağlantının süresi doldu; odadaki kodu yeniden okutun.",
                timeout=(LINK_TTL_S + 15) * 1000)
            await expect(ended.get_by_role("heading")).to_have_text(
                "Bu bağlantı artık çalışmıyor")
            for name in ("Elimi İndir", "Söz Hakkı İste", "Gönder"):
                await expect(phone.get_by_role("button", name=name)).to_be_hidden()
            await expect(phone.get_by_role("link", name="notlar.txt — İndir")).to_be_hidden()
            bye = await raw_phone.expect("bye", timeout=15)
            assert bye["reason"] == "companion_expired"
            # the bridge closed the old sessions: nothing they could send reaches the room
            await asyncio.wait_for(raw_phone.closed(), 10)
            await phone.locator("#hand").evaluate("b => b.click()")  # a tap that gets through
            body = await phone.locator("body").inner_text()
            assert "before 'join'" not in body and "expired" not in body, body
            assert (await host.request({"type": "ping"}, 5))["type"] == "pong"
            lowered = [m for m in host.drain() if m.get("type") == "participant_updated"
                       and m["participant"]["id"] == room_id
                       and m["participant"]["hand_position"] is None]
            assert lowered == [], "the expired phone lowered the room's hand"
            async with aiohttp.ClientSession() as http, http.get(bridge.url + href) as late_file:
                assert late_file.status == 401  # and its file link with it

            # a page opened on the expired code says so at once, in English on an English phone
            english = await browser.new_context(**{**PHONE, "locale": "en-US"})
            late = await english.new_page()
            await late.goto(url)
            await expect(late.get_by_role("alert")).to_contain_text(
                "This link has expired; scan the room's code again.")
            await expect(late.get_by_role("button", name="Raise hand")).to_be_hidden()
        log = bridge.log_tail(400_000)
        assert "companion-expired" in log
    finally:
        room.stop()
        for client in (host, raw_phone):
            if client is not None:
                await client.close()
        bridge.stop()
