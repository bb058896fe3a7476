"""The fake Janus keeps its contract with the real one: the same VideoRoom scenario,
told through the bridge's own client, gives the same observable results against both
(tests/support/janus_scenario.py). If Janus changes, this fails before the fakes lie."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from bridge.janus.client import JanusConnection
from bridge.janus.fake import FakeJanus
from bridge.janus.supervisor import LocalJanus
from tests.support.janus_scenario import scenario

ADMIN_KEY = "room-admin-key"


async def with_fake() -> dict[str, Any]:
    fake = FakeJanus(admin_key=ADMIN_KEY)
    conn = JanusConnection("ws://fake-janus/", None, fake.dial)
    await conn.connect()
    try:
        return await scenario(conn, ADMIN_KEY)
    finally:
        await conn.close()


async def test_the_fake_answers_the_scenario() -> None:
    seen = await with_fake()
    assert seen["the same user id again"] == 436
    assert seen["moderate, wrong secret"] == 433


@pytest.mark.netns
@pytest.mark.slow
async def test_the_fake_answers_as_the_real_janus_does(tmp_path: Path) -> None:
    janus = LocalJanus(tmp_path, os.environ.get("SALON_MEDIA_IP"))
    await janus.start()
    lay = janus.layout
    conn = JanusConnection(lay.ws_url, lay.api_secret)
    await conn.connect()
    try:
        real = await scenario(conn, lay.room_admin_key)
    finally:
        await conn.close()
        await janus.stop()
    print(real)
    assert await with_fake() == real
