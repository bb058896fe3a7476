"""The room's big buttons on GPIO, through gpiozero and a pin factory chosen by config.

Each press becomes one call of `on_event(name, long)`:
- buttons without a long press fire on the press itself (lowest latency);
- a button with a long press (the hand button under join policy "button", the
  camera button with a content input) fires
  `long=True` once when held for `long_press_s`, or `long=False` on a shorter
  release.
A held or stuck button fires once (no hold repeat); contact bounce is filtered
twice: by the pin factory (`bounce_time`) and by an edge guard here, which also
covers factories that do not implement bounce (gpiozero's MockFactory). Events
closer than `min_gap_s` on the same button are dropped, so a chattering switch
cannot flood the bridge.

`on_event` runs on a gpiozero thread (or the caller's, with mock pins): hand it
to the event loop with `loop.call_soon_threadsafe`.

For desktop demos, pin_factory "keyboard" is gpiozero's MockFactory driven by
`KeyboardButtons`: keys press the mock pins, so the same debounce and hold code
runs. Keys: H hand, M mute, C camera (also 1, 2, 3), J holds the hand button for
a long press (join/leave), P the camera button (present the content input); in a
terminal (`TerminalKeys`) Shift+H and Shift+C do the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gpiozero import Button

from appliance.provisioning.schema import ButtonsSettings

ButtonName = Literal["hand", "mute", "camera"]
ButtonCallback = Callable[[ButtonName, bool], None]
Pull = Literal["up", "down", "off"]


@dataclass(frozen=True)
class ButtonSpec:
    pin: int
    pull: Pull = "up"
    active_low: bool | None = None
    """Only for pull "off" (external resistor): pressed when the pin is low."""
    long_press: bool = False

    def gpiozero_args(self) -> dict[str, Any]:
        """pull_up/active_state for gpiozero.Button."""
        if self.pull == "off":
            return {"pull_up": None, "active_state": not self.active_low}
        return {"pull_up": self.pull == "up"}

    @property
    def pressed_level(self) -> bool:
        """The pin level (True = high) while pressed."""
        if self.pull == "off":
            return not self.active_low
        return self.pull == "down"


class _Button:
    """One gpiozero Button turned into at most one event per press."""

    def __init__(self, name: ButtonName, spec: ButtonSpec, board: ButtonBoard) -> None:
        self.name, self.spec, self._board = name, spec, board
        self._last_edge = -1e9
        self._held = False
        self.device = Button(
            spec.pin, bounce_time=board.debounce_s or None, hold_time=board.long_press_s,
            hold_repeat=False, pin_factory=board.pin_factory, **spec.gpiozero_args())
        self.device.when_pressed = self._pressed
        self.device.when_released = self._released
        if spec.long_press:
            self.device.when_held = self._held_long

    def _edge(self) -> bool:
        """False for an edge inside the debounce window of the previous one."""
        now = self._board.clock()
        if now - self._last_edge < self._board.debounce_s:
            return False
        self._last_edge = now
        return True

    def _pressed(self) -> None:
        if not self._edge():
            return
        self._held = False
        if not self.spec.long_press:
            self._board.emit(self.name, False)

    def _released(self) -> None:
        if self._edge() and self.spec.long_press and not self._held:
            self._board.emit(self.name, False)

    def _held_long(self) -> None:
        self._held = True
        self._board.emit(self.name, True)


class ButtonBoard:
    """The configured buttons, reporting presses through `on_event(name, long)`."""

    def __init__(self, specs: Mapping[ButtonName, ButtonSpec], on_event: ButtonCallback, *,
                 debounce_s: float = 0.03, long_press_s: float = 2.0, min_gap_s: float = 0.15,
                 pin_factory: Any = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.debounce_s, self.long_press_s, self.min_gap_s = debounce_s, long_press_s, min_gap_s
        self.pin_factory, self.clock, self._on_event = pin_factory, clock, on_event
        self._last_event: dict[ButtonName, float] = {}
        self._lock = threading.Lock()
        self._buttons: dict[ButtonName, _Button] = {}
        try:
            for name, spec in specs.items():
                self._buttons[name] = _Button(name, spec, self)
        except Exception:
            self.close()
            raise

    @classmethod
    def from_settings(cls, settings: ButtonsSettings, on_event: ButtonCallback, *,
                      hand_long_press: bool, pin_factory: Any,
                      camera_long_press: bool = False) -> ButtonBoard:
        """`hand_long_press`: join policy "button" (long press joins and leaves);
        `camera_long_press`: the room has a content input (long press presents)."""
        long_press = {"hand": hand_long_press, "mute": False, "camera": camera_long_press}
        specs: dict[ButtonName, ButtonSpec] = {}
        for name in ("hand", "mute", "camera"):
            pin = getattr(settings, name)
            if pin is not None:
                specs[name] = ButtonSpec(pin.pin, pin.pull, pin.active_low,
                                         long_press=long_press[name])
        return cls(specs, on_event, debounce_s=settings.debounce_ms / 1000,
                   long_press_s=settings.long_press_s, pin_factory=pin_factory)

    @property
    def names(self) -> list[ButtonName]:
        return list(self._buttons)

    def spec(self, name: ButtonName) -> ButtonSpec:
        return self._buttons[name].spec

    def pin(self, name: ButtonName) -> Any:
        """The gpiozero pin object of a button (a MockPin under the mock factory)."""
        return self._buttons[name].device.pin

    def emit(self, name: ButtonName, long: bool) -> None:
        with self._lock:
            now = self.clock()
            if now - self._last_event.get(name, -1e9) < self.min_gap_s:
                return
            self._last_event[name] = now
        self._on_event(name, long)

    def close(self) -> None:
        for button in self._buttons.values():
            button.device.close()
        self._buttons.clear()


#: Key name (as pygame.key.name() or a terminal gives it) -> button.
DEFAULT_KEYS: Mapping[str, ButtonName] = {
    "h": "hand", "1": "hand", "m": "mute", "2": "mute", "c": "camera", "3": "camera",
}
#: Keys that hold their button for a long press (a display reports no key-up).
DEFAULT_LONG_KEYS: Mapping[str, ButtonName] = {"j": "hand", "p": "camera"}


class KeyboardButtons:
    """Keys stand in for the buttons by driving their mock pins.

    pygame: call `key_down(pygame.key.name(ev.key))` on KEYDOWN and `key_up(...)`
    on KEYUP; holding H for the long-press time is a long press.
    Terminal (no key-up events): `feed(char)`; a lower-case key is a short press,
    an upper-case one (Shift+H) a long press.
    """

    def __init__(self, board: ButtonBoard, keys: Mapping[str, ButtonName] = DEFAULT_KEYS,
                 long_keys: Mapping[str, ButtonName] = DEFAULT_LONG_KEYS) -> None:
        self.board, self.keys, self.long_keys = board, dict(keys), dict(long_keys)
        self._timers: list[threading.Timer] = []

    def _button(self, key: str) -> ButtonName | None:
        name = self.keys.get(key.lower())
        return name if name in self.board.names else None

    def _drive(self, name: ButtonName, pressed: bool) -> None:
        pin = self.board.pin(name)
        high = self.board.spec(name).pressed_level == pressed
        pin.drive_high() if high else pin.drive_low()

    def key_down(self, key: str) -> bool:
        """Press the button mapped to `key`; False if no such button."""
        name = self._button(key)
        if name is not None:
            self._drive(name, True)
        return name is not None

    def key_up(self, key: str) -> bool:
        name = self._button(key)
        if name is not None:
            self._drive(name, False)
        return name is not None

    def tap(self, key: str, hold_s: float | None = None) -> bool:
        """Press now and release after `hold_s` (default: just past the debounce)."""
        name = self._button(key)
        if name is None:
            return False
        self._tap_button(name, hold_s)
        return True

    def _tap_button(self, name: ButtonName, hold_s: float | None) -> None:
        self._drive(name, True)
        delay = hold_s if hold_s is not None else self.board.debounce_s + 0.05
        timer = threading.Timer(delay, self._drive, args=(name, False))
        timer.daemon = True
        self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        timer.start()

    @property
    def long_hold_s(self) -> float:
        return self.board.long_press_s + 0.2

    def press_key(self, key: str) -> bool:
        """A key from the display (pygame key names, no key-up events): taps its
        button; a long-press key (J) holds the hand button past the long press."""
        name = self.long_keys.get(key.lower())
        if name is not None and name in self.board.names:
            self._tap_button(name, self.long_hold_s)
            return True
        return self.tap(key)

    def feed(self, char: str) -> bool:
        """A terminal key: lower case taps, upper case holds for a long press."""
        if char.lower() in self.long_keys:
            return self.press_key(char)
        return self.tap(char, self.long_hold_s if char.isupper() else None)

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()


class TerminalKeys:
    """Keys typed on standard input press the buttons (`make demo` in a terminal; a
    pipe in tests): lower case taps, upper case (Shift) holds for a long press.

    Read by the event loop without blocking it; a terminal is put in cbreak mode
    (no Enter needed) and restored on close. A stdin that cannot be watched
    (/dev/null under systemd, a regular file) or that reaches EOF turns it off.
    """

    def __init__(self, keyboard: KeyboardButtons, fd: int = 0) -> None:
        self.keyboard, self.fd = keyboard, fd
        self._loop: asyncio.AbstractEventLoop | None = None
        self._saved_tty: list[Any] | None = None
        self.keys_read = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Watch stdin; False when there is nothing to watch."""
        try:
            if os.isatty(self.fd):
                import termios
                import tty

                self._saved_tty = termios.tcgetattr(self.fd)
                tty.setcbreak(self.fd)
            loop.add_reader(self.fd, self._readable)
        except (OSError, ValueError):  # epoll refuses /dev/null and regular files
            self._restore_tty()
            return False
        self._loop = loop
        return True

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 256)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        for char in data.decode("utf-8", "ignore"):
            if not char.isspace() and self.keyboard.feed(char):
                self.keys_read += 1

    def _restore_tty(self) -> None:
        if self._saved_tty is not None:
            import termios

            with contextlib.suppress(OSError):
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved_tty)
            self._saved_tty = None

    def close(self) -> None:
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self.fd)
            self._loop = None
        self._restore_tty()
