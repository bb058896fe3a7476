"""The real bridge app on a Unix socket in the test's own process, with the fake Janus
behind its gateway (the `served` fixture in tests/bridge/conftest.py): clients speak the
protocol over a real WebSocket, with no Janus process, browser or network."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from bridge.web.app import Bridge
from salon import protocol as p
from tests.support.wsclient import RawClient

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
