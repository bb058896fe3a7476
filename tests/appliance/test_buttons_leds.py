"""Buttons and LEDs on gpiozero's MockFactory: pins driven, events and pin states checked."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from appliance.devices.buttons import (
    ButtonBoard,
    ButtonName,
    ButtonSpec,
    KeyboardButtons,
    PinFactoryError,
    make_pin_factory,
)
from appliance.devices.leds import LedPanel, LedTimings
from appliance.provisioning.schema import ButtonsSettings, LedsSettings
from appliance.room import (
    ButtonPressed,
    CameraLed,
    Command,
    HandLed,
    MicLed,
    RoomState,
    StatusLed,
    step,
)

FAST = LedTimings(waiting=(0.03, 0.03), connecting=(0.03, 0.03), lobby=(0.06, 0.02),
                  reconnecting=(0.02, 0.02), config_error=(0.01, 0.05), nudge=(0.02, 0.02))
RGB_LEDS = LedsSettings.model_validate({
    "mic": {"red": 17, "green": 27, "blue": 22}, "hand": {"pin": 23},
    "camera": {"pin": 24}, "status": {"pin": 25}})


class Clock:
    """A hand-moved clock for the debounce and flood guards."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    made = MockFactory()
    yield made
    made.close()


@pytest.fixture
def events() -> list[tuple[ButtonName, bool]]:
    return []


@pytest.fixture
def board_maker(factory: MockFactory, events: list[tuple[ButtonName, bool]]
                ) -> Iterator[Callable[..., tuple[ButtonBoard, Clock]]]:
    made: list[ButtonBoard] = []

    def make(specs: dict[ButtonName, ButtonSpec] | None = None,
             **kwargs: Any) -> tuple[ButtonBoard, Clock]:
        clock = Clock()
        specs = specs or {"hand": ButtonSpec(5, long_press=True), "mute": ButtonSpec(6),
                          "camera": ButtonSpec(13)}
        options: dict[str, Any] = {"debounce_s": 0.03, "long_press_s": 0.1,
                                   "pin_factory": factory, "clock": clock, **kwargs}
        board = ButtonBoard(specs, lambda name, long: events.append((name, long)), **options)
        made.append(board)
        return board, clock

    yield make
    for board in made:
        board.close()


def wait_until(check: Callable[[], bool], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.005)
    return check()


def press(pin: Any, clock: Clock, hold: float = 0.05) -> None:
    pin.drive_low()
    clock.advance(hold)
    pin.drive_high()
    clock.advance(0.3)


# --- buttons ----------------------------------------------------------------------------


def test_press_fires_on_the_press_itself(board_maker: Callable[..., Any], factory: MockFactory,
                                         events: list[tuple[ButtonName, bool]]) -> None:
    _, clock = board_maker()
    factory.pin(6).drive_low()
    assert events == [("mute", False)]
    clock.advance(0.05)
    factory.pin(6).drive_high()
    assert events == [("mute", False)]


def test_contact_bounce_is_one_press(board_maker: Callable[..., Any], factory: MockFactory,
                                     events: list[tuple[ButtonName, bool]]) -> None:
    _, clock = board_maker()
    pin = factory.pin(13)
    for _ in range(5):  # chatter within the 30 ms window
        pin.drive_low()
        clock.advance(0.004)
        pin.drive_high()
        clock.advance(0.004)
    pin.drive_low()
    clock.advance(0.2)
    pin.drive_high()
    assert events == [("camera", False)]


def test_stuck_button_fires_once(board_maker: Callable[..., Any], factory: MockFactory,
                                 events: list[tuple[ButtonName, bool]]) -> None:
    board_maker()
    factory.pin(6).drive_low()  # and never released
    factory.pin(5).drive_low()
    assert wait_until(lambda: ("hand", True) in events)
    time.sleep(0.5)  # five hold times
    assert events == [("mute", False), ("hand", True)]


def test_chattering_switch_cannot_flood(board_maker: Callable[..., Any], factory: MockFactory,
                                        events: list[tuple[ButtonName, bool]]) -> None:
    _, clock = board_maker()
    pin = factory.pin(6)
    for _ in range(50):  # every edge outside the debounce window, 20 presses a second
        pin.drive_low()
        clock.advance(0.035)
        pin.drive_high()
        clock.advance(0.035)
    assert 1 <= len(events) <= 50 * 0.07 / 0.15 + 1
    assert set(events) == {("mute", False)}


def test_hand_short_press_fires_on_release(board_maker: Callable[..., Any],
                                           factory: MockFactory,
                                           events: list[tuple[ButtonName, bool]]) -> None:
    _, clock = board_maker()
    pin = factory.pin(5)
    pin.drive_low()
    assert events == []
    clock.advance(0.05)
    pin.drive_high()
    assert events == [("hand", False)]


