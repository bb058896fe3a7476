"""The bridge process: aiohttp routes, the live rooms and the media gateway, and the
local Janus it supervises by default."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from aiohttp import web

from bridge.config import BridgeSettings
from bridge.gateway import JanusEndpoint, JanusServer, MediaGateway
from bridge.janus.supervisor import LocalJanus
from bridge.live import LiveRoom
from bridge.protocol import MAX_MESSAGE_BYTES, PROTOCOL_VERSION
from bridge.web.client import ClientConnection

log = logging.getLogger("salon.bridge")
STATIC = Path(__file__).parent / "static"

try:
    VERSION = version("salon")
except PackageNotFoundError:  # running from a source tree
    VERSION = "0+src"


def _read_secret(path: Path | None) -> str | None:
    return path.read_text().strip() if path else None


class Bridge:
    """Everything one bridge process holds."""

    def __init__(self, settings: BridgeSettings) -> None:
        self.settings = settings
        self.local_janus: LocalJanus | None = None
        self.gateway: MediaGateway = MediaGateway([])
        self.rooms: dict[str, LiveRoom] = {}
        self.connections: set[ClientConnection] = set()
        self.seeds = {r.address: r for r in settings.rooms}

    def room(self, address: str) -> LiveRoom | None:
        room = self.rooms.get(address)
        seed = self.seeds.get(address)
        if room is None and (seed is not None or self.settings.open_rooms):
            room = LiveRoom(address, seed.title if seed else address, self.gateway,
                            moderated=seed.moderated if seed else False)
            self.rooms[address] = room
        return room

    async def start(self) -> None:
        s = self.settings
        s.state_dir.mkdir(parents=True, exist_ok=True)
        if s.janus.mode == "local":
            self.local_janus = LocalJanus(
                s.state_dir, s.janus.media_ip, s.janus.rtp_port_range, s.janus.binary
            )
            await self.local_janus.start()
            lay = self.local_janus.layout
            endpoints = [JanusEndpoint(lay.ws_url, lay.api_secret, lay.room_admin_key, "local")]
        else:
            endpoints = [
                JanusEndpoint(j.url, _read_secret(j.api_secret_file),
                              _read_secret(j.room_admin_key_file), j.name)
                for j in s.janus.servers
            ]
        self.gateway = MediaGateway(endpoints)
        self.gateway.on_server_back = self._server_back
        await self.gateway.start()

    async def _server_back(self, server: JanusServer) -> None:
        """A Janus server is answering again after losing every session: re-establish media."""
        for conn in list(self.connections):
            if conn.room is not None and self.gateway.room_server.get(conn.room.address) is server:
                try:
                    await conn.reset_media("media server restarted")
                except Exception:
                    log.exception("could not restore media for %s", conn.peer)

    async def stop(self) -> None:
        for conn in list(self.connections):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(conn.ws.close(code=1001, message=b"bridge stopping"), 2.0)
        await self.gateway.close()
        if self.local_janus is not None:
            await self.local_janus.stop()

    # ---- routes ----------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        # Twice the protocol's limit, so an oversized message gets a readable error reply.
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=2 * MAX_MESSAGE_BYTES)
        await ws.prepare(request)
        conn = ClientConnection(self, ws, request.remote or "?")
        self.connections.add(conn)
        try:
            await conn.run()
        finally:
            self.connections.discard(conn)
        return ws

    async def room_page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "room.html")

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def health(self, request: web.Request) -> web.Response:
        servers = [{"name": s.endpoint.name, "up": s.up.is_set(), "rooms": len(s.rooms)}
                   for s in self.gateway.servers]
        return web.json_response({
            "version": VERSION, "protocol": PROTOCOL_VERSION, "janus": servers,
            "janus_restarts": self.local_janus.restarts if self.local_janus else None,
            "janus_pid": self.local_janus.pid if self.local_janus else None,
            "rooms": {a: len(r.participants) for a, r in self.rooms.items() if r.participants},
        })


def create_app(settings: BridgeSettings) -> web.Application:
    bridge = Bridge(settings)
    app = web.Application(client_max_size=1024**2)
    app["bridge"] = bridge
    app.router.add_get("/", bridge.index)
    app.router.add_get("/r/{room}", bridge.room_page)
    app.router.add_get("/ws", bridge.websocket)
    app.router.add_get("/healthz", bridge.health)
    app.router.add_static("/static/", STATIC, append_version=True)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await bridge.start()
        yield
        await bridge.stop()

    app.cleanup_ctx.append(lifecycle)
    return app


async def serve(settings: BridgeSettings) -> None:
    """Run until cancelled (SIGINT/SIGTERM handled by the caller)."""
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.server.host, settings.server.port)
    await site.start()
    log.info("bridge listening on http://%s:%s/", settings.server.host, settings.server.port,
             extra={"EVENT": "listening"})
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
