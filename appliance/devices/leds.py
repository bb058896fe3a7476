"""The room's indicator LEDs, through gpiozero, mirroring the room state machine.

The app forwards the state machine's LED commands to `LedPanel.set_mic`,
`set_hand`, `set_camera` and `set_status` (same pattern names). The mic LED
only ever shows the mic: nothing (status, nudges) is drawn on it, so when the
room is not live it is red, whatever else happens — red wins. Without a status
LED, the hand LED shows the connection patterns while the room is not in the
meeting (the hand means nothing there).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from gpiozero import LED, RGBLED, LEDBoard

from appliance.provisioning.schema import LedsSettings

MicColor = Literal["off", "red", "green"]
HandPattern = Literal["off", "waiting", "nudge"]
StatusPattern = Literal[
    "off", "connecting", "lobby", "in_meeting", "reconnecting", "config_error"]

#: (seconds on, seconds off); STEADY is lit, None is dark.
Blink = tuple[float, float]
STEADY: Blink = (1.0, 0.0)


@dataclass(frozen=True)
class LedTimings:
    """Blink rhythms, distinct enough to tell apart from across the room."""

    waiting: Blink = (0.5, 0.5)
    connecting: Blink = (0.5, 0.5)
    lobby: Blink = (1.5, 0.5)
    reconnecting: Blink = (0.15, 0.15)
    config_error: Blink = (0.1, 0.9)
    nudge: Blink = (0.1, 0.1)
    nudge_count: int = 3

    def status(self, pattern: StatusPattern) -> Blink | None:
        return {
            "off": None, "connecting": self.connecting, "lobby": self.lobby,
            "in_meeting": STEADY, "reconnecting": self.reconnecting,
            "config_error": self.config_error,
        }[pattern]


class _Indicator:
    """A single-colour LED showing a base rhythm, with a temporary nudge on top."""

    def __init__(self, led: Any, timings: LedTimings) -> None:
        self.led, self._timings = led, timings
        self._base: Blink | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def show(self, rhythm: Blink | None) -> None:
        with self._lock:
            nudging = self._timer is not None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if nudging or rhythm != self._base:
                self._apply(rhythm)
            self._base = rhythm

    def nudge(self) -> None:
        """Blink quickly a few times, then go back to the base rhythm."""
        on, off = self._timings.nudge
        count = self._timings.nudge_count
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self.led.blink(on, off, n=count, background=True)
            self._timer = threading.Timer((on + off) * count, self._restore)
            self._timer.daemon = True
            self._timer.start()

    def _restore(self) -> None:
        with self._lock:
            if self._timer is threading.current_thread():
                self._timer = None
                self._apply(self._base)

    def _apply(self, rhythm: Blink | None) -> None:
        if rhythm is None:
            self.led.off()
        elif rhythm == STEADY:
            self.led.on()
        else:
            self.led.blink(*rhythm, background=True)

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self.led.close()


@dataclass
class _Shown:
    mic: MicColor = "off"
    hand: HandPattern = "off"
    camera: bool = False
    status: StatusPattern = "off"


@dataclass
class LedPanel:
    """The configured LEDs. Thread-safe; every setter is idempotent."""

    settings: LedsSettings
    pin_factory: Any = None
    timings: LedTimings = field(default_factory=LedTimings)

    def __post_init__(self) -> None:
        self._shown = _Shown()
        self._mic: Any = None
        self._indicators: dict[str, _Indicator] = {}
        try:
            self._open()
        except Exception:
            self.close()
            raise
        self.set_mic("off")

    def _open(self) -> None:
        common = {"active_high": self.settings.active_high, "pin_factory": self.pin_factory}
        mic = self.settings.mic
        if mic is not None and mic.red is not None and mic.green is not None:
            if mic.blue is not None:
                self._mic = RGBLED(mic.red, mic.green, mic.blue, pwm=False, **common)
            else:  # a red/green bicolour LED
                self._mic = LEDBoard(red=mic.red, green=mic.green, _order=("red", "green"),
                                     **common)
        elif mic is not None and mic.pin is not None:
            self._mic = LED(mic.pin, **common)
        for name in ("hand", "camera", "status"):
            pin = getattr(self.settings, name)
            if pin is not None:
                self._indicators[name] = _Indicator(LED(pin.pin, **common), self.timings)

    # --- what the state machine asks for ------------------------------------------

    def set_mic(self, color: MicColor) -> None:
        self._shown.mic = color
        if self._mic is None:
            return
        if isinstance(self._mic.value, tuple):
            on = {"off": (0, 0, 0), "red": (1, 0, 0), "green": (0, 1, 0)}[color]
            self._mic.value = on[: len(self._mic.value)]
        else:  # a single red LED: lit whenever the mic is not live
            self._mic.value = color == "red"

    def set_hand(self, pattern: HandPattern) -> None:
        if pattern == "nudge":
            if "hand" in self._indicators:
                self._indicators["hand"].nudge()
            return
        self._shown.hand = pattern
        self._refresh_hand()

    def set_camera(self, on: bool) -> None:
        self._shown.camera = on
        if "camera" in self._indicators:
            self._indicators["camera"].show(STEADY if on else None)

    def set_status(self, pattern: StatusPattern) -> None:
        self._shown.status = pattern
        if "status" in self._indicators:
            self._indicators["status"].show(self.timings.status(pattern))
        else:
            self._refresh_hand()

    def _refresh_hand(self) -> None:
        hand = self._indicators.get("hand")
        if hand is None:
            return
        status = self._shown.status
        if "status" not in self._indicators and status not in ("off", "in_meeting"):
            hand.show(self.timings.status(status))
        else:
            hand.show(self.timings.waiting if self._shown.hand == "waiting" else None)

    # --- for screens and health -----------------------------------------------------

    def state(self) -> dict[str, str | bool]:
        """The patterns being shown, by LED role."""
        shown = self._shown
        return {"mic": shown.mic, "hand": shown.hand, "camera": shown.camera,
                "status": shown.status}

    def lit(self) -> dict[str, bool]:
        """Which LEDs are lit at this instant (for drawing virtual LEDs in a demo)."""
        lit = {name: bool(ind.led.is_lit) for name, ind in self._indicators.items()}
        if self._mic is not None:
            value = self._mic.value
            lit["mic"] = any(value) if isinstance(value, tuple) else bool(value)
        return lit

    def close(self) -> None:
        for indicator in self._indicators.values():
            indicator.close()
        self._indicators.clear()
        if self._mic is not None:
            self._mic.close()
            self._mic = None
