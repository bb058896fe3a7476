"""The guide's rows 1 and 10–13 in the web client, measured at the receiving end:
Söz Hakkı İste and the hand queue, Ses Hakları Verildi and the mic mark, Sesimi Bağla
(the tone is heard), the host's mute, Web Kameramı Başlat (a preview only oneself sees)
then Paylaşımı Başlat (the others see the picture), and the bandwidth a meeting needs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from tests.support.browser import chromium, tone_db
from tests.support.media_files import write_noise_y4m, write_solid_y4m, write_tone_wav
from tests.support.meetings import (
    bitrate,
    close,
    eventually,
    frames_grow,
    in_lobby,
    in_meeting,
    join_as_guest,
    marks,
    notice,
    open_room,
    person,
    sign_in,
    video_frames,
)
from tests.support.procs import BridgeProcess, RoomSpec, UserSpec
from tests.support.wsclient import RawClient

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

HOST, HOST_PW, HOST_NAME = "ogretmen", "ogretmen-parola-1", "Ayla Öğretmen"
PART, PART_PW, PART_NAME = "ayse", "ayse-parola-12", "Ayşe Yılmaz"
OTHER, OTHER_PW, OTHER_NAME = "ali", "ali-parola-123", "Ali Demir"
DEVICE, DEVICE_PW, DEVICE_NAME = "sinif1", "sinif1-parola-9", "5-A SINIFI"
PART_HZ, GUEST_HZ = 700, 900
GREEN = (40, 200, 60)
SIMULCAST_CAPS = 1_200_000 + 400_000 + 120_000  # bit/s, conference.js SIMULCAST
USERS = [UserSpec(HOST, HOST_PW, "host", HOST_NAME),
         UserSpec(PART, PART_PW, "participant", PART_NAME),
         UserSpec(OTHER, OTHER_PW, "participant", OTHER_NAME),
         UserSpec(DEVICE, DEVICE_PW, "device", DEVICE_NAME)]
ROOMS = [RoomSpec("soz", "Söz Hakkı"), RoomSpec("kamera", "Kamera"),
         RoomSpec("bant", "Bant Genişliği", moderated=False)]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bridge(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BridgeProcess]:
    proc = await asyncio.to_thread(BridgeProcess, tmp_path_factory.mktemp("floor"),
                                   room_specs=ROOMS, users=USERS)
    yield proc
    code = proc.stop()
    print(f"---- bridge log (exit {code}) ----\n" + proc.log_tail(6000))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browsers(tmp_path_factory: pytest.TempPathFactory
                   ) -> AsyncIterator[dict[str, Browser]]:
    """Three Chromium processes, each with its own camera picture and microphone tone."""
    tmp = tmp_path_factory.mktemp("floor-media")
    media = {
        "host": (write_solid_y4m(tmp / "host.y4m", (255, 128, 0), 320, 180),
                 write_tone_wav(tmp / "host.wav", 500)),
        "participant": (write_noise_y4m(tmp / "noise.y4m"),
                        write_tone_wav(tmp / "participant.wav", PART_HZ)),
        "guest": (write_solid_y4m(tmp / "guest.y4m", GREEN, 320, 180),
                  write_tone_wav(tmp / "guest.wav", GUEST_HZ)),
    }
    async with chromium(*media["host"]) as host, chromium(*media["participant"]) as part, \
            chromium(*media["guest"]) as guest:
        yield {"host": host, "participant": part, "guest": guest}


async def audible(page: Page, name: str, hz: float) -> float:
    """dB of ``hz`` over the noise floor in what ``page`` receives from ``name`` (-inf: none)."""
    value = await tone_db(page, name, hz, ms=1200)
    return float("-inf") if value is None else value


# ---- rows 10, 11, 12: request to speak, audio rights, connect my audio -----------------

async def test_rows10_11_12_request_to_speak_then_audio_rights_then_connect_my_audio(
        bridge: BridgeProcess, browsers: dict[str, Browser]) -> None:
    room = "soz"
    host = await open_room(browsers["host"], bridge.room_url(room), "tr")
    part = await open_room(browsers["participant"], bridge.room_url(room), "tr")
    appliance = await RawClient.connect(bridge.ws_url)
    try:
        await sign_in(host, HOST, HOST_PW, "tr")
        await sign_in(part, PART, PART_PW, "tr")
        device = await appliance.sign_in(room, DEVICE, DEVICE_PW, client="appliance")
        device_id, part_id = device["you"]["id"], None
        mic = part.get_by_role("button", name="Sesimi Bağla", exact=True)
        await expect(mic).to_be_disabled()  # no audio rights yet
        await expect(part.get_by_role("button", name="Web Kameramı Başlat")).to_be_disabled()
        await expect(part.locator("#mybar")).to_contain_text("Ses hakkınız yok")

        # Söz Hakkı İste: the participant first, then the room appliance (its button)
        await part.get_by_role("button", name="Söz Hakkı İste", exact=True).click()
        await expect(part.get_by_role("button", name="Elimi İndir", exact=True)).to_be_visible()
        await expect(part.locator("#mybar")).to_contain_text("Söz sıranız: 1")
        await expect(notice(host, f"{PART_NAME} söz istiyor")).to_be_visible()
        await appliance.send({"type": "set_hand", "raised": True})
        await eventually(lambda: marks(host, DEVICE_NAME), what="the appliance's hand")
        assert "Söz istedi, sıra 1" in await marks(host, PART_NAME)
        assert "Söz istedi, sıra 2" in await marks(host, DEVICE_NAME)
        # the queue is in order at the top of the host's list
        assert (await host.locator("#participants li .name").all_inner_texts())[:2] == [
            PART_NAME, DEVICE_NAME]

        # nobody hears a participant without audio rights: nothing is even sent
        assert await tone_db(host, PART_NAME, PART_HZ) is None

        # the host grants audio rights: notice top right, mic control active, mic mark
        await person(host, PART_NAME).get_by_role("button", name="Ses Hakkı Ver").click()
        await expect(notice(part, "Ses Hakları Verildi")).to_be_visible()
        await expect(mic).to_be_enabled()
        await expect(part.locator("#mybar")).to_contain_text("Ses hakkınız var")
        await eventually(lambda: _has(marks(host, PART_NAME), "Ses hakkı var, mikrofon kapalı"),
                         what="the mic mark at the host")
        assert "Ses hakkı var, mikrofon kapalı" in await marks(part, PART_NAME)
        # the request was answered: the hand came down and the appliance moved up
        await eventually(lambda: _has(marks(host, DEVICE_NAME), "Söz istedi, sıra 1"),
                         what="the appliance first in the queue")
        update = await appliance.expect_where(
            lambda m: m["type"] == "participant_updated"
            and m["participant"]["name"] == PART_NAME and m["participant"]["audio_right"],
            what="the grant at the appliance")
        part_id = update["participant"]["id"]
        assert part_id

        # Sesimi Bağla: the host hears the participant's 700 Hz tone
        await mic.click()
        await expect(part.get_by_role("button", name="Mikrofonumu Kapat")).to_be_visible()
        await eventually(lambda: _has(marks(host, PART_NAME), "Mikrofon açık"),
                         what="a live mic mark")
        heard = await eventually(lambda: _over(audible(host, PART_NAME, PART_HZ), 20), 20,
                                 what="the participant's tone at the host")
        print(f"participant's tone at the host after Sesimi Bağla: {heard:.1f} dB")

        # the host mutes: notice, the control goes back, and the room hears nothing
        await person(host, PART_NAME).get_by_role("button", name="Sustur", exact=True).click()
        await expect(notice(part, "Ev sahibi mikrofonunuzu kapattı")).to_be_visible()
        await expect(mic).to_be_visible()
        await asyncio.sleep(1.0)
        muted_db = await audible(host, PART_NAME, PART_HZ)
        print(f"participant's tone at the host after the host's mute: {muted_db:.1f} dB")
        assert muted_db < 6, muted_db

        # the host lowers the appliance's hand and grants it audio (protocol side)
        await person(host, DEVICE_NAME).get_by_role("button", name="Elini İndir").click()
        await appliance.expect("notice", code="hand_lowered_by_host")
        await person(host, DEVICE_NAME).get_by_role("button", name="Ses Hakkı Ver").click()
        await appliance.expect("notice", code="audio_granted")
        await appliance.send({"type": "set_media_state", "mic_muted": False})
        await eventually(lambda: _has(marks(part, DEVICE_NAME), "Mikrofon açık"),
                         what="the appliance's live mic at the participant")
        assert device_id
    finally:
        await close(host)
        await close(part)
        await appliance.close()


async def _has(texts_coro, text: str) -> bool:  # type: ignore[no-untyped-def]
    return text in await texts_coro


async def _over(db_coro, threshold: float) -> float | None:  # type: ignore[no-untyped-def]
    db = await db_coro
    return db if db > threshold else None


# ---- row 13: camera rights, then Web Kameramı Başlat, then Paylaşımı Başlat ------------

async def test_row13_camera_only_with_rights_preview_first_then_sharing(
        bridge: BridgeProcess, browsers: dict[str, Browser]) -> None:
    room = "kamera"
    host = await open_room(browsers["host"], bridge.room_url(room), "tr")
    guest = await open_room(browsers["guest"], bridge.room_url(room))
    name = "YEŞİL KAMERA"
    try:
        await sign_in(host, HOST, HOST_PW, "tr")
        await join_as_guest(guest, name)
        await in_lobby(guest)
        await host.locator("#lobby-queue li").filter(has_text=name).get_by_role(
            "button", name="Kabul Et").click()
        await in_meeting(guest)
        webcam = guest.get_by_role("button", name="Start my webcam", exact=True)
        share = guest.get_by_role("button", name="Start sharing", exact=True)
        await expect(webcam).to_be_disabled()
        await expect(share).to_be_disabled()

        # the floor first, then the camera, separately
        row = person(host, name)
        await row.get_by_role("button", name="Ses Hakkı Ver").click()
        await expect(notice(guest, "Audio rights granted")).to_be_visible()
        await expect(webcam).to_be_disabled()
        await row.get_by_role("button", name="Kamera Hakkı Ver").click()
        await expect(notice(guest, "Camera rights granted")).to_be_visible()
        await expect(webcam).to_be_enabled()
        await expect(share).to_be_disabled()  # a preview comes first

        # Web Kameramı Başlat: the guest sees itself; nobody else sees anything
        await webcam.click()
        preview = guest.locator("figure.self-tile")
        await expect(preview.locator("figcaption")).to_have_text("Preview – only you can see this")
        await eventually(lambda: preview.locator("video").evaluate("v => v.videoWidth > 0"),
                         what="the preview picture")
        await asyncio.sleep(2.0)
        assert await video_frames(host, name) is None, "the host sees an unshared camera"

        # Paylaşımı Başlat: now the host sees the guest's green picture
        await share.click()
        await expect(preview.locator("figcaption")).to_have_text("You – sharing")
        assert await frames_grow(host, name, by=15, timeout=60), "no picture at the host"
        state = await video_frames(host, name)
        assert state is not None and state["picture"], state
        r, g, b = state["rgb"]
        assert g > 150 and r < 110 and b < 110, state
        await eventually(lambda: _has(marks(host, name), "Görüntü paylaşıyor"),
                         what="the sharing mark")

        # the host takes camera rights back: the guest's camera stops, nobody sees it
        await row.get_by_role("button", name="Kamera Hakkını Al").click()
        await expect(notice(guest, "Camera rights taken back")).to_be_visible()
        await expect(preview).to_have_count(0)
        await expect(webcam).to_be_disabled()
        await asyncio.sleep(1.0)
        assert not await frames_grow(host, name, by=5, timeout=3), "still moving at the host"

        # granted again, shared again: the picture moves again (no frozen frame)
        await row.get_by_role("button", name="Kamera Hakkı Ver").click()
        await webcam.click()
        await share.click()
        assert await frames_grow(host, name, by=15, timeout=60), "frozen after re-grant"
    finally:
        await close(host)
        await close(guest)


# ---- row 1: at least 4 Mbit/s unshared ------------------------------------------------

async def test_row01_a_meeting_fits_the_guides_bandwidth(
        bridge: BridgeProcess, browsers: dict[str, Browser]) -> None:
    """The hardest picture (noise) at the sender's cap, plus the others' media: what a
    participant receives stays under the guide's 4 Mbit/s."""
    room = "bant"  # an open floor: everyone speaks and shows at once
    sender = await open_room(browsers["participant"], bridge.room_url(room))
    other = await open_room(browsers["guest"], bridge.room_url(room))
    receiver = await open_room(browsers["host"], bridge.room_url(room))
    try:
        await sign_in(sender, OTHER, OTHER_PW)
        await sign_in(other, PART, PART_PW)
        await sign_in(receiver, HOST, HOST_PW)
        for page in (sender, other):
            await expect(page.get_by_role("button", name="Stop sharing")).to_be_visible()
        assert await frames_grow(receiver, OTHER_NAME, by=15, timeout=60)
        assert await frames_grow(receiver, PART_NAME, by=15, timeout=60)
        await asyncio.sleep(4)  # let the congestion control ramp up to the cap
        sent, received = await asyncio.gather(bitrate(sender, "out", 4000),
                                              bitrate(receiver, "in", 4000))
        assert sent is not None and received is not None
        print(f"noise camera sends {sent / 1e6:.2f} Mbit/s; "
              f"a receiver of two cameras and two voices gets {received / 1e6:.2f} Mbit/s")
        # The caps are the claim: the camera's three layers (conference.js: 1.2 Mbit/s,
        # 400 and 120 kbit/s) and Opus; Chromium may send less on a busy machine.
        assert 0.05e6 < sent < SIMULCAST_CAPS + 50_000, sent
        assert received < 4e6, received
    finally:
        for page in (sender, other, receiver):
            await close(page)
