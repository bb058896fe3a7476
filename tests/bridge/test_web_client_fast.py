"""The web client handler (bridge/web/client.py) in the real bridge app, with the fake
Janus behind its gateway and the app served on a Unix socket in the test's own process:
no Janus process, no browser, no network. What a client is told and what Janus is asked:
rights become ``moderate`` at the SFU, talking reaches the roster, a Janus that went
away brings ``media_reset``, and media needs admission."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from argon2 import PasswordHasher, profiles

from bridge.config import BridgeSettings, JanusSettings, RemoteJanus, RoomSeed, UserSeed
from bridge.janus.fake import FakeJanus
from bridge.store.accounts import Passwords
from bridge.store.db import DB_FILE_NAME, Store
from bridge.web.app import Bridge, create_app
from salon import protocol as p
from tests.support.fake_janus import ADMIN_KEY, URL, until
from tests.support.janus_scenario import OFFER
from tests.support.wsclient import RawClient

CHEAP = Passwords(PasswordHasher.from_parameters(profiles.CHEAPEST))
HOST_PASSWORD = "doğru-parola-123"
MODERATED, OPEN = "testbim", "acik"


@dataclass
class Served:
    bridge: Bridge
    socket: str
    clients: list[RawClient]

    async def client(self) -> RawClient:
        http = aiohttp.ClientSession(connector=aiohttp.UnixConnector(self.socket))
        client = RawClient(http, await http.ws_connect("http://bridge/ws"))
        self.clients.append(client)
        return client

    async def guest(self, room: str, name: str) -> tuple[RawClient, dict[str, Any]]:
        c = await self.client()
        await c.send({"type": "join", "id": 1, "protocol": p.PROTOCOL_VERSION,
                      "room": room, "name": name})
        return c, await c.expect_where(
            lambda m: m.get("type") in ("welcome", "lobby_waiting", "error"), timeout=2)

    async def host(self) -> tuple[RawClient, dict[str, Any]]:
        c = await self.client()
        await c.send({"type": "join", "id": 1, "protocol": p.PROTOCOL_VERSION,
                      "room": MODERATED, "user": "ayse", "password": HOST_PASSWORD})
        return c, await c.expect("welcome", timeout=2)


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


async def publish(c: RawClient, fake: FakeJanus, room: str, pid: str) -> dict[str, Any]:
    """Publish, as a browser does, and have Janus see the PeerConnection come up."""
    await c.send({"type": "publish", "id": 5, "sdp": OFFER})
    answer = await c.expect("publish_answer", timeout=2)
    fake.webrtc_up(room, pid)
    await c.expect_where(lambda m: m.get("type") == "participant_updated"
                         and m["participant"]["id"] == pid and m["participant"]["publishing"],
                         timeout=2)
    return answer


async def test_a_guest_on_an_open_floor_publishes_and_is_forwarded(
        served: Served, fake_janus: FakeJanus) -> None:
    c, welcome = await served.guest(OPEN, "Ali Veli")
    pid = welcome["you"]["id"]
    answer = await publish(c, fake_janus, OPEN, pid)
    assert [line.split()[0] for line in answer["sdp"].splitlines()
            if line.startswith("m=")] == ["m=audio", "m=video"]
    assert fake_janus.forwarded(OPEN, pid, "audio") and fake_janus.forwarded(OPEN, pid, "video")


async def test_a_camera_is_forwarded_only_while_the_host_grants_it(
        served: Served, fake_janus: FakeJanus) -> None:
    host, _ = await served.host()
    guest, waiting = await served.guest(MODERATED, "Veli Can")
    assert waiting["type"] == "lobby_waiting"
    pid = waiting["you"]["id"]
    await guest.send({"type": "publish", "id": 2, "sdp": OFFER})
    assert (await guest.expect("error", timeout=2))["code"] == "not_admitted"
    await host.send({"type": "admit", "id": 2, "participant": pid})
    await guest.expect("welcome", timeout=2)

    await publish(guest, fake_janus, MODERATED, pid)  # a client sending video anyway
    assert not fake_janus.forwarded(MODERATED, pid, "video")
    assert not fake_janus.forwarded(MODERATED, pid, "audio")
    await guest.send({"type": "set_media_state", "id": 6, "camera_on": True})
    assert (await guest.expect("error", timeout=2))["code"] == "no_camera_right"

    await host.send({"type": "set_right", "id": 3, "participant": pid, "right": "camera",
                     "granted": True})
    await host.expect("ok", timeout=2, re=3)
    await until(lambda: fake_janus.forwarded(MODERATED, pid, "video"), "video unmuted")
    assert not fake_janus.forwarded(MODERATED, pid, "audio"), "the camera right only"
    publisher = fake_janus.publisher(MODERATED, pid)
    assert publisher is not None and publisher.keyframes == 1

    await host.send({"type": "set_right", "id": 4, "participant": pid, "right": "camera",
                     "granted": False})
    await host.expect("ok", timeout=2, re=4)
    await until(lambda: not fake_janus.forwarded(MODERATED, pid, "video"), "video muted")


async def test_talking_reaches_the_others_roster(
        served: Served, fake_janus: FakeJanus) -> None:
    speaker, welcome = await served.guest(OPEN, "Ali Veli")
    listener, _ = await served.guest(OPEN, "Ayşe Kaya")
    pid = welcome["you"]["id"]
    await publish(speaker, fake_janus, OPEN, pid)
    offer = await listener.expect("subscribe_offer", timeout=2)
    assert {s["participant"] for s in offer["streams"]} == {pid}
    await listener.send({"type": "subscribe_answer", "id": 9, "sdp": "v=0 an answer"})
    await listener.expect("ok", timeout=2, re=9)
    assert [h.started for h in fake_janus.subscribers(OPEN)] == [True]

    fake_janus.talking(OPEN, pid)
    update = await listener.expect_where(
        lambda m: m.get("type") == "participant_updated" and m["participant"]["talking"],
        timeout=2)
    assert update["participant"]["id"] == pid


async def test_a_janus_that_went_away_and_came_back_brings_a_media_reset(
        served: Served, fake_janus: FakeJanus) -> None:
    c, welcome = await served.guest(OPEN, "Ali Veli")
    pid = welcome["you"]["id"]
    await publish(c, fake_janus, OPEN, pid)
    await fake_janus.go_away()
    await c.send({"type": "publish", "id": 7, "sdp": OFFER})
    assert (await c.expect("error", timeout=2, re=7))["code"] == "media_unavailable"
    fake_janus.come_back()
    await c.expect("media_reset", timeout=3)
    await publish(c, fake_janus, OPEN, pid)  # the same seat, a new Janus session
    assert fake_janus.forwarded(OPEN, pid, "audio")


async def test_leaving_ends_the_participants_janus_session(
        served: Served, fake_janus: FakeJanus) -> None:
    c, welcome = await served.guest(OPEN, "Ali Veli")
    pid = welcome["you"]["id"]
    await publish(c, fake_janus, OPEN, pid)
    await c.send({"type": "leave"})
    assert (await c.expect("bye", timeout=2))["reason"] == "left"
    await until(lambda: fake_janus.publisher(OPEN, pid) is None, "its publisher gone")
    assert len(fake_janus.sessions) == 1, "only the gateway's room control is left"
