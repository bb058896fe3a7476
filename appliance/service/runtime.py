"""ServiceRuntime: the service pieces started and stopped together by the app.

    async with ServiceRuntime(version, health_port=8765) as svc:
        svc.health.set_config(digest=..., valid=True, source="boot")
        camera = svc.watchdog.register_heartbeat("camera", max_age_s=5)
        ...                                   # open devices, start the first join
        svc.ready("joining 5A")               # READY=1 + STATUS=
        svc.status("in meeting 5A as Room 5A")
        ...                                   # camera pipeline calls camera.beat() per frame

On exit it sends STOPPING=1 and stops the watchdog and the health server.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import os
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import uvloop

from appliance.service.health import HealthServer, HealthState
from appliance.service.notify import Notifier
from appliance.service.thread_names import name_native_threads
from appliance.service.watchdog import Watchdog, hang_hook

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_HEALTH_PORT", "ServiceRuntime", "run_event_loop", "state_directory"]

T = TypeVar("T")


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run the service's coroutine on uvloop, not asyncio's own loop.

    asyncio reads every datagram into a fresh 256 KiB buffer and then shrinks it to
    the packet; with packets queued between aioice and aiortc, the survivors pin the
    freed space and glibc's heap grows through a long call (by ~1 MiB a minute when the
    CPU is short). uvloop reads into one buffer and copies out only the packet, and
    costs less CPU per packet (docs/performance.md, "Memory in a long call").
    Threads started from here on carry their names to the OS (`thread_names`).
    """
    name_native_threads()
    return uvloop.run(main)

DEFAULT_HEALTH_PORT = 8765


def state_directory(default: Path = Path("/var/lib/salon")) -> Path:
    """$STATE_DIRECTORY (set by systemd's StateDirectory=), else the given default."""
    value = os.environ.get("STATE_DIRECTORY", "")
    # systemd joins several directories with ':'; ours is the first.
    return Path(value.split(":")[0]) if value else default


class ServiceRuntime:
    """Notifier + Watchdog + HealthState (+ HealthServer unless health_port is None)."""

    def __init__(
        self,
        version: str,
        *,
        health_port: int | None = DEFAULT_HEALTH_PORT,
        health_host: str = "127.0.0.1",
        state_dir: Path | None = None,
        notifier: Notifier | None = None,
        watchdog_interval_s: float | None = None,
    ) -> None:
        self.notifier = notifier if notifier is not None else Notifier(unset_environment=True)
        self.watchdog = Watchdog(self.notifier, watchdog_interval_s)
        self.health = HealthState(version)
        self.watchdog.on_change = self.health.set_watchdog_reasons
        self.server = (
            HealthServer(self.health, host=health_host, port=health_port)
            if health_port is not None else None
        )
        self.state_dir = state_dir if state_dir is not None else state_directory()
        self._hook: asyncio.Task[None] | None = None
        self.last_status = ""

    async def start(self) -> None:
        """Start the health endpoint and the watchdog. Never raises for a busy port."""
        if not faulthandler.is_enabled():
            # systemd's watchdog kills with SIGABRT: this puts every thread's stack, i.e.
            # where the loop hung, in the journal.
            faulthandler.enable()
        if self.server is not None:
            try:
                await self.server.start()
            except OSError as exc:  # the appliance is worth more than its endpoint
                log.error("health endpoint not started: %s", exc, extra={"EVENT": "health.error"})
                self.health.record_error(f"health endpoint: {exc}")
                self.server = None
        self.watchdog.start()
        self._hook = asyncio.get_running_loop().create_task(
            hang_hook(self.state_dir), name="test-hang-hook")

    def ready(self, status: str) -> None:
        """Call once the devices are open and the first join attempt has started."""
        self.last_status = status
        self.notifier.ready(status)
        log.info("ready: %s", status, extra={"EVENT": "service.ready"})

    def status(self, text: str) -> None:
        """What the appliance is doing, for `systemctl status`; repeated texts are dropped."""
        if text != self.last_status:
            self.last_status = text
            self.notifier.status(text)

    async def stop(self, status: str = "stopping") -> None:
        self.notifier.stopping(status)
        if self._hook is not None:
            self._hook.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._hook
        await self.watchdog.stop()
        if self.server is not None:
            await self.server.stop()
        self.notifier.close()

    async def __aenter__(self) -> ServiceRuntime:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
