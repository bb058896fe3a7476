"""The bridge's domain tests share one world (tests/support/meetings_world.py); its
media tests share a fake Janus and a gateway connected to it (tests/support/fake_janus.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bridge.gateway import MediaGateway
from bridge.janus.fake import FakeJanus
from tests.support.fake_janus import ADMIN_KEY, endpoint
from tests.support.meetings_world import World, make_world


@pytest.fixture
def world(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = make_world(tmp_path, tmp_path_factory)
    yield w
    w.close()


@pytest.fixture
def fake_janus() -> FakeJanus:
    return FakeJanus(admin_key=ADMIN_KEY)


@pytest.fixture
async def gateway(fake_janus: FakeJanus) -> AsyncIterator[MediaGateway]:
    """A media gateway connected to the fake Janus."""
    gw = MediaGateway([endpoint(fake_janus)])
    await gw.start(wait=2.0)
    yield gw
    await gw.close()
