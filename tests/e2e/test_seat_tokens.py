"""Seat tokens (issue 12, item 6) through a real bridge and Chromium.

The seat's token resumes a seat with all its rights, so it must never appear in a URL
(browser history and download lists of shared school PCs keep those): downloads go
through single-use tickets minted with the token in a header; the token is rotated on
every resume, so a copied old one takes nothing over. Every request Chromium makes is
recorded and searched for the token and the phone's companion code.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page

from tests.support.browser import chromium
from tests.support.meetings import close, open_room, open_tab, sign_in
from tests.support.procs import BridgeProcess, RoomSpec, UserSpec
from tests.support.wsclient import RawClient

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

HOST, HOST_PW = "ogretmen", "ogretmen-parola-1"
BOX, BOX_PW = "sinif1", "sinif1-parola-12"
USERS = [UserSpec(HOST, HOST_PW, "host", "Ayla Öğretmen"),
         UserSpec(BOX, BOX_PW, "device", "ODA 1")]
ROOMS = [RoomSpec("dosya", "Dosya"), RoomSpec("bilet", "Bilet"),
         RoomSpec("telefon", "Telefon", moderated=False), RoomSpec("koltuk", "Koltuk")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bridge(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BridgeProcess]:
    proc = await asyncio.to_thread(BridgeProcess, tmp_path_factory.mktemp("tokens"),
                                   room_specs=ROOMS, users=USERS)
    yield proc
    code = proc.stop()
    print(f"---- bridge log (exit {code}) ----\n" + proc.log_tail(6000))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


def record_urls(page: Page) -> list[str]:
    """Every URL the page's context asks for (documents, fetches, sockets, and — these are
    the browser's own, no page request — downloads)."""
    urls: list[str] = []
    page.context.on("request", lambda r: urls.append(r.url))
    page.on("websocket", lambda ws: urls.append(ws.url))
    page.on("download", lambda d: urls.append(d.url))
    return urls


