"""The room's buttons and LEDs end to end: gpiozero MockFactory pins pressed on an
appliance running in this process, against the real bridge and Janus.

What the buttons do is checked where it matters: the host's protocol client sees the
hand, the rights and the mute; a second participant (a real aiortc peer) measures
what Janus forwards from the room, the energy at the tone's frequency and the video
frames; the box itself closes its microphone; and the LED pins show the state
machine's patterns.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appliance import room
from appliance.conference import client as conf
from appliance.media.audio_send import OpusMicrophoneTrack
from appliance.screen import i18n
from salon import protocol as p
from tests.support.controls_harness import (
    CAMERA,
    CAMERA_LED,
    HAND_LED,
    STATUS_LED,
    RoomUnderTest,
    controls_toml,
    room_under_test,
    settings_from,
    wait_for,
)
from tests.support.controls_observer import MediaListener, Observer
from tests.support.procs import BridgeProcess, RoomSpec, UserSpec

pytestmark = [pytest.mark.netns, pytest.mark.slow]
TONE_HZ = 1000
LIVE_DB = 20  # the tone stands this far over the spectrum's median when heard
SILENT_DB = 6


def spy_on_requests(rut: RoomUnderTest) -> list[p.Inbound]:
    """Every message the appliance hands its bridge client from now on."""
    client = rut.app.client
    assert client is not None
    sent: list[p.Inbound] = []
    original = client.send_soon

    def recording(message: p.Inbound) -> None:
        sent.append(message)
        original(message)

    client.send_soon = recording  # type: ignore[method-assign]
    return sent


def assert_no_samples_leave(rut: RoomUnderTest) -> None:
    """Privacy is physical: a muted room's microphone is closed and its track sends
    generated silence."""
    media = rut.app.media
    assert media.microphone is not None and not media.microphone.running
    assert media.audio is not None and not media.audio.live


async def hand_led_blinks(rut: RoomUnderTest) -> bool:
    pin = rut.pin(HAND_LED)
    pin.clear_states()
    await asyncio.sleep(1.2)
    return len(pin.states) >= 3  # (0.5 s on, 0.5 s off)


async def test_buttons_in_an_open_floor_meeting(bridge: BridgeProcess, tmp_path: Path) -> None:
    settings = settings_from(controls_toml(bridge.url, "testbim", "ROOM A", tone_hz=TONE_HZ))
    host = await Observer.guest(bridge.ws_url, "testbim", "Gözlemci Hülya")
    listener = MediaListener(bridge.url, "testbim", conf.Credentials(name="Remote Ayşe"))
    listener.start()
    try:
        async with room_under_test(settings, tmp_path / "room") as rut:
            await buttons_in_an_open_floor_meeting(rut, host, listener)
    finally:
        await listener.close()
        await host.close()


async def buttons_in_an_open_floor_meeting(rut: RoomUnderTest, host: Observer,
                                           listener: MediaListener) -> None:
    await wait_for(lambda: rut.state.connection == "in_meeting", 30, "ROOM A joined")
    # an open floor grants both rights: the mic is live; the camera waits for a press
    await wait_for(lambda: rut.mic_led() == "green", 5, "the mic LED green")
    assert rut.led_on(STATUS_LED) and not rut.led_on(CAMERA_LED)
    rut.press("camera")
    await wait_for(lambda: rut.led_on(CAMERA_LED), 5, "the camera LED on")
    await host.until("ROOM A", lambda x: not x["mic_muted"] and x["camera_on"], 10)
    assert await listener.frames_grow("ROOM A", within=60)
    await wait_for(lambda: listener.tone_db("ROOM A", TONE_HZ) > LIVE_DB, 15, "the tone",
                   interval=0.2)
    assert isinstance(rut.app.media.audio, OpusMicrophoneTrack)  # encoded on its capture thread
    live_db = listener.tone_db("ROOM A", TONE_HZ)

    # raise hand: the host sees the room in the queue; the hand LED blinks
    rut.press("hand")
    seen = await host.until("ROOM A", lambda x: x["hand_position"] is not None,
                            what="raised hand")
    assert seen["hand_position"] == 1
    assert rut.app.controls.leds.state()["hand"] == "waiting"
    assert await hand_led_blinks(rut)
    rut.press("hand")
    await host.until("ROOM A", lambda x: x["hand_position"] is None, what="lowered hand")
    await wait_for(lambda: not rut.led_on(HAND_LED), 10, "the hand LED off")

    # mute: red LED, the host sees it, silence arrives; and back
    rut.press("mute")
    await wait_for(lambda: rut.mic_led() == "red", 10, "the mic LED red")
    await host.until("ROOM A", lambda x: x["mic_muted"], what="mute")
    # What was already on its way drains (however long a busy machine takes).
    await wait_for(lambda: listener.tone_db("ROOM A", TONE_HZ) < SILENT_DB, 10,
                   "the muted room to fall silent", interval=0.2)
    muted_db = listener.tone_db("ROOM A", TONE_HZ)
    print(f"tone from ROOM A: live {live_db:.1f} dB, muted {muted_db:.1f} dB")
    assert muted_db < SILENT_DB, f"the muted room is heard at {muted_db:.1f} dB"
    assert_no_samples_leave(rut)  # the bridge mutes at Janus too: check the box itself
    rut.press("mute")
    await wait_for(lambda: rut.mic_led() == "green", 10, "the mic LED green again")
    await host.until("ROOM A", lambda x: not x["mic_muted"], what="unmute")
    await wait_for(lambda: listener.tone_db("ROOM A", TONE_HZ) > LIVE_DB, 5,
                   "the tone again", interval=0.2)

    # camera: the LED, the host's view and the picture that arrives follow
    rut.press("camera")
    await wait_for(lambda: not rut.led_on(CAMERA_LED), 10, "the camera LED off")
    await host.until("ROOM A", lambda x: not x["camera_on"], what="camera off")
    assert rut.app.media.camera is not None and not rut.app.media.camera_sending
    await asyncio.sleep(1.0)
    assert not await listener.frames_grow("ROOM A", by=3, within=3), "frames still arrive"
    rut.press("camera")
    await wait_for(lambda: rut.led_on(CAMERA_LED), 10, "the camera LED on")
    await host.until("ROOM A", lambda x: x["camera_on"], what="camera on")
    assert await listener.frames_grow("ROOM A", within=60)

    # a bouncing press then a stuck button: one press, one toggle (and nothing for the
    # bridge: whether the camera is on is what Janus receives)
    sent = spy_on_requests(rut)
    switched: list[room.Command] = []
    rut.app.on_command = switched.append
    presses = rut.app.controls.presses["camera"]
    pin = rut.pin(CAMERA)
    for _ in range(5):
        pin.drive_low()
        pin.drive_high()
    pin.drive_low()
    await asyncio.sleep(3.0)
    pin.drive_high()
    await asyncio.sleep(0.5)
    assert rut.app.controls.presses["camera"] == presses + 1
    assert [c for c in switched if isinstance(c, room.SetCameraSending)] == [
        room.SetCameraSending(False)], switched
    assert sent == []
    assert not rut.led_on(CAMERA_LED)


async def test_host_grants_rights_in_a_moderated_meeting(tmp_path: Path) -> None:
    """The issue's scenario: raise hand -> the host sees it -> grants audio -> green LED
    and the tone forwarded by Janus -> mute -> silence and red; the same for the camera.
    What Janus forwards is measured by an aiortc participant (the web client has no
    lobby yet, and a signed-in listener needs none)."""
    bridge = BridgeProcess(
        tmp_path, room_specs=[RoomSpec("kurul", "Kurul", moderated=True)],
        users=[UserSpec("hulya", "host-secret", role="host", display_name="Host Hülya"),
               UserSpec("ayse", "listener-secret", display_name="Ayşe"),
               UserSpec("oda1", "device-secret", role="device", display_name="ROOM A")])
    host = await Observer.account(bridge.ws_url, "kurul", "hulya", "host-secret")
    listener = MediaListener(bridge.url, "kurul",
                             conf.Credentials(user="ayse", password="listener-secret"))
    listener.start()
    try:
        text = device_account_toml(bridge, tmp_path, "oda1", "device-secret")
        async with room_under_test(settings_from(text), tmp_path / "room") as rut:
            await wait_for(lambda: rut.state.connection == "in_meeting", 30, "ROOM A joined")
            await host.until("ROOM A", lambda x: x["client"] == "appliance", what="arrival")
            await wait_for(lambda: listener.pid("ROOM A"), 10, "the listener to see ROOM A")
            # no rights yet: red mic LED, no camera, and a mute press asks for the floor
            assert rut.mic_led() == "red" and not rut.led_on(CAMERA_LED)
            rut.pin(HAND_LED).clear_states()
            rut.press("mute")
            await wait_for(lambda: rut.app.controls.presses["mute"] == 1, 10, "the press")
            await asyncio.sleep(0.8)
            assert len(rut.pin(HAND_LED).states) >= 5, "no nudge on the hand LED"
            assert rut.mic_led() == "red"
            await asyncio.sleep(1.0)
            assert listener.tone_db("ROOM A", TONE_HZ) < SILENT_DB  # nobody hears the room

            rut.press("hand")
            await host.until("ROOM A", lambda x: x["hand_position"] == 1, what="raised hand")
            await host.set_right("ROOM A", "audio", True, rid=11)
            await wait_for(lambda: rut.mic_led() == "green", 5, "the mic LED green")
            await wait_for(lambda: not rut.led_on(HAND_LED), 10, "the hand answered")
            await host.until("ROOM A", lambda x: x["audio_right"] and not x["mic_muted"]
                             and x["hand_position"] is None, what="granted and live")
            await wait_for(lambda: listener.tone_db("ROOM A", TONE_HZ) > LIVE_DB, 10,
                           "the tone at the listener", interval=0.2)

            rut.press("mute")
            await wait_for(lambda: rut.mic_led() == "red", 10, "the mic LED red")
            await host.until("ROOM A", lambda x: x["mic_muted"], what="mute")
            await asyncio.sleep(1.2)
            assert listener.tone_db("ROOM A", TONE_HZ) < SILENT_DB
            assert_no_samples_leave(rut)

            assert not await listener.frames_grow("ROOM A", by=3, within=2)
            # the grant alone puts nobody on camera: the room is told how to go live
            done: list[room.Command] = []
            rut.app.on_command = done.append
            await host.set_right("ROOM A", "camera", True, rid=12)
            await wait_for(lambda: rut.state.camera_right, 5, "the camera right")
            assert room.ShowNotice("camera_granted_press", "good") in done
            assert not await listener.frames_grow("ROOM A", by=3, within=3), "unasked video"
            assert not rut.led_on(CAMERA_LED) and not rut.app.media.camera_sending
            assert not host.person("ROOM A")["camera_on"]  # type: ignore[index]
            assert i18n.ui("camera_live", "en") not in screen_text(rut)
            # a press in the room: LED, the screen's sign, the host's view, the picture
            rut.press("camera")
            await wait_for(lambda: rut.led_on(CAMERA_LED), 5, "the camera LED on")
            await wait_for(lambda: i18n.ui("camera_live", "en") in screen_text(rut), 5,
                           "the camera-live sign on the screen")
            await host.until("ROOM A", lambda x: x["camera_on"], what="camera on")
            assert await listener.frames_grow("ROOM A", within=60)
            rut.press("camera")
            await wait_for(lambda: not rut.led_on(CAMERA_LED), 10, "the camera LED off")
            await host.until("ROOM A", lambda x: not x["camera_on"], what="camera off")
            await wait_for(lambda: i18n.ui("camera_live", "en") not in screen_text(rut), 5,
                           "the camera-live sign gone")
            await asyncio.sleep(1.0)
            assert not await listener.frames_grow("ROOM A", by=3, within=3)
    finally:
        await listener.close()
        await host.close()
        bridge.stop()


def screen_text(rut: RoomUnderTest) -> str:
    """Everything the room's screen shows now."""
    return " ".join(t.text for t in rut.app.renderer.texts)


def device_account_toml(bridge: BridgeProcess, tmp: Path, user: str, password: str) -> str:
    """The appliance signing in with its device account (password in a file)."""
    secret = tmp / f"{user}.password"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    device = f'[join]\nmode = "device"\nuser = "{user}"\npassword_file = "{secret}"\n'
    guest = '[join]\nmode = "guest"\nguest_name = "ROOM A"\n'
    text = controls_toml(bridge.url, "kurul", "ROOM A", tone_hz=TONE_HZ)
    assert guest in text
    return text.replace(guest, device)
