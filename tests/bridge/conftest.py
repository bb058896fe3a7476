"""The bridge's domain tests share one world (tests/support/meetings_world.py); its
media tests share a fake Janus and a gateway connected to it (tests/support/fake_janus.py)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from bridge.config import BridgeSettings, JanusSettings, RemoteJanus, RoomSeed, UserSeed
from bridge.gateway import MediaGateway
from bridge.janus.fake import FakeJanus
from bridge.store.db import DB_FILE_NAME, Store
from bridge.web.app import Bridge, create_app
from tests.support.fake_janus import ADMIN_KEY, URL, endpoint
from tests.support.meetings_world import CHEAP, World, make_world
from tests.support.served_bridge import HOST_PASSWORD, MODERATED, OPEN, Served


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


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database at the schema's head, made once (the migrations are tested from
    empty in test_store): each bridge starts from a copy."""
    path = tmp_path_factory.mktemp("migrated") / DB_FILE_NAME
    Store(f"sqlite:///{path}").close()
    return path


@pytest.fixture
async def served(tmp_path: Path, fake_janus: FakeJanus, migrated: Path
                 ) -> AsyncIterator[Served]:
    shutil.copyfile(migrated, tmp_path / DB_FILE_NAME)
    key = tmp_path / "room-admin-key"
    key.write_text(ADMIN_KEY)
    settings = BridgeSettings(
        state_dir=tmp_path,
        janus=JanusSettings(mode="remote", servers=[
            RemoteJanus(url=URL, name="fake", room_admin_key_file=key)]),
        rooms=[RoomSeed(address=MODERATED, title="Test BİM", policy="public"),
               RoomSeed(address=OPEN, title="Açık oda", policy="public", moderated=False)],
        users=[UserSeed(name="ayse", role="host", display_name="Ayşe Öğretmen",
                        password_hash=CHEAP.hasher.hash(HOST_PASSWORD))],
    )
    app = create_app(settings, janus_dial=fake_janus.dial)
    bridge: Bridge = app["bridge"]
    bridge.meetings.passwords = CHEAP  # no upgrade of the cheap hash at sign-in
    runner = web.AppRunner(app)
    await runner.setup()
    socket = str(tmp_path / "bridge.sock")
    await web.UnixSite(runner, socket).start()
    served = Served(bridge, socket, [])
    yield served
    for c in served.clients:
        await c.ws.close()
        await c.http.close()
    await runner.cleanup()
