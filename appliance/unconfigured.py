"""With no usable provisioning file at all, the room's screen says what to fix and the
service stays up (reporting the problem on /healthz) instead of crash-looping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Sequence
from typing import Final

from appliance.provisioning.loader import ConfigProblem
from appliance.screen.config_problems import problems_screen

LANGUAGE: Final = "tr"  # no config says otherwise
log = logging.getLogger("salon.appliance")


async def _show(problems: Sequence[ConfigProblem], version: str) -> None:
    from appliance.devices.display import open_display
    from appliance.screen.render import Renderer, ScreenDriver
    from appliance.service.runtime import ServiceRuntime

    backend = "headless" if os.environ.get("SDL_VIDEODRIVER") == "dummy" else "pygame"
    display = open_display(backend, None)
    w, h = display.size
    size = (int(w), int(h))
    driver = ScreenDriver(Renderer(size, LANGUAGE), display)
    screens = [problems_screen(problems, version), problems_screen((), version)]
    async with ServiceRuntime(version) as svc:
        if svc.server is not None:  # the default health port: no config says otherwise
            svc.server.screen_png = display.snapshot_png
        svc.health.set_config(digest="", valid=False, error="; ".join(map(str, problems))[:500])
        svc.ready("no usable configuration: " + (str(problems[0]) if problems else "none found"))
        try:
            while True:
                if screens:
                    try:
                        driver.update(screens[0])
                    except Exception:  # never a crash loop: /healthz tells the rest
                        log.exception("cannot draw the configuration problems")
                        screens.pop(0)  # then the bare problem screen, then none
                svc.watchdog.beat("screen")
                await asyncio.sleep(1.0)
        finally:
            display.close()


def show_config_problems(problems: Sequence[ConfigProblem], version: str) -> int:
    async def main() -> None:
        task = asyncio.create_task(_show(problems, version))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    return 1
