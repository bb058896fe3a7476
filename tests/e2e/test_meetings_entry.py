"""The guide's rows 2–9 in the web client: test devices before entering, joining early,
a meeting at its own address, Oturum Aç, guests in the guide's name form, the lobby,
Bilgilerimi Düzenle, and what to check when there is no sound. Three browsers (a host,
a signed-in participant, guests) and a room appliance speaking the protocol, against a
real bridge and Janus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from tests.support.browser import chromium
from tests.support.media_files import write_solid_y4m, write_tone_wav
from tests.support.meetings import (
    close,
    eventually,
    in_lobby,
    in_meeting,
    join_as_guest,
    names,
    notice,
    open_room,
    person,
    sign_in,
)
from tests.support.procs import BridgeProcess, RoomSpec, UserSpec
from tests.support.wsclient import RawClient

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

HOST, HOST_PW, HOST_NAME = "ogretmen", "ogretmen-parola-1", "Ayla Öğretmen"
PART, PART_PW, PART_NAME = "ayse", "ayse-parola-12", "Ayşe Yılmaz"
DEVICE, DEVICE_PW, DEVICE_NAME = "sinif1", "sinif1-parola-9", "5-A SINIFI"
ROOMS = [
    RoomSpec("erken", "Erken Giriş"),
    RoomSpec("kalabalik", "Kalabalık", moderated=False),
    RoomSpec("testbim", "Test BİM"),
    RoomSpec("ozel", "Özel Toplantı", policy="private"),
    RoomSpec("kurallar", "Kurallı Oda", guest_name_format=True),
    RoomSpec("lobi", "Lobi"),
    RoomSpec("adlar", "Adlar"),
    RoomSpec("ses", "Ses", moderated=False),
    RoomSpec("aygit", "Aygıt"),
]
USERS = [UserSpec(HOST, HOST_PW, "host", HOST_NAME),
         UserSpec(PART, PART_PW, "participant", PART_NAME),
         UserSpec(DEVICE, DEVICE_PW, "device", DEVICE_NAME)]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bridge(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BridgeProcess]:
    tmp = tmp_path_factory.mktemp("entry")
    proc = await asyncio.to_thread(BridgeProcess, tmp, room_specs=ROOMS, users=USERS)
    yield proc
    code = proc.stop()
    print(f"---- bridge log (exit {code}) ----\n" + proc.log_tail(6000))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    tmp = tmp_path_factory.mktemp("entry-media")
    video = write_solid_y4m(tmp / "teal.y4m", (0, 160, 160), 320, 180)
    audio = write_tone_wav(tmp / "tone600.wav", 600)
    async with chromium(video=video, audio=audio) as b:
        yield b


async def device_client(bridge: BridgeProcess, room: str) -> RawClient:
    """The room appliance, signed in with its device account, through the protocol."""
    client = await RawClient.connect(bridge.ws_url)
    welcome = await client.sign_in(room, DEVICE, DEVICE_PW, client="appliance")
    assert welcome["type"] == "welcome", welcome
    return client


# ---- row 2: test camera, speaker and microphone before entering -----------------------

async def test_row02_devices_are_tested_before_entering(bridge: BridgeProcess,
                                                        browser: Browser) -> None:
    page = await open_room(browser, bridge.room_url("aygit"), "tr")
    try:
        await page.get_by_role("button", name="Kamera ve Mikrofonu Sına", exact=True).click()
        preview = page.locator("#device-preview")
        await expect(preview).to_be_visible()
        await eventually(lambda: preview.evaluate("v => v.videoWidth === 320"), what="preview")
        # the fake microphone's 600 Hz tone moves the level meter
        level = await eventually(lambda: page.locator("#device-level").evaluate(
            "m => m.value > 0.5 ? m.value : 0"), what="the microphone level")
        assert level > 0.5
        await page.get_by_role("button", name="Sınamayı Bitir", exact=True).click()
        await expect(preview).to_be_hidden()
        assert await page.locator("#device-level").evaluate("m => m.value") == 0
        await page.get_by_role("button", name="Hoparlörü Sına", exact=True).click()
        await expect(page.get_by_text("Şimdi bir ses duymalısınız.")).to_be_visible()
        # the devices are free again for the meeting itself
        assert await page.evaluate("() => window.salon.conference") is None
    finally:
        await close(page)


# ---- row 3: join early; a rush of joins -------------------------------------------------

async def test_row03_early_arrivals_wait_and_a_rush_of_joins_gets_in(
        bridge: BridgeProcess, browser: Browser) -> None:
    room = "erken"
    appliance = await device_client(bridge, room)  # the room appliance joins by itself, early
    participant = await open_room(browser, bridge.room_url(room))
    guest = await open_room(browser, bridge.room_url(room))
    host = await open_room(browser, bridge.room_url(room), "tr")
    try:
        await sign_in(participant, PART, PART_PW)
        assert set(await names(participant)) == {PART_NAME, DEVICE_NAME}
        # a guest before the host waits in the lobby
        await join_as_guest(guest, "Erken Gelen Misafir")
        await in_lobby(guest)
        # the host arrives later and finds the queue waiting
        await sign_in(host, HOST, HOST_PW, "tr")
        queue = host.locator("#lobby-queue")
        await expect(queue.get_by_role("heading")).to_have_text("Bekleme Salonu (1)")
        await expect(queue.locator(".name")).to_have_text("Erken Gelen Misafir")
        await expect(person(host, DEVICE_NAME).locator(".role-tag")).to_have_text("Sınıf cihazı")
    finally:
        for page in (participant, guest, host):
            await close(page)
        await appliance.close()

    # Many joins at once (the guide: late rushes cause trouble): every one gets in.
    bots = await asyncio.gather(*(RawClient.connect(bridge.ws_url) for _ in range(15)))
    try:
        replies = await asyncio.gather(*(b.join("kalabalik", f"Öğrenci {i}", rid=1)
                                         for i, b in enumerate(bots)))
        assert [r["type"] for r in replies] == ["welcome"] * len(bots), replies
        last = replies[-1]
        assert len(last["participants"]) >= 1
        health = await asyncio.to_thread(bridge.health)
        assert health["rooms"]["kalabalik"] == len(bots)
    finally:
        await asyncio.gather(*(b.close() for b in bots))


# ---- row 4: a meeting is a room at its own address --------------------------------------

async def test_row04_a_meeting_is_a_room_at_its_own_address(bridge: BridgeProcess,
                                                            browser: Browser) -> None:
    page = await open_room(browser, bridge.url + "/")
    try:
        await page.get_by_label("Meeting address").fill("/testbim")
        await page.get_by_role("button", name="Go to the meeting").click()
        await page.wait_for_url(bridge.url + "/testbim")  # the address it was told
        await expect(page.get_by_text("Meeting address: /testbim")).to_be_visible()
        # the language follows the browser, or the switch (remembered across visits)
        await page.get_by_role("button", name="Türkçe", exact=True).click()
        await expect(page.get_by_role("heading", name="Misafir olarak katıl")).to_be_visible()
        await page.reload()
        await expect(page.get_by_text("Toplantı adresi: /testbim")).to_be_visible()
        assert await page.evaluate("() => document.documentElement.lang") == "tr"
        await page.get_by_role("button", name="English", exact=True).click()
        await sign_in(page, PART, PART_PW)
        await expect(page.locator("#room-title")).to_have_text("Test BİM")
        assert await page.title() == "Test BİM – Salon"
    finally:
        await close(page)
    page = await open_room(browser, bridge.room_url("yok-boyle-oda"))
    try:  # said at once, before any form is filled in
        await expect(page.get_by_role("alert")).to_contain_text(
            "There is no meeting room at this address")
        assert await page.get_by_label("Your name").count() == 0
    finally:
        await close(page)


# ---- row 5: sign in with user name and password (Oturum Aç, Parola) ---------------------

async def test_row05_sign_in_with_user_name_and_password(bridge: BridgeProcess,
                                                         browser: Browser) -> None:
    page = await open_room(browser, bridge.room_url("ozel"), "tr")
    try:
        await sign_in(page, HOST, "yanlış-parola-0", "tr", wait=False)
        await expect(page.locator("#signin-error")).to_have_text(
            "Kullanıcı adı ya da parola yanlış.")
        await expect(page.get_by_label("Parola", exact=True)).to_have_attribute(
            "aria-invalid", "true")
        await sign_in(page, HOST, HOST_PW, "tr")
        await expect(person(page, HOST_NAME).locator(".role-tag")).to_have_text("Ev sahibi")
        # the host holds the floor: no Söz Hakkı İste, and the mic control is active
        assert await page.get_by_role("button", name="Söz Hakkı İste").count() == 0
        await expect(page.get_by_role("button", name="Sesimi Bağla")).to_be_enabled()
    finally:
        await close(page)
    # a private room takes accounts only: the page says so and offers no guest form,
    # and the bridge refuses a guest that joins anyway
    guest = await open_room(browser, bridge.room_url("ozel"))
    intruder = await RawClient.connect(bridge.ws_url)
    try:
        await expect(guest.get_by_text("Only signed-in users may join this meeting.")
                     ).to_be_visible()
        await expect(guest.get_by_label("Your name")).to_be_hidden()
        assert (await intruder.join("ozel", "Davetsiz Misafir"))["code"] == "room_private"
    finally:
        await close(guest)
        await intruder.close()
    assert "refused join room 'ozel' as guest 'Davetsiz Misafir'" in bridge.log_tail(20000)
    # the same account signing in elsewhere takes the seat over; the first page says so
    first = await open_room(browser, bridge.room_url("ozel"))
    second = await open_room(browser, bridge.room_url("ozel"))
    try:
        await sign_in(first, PART, PART_PW)
        await sign_in(second, PART, PART_PW)
        await expect(first.locator("#ended-reason")).to_have_text(
            "You joined this meeting again from somewhere else.")
        await expect(person(second, PART_NAME)).to_be_visible()
        await expect(second.get_by_role("status")).to_have_text("In the meeting")
    finally:
        await close(first)
        await close(second)


# ---- row 6: a guest's name in the guide's form ------------------------------------------

async def test_row06_guest_name_in_the_guides_form(bridge: BridgeProcess,
                                                   browser: Browser) -> None:
    page = await open_room(browser, bridge.room_url("kurallar"), "tr")
    try:
        await expect(page.get_by_role("heading", name="Misafir olarak katıl")).to_be_visible()
        await expect(page.locator("#guest-hint")).to_contain_text("BEHİÇ ÇELEBİ – ANKARA MEM")
        error = page.locator("#join-error")
        for wrong, says in (
            ("behiç çelebi – ankara mem", "Adınızı BÜYÜK harflerle yazın"),
            ("BEHİÇ ÇELEBİ", "Adınızdan sonra bir tire ve ilinizi ya da biriminizi yazın"),
            ("BEHİÇ – ANKARA MEM", "Tireden önce adınızı ve soyadınızı yazın"),
        ):
            await join_as_guest(page, wrong, "tr")
            await expect(error).to_contain_text(says)
            await expect(error).to_contain_text("“BEHİÇ ÇELEBİ – ANKARA MEM”")
        await join_as_guest(page, "BEHİÇ ÇELEBİ - ANKARA MEM", "tr")
        await in_lobby(page, "tr")
        # the bridge wrote the name with the guide's dash
        await expect(page.locator("#lobby-name")).to_have_text(
            "Adınız: BEHİÇ ÇELEBİ – ANKARA MEM")
    finally:
        await close(page)


# ---- row 7: a guest waits until the organiser admits them ------------------------------

async def test_row07_guests_wait_until_the_host_admits_them(bridge: BridgeProcess,
                                                            browser: Browser) -> None:
    room = "lobi"
    host = await open_room(browser, bridge.room_url(room), "tr")
    admitted = await open_room(browser, bridge.room_url(room))
    turned_away = await open_room(browser, bridge.room_url(room))
    watcher = await RawClient.connect(bridge.ws_url)  # an appliance joining as a guest
    try:
        await sign_in(host, HOST, HOST_PW, "tr")
        await host.get_by_label("Mesaj").fill("Yalnızca içeridekiler görür")
        await host.get_by_role("button", name="Gönder").click()
        await join_as_guest(admitted, "Kabul Edilen")
        await join_as_guest(turned_away, "Geri Çevrilen")
        await in_lobby(admitted)
        await in_lobby(turned_away)
        waiting = await watcher.join(room, "LOBİDEKİ CİHAZ")
        assert waiting["type"] == "lobby_waiting"
        # the host sees the queue live, in arrival order, with a notice for each
        queue = host.locator("#lobby-queue li .name")
        await expect(queue).to_have_text(["Kabul Edilen", "Geri Çevrilen", "LOBİDEKİ CİHAZ"])
        await expect(notice(host, "Kabul Edilen bekleme salonunda")).to_be_visible()
        # nothing of the room reaches the lobby: no people, no chat
        for page in (admitted, turned_away):
            state = await page.evaluate("""() => ({
                people: window.salon.conference.participants.size,
                chat: window.salon.conference.chat.length})""")
            assert state == {"people": 0, "chat": 0}
        assert all(m["type"] in ("lobby_waiting", "pong") for m in watcher.drain())

        row = host.locator("#lobby-queue li").filter(has_text="Kabul Edilen")
        await row.get_by_role("button", name="Kabul Et", exact=True).click()
        await in_meeting(admitted)
        assert "Yalnızca içeridekiler görür" in await admitted.locator(".chat-log").inner_text()
        row = host.locator("#lobby-queue li").filter(has_text="Geri Çevrilen")
        await row.get_by_role("button", name="Reddet", exact=True).click()
        await expect(turned_away.locator("#ended-reason")).to_have_text(
            "The host did not let you in.")
        assert await turned_away.evaluate("() => window.salon.conference.participants.size") == 0
        await expect(host.locator("#lobby-queue li .name")).to_have_text(["LOBİDEKİ CİHAZ"])
        assert set(await names(host)) == {HOST_NAME, "Kabul Edilen"}
    finally:
        for page in (host, admitted, turned_away):
            await close(page)
        await watcher.close()


# ---- row 8: changing one's own display name --------------------------------------------

async def test_row08_a_participant_changes_their_display_name(bridge: BridgeProcess,
                                                              browser: Browser) -> None:
    room = "adlar"
    host = await open_room(browser, bridge.room_url(room))
    participant = await open_room(browser, bridge.room_url(room), "tr")
    appliance = await device_client(bridge, room)
    try:
        await sign_in(host, HOST, HOST_PW)
        await sign_in(participant, PART, PART_PW, "tr")
        mine = person(participant, PART_NAME)
        await mine.get_by_role("button", name="Bilgilerimi Düzenle", exact=True).click()
        field = participant.get_by_label("Görünen adınız")
        await expect(field).to_be_focused()
        await field.fill("Ayşe Yılmaz (7-B)")
        await participant.get_by_role("button", name="Tamam", exact=True).click()
        # everyone sees the change: the host's browser, the page itself, the appliance
        await expect(person(host, "Ayşe Yılmaz (7-B)")).to_be_visible()
        await expect(person(participant, "Ayşe Yılmaz (7-B)")).to_be_visible()
        await appliance.expect_where(
            lambda m: m["type"] == "participant_updated"
            and m["participant"]["name"] == "Ayşe Yılmaz (7-B)", what="the new name")
        # keyboard only: the button regains focus after Tamam
        await expect(participant.get_by_role("button", name="Bilgilerimi Düzenle")).to_be_focused()
    finally:
        await close(host)
        await close(participant)
        await appliance.close()


# ---- row 9: no sound: check the speaker; the host may not have opened audio ---------

async def test_row09_no_sound_the_speaker_and_the_hint(bridge: BridgeProcess,
                                                       browser: Browser) -> None:
    room = "ses"
    listener = await open_room(browser, bridge.room_url(room))
    try:
        await join_as_guest(listener, "DİNLEYEN")
        await in_meeting(listener)
        hint = listener.locator("#stage-empty")
        await expect(hint).to_contain_text("the host may not have opened audio yet")
        speaker = await open_room(browser, bridge.room_url(room))
        try:
            await join_as_guest(speaker, "KONUŞAN")
            await in_meeting(speaker)
            tile = listener.locator("figure[data-participant]").filter(has_text="KONUŞAN")
            await expect(tile).to_be_visible()
            await expect(hint).to_be_hidden()
            video = tile.locator("video")
            await expect(video).to_have_js_property("muted", False)
            await listener.get_by_role("button", name="Turn speaker off").click()
            await expect(video).to_have_js_property("muted", True)
            await listener.get_by_role("button", name="Turn speaker on").click()
            await expect(video).to_have_js_property("muted", False)
        finally:
            await close(speaker)
        await expect(hint).to_be_visible()
    finally:
        await close(listener)


# ---- a dropped connection; keyboard and screen-reader use ------------------------------

async def test_a_dropped_connection_takes_the_same_seat_again(bridge: BridgeProcess,
                                                              browser: Browser) -> None:
    page = await open_room(browser, bridge.room_url("testbim"))
    try:
        await sign_in(page, PART, PART_PW)
        seat = await page.evaluate("() => window.salon.conference.myId")
        await page.evaluate("() => window.salon.conference.ws.close()")  # the network drops
        await expect(page.get_by_role("status")).to_have_text("Reconnecting…")
        await in_meeting(page)
        assert await page.evaluate("() => window.salon.conference.myId") == seat
        await expect(person(page, PART_NAME)).to_be_visible()
    finally:
        await close(page)


CONTROLS = """() => {
  const shown = (el) => el.offsetParent !== null;
  const controls = [...document.querySelectorAll('button, a[href], [role=tab]')].filter(shown)
    .map((el) => ({role: el.getAttribute('role') || (el.tagName === 'A' ? 'link' : 'button'),
                   text: el.innerText.trim(), aria: el.getAttribute('aria-label')}));
  const fields = [...document.querySelectorAll('input, select, textarea')].filter(shown)
    .filter((el) => !el.labels.length && !el.getAttribute('aria-labelledby')).map((el) => el.id);
  return {controls, unlabelled: fields};
}"""


@pytest.mark.parametrize("lang", ["tr", "en"])
async def test_every_control_is_named_by_its_visible_text_and_works_by_keyboard(
        bridge: BridgeProcess, browser: Browser, lang: str) -> None:
    room = "aygit"
    host = await open_room(browser, bridge.room_url(room), lang)
    guest = await open_room(browser, bridge.room_url(room), lang)
    try:
        # keyboard only: Tab to the name field, type, Enter
        for _ in range(12):
            await guest.keyboard.press("Tab")
            if await guest.evaluate("() => document.activeElement.id") == "name":
                break
        await guest.keyboard.type(f"KLAVYE {lang.upper()}")
        await guest.keyboard.press("Enter")
        await in_lobby(guest, lang)
        await sign_in(host, HOST, HOST_PW, lang)
        await expect(host.locator("#lobby-queue li")).to_have_count(1)
        for page in (host, guest):
            found = await page.evaluate(CONTROLS)
            assert found["unlabelled"] == [], found
            for control in found["controls"]:
                assert control["aria"] is None and control["text"], control
                named = page.get_by_role(control["role"], name=control["text"], exact=True)
                assert await named.count() >= 1, control
        # the host admits by keyboard: Tab until the admit button, then Enter
        admit = "Kabul Et" if lang == "tr" else "Admit"
        for _ in range(30):
            await host.keyboard.press("Tab")
            if await host.evaluate("() => document.activeElement.innerText.trim()") == admit:
                break
        await host.keyboard.press("Enter")
        await in_meeting(guest, lang)
        # the tabs move with the arrow keys
        first_tab = "Sohbet" if lang == "tr" else "Chat"
        await guest.get_by_role("tab", name=first_tab).focus()
        await guest.keyboard.press("ArrowRight")
        polls = guest.get_by_role("tab", name="Anket" if lang == "tr" else "Polls")
        await expect(polls).to_be_focused()
        await expect(polls).to_have_attribute("aria-selected", "true")
        found = await guest.evaluate(CONTROLS)
        for control in found["controls"]:
            named = guest.get_by_role(control["role"], name=control["text"], exact=True)
            assert await named.count() >= 1, control
    finally:
        await close(host)
        await close(guest)
