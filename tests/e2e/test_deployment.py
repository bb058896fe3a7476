"""A school's deployment in a small internet (tests/support/netlab.py, all on 127/8):
the server runs the bridge over HTTPS with its Janus and coturn; a room appliance
behind the school's NAT and a laptop's Chromium behind a home NAT join the same room.

- open UDP: video and audio both ways, straight to Janus (no relay);
- the school lets only HTTPS out (UDP dropped): the room's media goes through coturn
  over TLS on 443, seen both at the room (its chosen ICE path) and at coturn (an
  allocation for the room's seat, over TLS, that carried media to and from Janus);
- a bad certificate (expired): the room refuses it and says why on its screen and in
  /healthz, Chromium refuses it too, and the room joins by itself once the bridge
  serves a good certificate again (a renewal, picked up without a restart).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from appliance.screen import i18n
from tests.support import coturn, netlab
from tests.support.browser import join_room, tile_video_state, tone_db
from tests.support.deployment import BRIDGE_URL, ROOM, LabAppliance, SchoolServer, home_chromium
from tests.support.media_files import read_wav_tail, tone_ratio_db, write_solid_y4m, write_tone_wav
from tests.support.pki import DAY, NOW
from tests.support.procs import wait_until

pytestmark = [
    pytest.mark.netns, pytest.mark.slow,
    pytest.mark.skipif(netlab.available() is not None, reason=str(netlab.available())),
    pytest.mark.skipif(not coturn.available(), reason="needs coturn (apt-get install coturn)"),
]
ROOM_NAME = "ROOM A"
LAPTOP_NAME = "Remote Ayşe"
ORANGE = (255, 128, 0)

# The page's chosen candidate pair for its sending and receiving PeerConnections.
PAGE_PATHS = """async () => {
  const conf = window.salon.conference;
  const out = {};
  for (const [name, pc] of [['publisher', conf.pubPc], ['subscriber', conf.subPc]]) {
    if (!pc) continue;
    const stats = await pc.getStats();
    for (const s of stats.values()) {
      if (s.type !== 'transport' || !s.selectedCandidatePairId) continue;
      const pair = stats.get(s.selectedCandidatePairId);
      const local = stats.get(pair.localCandidateId);
      out[name] = {type: local.candidateType, protocol: local.protocol,
                   relayProtocol: local.relayProtocol || null};
    }
  }
  return out;
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[netlab.Lab]:
    with netlab.running_small_internet(tmp_path_factory.mktemp("lab")) as made:
        yield made


@pytest.fixture(scope="module")
def server(lab: netlab.Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SchoolServer]:
    made = SchoolServer(lab, tmp_path_factory.mktemp("server"))
    yield made
    made.stop()


@pytest.fixture
def school_firewall(lab: netlab.Lab) -> Iterator[netlab.Node]:
    router = lab["school-router"]
    yield router
    router.run(netlab.NFT, "delete", "table", "inet", "school_firewall", check=False)


async def poll(predicate: Any, timeout: float, what: str) -> Any:
    return await asyncio.to_thread(wait_until, predicate, timeout, what, 0.25)


async def both_ways(room: LabAppliance, page: Page, tmp: Path) -> None:
    """Video and audio both ways, checked at the receivers (as tests/e2e/test_first_slice)."""
    state = None
    for _ in range(160):
        state = await tile_video_state(page, ROOM_NAME)
        if state and state["width"] == 1280 and state["frames"] > 10:
            break
        await asyncio.sleep(0.25)
    assert state is not None and (state["width"], state["height"]) == (1280, 720), state
    assert state["frames"] > 10, state
    db_1k, db_3k = await tone_db(page, ROOM_NAME, 1000), await tone_db(page, ROOM_NAME, 3000)
    assert db_1k is not None and db_3k is not None and db_1k > 20 and db_1k - db_3k > 15, \
        (db_1k, db_3k)
    await poll(lambda: (room.video_from(LAPTOP_NAME) or {}).get("frames", 0) > 10, 40,
               "the laptop's video at the room")
    width, height = room.video_from(LAPTOP_NAME)["size"]  # type: ignore[index]
    assert width <= 640 and width * 9 == height * 16, (width, height)
    await asyncio.sleep(2)
    samples, rate = read_wav_tail(room.speaker_wav, 1.5)
    assert tone_ratio_db(samples, rate, 440) > 20
    assert tone_ratio_db(samples, rate, 440) - tone_ratio_db(samples, rate, 1000) > 15


async def laptop_joins(lab: netlab.Lab, server: SchoolServer, tmp: Path) -> Any:
    video = write_solid_y4m(tmp / "orange.y4m", ORANGE)
    audio = write_tone_wav(tmp / "tone440.wav", 440)
    return home_chromium(lab, server, tmp, video=video, audio=audio)


async def test_open_udp_room_and_laptop_see_and_hear_each_other_directly(
        lab: netlab.Lab, server: SchoolServer, tmp_path: Path) -> None:
    room = LabAppliance(lab, server, tmp_path, ROOM_NAME, tone_hz=1000)
    try:
        await asyncio.to_thread(room.wait_in_meeting, 60)
        async with await laptop_joins(lab, server, tmp_path) as browser:
            page = await browser.new_page()
            # Typed without https: the bridge's plain-HTTP listener redirects, and HSTS
            # tells the browser to stay on https.
            response = await page.goto(f"http://{netlab.MEET_NAME}/r/{ROOM}")
            assert response is not None and page.url == f"{BRIDGE_URL}/r/{ROOM}"
            assert "max-age=" in (await response.all_headers())["strict-transport-security"]
            assert await page.evaluate("window.isSecureContext") is True
            await page.close()
            page = await join_room(browser, f"{BRIDGE_URL}/r/{ROOM}", LAPTOP_NAME)
            await both_ways(room, page, tmp_path)
            paths = room.health()["media_path"]
            assert paths["publisher"] == paths["subscriber"] == "direct", paths
            page_paths = await page.evaluate(PAGE_PATHS)
            print(f"room: {paths}; laptop: {page_paths}")
            assert {p["type"] for p in page_paths.values()} <= {"host", "srflx", "prflx"}, \
                page_paths
            # The web client took its ICE servers from the bridge: coturn allocated relays
            # (unused here) for the laptop's seat with the credential minted for it.
            laptop = await seat_of(page, LAPTOP_NAME)
            assert any(a["tls"] for a in server.coturn.allocations_of(laptop)), \
                server.coturn.allocations()
    finally:
        room.stop()


async def seat_of(page: Page, name: str) -> str:
    seat = await page.evaluate("""(name) => {
      for (const p of window.salon.conference.participants.values())
        if (p.name === name) return p.id;
      return null;
    }""", name)
    assert seat is not None, f"{name} is not in the page's participant list"
    return str(seat)


async def test_udp_blocked_at_school_media_goes_through_turn_over_tls(
        lab: netlab.Lab, server: SchoolServer, school_firewall: netlab.Node,
        tmp_path: Path) -> None:
    netlab.block_udp_and_all_but_https(school_firewall)
    room = LabAppliance(lab, server, tmp_path, ROOM_NAME, tone_hz=1000)
    try:
        await asyncio.to_thread(room.wait_in_meeting, 90)
        async with await laptop_joins(lab, server, tmp_path) as browser:
            page = await join_room(browser, f"{BRIDGE_URL}/r/{ROOM}", LAPTOP_NAME)
            await both_ways(room, page, tmp_path)
            paths = room.health()["media_path"]
            print(f"room: {paths}")
            assert paths["publisher"] == paths["subscriber"] == "relay/tls", paths
            seat = await seat_of(page, ROOM_NAME)
            assert netlab.udp_dropped(school_firewall) > 0, "the room never tried UDP"
    finally:
        room.stop()
    # At coturn: the room's seat came over TLS and its relays carried its media to Janus
    # and the laptop's back (coturn accounts for an allocation when it closes).
    def relayed() -> dict[str, Any]:
        mine = [a for a in server.coturn.allocations_of(seat) if a["tls"]]
        return {"to_janus": sum(a["to_peers"] for a in mine),
                "from_janus": sum(a["from_peers"] for a in mine),
                "peers": set().union(*(a["peers"] for a in mine))}
    used = await poll(lambda: (r := relayed())["to_janus"] > 200_000
                      and r["from_janus"] > 10_000 and r, 30,
                      "coturn's account of the room's relayed media")
    assert used["peers"] == {netlab.SERVER_IP}, used
    print(f"relayed over TLS for seat {seat}: {used}")


async def test_a_bad_certificate_is_refused_with_the_reason_on_the_screen(
        lab: netlab.Lab, server: SchoolServer, tmp_path: Path) -> None:
    good = server.certificate
    server.use_certificate(server.good_certificate(valid_from=NOW - 30 * DAY,
                                                   valid_to=NOW - DAY))
    room = LabAppliance(lab, server, tmp_path, ROOM_NAME, tone_hz=1000)
    try:
        expected = i18n.status("tls_expired", "en")
        doc = await poll(lambda: (d := room.health_any())["room"]["reason"] == "tls_expired"
                         and expected in d["room"]["screen"] and d, 60,
                         "the room refusing the expired certificate, on its screen")
        assert doc["meeting"]["state"] != "in_meeting" and not doc["ok"]
        assert "expired" in doc["last_error"]["message"], doc["last_error"]
        assert "tls-refused" in room.log_tail(20000)
        assert server.health(verify=False)["rooms"] == {}, "the room got in anyway"
        async with await laptop_joins(lab, server, tmp_path) as browser:
            page = await browser.new_page()
            with pytest.raises(PlaywrightError, match="ERR_CERT_DATE_INVALID"):
                await page.goto(f"{BRIDGE_URL}/r/{ROOM}")
        # The renewal arrives: the room joins by itself, nobody restarts anything.
        server.use_certificate(good)
        await asyncio.to_thread(room.wait_in_meeting, 60)
    finally:
        server.use_certificate(good)
        room.stop()
