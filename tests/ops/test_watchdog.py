"""The watchdog pings only while the loop runs and every heartbeat/check is fresh."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.service.notify import Notifier
from appliance.service.watchdog import Watchdog

if TYPE_CHECKING:
    from tests.ops.conftest import NotifySocket

INTERVAL = 0.2  # WatchdogSec for the tests: pings every 0.1 s


def pings(messages: list[str]) -> int:
    return sum(m == "WATCHDOG=1" for m in messages)


async def pinged(notify_socket: NotifySocket, count: int, timeout: float = 10.0) -> None:
    """Wait until `count` pings have come (a generous bound: a busy machine is slow to
    run the loop, and that is not what these tests are about)."""
    seen = 0
    async with asyncio.timeout(timeout):
        while (seen := seen + pings(notify_socket.drain())) < count:
            await asyncio.sleep(0.05)


async def test_pings_while_heartbeat_is_fresh_and_stop_when_it_freezes(
    notify_socket: NotifySocket,
) -> None:
    watchdog = Watchdog(Notifier(str(notify_socket.path)), INTERVAL)
    watchdog.register_heartbeat("camera", max_age_s=0.3)
    frozen = threading.Event()
    stop = threading.Event()

    def camera_thread() -> None:  # a pipeline beating from its own thread, like picamera2
        while not stop.is_set():
            if not frozen.is_set():
                watchdog.beat("camera")
            time.sleep(0.02)

    thread = threading.Thread(target=camera_thread)
    thread.start()
    watchdog.start()
    try:
        await pinged(notify_socket, 3)
        assert watchdog.unhealthy_reasons() == []

        frozen.set()
        await asyncio.sleep(0.6)  # past max_age_s: pings must have stopped
        notify_socket.drain()
        await asyncio.sleep(1.0)
        during_freeze = notify_socket.drain()
        assert pings(during_freeze) == 0
        reasons = watchdog.unhealthy_reasons()
        assert len(reasons) == 1 and reasons[0].startswith("camera: no progress for")

        frozen.clear()
        await pinged(notify_socket, 1)
    finally:
        stop.set()
        thread.join()
        await watchdog.stop()


async def test_status_says_why_pings_stopped(notify_socket: NotifySocket) -> None:
    watchdog = Watchdog(Notifier(str(notify_socket.path)), INTERVAL)
    changes: list[list[str]] = []
    watchdog.on_change = changes.append
    watchdog.register_check("bridge", lambda: "websocket silent for 30 s")
    assert watchdog.tick() is False
    assert notify_socket.drain() == ["STATUS=unhealthy: bridge: websocket silent for 30 s"]
    assert changes == [["bridge: websocket silent for 30 s"]]
    watchdog.unregister("bridge")
    assert watchdog.tick() is True
    assert notify_socket.drain() == ["WATCHDOG=1"]
    assert changes[-1] == []


async def test_a_raising_check_counts_as_failing(notify_socket: NotifySocket) -> None:
    watchdog = Watchdog(Notifier(str(notify_socket.path)), INTERVAL)

    def broken() -> str | None:
        raise RuntimeError("boom")

    watchdog.register_check("mixer", broken)
    assert watchdog.tick() is False
    assert watchdog.unhealthy_reasons() == ["mixer: check raised RuntimeError('boom')"]


async def test_paused_heartbeat_is_exempt_until_resumed(notify_socket: NotifySocket) -> None:
    now = [100.0]
    watchdog = Watchdog(Notifier(str(notify_socket.path)), INTERVAL, clock=lambda: now[0])
    watchdog.register_heartbeat("camera", max_age_s=5)
    watchdog.pause("camera")  # camera off: no camera rights
    now[0] += 60
    assert watchdog.tick() is True
    watchdog.pause("camera", False)  # resuming restarts its clock
    now[0] += 4
    assert watchdog.tick() is True
    now[0] += 2
    assert watchdog.tick() is False


async def test_a_blocked_event_loop_sends_no_pings(notify_socket: NotifySocket) -> None:
    watchdog = Watchdog(Notifier(str(notify_socket.path)), INTERVAL)
    watchdog.start()
    await pinged(notify_socket, 2)
    await asyncio.sleep(0)
    notify_socket.drain()  # (a ping sent as the loop stalls would count as its last)
    time.sleep(1.0)  # the loop is stalled: the ping task cannot run
    assert pings(notify_socket.drain()) == 0
    await pinged(notify_socket, 1)
    await watchdog.stop()


HOOKED_SERVICE = """
import asyncio, sys
from pathlib import Path
from appliance.service.runtime import ServiceRuntime

async def main():
    async with ServiceRuntime("test", health_port=None, state_dir=Path(sys.argv[1]),
                              watchdog_interval_s=0.2) as svc:
        svc.ready("up")
        await asyncio.sleep(60)

asyncio.run(main())
"""


def test_hang_hook_blocks_the_loop_once_when_the_flag_appears(
    notify_socket: NotifySocket, tmp_path: Path
) -> None:
    env = dict(os.environ, NOTIFY_SOCKET=str(notify_socket.path), SALON_TEST_HOOKS="1")
    proc = subprocess.Popen([sys.executable, "-c", HOOKED_SERVICE, str(tmp_path)], env=env)
    try:
        assert notify_socket.recv(timeout=20) == "READY=1\nSTATUS=up"
        time.sleep(0.5)
        assert pings(notify_socket.drain()) >= 1
        flag = tmp_path / "test-hang"
        flag.touch()
        deadline = time.monotonic() + 10
        while flag.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not flag.exists()  # consumed, so the restarted service runs normally
        time.sleep(0.3)
        notify_socket.drain()
        time.sleep(1.0)
        assert pings(notify_socket.drain()) == 0
        assert proc.poll() is None  # hung, not dead: killing it is systemd's job
    finally:
        proc.kill()
        proc.wait()
