"""The bridge's media side on the fake Janus (bridge/janus/fake.py): a gateway connected
to it, and waiting for what the event loop will do next."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bridge.gateway import JanusEndpoint
from bridge.janus.fake import FakeJanus

ADMIN_KEY = "room-admin-key"
URL = "ws://fake-janus/"


def endpoint(fake: FakeJanus, name: str = "fake") -> JanusEndpoint:
    return JanusEndpoint(URL, fake.api_secret, fake.admin_key, name, fake.dial)


async def until(check: Callable[[], object], what: str, timeout: float = 2.0) -> None:
    """Let the event loop run until ``check()`` holds (the fake answers at once, so
    this is a few turns of the loop, never the timeout)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.002)
