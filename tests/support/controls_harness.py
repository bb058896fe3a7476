"""A whole appliance in this process, its buttons and LEDs on gpiozero's MockFactory:
what the controls tests and `tests/bench/bench_controls.py` drive.

Pins (BCM) as in config/appliance.example.toml: buttons hand 5, mute 6, camera 13
(pull-up: pressed is low); LEDs mic RGB 17/27/22, hand 23, camera 24, status 25.
"""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory

from appliance.app import Appliance
from appliance.provisioning.loader import Settings, validate_text
from appliance.service.runtime import ServiceRuntime

HAND, MUTE, CAMERA = 5, 6, 13
MIC_RED, MIC_GREEN, MIC_BLUE, HAND_LED, CAMERA_LED, STATUS_LED = 17, 27, 22, 23, 24, 25
BUTTON_PINS = {"hand": HAND, "mute": MUTE, "camera": CAMERA}


def controls_toml(bridge_url: str, room: str, name: str, *, policy: str = "power-on",
                  tone_hz: float = 1000.0, size: tuple[int, int] = (320, 180),
                  pin_factory: str = "mock", health_port: int = 8765,
                  long_press_s: float = 1.0, extra: str = "") -> str:
    """A provisioning file: simulated camera and tone microphone, headless screen,
    every button and LED wired."""
    return f"""\
[room]
name = "{name}"
language = "en"
[bridge]
url = "{bridge_url}"
room = "{room}"
reconnect_initial_s = 0.5
reconnect_max_s = 2
[join]
mode = "guest"
guest_name = "{name}"
policy = "{policy}"
[camera]
backend = "simulated"
width = {size[0]}
height = {size[1]}
fps = 15
[audio]
mic_backend = "simulated"
tone_hz = {tone_hz}
speaker_backend = "null"
[display]
backend = "headless"
width = 640
height = 360
[buttons]
pin_factory = "{pin_factory}"
debounce_ms = 30
long_press_s = {long_press_s}
[buttons.hand]
pin = {HAND}
[buttons.mute]
pin = {MUTE}
[buttons.camera]
pin = {CAMERA}
[leds.mic]
red = {MIC_RED}
green = {MIC_GREEN}
blue = {MIC_BLUE}
[leds.hand]
pin = {HAND_LED}
[leds.camera]
pin = {CAMERA_LED}
[leds.status]
pin = {STATUS_LED}
[health]
port = {health_port}
{extra}"""


def settings_from(text: str) -> Settings:
    settings, problems = validate_text(text, file="test.toml")
    assert settings is not None, [str(p) for p in problems]
    return settings


class RoomUnderTest:
    """The appliance, its mock pins and its /healthz, all in this process."""

    def __init__(self, settings: Settings, state_dir: Path) -> None:
        self.factory = MockFactory()
        state_dir.mkdir(parents=True, exist_ok=True)
        self.runtime = ServiceRuntime("test", health_port=0, state_dir=state_dir)
        self.app = Appliance(settings, state_dir, version="test", runtime=self.runtime,
                             pin_factory=self.factory)
        self.task: asyncio.Task[None] | None = None

    # -- pins ---------------------------------------------------------------------
    def pin(self, number: int) -> Any:
        return self.factory.pin(number)

    def press(self, button: str, hold_s: float = 0.1) -> float:
        """Press (pull-up wiring: low) and release after `hold_s` on a timer thread.
        Returns the monotonic time of the press edge."""
        pin = self.pin(BUTTON_PINS[button])
        at = time.monotonic()
        pin.drive_low()
        loop = asyncio.get_running_loop()
        loop.call_later(hold_s, pin.drive_high)
        return at

    def mic_led(self) -> str:
        """The colour the mic LED's pins show."""
        red, green = self.pin(MIC_RED).state, self.pin(MIC_GREEN).state
        return {(True, False): "red", (False, True): "green", (False, False): "off"}.get(
            (bool(red), bool(green)), "both")

    def led_on(self, number: int) -> bool:
        return bool(self.pin(number).state)

    # -- state ----------------------------------------------------------------------
    @property
    def state(self) -> Any:
        return self.app.state

    @property
    def health_url(self) -> str:
        assert self.runtime.server is not None
        return self.runtime.server.url + "/healthz"

    async def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.app.run())
        await wait_for(lambda: self.app.controls is not None, 20, "the appliance to start")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.factory.close()


@contextlib.asynccontextmanager
async def room_under_test(settings: Settings, state_dir: Path) -> AsyncIterator[RoomUnderTest]:
    rut = RoomUnderTest(settings, state_dir)
    await rut.start()
    try:
        yield rut
    finally:
        await rut.stop()


async def wait_for(predicate: Callable[[], Any], timeout: float, what: str,
                   interval: float = 0.01) -> Any:
    """Poll `predicate` on the loop until it is truthy; its value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