def test_hand_long_press_fires_once_while_held(board_maker: Callable[..., Any],
                                               factory: MockFactory,
                                               events: list[tuple[ButtonName, bool]]) -> None:
    _, clock = board_maker()
    pin = factory.pin(5)
    pin.drive_low()
    assert wait_until(lambda: events == [("hand", True)])
    time.sleep(0.3)
    clock.advance(1.0)
    pin.drive_high()  # releasing after a long press is not another press
    assert events == [("hand", True)]
    clock.advance(0.3)
    press(pin, clock)
    assert events == [("hand", True), ("hand", False)]


def test_pull_down_and_external_resistor_wiring(board_maker: Callable[..., Any],
                                                factory: MockFactory,
                                                events: list[tuple[ButtonName, bool]]) -> None:
    board, clock = board_maker({
        "mute": ButtonSpec(6, pull="down"),
        "camera": ButtonSpec(13, pull="off", active_low=False)})
    factory.pin(13).drive_low()  # floating input: settle it released first
    clock.advance(0.3)
    factory.pin(6).drive_high()
    clock.advance(0.3)
    factory.pin(13).drive_high()
    assert events == [("mute", False), ("camera", False)]
    assert board.names == ["mute", "camera"]


def test_buttons_from_settings(factory: MockFactory,
                               events: list[tuple[ButtonName, bool]]) -> None:
    settings = ButtonsSettings.model_validate({
        "pin_factory": "mock", "debounce_ms": 20, "long_press_s": 0.5,
        "hand": {"pin": 5}, "mute": {"pin": 6, "pull": "down"}})
    board = ButtonBoard.from_settings(settings, lambda n, long: events.append((n, long)),
                                      hand_long_press=True, pin_factory=factory)
    try:
        assert board.names == ["hand", "mute"]
        assert board.spec("hand").long_press and not board.spec("mute").long_press
        assert board.debounce_s == pytest.approx(0.02) and board.long_press_s == 0.5
        assert board.pin("mute") is factory.pin(6)
    finally:
        board.close()


def test_keyboard_stands_in_for_buttons(board_maker: Callable[..., Any],
                                        events: list[tuple[ButtonName, bool]]) -> None:
    board, _ = board_maker(clock=time.monotonic, debounce_s=0.01, min_gap_s=0.0)
    keys = KeyboardButtons(board)
    try:
        assert keys.key_down("m") and events == [("mute", False)]
        time.sleep(0.05)
        assert keys.key_up("m")
        time.sleep(0.05)
        assert keys.tap("2")
        assert wait_until(lambda: events == [("mute", False)] * 2)
        assert keys.feed("h")  # terminal: short press
        assert wait_until(lambda: events[-1:] == [("hand", False)])
        assert keys.feed("H")  # terminal: Shift+H is a long press
        assert wait_until(lambda: events[-1:] == [("hand", True)])
        time.sleep(0.35)  # the key's release after the hold adds nothing
        assert events[-1:] == [("hand", True)] and len(events) == 4
        assert not keys.key_down("x")
    finally:
        keys.close()


def test_pin_factories_by_name() -> None:
    assert isinstance(make_pin_factory("mock"), MockFactory)
    assert isinstance(make_pin_factory("keyboard"), MockFactory)
    try:
        import lgpio  # noqa: F401
    except ImportError:
        with pytest.raises(PinFactoryError, match="pin_factory"):
            make_pin_factory("lgpio")


# --- LEDs -------------------------------------------------------------------------------


@pytest.fixture
def panel_maker(factory: MockFactory) -> Iterator[Callable[..., LedPanel]]:
    made: list[LedPanel] = []

    def make(settings: LedsSettings = RGB_LEDS) -> LedPanel:
        made.append(LedPanel(settings, pin_factory=factory, timings=FAST))
        return made[-1]

    yield make
    for panel in made:
        panel.close()


def levels(factory: MockFactory, *pins: int) -> tuple[bool, ...]:
    return tuple(bool(factory.pin(p).state) for p in pins)


def toggles(factory: MockFactory, pin: int) -> int:
    return len(factory.pin(pin).states) - 1


def test_rgb_mic_led_colours(panel_maker: Callable[..., LedPanel],
                             factory: MockFactory) -> None:
    panel = panel_maker()
    assert levels(factory, 17, 27, 22) == (False, False, False)
    panel.set_mic("red")
    assert levels(factory, 17, 27, 22) == (True, False, False)
    panel.set_mic("green")
    assert levels(factory, 17, 27, 22) == (False, True, False)
    panel.set_mic("off")
    assert levels(factory, 17, 27, 22) == (False, False, False)
    assert panel.state()["mic"] == "off"


def test_bicolour_and_single_mic_leds_and_active_low(panel_maker: Callable[..., LedPanel],
                                                     factory: MockFactory) -> None:
    bicolour = panel_maker(LedsSettings.model_validate({"mic": {"red": 17, "green": 27}}))
    bicolour.set_mic("green")
    assert levels(factory, 17, 27) == (False, True)
    single = panel_maker(LedsSettings.model_validate(
        {"active_high": False, "mic": {"pin": 5}, "camera": {"pin": 6}}))
    assert levels(factory, 5, 6) == (True, True)  # active low: high is dark
    single.set_mic("red")
    single.set_camera(True)
    assert levels(factory, 5, 6) == (False, False)
    single.set_mic("green")  # a single red LED goes dark when live
    assert levels(factory, 5) == (True,)
    assert single.lit() == {"mic": False, "camera": True}


