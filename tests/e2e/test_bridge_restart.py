"""A bridge stopped mid-meeting (SIGTERM, as systemd stops it) tells everyone to come back,
closes their sockets and exits cleanly well inside the unit's stop timeout; the browser,
the appliance and a protocol client are back in their seats on the restarted bridge."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import pytest

from tests.support.browser import chromium, join_room
from tests.support.procs import REPO, Appliance, BridgeProcess, wait_until
from tests.support.wsclient import RawClient

pytestmark = [pytest.mark.netns, pytest.mark.slow]


def unit_stop_timeout_s() -> float:
    """TimeoutStopSec of the shipped unit: past it, systemd kills the bridge."""
    unit = (REPO / "systemd" / "salon-bridge.service").read_text()
    found = re.search(r"^TimeoutStopSec=(\d+)s?$", unit, re.MULTILINE)
    assert found, "the unit has no TimeoutStopSec"
    return float(found.group(1))


async def poll(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    return await asyncio.to_thread(wait_until, predicate, timeout, what, 0.25)


async def test_sigterm_sends_everyone_off_to_come_back_and_they_resume_their_seats(
    bridge: BridgeProcess, tmp_path: Path
) -> None:
    room = Appliance(tmp_path, bridge, "ROOM A")
    bot = await RawClient.connect(bridge.ws_url)
    try:
        await asyncio.to_thread(room.wait_in_meeting)
        welcome = await bot.join("testbim", "Bot Bilge")
        bot_id, token = welcome["you"]["id"], welcome["token"]
        assert (await bot.request({"type": "set_hand", "raised": True}, 2))["type"] == "ok"
        async with chromium() as browser:
            page = await join_room(browser, bridge.room_url("testbim"), "Browser Bora")
            browser_id = await page.evaluate("window.salon.conference.myId")
            seats = {x["name"]: x["id"] for x in welcome["participants"]}
            assert set(seats) == {"ROOM A", "Bot Bilge"}

            bridge.proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(bridge.proc.wait, unit_stop_timeout_s())
            assert code == 0, bridge.log_tail()

            # every client was told to come back
            bye = await bot.expect("bye")
            assert bye["reason"] == "restarting"
            await page.locator("#notices").filter(
                has_text="The server is restarting").wait_for()
            await page.get_by_role("status").filter(
                has_text="The server is restarting").wait_for()
            assert "the bridge said bye: restarting" in room.log_tail(100_000)
            assert room.alive()

            await asyncio.to_thread(bridge.restart)

            # the browser and the room come back by themselves...
            await page.get_by_role("status").filter(has_text="In the meeting").wait_for(
                timeout=40_000)
            await poll(lambda: room.health()["meeting"]["state"] == "in_meeting", 40,
                       "the appliance back in the meeting")
            # ...and the protocol client resumes with its token: all in their old seats
            await bot.close()
            bot = await RawClient.connect(bridge.ws_url)
            back = await bot.request({"type": "join", "protocol": 1, "room": "testbim",
                                      "token": token, "client": "bot"}, 1)
            assert back["type"] == "welcome", back
            assert back["you"]["id"] == bot_id and back["you"]["hand_position"] == 1
            assert await page.evaluate("window.salon.conference.myId") == browser_id
            now = {x["name"]: x["id"] for x in back["participants"]}
            assert now == {**seats, "Browser Bora": browser_id}
    finally:
        await bot.close()
        room.stop()