async def upload(bridge: BridgeProcess, token: str, name: str, data: bytes) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name)
    async with aiohttp.ClientSession() as http, http.post(
            f"{bridge.url}/api/files", data=form,
            headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 201, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body


async def status_of(bridge: BridgeProcess, path: str, **headers: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(bridge.url + path,
                                                         headers=headers) as resp:
        await resp.read()
        return resp.status


async def mint(bridge: BridgeProcess, path: str, authorization: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(
            f"{bridge.url}/api/tickets", json={"path": path},
            headers={"Authorization": authorization}) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, body


async def test_chromium_saves_a_file_and_a_report_with_no_secret_in_any_url(
        bridge: BridgeProcess, browser: Browser) -> None:
    page = await open_room(browser, bridge.room_url("dosya"), "tr")
    urls = record_urls(page)
    try:
        await sign_in(page, HOST, HOST_PW, "tr")
        token = await page.evaluate("() => window.salon.conference.token")
        payload = os.urandom(200_000)
        await upload(bridge, token, "Ünite 4.pdf", payload)
        await open_tab(page, "Dosyalar")
        async with page.expect_download() as info:
            await page.get_by_role("link", name="Bilgisayarıma Kaydet").click()
        saved = Path(await (await info.value).path()).read_bytes()
        assert hashlib.sha256(saved).digest() == hashlib.sha256(payload).digest()

        await open_tab(page, "Raporlar")
        async with page.expect_download() as info:
            await page.get_by_role("link", name="Katılım Raporu (CSV)").click()
        rows = list(csv.DictReader(io.StringIO(
            Path(await (await info.value).path()).read_text(encoding="utf-8"))))
        assert [r["name"] for r in rows] == ["Ayla Öğretmen"]
    finally:
        await close(page)
    assert token and not [u for u in urls if token in u], urls
    tickets = [u for u in urls if "ticket=" in u]
    assert len(tickets) == 2 and len(set(tickets)) == 2, tickets  # each used exactly once
    for used in tickets:  # what the PC's download list keeps opens nothing now
        async with aiohttp.ClientSession() as http, http.get(used) as resp:
            assert resp.status == 401, used
    # and the links the page shows carry no secret either
    assert all("token=" not in u and "companion=" not in u for u in urls)
    # The socket names its room, for a balancer's room affinity, and nothing else.
    sockets = [u for u in urls if u.startswith("ws")]
    assert sockets and all(u.endswith("/ws?room=dosya") for u in sockets), sockets


async def test_a_ticket_opens_its_one_download_once(bridge: BridgeProcess) -> None:
    host = await RawClient.connect(bridge.ws_url)
    try:
        welcome = await host.sign_in("bilet", HOST, HOST_PW, client="bot")
        bearer = f"Bearer {welcome['token']}"
        first = await upload(bridge, welcome["token"], "a.txt", b"birinci")
        second = await upload(bridge, welcome["token"], "b.txt", b"ikinci")
        status, minted = await mint(bridge, f"/api/files/{first['id']}", bearer)
        assert status == 200 and minted["expires_in_s"] <= 60
        url = bridge.url + minted["url"]
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as resp:
                assert resp.status == 200 and await resp.read() == b"birinci"
            async with http.get(url) as resp:  # once only
                assert resp.status == 401
            # a ticket opens only the path it was minted for (and is spent trying another)
            _, other = await mint(bridge, f"/api/files/{first['id']}", bearer)
            ticket = other["url"].split("ticket=")[1]
            async with http.get(f"{bridge.url}/api/files/{second['id']}?ticket={ticket}") as resp:
                assert resp.status == 401
            async with http.get(bridge.url + other["url"]) as resp:
                assert resp.status == 401
            # reports: the CSV through a ticket, JSON with the header
            _, csv_ticket = await mint(bridge, "/api/reports/current?format=csv&kind=activity",
                                       bearer)
            async with http.get(bridge.url + csv_ticket["url"]) as resp:
                assert resp.status == 200 and "joined" in await resp.text()
        # the seat's token in a URL is no credential any more
        token = welcome["token"]
        assert await status_of(bridge, f"/api/files/{first['id']}?token={token}") == 401
        assert await status_of(bridge, f"/api/files/{first['id']}",
                               Authorization=bearer) == 200
        # no ticket without a session, nor for anything but a download
        assert (await mint(bridge, f"/api/files/{first['id']}", "Bearer yanlis"))[0] == 401
        assert (await mint(bridge, "/api/files", bearer))[0] == 400
        assert (await mint(bridge, "http://elsewhere.example/api/files/1", bearer))[0] == 400
    finally:
        await host.close()


async def test_an_old_token_is_refused_after_the_seat_is_resumed(
        bridge: BridgeProcess, browser: Browser) -> None:
    page = await open_room(browser, bridge.room_url("koltuk"), "tr")
    try:
        await sign_in(page, HOST, HOST_PW, "tr")
        old = await page.evaluate("() => window.salon.conference.token")
        await page.reload()  # the page takes its seat again with the token it stored
        await page.get_by_role("status").filter(has_text="Toplantıdasınız").wait_for()
        new = await page.evaluate("() => window.salon.conference.token")
        assert new and new != old
        stored = await page.evaluate("() => Object.values(sessionStorage)")
        assert new in stored and old not in stored
        # The old token, replayed on a second connection, takes nothing over...
        thief = await RawClient.connect(bridge.ws_url)
        try:
            reply = await thief.request({"type": "join", "protocol": 1, "room": "koltuk",
                                         "token": old, "client": "bot"}, 1)
            assert (reply["type"], reply.get("code")) == ("error", "bad_token")
        finally:
            await thief.close()
        assert await status_of(bridge, "/api/files", Authorization=f"Bearer {old}") == 401
        assert await status_of(bridge, "/api/files", Authorization=f"Bearer {new}") == 200
        # ...and the page is still in the meeting with its seat.
        await page.get_by_role("status").filter(has_text="Toplantıdasınız").wait_for()
        assert await page.evaluate("() => window.salon.conference.token") == new
    finally:
        await close(page)


async def test_the_phone_companion_saves_a_file_without_its_code_in_the_link(
        bridge: BridgeProcess, browser: Browser) -> None:
    room = await RawClient.connect(bridge.ws_url)
    try:
        welcome = await room.sign_in("telefon", BOX, BOX_PW, client="bot")
        assert welcome["type"] == "welcome", welcome
        link = await room.request({"type": "companion_link"}, 2)
        code = link["path"].split("/c/")[1].split("?")[0]
        host = await RawClient.connect(bridge.ws_url)
        host_welcome = await host.sign_in("telefon", HOST, HOST_PW, client="bot")
        await upload(bridge, host_welcome["token"], "Odev.txt", b"telefondan indirildi")
        await host.close()
        context = await browser.new_context(locale="tr-TR", viewport={"width": 390,
                                                                      "height": 844})
        phone = await context.new_page()
        urls = record_urls(phone)
        await phone.goto(bridge.url + link["path"])
        await phone.get_by_role("status").filter(has_text="ODA 1 adına").wait_for()
        async with phone.expect_download() as info:
            await phone.get_by_role("link", name="Odev.txt — İndir").click()
        assert Path(await (await info.value).path()).read_bytes() == b"telefondan indirildi"
        await context.close()
        downloads = [u for u in urls if "/api/files/" in u]
        assert downloads and all(code not in u for u in downloads), downloads
        assert all("companion=" not in u for u in urls)
        sockets = [u for u in urls if u.startswith("ws")]  # its room, not its code
        assert sockets and all(u.endswith("/ws?room=telefon") for u in sockets), sockets
    finally:
        await room.close()
