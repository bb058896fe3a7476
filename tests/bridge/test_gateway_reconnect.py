"""The bridge's connection to a Janus that died and came back: the dead connection's
socket and HTTP session are closed before the new one is made, so a restart leaks
nothing (an unclosed aiohttp session is logged at the bridge's exit otherwise)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bridge.janus.server import JanusEndpoint, JanusServer
from bridge.janus.supervisor import LocalJanus

pytestmark = [pytest.mark.netns]


async def until(check, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_dead_janus_connection_is_closed_before_the_next(tmp_path: Path) -> None:
    janus = LocalJanus(tmp_path, os.environ.get("SALON_MEDIA_IP"))
    await janus.start()
    lay = janus.layout
    server = JanusServer(JanusEndpoint(lay.ws_url, lay.api_secret, lay.room_admin_key, "local"))
    backs: list[JanusServer] = []

    async def back(s: JanusServer) -> None:
        backs.append(s)

    runner = asyncio.create_task(server.run(back))
    try:
        await until(server.up.is_set, "the first connection")
        first = server.connection
        assert first is not None
        janus.kill_for_test()  # the supervisor starts a new Janus
        await until(lambda: backs and server.up.is_set(), "the connection to the new Janus", 60)
        assert server.connection is not first
        assert first._http is not None and first._http.closed, "the dead one's HTTP session"
        assert first._ws is not None and first._ws.closed
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await server.close()
        await janus.stop()