def test_hand_led_blinks_while_waiting(panel_maker: Callable[..., LedPanel],
                                       factory: MockFactory) -> None:
    panel = panel_maker()
    panel.set_hand("waiting")
    assert wait_until(lambda: toggles(factory, 23) >= 6)
    panel.set_hand("off")
    factory.pin(23).clear_states()
    time.sleep(0.15)
    assert levels(factory, 23) == (False,) and toggles(factory, 23) == 0


def test_nudge_blinks_three_times_then_restores(panel_maker: Callable[..., LedPanel],
                                                factory: MockFactory) -> None:
    panel = panel_maker()
    factory.pin(23).clear_states()
    panel.set_hand("nudge")
    assert wait_until(lambda: toggles(factory, 23) == 6)
    time.sleep(0.15)
    assert toggles(factory, 23) == 6 and levels(factory, 23) == (False,)
    assert panel.state()["hand"] == "off"  # a nudge is not a pattern of its own

    panel.set_hand("waiting")
    panel.set_hand("nudge")
    time.sleep(0.2)  # nudge over: back to the waiting blink
    factory.pin(23).clear_states()
    assert wait_until(lambda: toggles(factory, 23) >= 4)


def test_camera_and_status_leds(panel_maker: Callable[..., LedPanel],
                                factory: MockFactory) -> None:
    panel = panel_maker()
    panel.set_camera(True)
    panel.set_status("in_meeting")
    assert levels(factory, 24, 25) == (True, True)
    factory.pin(25).clear_states()
    panel.set_status("reconnecting")
    assert wait_until(lambda: toggles(factory, 25) >= 6)
    panel.set_status("off")
    panel.set_camera(False)
    assert levels(factory, 24, 25) == (False, False)


def test_without_status_led_the_hand_led_shows_the_connection(
        panel_maker: Callable[..., LedPanel], factory: MockFactory) -> None:
    panel = panel_maker(LedsSettings.model_validate(
        {"mic": {"red": 17, "green": 27, "blue": 22}, "hand": {"pin": 23}}))
    panel.set_status("reconnecting")
    assert wait_until(lambda: toggles(factory, 23) >= 6)
    panel.set_status("in_meeting")
    assert levels(factory, 23) == (False,)
    panel.set_hand("waiting")
    factory.pin(23).clear_states()
    assert wait_until(lambda: toggles(factory, 23) >= 4)


def test_red_wins(panel_maker: Callable[..., LedPanel], factory: MockFactory) -> None:
    panel = panel_maker(LedsSettings.model_validate(
        {"mic": {"red": 17, "green": 27, "blue": 22}, "hand": {"pin": 23}}))
    panel.set_mic("red")
    for pin in (17, 27, 22):
        factory.pin(pin).clear_states()
    for status in ("connecting", "lobby", "reconnecting", "config_error", "in_meeting"):
        panel.set_status(status)
        panel.set_hand("nudge")
        panel.set_hand("waiting")
        panel.set_camera(True)
    time.sleep(0.2)
    assert levels(factory, 17, 27, 22) == (True, False, False)
    assert all(toggles(factory, pin) == 0 for pin in (17, 27, 22))


# --- the loop: pin -> event -> state machine -> LED ---------------------------------------


def apply_leds(panel: LedPanel, commands: list[Command]) -> None:
    for command in commands:
        if isinstance(command, MicLed):
            panel.set_mic(command.color)
        elif isinstance(command, HandLed):
            panel.set_hand(command.pattern)
        elif isinstance(command, CameraLed):
            panel.set_camera(command.on)
        elif isinstance(command, StatusLed):
            panel.set_status(command.pattern)


def test_button_press_reaches_the_leds_through_the_state_machine(
        panel_maker: Callable[..., LedPanel], factory: MockFactory) -> None:
    panel = panel_maker()
    state = RoomState(connection="in_meeting", audio_right=True, camera_right=True,
                      camera_on=True)  # switched on in the room
    apply_leds(panel, [MicLed("green"), CameraLed(True), StatusLed("in_meeting")])
    sent: list[Command] = []

    def on_button(name: ButtonName, long: bool) -> None:
        nonlocal state
        state, commands = step(state, ButtonPressed(name, long))
        sent.extend(commands)
        apply_leds(panel, commands)

    clock = Clock()
    board = ButtonBoard({"mute": ButtonSpec(7), "camera": ButtonSpec(8)}, on_button,
                        pin_factory=factory, clock=clock)
    try:
        factory.pin(7).drive_low()  # mute
        assert levels(factory, 17, 27) == (True, False)
        clock.advance(0.3)
        factory.pin(7).drive_high()
        clock.advance(0.3)
        factory.pin(8).drive_low()  # camera off
        assert levels(factory, 24) == (False,)
        assert state.muted_by_room and not state.camera_on
    finally:
        board.close()
