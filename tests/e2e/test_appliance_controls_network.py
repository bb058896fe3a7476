"""A room cut off the network for 15 s comes back by itself: the same seat, its rights,
its raised hand and its own mute restored, media flowing again; meanwhile its LEDs
and screen say it is reconnecting and why.

The appliance runs as its own process in a dedicated group, and an nftables rule in
the test namespace drops that group's packets (tests/support/netcut.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from appliance.conference import client as conf
from appliance.screen import i18n
from tests.support.controls_harness import controls_toml
from tests.support.controls_observer import MediaListener, Observer
from tests.support.netcut import NetworkCut, SeparateUserAppliance, nft_available
from tests.support.procs import BridgeProcess, RoomSpec, UserSpec, free_port

pytestmark = [
    pytest.mark.netns, pytest.mark.slow,
    pytest.mark.skipif(not nft_available(), reason="needs nftables (apt-get install nftables)"),
]
CUT_S = 15.0
TONE_HZ = 1000


def device_config(bridge: BridgeProcess, room: str, health_port: int) -> str:
    text = controls_toml(bridge.url, room, "ROOM A", tone_hz=TONE_HZ, pin_factory="keyboard",
                         health_port=health_port)
    guest = '[join]\nmode = "guest"\nguest_name = "ROOM A"\n'
    device = '[join]\nmode = "device"\nuser = "oda1"\npassword_file = "@DIR@/room.password"\n'
    assert guest in text
    return text.replace(guest, device)


async def poll(room: SeparateUserAppliance, check: Any, timeout: float, what: str) -> Any:
    """Poll the appliance's /healthz until `check(doc)` is truthy; the document."""
    deadline = time.monotonic() + timeout
    doc: Any = None
    while time.monotonic() < deadline:
        try:
            doc = await asyncio.to_thread(room.health)
            if check(doc):
                return doc
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last /healthz: {doc}\n"
                         f"{room.log_tail()}")


async def test_network_cut_reconnects_and_restores_the_room(tmp_path: Path) -> None:
    bridge = BridgeProcess(
        tmp_path, room_specs=[RoomSpec("kurul", "Kurul", moderated=True)],
        users=[UserSpec("hulya", "host-secret", role="host", display_name="Host Hülya"),
               UserSpec("ayse", "listener-secret", display_name="Ayşe"),
               UserSpec("oda1", "device-secret", role="device", display_name="ROOM A")])
    health_port = free_port()
    room = SeparateUserAppliance(device_config(bridge, "kurul", health_port), health_port,
                                 secrets={"room.password": "device-secret\n"})
    host = await Observer.account(bridge.ws_url, "kurul", "hulya", "host-secret")
    listener = MediaListener(bridge.url, "kurul",
                             conf.Credentials(user="ayse", password="listener-secret"))
    listener.start()
    cut = NetworkCut(room.gid, keep_tcp_port=health_port)
    try:
        await poll(room, lambda d: d["meeting"]["state"] == "in_meeting", 40, "joining")
        before = await host.until("ROOM A", lambda x: x["client"] == "appliance")
        await host.set_right("ROOM A", "audio", True, rid=2)
        await host.set_right("ROOM A", "camera", True, rid=3)
        await poll(room, lambda d: d["leds"]["mic"] == "green" and d["room"]["camera_right"],
                   10, "rights granted")
        room.press("c")  # the room goes on camera (a grant alone does not)
        await poll(room, lambda d: d["leds"]["camera"], 10, "the camera live")
        room.press("h")  # raise hand (the room asks to speak anyway)
        await host.until("ROOM A", lambda x: x["hand_position"] == 1, what="raised hand")
        room.press("m")  # the room mutes itself
        await host.until("ROOM A", lambda x: x["mic_muted"], what="room's mute")
        await poll(room, lambda d: d["room"]["muted_by_room"] and d["leds"]["mic"] == "red",
                   5, "muted")

        cut.start()
        cut_at = time.monotonic()
        print(f"cut at {time.strftime('%H:%M:%S')}")
        lost = await poll(room, lambda d: d["meeting"]["state"] == "reconnecting", 40,
                          "the appliance to notice")
        noticed_s = time.monotonic() - cut_at
        # meanwhile: LEDs and screen say what is happening, and no rights are believed
        assert lost["leds"]["status"] == "reconnecting" and lost["leds"]["mic"] == "red"
        assert lost["leds"]["camera"] is False and lost["leds"]["hand"] == "off"
        r = lost["room"]
        assert not r["audio_right"] and not r["camera_right"] and not r["mic_live"]
        assert r["reason"], "no reason for the screen"
        await poll(room, lambda d: i18n.ui("reconnecting_title", "en") in d["room"]["screen"]
                   and any(d["room"]["reason"] in line for line in d["room"]["screen"]),
                   5, "the reconnecting screen with its reason")
        await asyncio.sleep(max(0.0, CUT_S - (time.monotonic() - cut_at)))
        assert (await asyncio.to_thread(room.health))["meeting"]["state"] != "in_meeting"
        assert cut.dropped_packets() > 0
        cut.stop()
        back_at = time.monotonic()
        print(f"network back at {time.strftime('%H:%M:%S')}")

        back = await poll(room, lambda d: d["meeting"]["state"] == "in_meeting", 40,
                          "the appliance back in the meeting")
        reconnect_s = time.monotonic() - back_at
        print(f"noticed the cut after {noticed_s:.1f}s; back {reconnect_s:.1f}s after the "
              f"network returned; {back['room']['attempt']=}")
        # restored: the same seat with the bridge's rights, the room's own mute; and the
        # room believes exactly what the bridge shows (hand included)
        after = await host.until("ROOM A", lambda x: x["audio_right"] and x["camera_right"],
                                 what="restored rights")
        assert after["id"] == before["id"], "a new seat instead of the resumed one"
        await host.settle(1.0)
        hand = host.person("ROOM A")["hand_position"]  # type: ignore[index]
        await poll(room, lambda d: d["room"]["audio_right"] and d["room"]["camera_right"]
                   and d["room"]["hand_position"] == hand
                   and d["room"]["hand_raised"] == (hand is not None)
                   and d["room"]["muted_by_room"] and d["leds"]["mic"] == "red"
                   and d["leds"]["hand"] == ("waiting" if hand else "off")
                   and d["leds"]["camera"] and d["leds"]["status"] == "in_meeting",
                   10, "the room's state restored as the bridge shows it")
        await host.until("ROOM A", lambda x: x["mic_muted"], what="the mute kept")
        # media flows again on rebuilt peers
        assert await listener.frames_grow("ROOM A", within=60)
        room.press("m")
        await host.until("ROOM A", lambda x: not x["mic_muted"], what="unmute")
        await poll(room, lambda d: d["leds"]["mic"] == "green", 5, "the mic LED green")
        deadline = time.monotonic() + 15
        while listener.tone_db("ROOM A", TONE_HZ) < 20 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert listener.tone_db("ROOM A", TONE_HZ) > 20, "no tone after the reconnect"
        assert room.proc.poll() is None, "the appliance restarted"
        assert hand == 1, "the raised hand was lost across the cut"
    finally:
        cut.stop()
        await listener.close()
        await host.close()
        room.stop()
        room.remove()
        bridge.stop()
