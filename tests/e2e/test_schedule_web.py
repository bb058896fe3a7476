"""Takvim in the web client (Debian's Chromium): the room's host adds a weekly meeting,
edits it, imports the school's .ics file and removes a meeting — in Turkish, then in
English — and sees the school's calendar the bridge reads again, with its failure when
the calendar server goes down (the last good schedule kept). A participant has no
Takvim and the bridge refuses it the API. Everything on 127.0.0.1 in the namespace."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import aiohttp.web
import pytest
from playwright.async_api import expect

from tests.support.browser import chromium
from tests.support.meetings import close, open_room, open_tab, sign_in
from tests.support.procs import BIN, BridgeProcess, RoomSpec, UserSpec

pytestmark = [pytest.mark.netns, pytest.mark.slow]
HOST, HOST_PW = "ogretmen", "ogretmen-parola-1"
PART, PART_PW = "ayse", "ayse-parola-12"
ICS = Path(__file__).parents[1] / "bridge" / "data" / "school.ics"
SCHOOL_EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Okul//TR\r\nBEGIN:VEVENT\r\n"
                "UID:zumre@okul\r\nDTSTAMP:20260901T080000Z\r\nSUMMARY:Zümre toplantısı\r\n"
                "DTSTART:20300110T120000Z\r\nDURATION:PT1H\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


class SchoolCalendar:
    def __init__(self) -> None:
        self.down = False

    async def serve(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        if self.down:
            return aiohttp.web.Response(status=503, text="bakımda")
        return aiohttp.web.Response(text=SCHOOL_EVENT, content_type="text/calendar")


@pytest.fixture
async def school() -> AsyncIterator[tuple[SchoolCalendar, str]]:
    calendar = SchoolCalendar()
    app = aiohttp.web.Application()
    app.router.add_get("/takvim.ics", calendar.serve)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield calendar, f"http://127.0.0.1:{port}/takvim.ics"
    await runner.cleanup()


async def test_the_host_keeps_the_rooms_schedule_in_the_web_client(
        tmp_path: Path, school: tuple[SchoolCalendar, str]) -> None:
    calendar, url = school
    extra = (f'[schedule]\nrefresh_min = 0.05\n[[schedule.calendars]]\nroom = "takvim"\n'
             f'url = "{url}"\n')
    bridge = await asyncio.to_thread(
        BridgeProcess, tmp_path, extra_toml=extra, room_specs=[RoomSpec("takvim", "Takvim")],
        users=[UserSpec(HOST, HOST_PW, "host", "Ayla Öğretmen"),
               UserSpec(PART, PART_PW, "participant", "Ayşe Yılmaz")])
    try:
        async with chromium() as browser:
            host = await open_room(browser, bridge.room_url("takvim"), "tr")
            part = await open_room(browser, bridge.room_url("takvim"))
            await sign_in(host, HOST, HOST_PW, "tr")
            await sign_in(part, PART, PART_PW)
            pane = host.locator("#pane-schedule")

            await open_tab(host, "Takvim")
            # The school's calendar, read by the bridge.
            await expect(pane.locator(".schedule-calendars")).to_contain_text(url)
            await expect(pane.locator(".schedule-calendars")).to_contain_text("Son okuma")
            await expect(pane.locator(".schedule-calendars")).to_contain_text("güncellendi")
            await expect(pane.locator(".schedule-entries")).to_contain_text("Zümre toplantısı")

            # A weekly class, typed in.
            await host.get_by_label("Başlık", exact=True).fill("Matematik 9-A")
            await host.get_by_label("Tarih ve saat").fill("2030-01-08T09:00")
            await host.get_by_label("Süre (dakika)").fill("40")
            await host.get_by_label("Her hafta tekrarla").check()
            await host.get_by_label("Son hafta (isteğe bağlı)").fill("2030-06-25")
            await host.get_by_label("Saat dilimi").fill("Europe/Istanbul")
            await host.get_by_role("button", name="Takvime Ekle").click()
            entry = pane.locator(".schedule-entry").filter(has_text="Matematik 9-A")
            await expect(entry).to_contain_text("Her hafta 2030-06-25 tarihine kadar")
            await expect(entry).to_contain_text("2030-01-08 09:00 (Europe/Istanbul), 40 dk")

            # Edited: longer, and a lab.
            await host.get_by_role("button", name="Düzenle: Matematik 9-A").click()
            await expect(host.get_by_label("Başlık", exact=True)).to_have_value("Matematik 9-A")
            await host.get_by_label("Başlık", exact=True).fill("Matematik 9-A (laboratuvar)")
            await host.get_by_label("Süre (dakika)").fill("80")
            await host.get_by_role("button", name="Değişiklikleri Kaydet").click()
            edited = pane.locator(".schedule-entry").filter(has_text="laboratuvar")
            await expect(edited).to_contain_text("80 dk")
            await expect(pane.locator(".schedule-entry")).to_have_count(2)

            # A field the bridge refuses is named.
            await host.get_by_label("Başlık", exact=True).fill("Kurul")
            await host.get_by_label("Tarih ve saat").fill("2030-01-09T10:00")
            await host.get_by_label("Saat dilimi").fill("Asia/Nowhere")
            await host.get_by_role("button", name="Takvime Ekle").click()
            await expect(host.locator("#schedule-error")).to_contain_text("Asia/Nowhere")

            # The school's .ics file, imported; then one of its meetings removed.
            await host.get_by_label("Takvim dosyası (.ics)").set_input_files(str(ICS))
            await host.get_by_role("button", name="İçe Aktar").click()
            await expect(pane.get_by_role("status")).to_contain_text("3 eklendi")
            await expect(pane.locator(".schedule-entry")).to_have_count(5)
            await host.get_by_role("button", name="Sil: Veli toplantısı").click()
            await expect(pane.locator(".schedule-entry")).to_have_count(4)
            await expect(pane.locator(".schedule-entries")).not_to_contain_text("Veli")
            # An imported series is not edited here (it comes again from its calendar).
            maths = pane.locator(".schedule-entry").filter(has_text="Takvimden: school.ics")
            await expect(maths.get_by_role("button", name="Düzenle: Matematik 9-A",
                                           exact=True)).to_have_count(0)

            # The calendar server goes down: the host is told, the meeting stays.
            calendar.down = True
            for _ in range(60):
                await open_tab(host, "Sohbet")
                await open_tab(host, "Takvim")
                if await pane.locator(".calendar.failed").count():
                    break
                await asyncio.sleep(1)
            await expect(pane.locator(".calendar.failed")).to_contain_text(
                "Son geçerli takvim kullanılıyor")
            await expect(pane.locator(".schedule-entries")).to_contain_text("Zümre toplantısı")

            # In English.
            await host.get_by_role("button", name="English").click()
            await expect(host.get_by_role("tab", name="Schedule")).to_be_visible()
            await expect(host.get_by_role("button", name="Add to schedule")).to_be_visible()
            await expect(pane.locator(".calendar.failed")).to_contain_text(
                "The last good schedule is kept")

            # A participant has no Takvim, and the bridge refuses it the API.
            await expect(part.get_by_role("tab", name="Files")).to_be_visible()
            assert await part.get_by_role("tab", name="Schedule").count() == 0
            token = await part.evaluate("() => window.salon.conference.token")
            async with aiohttp.ClientSession() as http, http.post(
                    f"{bridge.url}/api/schedule/entries", json={"title": "x"},
                    headers={"Authorization": f"Bearer {token}"}) as resp:
                assert resp.status == 403
            await close(host)
            await close(part)
        listed = subprocess.run([str(BIN / "salon-bridge"), "--config", str(bridge.config),
                                 "schedule", "list", "takvim", "--days", "3650"],
                                capture_output=True, text=True, timeout=60, check=True).stdout
        assert "Matematik 9-A (laboratuvar)" in listed and "Veli" not in listed
        assert "FAILED" in listed and "503" in listed  # the admin's view of the calendar
    finally:
        code = bridge.stop()
        print(f"---- bridge log (exit {code}) ----\n" + bridge.log_tail(4000))
