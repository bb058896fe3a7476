"""The control panel wired into the appliance: gpiozero MockFactory pins in, LED pins,
screen and /healthz out. No bridge here (its address is a closed port), so these run
anywhere; tests/e2e/test_appliance_controls*.py do the same against a real bridge."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from appliance import app as app_module
from appliance.devices.buttons import ButtonBoard, ButtonName, KeyboardButtons, TerminalKeys
from appliance.devices.controls import ControlPanel
from appliance.provisioning.schema import ButtonsSettings, LedsSettings
from appliance.screen import i18n
from appliance.screen.model import ConfigProblem
from tests.support.controls_harness import (
    CAMERA,
    HAND,
    MIC_GREEN,
    MIC_RED,
    MUTE,
    STATUS_LED,
    RoomUnderTest,
    controls_toml,
    room_under_test,
    settings_from,
    wait_for,
)
from tests.support.procs import free_port

BUTTONS = ButtonsSettings.model_validate({
    "pin_factory": "mock", "long_press_s": 0.5,
    "hand": {"pin": HAND}, "mute": {"pin": MUTE}, "camera": {"pin": CAMERA}})
LEDS = LedsSettings.model_validate({
    "mic": {"red": MIC_RED, "green": MIC_GREEN}, "status": {"pin": STATUS_LED}})


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    made = MockFactory()
    yield made
    made.close()


class Presses:
    def __init__(self) -> None:
        self.seen: list[tuple[ButtonName, bool]] = []

    def __call__(self, name: ButtonName, long: bool) -> None:
        self.seen.append((name, long))


async def until(predicate: Any, timeout: float = 5.0, what: str = "it") -> Any:
    return await wait_for(predicate, timeout, what)


# -- the panel on its own ------------------------------------------------------------


async def test_panel_reports_presses_leds_and_health(factory: MockFactory) -> None:
    presses = Presses()
    panel = ControlPanel(BUTTONS, LEDS, presses, hand_long_press=True, pin_factory=factory)
    try:
        factory.pin(MUTE).drive_low()
        factory.pin(MUTE).drive_high()
        assert presses.seen == [("mute", False)]
        panel.leds.set_mic("green")
        assert (factory.pin(MIC_RED).state, factory.pin(MIC_GREEN).state) == (False, True)
        report = panel.report()
        assert report["mic"] == "green" and report["lit"]["mic"] is True
        assert report["presses"] == {"mute": 1}
        health = panel.health()
        assert health.state == "simulated" and health.backend == "injected"
        assert health.detail == f"hand GPIO{HAND}, mute GPIO{MUTE}, camera GPIO{CAMERA}"

        assert panel.key("c") and not panel.key("x")  # the display's key names
        await until(lambda: ("camera", False) in presses.seen)
        assert panel.key("j")  # J holds the hand button past the long press: join/leave
        await until(lambda: ("hand", True) in presses.seen, 3)
        await until(lambda: factory.pin(HAND).state, 3, "the hand key released")
        assert presses.seen.count(("hand", True)) == 1
        assert ("hand", False) not in presses.seen
    finally:
        panel.close()


def test_panel_without_gpio_keeps_the_room_running() -> None:
    buttons = BUTTONS.model_copy(update={"pin_factory": "lgpio"})
    panel = ControlPanel(buttons, LEDS, Presses(), hand_long_press=False)
    try:
        health = panel.health()
        assert health.state == "error" and health.backend == "lgpio"
        assert "'lgpio' is unavailable here" in health.detail
        panel.leds.set_status("reconnecting")  # still tracked for the screen and /healthz
        assert panel.report()["status"] == "reconnecting"
    finally:
        panel.close()


def test_a_pin_the_leds_cannot_have_degrades_to_buttons_only(factory: MockFactory) -> None:
    # provisioning.checks refuses this file; a panel built anyway must not take the room down
    clash = LedsSettings.model_validate({"mic": {"pin": MUTE}})
    presses = Presses()
    panel = ControlPanel(BUTTONS, clash, presses, hand_long_press=False, pin_factory=factory)
    try:
        health = panel.health()
        assert health.state == "error" and "LEDs not available" in health.detail
        factory.pin(HAND).drive_low()
        factory.pin(HAND).drive_high()
        assert presses.seen == [("hand", False)]
        panel.leds.set_mic("red")
        assert panel.report()["mic"] == "red"
    finally:
        panel.close()


async def test_terminal_keys_from_a_pipe(factory: MockFactory) -> None:
    presses = Presses()
    board = ButtonBoard.from_settings(BUTTONS, presses, hand_long_press=True,
                                      pin_factory=factory)
    keyboard = KeyboardButtons(board)
    read, write = os.pipe()
    terminal = TerminalKeys(keyboard, fd=read)
    try:
        assert terminal.start(asyncio.get_running_loop())
        os.write(write, b"m\n")
        await until(lambda: presses.seen == [("mute", False)])
        os.write(write, b"H")  # Shift+H: a long press
        await until(lambda: ("hand", True) in presses.seen, 3)
        os.close(write)
        write = -1
        await until(lambda: terminal._loop is None, 3, "EOF to stop the reader")
        assert terminal.keys_read == 2
    finally:
        terminal.close()
        keyboard.close()
        board.close()
        os.close(read)
        if write >= 0:
            os.close(write)


async def test_terminal_keys_ignore_an_unwatchable_stdin(factory: MockFactory) -> None:
    board = ButtonBoard.from_settings(BUTTONS, Presses(), hand_long_press=False,
                                      pin_factory=factory)
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        assert not TerminalKeys(KeyboardButtons(board), fd=fd).start(
            asyncio.get_running_loop())
    finally:
        os.close(fd)
        board.close()


# -- the panel in the appliance ---------------------------------------------------------


def unreachable_bridge(**options: Any) -> str:
    return controls_toml(f"http://127.0.0.1:{free_port()}", "testbim", "ROOM T", **options)


def get_health(rut: RoomUnderTest) -> Any:
    try:
        with urllib.request.urlopen(rut.health_url, timeout=5) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:  # 503 still carries the document
        return json.loads(exc.read())


async def test_start_up_lights_the_leds_and_retries_show_why(tmp_path: Path) -> None:
    async with room_under_test(settings_from(unreachable_bridge()), tmp_path) as rut:
        assert rut.mic_led() == "red"  # in a session and not live: red
        await until(lambda: rut.state.connection == "reconnecting", 10, "a failed attempt")
        await until(lambda: rut.app.controls.leds.state()["status"] == "reconnecting")
        # the status LED blinks its reconnecting rhythm on the pin itself
        await until(lambda: len(rut.pin(STATUS_LED).states) > 4, 3, "the status LED blink")
        await until(lambda: i18n.ui("reconnecting_title", "en") in " ".join(
            t.text for t in rut.app.renderer.texts), 5, "the reconnecting screen")
        texts = " ".join(t.text for t in rut.app.renderer.texts)
        assert "Cannot connect" in texts or "refused" in texts.lower(), texts

        health = await asyncio.to_thread(get_health, rut)
        assert health["devices"]["buttons"]["state"] == "simulated"
        assert health["leds"]["mic"] == "red" and health["leds"]["status"] == "reconnecting"
        assert health["room"]["connection"] == "reconnecting"
        assert health["room"]["mic_live"] is False and health["room"]["reason"]
        assert i18n.ui("reconnecting_title", "en") in health["room"]["screen"]


async def test_join_policy_button_long_press_joins_and_leaves(tmp_path: Path) -> None:
    settings = settings_from(unreachable_bridge(policy="button", long_press_s=0.5))
    async with room_under_test(settings, tmp_path) as rut:
        assert rut.state.connection == "left" and rut.app.client is None
        assert rut.mic_led() == "off" and not rut.led_on(STATUS_LED)
        rut.press("hand", hold_s=0.1)  # a short press only says how to join
        await until(lambda: rut.app.controls.presses["hand"] == 1)
        assert rut.state.connection == "left"

        rut.press("hand", hold_s=0.8)
        await until(lambda: rut.state.connection in ("connecting", "reconnecting"), 3, "join")
        assert rut.app.client is not None and rut.mic_led() == "red"
        await asyncio.sleep(1.0)  # released by now: the long press acted once
        assert rut.app.controls.presses == {"hand": 1, "hand_long": 1}

        rut.press("hand", hold_s=0.8)
        await until(lambda: rut.state.connection == "left", 3, "leave")
        assert rut.app.client is None and rut.mic_led() == "off"


async def test_display_keys_drive_the_buttons(tmp_path: Path) -> None:
    async with room_under_test(settings_from(unreachable_bridge(policy="button")),
                               tmp_path) as rut:
        commands: list[Any] = []
        rut.app.on_command = commands.append
        rut.app.display.press("m")  # a key through pygame's event queue
        await until(lambda: any(getattr(c, "key", "") == "not_in_meeting" for c in commands),
                    3, "the M key to reach the room")
        assert rut.app.controls.presses == {"mute": 1}
        rut.app.display.press("j")
        await until(lambda: rut.state.connection != "left", 5, "J to join")


async def test_running_on_the_last_good_config_shows_the_problem_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "CONFIG_PROBLEMS_SHOWN_S", 1.5)
    rut = RoomUnderTest(settings_from(unreachable_bridge()), tmp_path)
    rut.app.config_problems = (ConfigProblem("/boot/firmware/salon.toml", "not a URL",
                                             line=7, field="bridge.url"),)
    rut.app.using_last_good = True
    await rut.start()
    try:
        def on_screen() -> str:
            return " ".join(t.text for t in rut.app.renderer.texts)
        await until(lambda: "not a URL" in on_screen(), 5, "the problem on screen")
        assert "Field: bridge.url" in on_screen()
        assert i18n.ui("config_last_good", "en") in on_screen()
        assert rut.state.connection in ("connecting", "reconnecting")  # joining meanwhile
        await until(lambda: "not a URL" not in on_screen(), 5, "the room's own screen")
        health = await asyncio.to_thread(get_health, rut)
        assert health["config"]["source"] == "last-known-good"
        assert health["config"]["valid"] is False
    finally:
        await rut.stop()


async def test_a_problem_screen_that_cannot_be_drawn_never_stops_the_room(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Fault injection: whatever goes wrong drawing the config problems, the room goes on
    to its own screen (a crash here was a crash loop under systemd)."""
    from appliance.screen import screens

    def broken(*_: object) -> None:
        raise ValueError("cannot draw this")

    monkeypatch.setattr(screens, "_config_error", broken)
    rut = RoomUnderTest(settings_from(unreachable_bridge()), tmp_path)
    rut.app.config_problems = (ConfigProblem("/boot/firmware/salon.toml", "not a URL"),)
    rut.app.using_last_good = True
    await rut.start()
    try:
        await until(lambda: i18n.ui("reconnecting_title", "en") in " ".join(
            t.text for t in rut.app.renderer.texts), 10, "the room's own screen")
        assert rut.task is not None and not rut.task.done()
        assert "cannot draw the configuration problems" in caplog.text
    finally:
        await rut.stop()
