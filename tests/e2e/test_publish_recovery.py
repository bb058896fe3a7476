"""Issue 12 item 2: a publish that never connects is noticed and recovered by the client
itself, in the browser and in the room.

The fault: an nftables rule in the test's own network namespace drops every DTLS
datagram (first payload byte 20–63, RFC 7983). ICE still succeeds, so the publisher's
PeerConnection hangs in "connecting" with nothing failing — what a client left with a
never-answered publish looked like. Media that already flows (SRTP) is untouched. Once
the client has given up on that PeerConnection and published again, the rule goes; the
far end must then hear (and see) the participant, and the browser must never have
called a connection that never came up "sharing".
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import expect

from appliance.conference import client as conf
from tests.support.browser import chromium
from tests.support.controls_harness import controls_toml, room_under_test, settings_from, wait_for
from tests.support.controls_observer import MediaListener, Observer
from tests.support.media_files import write_solid_y4m, write_tone_wav
from tests.support.meetings import (
    close,
    eventually,
    frames_grow,
    in_meeting,
    join_as_guest,
    open_room,
    person,
    sign_in,
)
from tests.support.procs import BridgeProcess, RoomSpec, UserSpec
from tests.support.publish_cycles import KEEP_PROBLEMS, heard

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

NFT = shutil.which("nft") or "/usr/sbin/nft"
HOST, HOST_PW, HOST_NAME = "ogretmen", "ogretmen-parola-1", "Ayla Öğretmen"
LISTENER, LISTENER_PW = "dinleyici", "dinleyici-parola-1"
GUEST, GUEST_HZ = "TAKILAN MİSAFİR", 700
ROOM_NAME, ROOM_HZ = "6-C SINIFI", 1000
DTLS_BLACKHOLE = """
table inet salon_dtls_blackhole {
  chain out {
    type filter hook output priority 0; policy accept;
    meta l4proto udp @th,64,8 20-63 counter drop
  }
}
"""


@contextlib.contextmanager
def dtls_dropped() -> Iterator[None]:
    subprocess.run([NFT, "-f", "-"], input=DTLS_BLACKHOLE, text=True, check=True)
    try:
        yield
    finally:
        lift_blackhole()


def lift_blackhole() -> None:
    subprocess.run([NFT, "delete", "table", "inet", "salon_dtls_blackhole"],
                   capture_output=True, check=False)


def dropped_packets() -> int:
    out = subprocess.run([NFT, "list", "table", "inet", "salon_dtls_blackhole"],
                         capture_output=True, text=True, check=False).stdout.split()
    return int(out[out.index("packets") + 1]) if "packets" in out else 0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bridge(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BridgeProcess]:
    proc = await asyncio.to_thread(
        BridgeProcess, tmp_path_factory.mktemp("recovery"),
        room_specs=[RoomSpec("takilma", "Takılma"), RoomSpec("oda", "Oda", moderated=False)],
        users=[UserSpec(HOST, HOST_PW, "host", HOST_NAME),
               UserSpec(LISTENER, LISTENER_PW, "participant", "Dinleyici")])
    yield proc
    lift_blackhole()
    code = proc.stop()
    print(f"---- bridge log (exit {code}) ----\n" + proc.log_tail(3000))


async def test_browser_republishes_a_publisher_that_never_connects(
        bridge: BridgeProcess, tmp_path: Path) -> None:
    video = write_solid_y4m(tmp_path / "guest.y4m", (40, 200, 60), 320, 180)
    audio = write_tone_wav(tmp_path / "guest.wav", GUEST_HZ)
    async with chromium() as host_browser, chromium(video, audio) as guest_browser:
        host = await open_room(host_browser, bridge.room_url("takilma"), "tr")
        guest = await open_room(guest_browser, bridge.room_url("takilma"), "tr")
        try:
            await sign_in(host, HOST, HOST_PW, "tr")
            await join_as_guest(guest, GUEST, "tr")
            await host.locator("#lobby-queue li").filter(has_text=GUEST).get_by_role(
                "button", name="Kabul Et").click()
            await in_meeting(guest, "tr")
            await guest.evaluate(KEEP_PROBLEMS)
            row = person(host, GUEST)
            await row.get_by_role("button", name="Ses Hakkı Ver").click()
            await row.get_by_role("button", name="Kamera Hakkı Ver").click()
            webcam = guest.get_by_role("button", name="Web Kameramı Başlat", exact=True)
            await expect(webcam).to_be_enabled()
            await webcam.click()
            caption = guest.locator("figure.self-tile figcaption")
            with dtls_dropped():
                await guest.get_by_role("button", name="Paylaşımı Başlat", exact=True).click()
                await guest.get_by_role("button", name="Sesimi Bağla", exact=True).click()
                # stuck: the page says so, and gives up on it by itself
                await expect(caption).to_have_text("Siz – bağlanıyor…")
                said = await eventually(lambda: guest.evaluate(
                    "() => window.__problems.find((m) => m.includes('publishing again'))"),
                    timeout=25, what="the browser giving up on its publisher")
                print(f"browser: {said}; DTLS datagrams dropped: {dropped_packets()}")
                assert await caption.inner_text() != "Siz – paylaşılıyor"
            assert await heard(host, GUEST, GUEST_HZ, within=30), "not heard after recovery"
            assert await frames_grow(host, GUEST, by=10, timeout=60), "not seen after recovery"
            await expect(caption).to_have_text("Siz – paylaşılıyor")
        finally:
            await close(guest)
            await close(host)


async def test_room_rebuilds_a_publisher_that_never_connects(
        bridge: BridgeProcess, tmp_path: Path) -> None:
    host = await Observer.account(bridge.ws_url, "oda", HOST, HOST_PW)
    listener = MediaListener(bridge.url, "oda", conf.Credentials(user=LISTENER,
                                                                 password=LISTENER_PW))
    listener.start()
    text = controls_toml(bridge.url, "oda", ROOM_NAME, tone_hz=ROOM_HZ)
    try:
        await wait_for(lambda: listener.joined, 20, "the listener joined")
        with dtls_dropped():
            async with room_under_test(settings_from(text), tmp_path / "room") as rut:
                client = rut.app.client
                assert client is not None
                await wait_for(lambda: client.rebuilds["publisher"] >= 1, 30,
                               "the room giving up on its publisher")
                print(f"room: rebuilds {client.rebuilds}; DTLS dropped: {dropped_packets()}")
                lift_blackhole()
                await wait_for(lambda: listener.tone_db(ROOM_NAME, ROOM_HZ) > 20, 40,
                               "the room's tone after recovery", interval=0.2)
    finally:
        await listener.close()
        await host.close()
