"""Watchdog pings that prove the appliance is alive, not merely that its process is.

The pings come from a task on the main asyncio loop, so a blocked loop sends none.
On top of that every registered check must pass: a media pipeline registers a
heartbeat and calls beat() per frame (from any thread); if the camera pipeline
freezes, its heartbeat ages past max_age_s, the pings stop, and systemd restarts
the service after WatchdogSec=. Off systemd the same checks run and feed /healthz.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from appliance.service.notify import Notifier

log = logging.getLogger(__name__)

__all__ = ["Heartbeat", "Watchdog", "hang_hook"]

# Without WatchdogSec= health is still evaluated (for /healthz) at this period.
_DEFAULT_PERIOD_S = 5.0


@dataclass
class Heartbeat:
    """One pipeline's liveness: healthy while beat() was called within max_age_s."""

    name: str
    max_age_s: float
    last_beat: float
    beats: int = 0
    paused: bool = False

    def age(self, now: float) -> float:
        return now - self.last_beat


class Watchdog:
    """Pings systemd's watchdog while the loop runs and every check passes.

    interval_s: the WatchdogSec= period (default: from WATCHDOG_USEC via the notifier).
    Pings go out at half that period, as sd_watchdog_enabled(3) recommends.
    """

    def __init__(
        self,
        notifier: Notifier,
        interval_s: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._notifier = notifier
        self.interval_s = interval_s if interval_s is not None else notifier.watchdog_interval_s
        self._clock = clock
        self._heartbeats: dict[str, Heartbeat] = {}
        self._checks: dict[str, Callable[[], str | None]] = {}
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._last_reasons: list[str] = []
        self.pings = 0
        self.on_change: Callable[[list[str]], None] | None = None

    @property
    def period_s(self) -> float:
        """Time between evaluations (and pings)."""
        return self.interval_s / 2 if self.interval_s else _DEFAULT_PERIOD_S

    def register_heartbeat(self, name: str, max_age_s: float) -> Heartbeat:
        """Start watching `name`; it has max_age_s from now to produce its first beat."""
        heartbeat = Heartbeat(name, max_age_s, self._clock())
        with self._lock:
            self._heartbeats[name] = heartbeat
        return heartbeat

    def unregister(self, name: str) -> None:
        """Stop watching a heartbeat or a check (e.g. the camera was switched off)."""
        with self._lock:
            self._heartbeats.pop(name, None)
            self._checks.pop(name, None)

    def pause(self, name: str, paused: bool = True) -> None:
        """Exempt a heartbeat while its pipeline is idle by design; resuming restarts its clock."""
        with self._lock:
            heartbeat = self._heartbeats[name]
            heartbeat.paused = paused
            heartbeat.last_beat = self._clock()

    def beat(self, name: str) -> None:
        """Record that pipeline `name` made progress. Thread-safe and cheap."""
        heartbeat = self._heartbeats.get(name)
        if heartbeat is not None:
            heartbeat.last_beat = self._clock()
            heartbeat.beats += 1

    def register_check(self, name: str, check: Callable[[], str | None]) -> None:
        """Add a check run on the loop each period: it returns None when healthy,
        else a short reason. A check that raises counts as failing."""
        with self._lock:
            self._checks[name] = check

    def unhealthy_reasons(self) -> list[str]:
        """Why the service is unhealthy right now; empty when it is healthy."""
        now = self._clock()
        with self._lock:
            heartbeats = list(self._heartbeats.values())
            checks = list(self._checks.items())
        reasons = [
            f"{hb.name}: no progress for {hb.age(now):.1f} s"
            for hb in heartbeats
            if not hb.paused and hb.age(now) > hb.max_age_s
        ]
        for name, check in checks:
            try:
                reason = check()
            except Exception as exc:  # a broken check is a failing check, not a crash
                reason = f"check raised {exc!r}"
            if reason:
                reasons.append(f"{name}: {reason}")
        return reasons

    def tick(self) -> bool:
        """Evaluate once and ping if healthy. Returns whether a ping was sent."""
        reasons = self.unhealthy_reasons()
        if reasons != self._last_reasons:
            self._report_change(reasons)
        if reasons:
            return False
        if self._notifier.watchdog():
            self.pings += 1
            return True
        return False

    def _report_change(self, reasons: list[str]) -> None:
        if reasons:
            log.error("unhealthy, withholding watchdog pings: %s", "; ".join(reasons),
                      extra={"EVENT": "watchdog.unhealthy"})
            self._notifier.status("unhealthy: " + "; ".join(reasons))
        else:
            log.info("healthy again", extra={"EVENT": "watchdog.healthy"})
        self._last_reasons = reasons
        if self.on_change is not None:
            self.on_change(reasons)

    async def run(self) -> None:
        """Tick every period until cancelled."""
        while True:
            self.tick()
            await asyncio.sleep(self.period_s)

    def start(self) -> asyncio.Task[None]:
        """Run on the current loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name="watchdog")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


HANG_AFTER_ENV = "SALON_TEST_HANG_AFTER_S"
HOOKS_ENV = "SALON_TEST_HOOKS"
HANG_FLAG = "test-hang"


async def hang_hook(state_dir: Path | None, *, poll_s: float = 0.5) -> None:
    """Test hook: block the event loop on demand, to prove the watchdog kills it.

    Active only when asked for by the environment:
    - SALON_TEST_HANG_AFTER_S=N blocks the loop N seconds after start;
    - SALON_TEST_HOOKS=1 blocks it when STATE_DIR/test-hang appears (the file is
      removed first, so the restarted service runs normally).
    Returns at once when neither is set.
    """
    after = os.environ.get(HANG_AFTER_ENV, "")
    flag = state_dir / HANG_FLAG if state_dir and os.environ.get(HOOKS_ENV) == "1" else None
    if not after and flag is None:
        return
    deadline = time.monotonic() + float(after) if after else None
    while True:
        if deadline is not None and time.monotonic() >= deadline:
            break
        if flag is not None and flag.exists():
            flag.unlink(missing_ok=True)
            break
        await asyncio.sleep(poll_s)
    log.warning("test hook: blocking the event loop", extra={"EVENT": "test.hang"})
    while True:  # deliberately never yields to the loop
        time.sleep(3600)
