"""The room's control panel: its big buttons and indicator LEDs on one gpiozero pin
factory, opened from the provisioning file's [buttons] and [leds].

A test injects gpiozero's MockFactory; with any mock factory ("mock", "keyboard")
keys stand in for the buttons (`key()` for the display's key names, `keyboard` for
`TerminalKeys`). A panel that cannot open as configured (no GPIO library on this
machine, a pin refused by the chip) never stops the room: it records the problem
for /healthz and the log and runs with what works. The LED patterns asked for are
tracked even with no LED wired, so health and tests can read them.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from gpiozero.pins.mock import MockFactory

from appliance.devices import registry
from appliance.devices.buttons import (
    ButtonBoard,
    ButtonCallback,
    ButtonName,
    KeyboardButtons,
)
from appliance.devices.leds import LedPanel
from appliance.provisioning.schema import ButtonsSettings, LedsSettings

log = logging.getLogger("salon.controls")


@dataclass(frozen=True)
class PanelHealth:
    """For HealthState.set_device("buttons", ...)."""

    state: str  # ok | simulated | error
    backend: str
    detail: str


class ControlPanel:
    def __init__(self, buttons: ButtonsSettings, leds: LedsSettings, on_press: ButtonCallback,
                 *, hand_long_press: bool, pin_factory: Any = None,
                 camera_long_press: bool = False) -> None:
        self.problems: list[str] = []
        self.presses: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._on_press = on_press
        self._own_factory = pin_factory is None
        self.backend = buttons.pin_factory if pin_factory is None else "injected"
        self.factory = pin_factory if pin_factory is not None else self._open_factory(buttons)
        self.board = self._open_buttons(buttons, hand_long_press, camera_long_press)
        self.leds = self._open_leds(leds)
        self.keyboard = (KeyboardButtons(self.board)
                         if isinstance(self.factory, MockFactory) else None)

    # ---- opening, degrading instead of failing ---------------------------------------

    def _problem(self, text: str) -> None:
        log.error("%s", text)
        self.problems.append(text)

    def _open_factory(self, buttons: ButtonsSettings) -> Any:
        try:
            return registry.pin_factory(buttons.pin_factory)
        except registry.PinFactoryError as exc:
            self._problem(str(exc))
            return MockFactory()  # the room still joins and shows its state on screen

    def _open_buttons(self, settings: ButtonsSettings, hand_long_press: bool,
                      camera_long_press: bool) -> ButtonBoard:
        try:
            return ButtonBoard.from_settings(settings, self._pressed,
                                             hand_long_press=hand_long_press,
                                             camera_long_press=camera_long_press,
                                             pin_factory=self.factory)
        except Exception as exc:  # gpiozero raises many kinds for a pin it cannot use
            self._problem(f"buttons not available: {exc}")
            return ButtonBoard({}, self._pressed, pin_factory=self.factory)

    def _open_leds(self, settings: LedsSettings) -> LedPanel:
        try:
            return LedPanel(settings, pin_factory=self.factory)
        except Exception as exc:
            self._problem(f"LEDs not available: {exc}")
            return LedPanel(LedsSettings(), pin_factory=self.factory)

    # ---- presses ----------------------------------------------------------------------

    def _pressed(self, name: ButtonName, long: bool) -> None:
        """On a gpiozero thread (or the thread driving mock pins)."""
        with self._lock:
            self.presses[f"{name}_long" if long else name] += 1
        self._on_press(name, long)

    def key(self, name: str) -> bool:
        """A display key (pygame key name): True when it pressed a button."""
        return self.keyboard is not None and self.keyboard.press_key(name)

    # ---- reports ----------------------------------------------------------------------

    def health(self) -> PanelHealth:
        pins = ", ".join(f"{name} GPIO{self.board.spec(name).pin}" for name in self.board.names)
        if self.problems:
            return PanelHealth("error", self.backend, "; ".join(self.problems))
        simulated = isinstance(self.factory, MockFactory)
        return PanelHealth("simulated" if simulated else "ok", self.backend,
                           pins or "no buttons configured")

    def report(self) -> dict[str, Any]:
        """The /healthz "leds" section: the patterns shown, the LEDs lit this instant
        and the presses counted since start."""
        with self._lock:
            presses = dict(self.presses)
        return {**self.leds.state(), "lit": self.leds.lit(), "presses": presses}

    def close(self) -> None:
        if self.keyboard is not None:
            self.keyboard.close()
        self.board.close()
        self.leds.close()
        if self._own_factory:
            self.factory.close()
