"""The phone companion: a phone-sized browser acts for a room appliance — raises its hand
and answers a poll for it — and the host sees the room's hand and answer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

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
            await phone.get_by_text("süresi doldu").wait_for(timeout=15_000)
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
