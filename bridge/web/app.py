"""The bridge process: the meetings domain and its store, the live rooms and the media
gateway, the local Janus it supervises by default, and the aiohttp routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from aiohttp import web

from bridge import protocol as p
from bridge.admin import seed_from_config
from bridge.config import BridgeSettings, seed_mapping
from bridge.gateway import JanusEndpoint, JanusServer, MediaGateway
from bridge.janus.supervisor import LocalJanus
from bridge.live import LiveRoom
from bridge.meetings.effects import (
    Broadcast,
    Disconnect,
    Done,
    JanusModerate,
    Refusal,
    SendTo,
)
from bridge.meetings.runner import AsyncMeetings
from bridge.meetings.service import Meetings
from bridge.store.db import Store, default_url
from bridge.tls import hsts_middleware, serve_https
from bridge.turn import TurnMinter
from bridge.web.client import ClientConnection
from bridge.web.companion import CompanionCodes
from bridge.web.http_api import add_http_api
from bridge.web.proxy import forwarded_middleware

log = logging.getLogger("salon.bridge")
STATIC = Path(__file__).parent / "static"
SWEEP_INTERVAL_S = 60.0
PER_RECIPIENT = ("welcome", "lobby_waiting")  # carry the recipient's own request id, token

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
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(settings.database_url or default_url(settings.state_dir))
        seed_from_config(self.store, seed_mapping(settings), base_dir=settings.state_dir)
        self.meetings = Meetings(self.store, settings.state_dir / "files")
        self.runner = AsyncMeetings(self.meetings)
        self.local_janus: LocalJanus | None = None
        self.gateway: MediaGateway = MediaGateway([])
        self.rooms: dict[str, LiveRoom] = {}
        self.connections: set[ClientConnection] = set()
        self.by_participant: dict[int, ClientConnection] = {}
        self.companion_codes = CompanionCodes()
        self.companions: dict[int, set[ClientConnection]] = {}
        self.turn = TurnMinter(settings.turn) if settings.turn is not None else None
        self._sweeper: asyncio.Task[None] | None = None
        self._ice_refresher: asyncio.Task[None] | None = None

    # ---- connections and what the domain decides ------------------------------------

    def register(self, conn: ClientConnection) -> None:
        assert conn.pid is not None
        self.by_participant[conn.pid] = conn

    def unregister(self, conn: ClientConnection, pid: int) -> None:
        if self.by_participant.get(pid) is conn:
            del self.by_participant[pid]

    def add_companion(self, conn: ClientConnection) -> None:
        assert conn.pid is not None
        self.companions.setdefault(conn.pid, set()).add(conn)

    def drop_companion(self, conn: ClientConnection) -> None:
        for conns in self.companions.values():
            conns.discard(conn)

    async def revoke_companions(self, pid: int) -> None:
        """The room left the meeting: its phone links stop working at once."""
        self.companion_codes.revoke(pid)
        for conn in list(self.companions.pop(pid, ())):
            await conn.close("room_left")

    def _recipients(self, pid: int) -> list[ClientConnection]:
        main = self.by_participant.get(pid)
        return ([main] if main else []) + sorted(self.companions.get(pid, ()), key=id)

    def live_room(self, address: str) -> LiveRoom:
        room = self.rooms.get(address)
        if room is None:
            room = LiveRoom(address, self.gateway, on_talking=self._talking)
            self.rooms[address] = room
        return room

    async def _talking(self, participant: str, talking: bool) -> None:
        await self.apply(
            await self.runner.call(self.meetings.talking, int(participant), talking), None, None)

    async def apply(self, result: Any, conn: ClientConnection | None, request: p.RequestId
                    ) -> None:
        """Carry out a domain decision: a refusal goes back to the asker as an error."""
        if isinstance(result, Refusal):
            if conn is not None:
                await conn.send(p.Error(re=request, code=result.code, message=result.message))
            return
        assert isinstance(result, Done)
        for effect in result.effects:
            try:
                await self._carry_out(effect)
            except Exception:
                log.exception("could not carry out %s", type(effect).__name__)

    async def _carry_out(self, effect: object) -> None:
        if isinstance(effect, SendTo):
            for target in self._recipients(effect.participant):
                await target.deliver(effect.payload)
        elif isinstance(effect, Broadcast):
            if effect.payload.get("type") in PER_RECIPIENT:
                for pid in effect.recipients:
                    for target in self._recipients(pid):
                        await target.deliver(effect.payload)
                return
            # The same bytes for everyone: check and serialize once, not per recipient.
            room = self.rooms.get(effect.room)
            payload = room.augment(effect.payload) if room else effect.payload
            text = p.dump(p.validate_server_payload(payload))
            for pid in effect.recipients:
                for target in self._recipients(pid):
                    await target.send_text(text)
        elif isinstance(effect, JanusModerate):
            room = self.rooms.get(effect.room)
            if room is not None:
                await room.moderate(str(effect.participant), effect.audio_muted,
                                    effect.video_muted)
        elif isinstance(effect, Disconnect):
            conn = self.by_participant.get(effect.participant)
            if conn is not None and effect.epoch in (None, conn.epoch):
                await conn.close(effect.reason)

    # ---- life cycle -----------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        await self.runner.call(self.meetings.recover)
        if s.janus.mode == "local":
            self.local_janus = LocalJanus(
                s.state_dir, s.janus.media_ip, s.janus.rtp_port_range, s.janus.binary,
                public_ip=str(s.janus.public_ip) if s.janus.public_ip else None,
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
        self.gateway = MediaGateway(endpoints, s.janus.max_publishers_per_room)
        self.gateway.on_server_back = self._server_back
        await self.gateway.start()
        self._sweeper = asyncio.create_task(self._sweep_forever())
        if self.turn is not None:
            self._ice_refresher = asyncio.create_task(self._refresh_ice_forever())

    def ice_servers(self, pid: int) -> list[p.IceServer]:
        """What an admitted seat's PeerConnections use: TURN credentials minted for it."""
        return self.turn.ice_servers(str(pid)) if self.turn is not None else []

    async def _refresh_ice_forever(self) -> None:
        """Fresh TURN credentials to every admitted seat before its last ones expire."""
        assert self.turn is not None
        every = self.turn.refresh_after_s
        while True:
            await asyncio.sleep(min(every / 4, 30.0))
            now = asyncio.get_running_loop().time()
            for conn in list(self.connections):
                if conn.me is not None and conn.pid is not None \
                        and now - conn.ice_sent_at >= every:
                    conn.ice_sent_at = now
                    await conn.send(p.IceServers(servers=self.ice_servers(conn.pid)))

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            with contextlib.suppress(Exception):
                await self.runner.call(self.meetings.sweep)

    async def _server_back(self, server: JanusServer) -> None:
        """A Janus server is answering again after losing every session: re-establish media."""
        for conn in list(self.connections):
            if conn.room is not None and self.gateway.room_server.get(conn.room.address) is server:
                try:
                    await conn.reset_media("media server restarted")
                except Exception:
                    log.exception("could not restore media for %s", conn.peer)

    async def stop(self) -> None:
        for task in (self._sweeper, self._ice_refresher):
            if task is not None:
                task.cancel()
        for conn in list(self.connections):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(conn.ws.close(code=1001, message=b"bridge stopping"), 2.0)
        await self.gateway.close()
        if self.local_janus is not None:
            await self.local_janus.stop()
        self.runner.close()

    # ---- routes ----------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        # Twice the protocol's limit, so an oversized message gets a readable error reply.
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=2 * p.MAX_MESSAGE_BYTES)
        await ws.prepare(request)
        conn = ClientConnection(self, ws, request.remote or "?",
                                request.headers.get("User-Agent", "")[:120])
        self.connections.add(conn)
        try:
            await conn.run()
        finally:
            self.connections.discard(conn)
        return ws

    async def health(self, request: web.Request) -> web.Response:
        servers = [{"name": s.endpoint.name, "up": s.up.is_set(), "rooms": len(s.rooms)}
                   for s in self.gateway.servers]
        return web.json_response({
            "version": VERSION, "protocol": p.PROTOCOL_VERSION, "janus": servers,
            "janus_restarts": self.local_janus.restarts if self.local_janus else None,
            "janus_pid": self.local_janus.pid if self.local_janus else None,
            "rooms": {a: len(r.participants) for a, r in self.rooms.items() if r.participants},
        })


def _page(name: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / name, headers={
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                                       "media-src 'self' blob:; connect-src 'self'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})
    return handler


def create_app(settings: BridgeSettings) -> web.Application:
    bridge = Bridge(settings)
    app = web.Application(client_max_size=bridge.meetings.limits.file_max_bytes + 1024**2)
    app["bridge"] = bridge
    app.router.add_get("/", _page("index.html"))
    app.router.add_get("/r/{room}", _page("room.html"))
    app.router.add_get("/c/{code}", _page("companion.html"))
    app.router.add_get("/ws", bridge.websocket)
    app.router.add_get("/healthz", bridge.health)
    app.router.add_static("/static/", STATIC, append_version=True)
    add_http_api(app, bridge)
    # Outermost first: the client's real address and scheme before anything reads them.
    app.middlewares.insert(0, forwarded_middleware(settings.proxy.trusted))
    app.middlewares.insert(1, hsts_middleware(
        settings.tls.hsts_max_age_s if settings.tls else settings.proxy.hsts_max_age_s))

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await bridge.start()
        yield
        await bridge.stop()

    app.cleanup_ctx.append(lifecycle)
    return app


async def serve(settings: BridgeSettings) -> None:
    """Run until cancelled (SIGINT/SIGTERM handled by the caller)."""
    s = settings.server
    runner = web.AppRunner(create_app(settings), handle_signals=False)
    await runner.setup()
    try:
        if settings.tls is not None:
            await serve_https(runner, s.host, s.port, s.public_url, settings.tls)
        await web.TCPSite(runner, s.host, s.port).start()
        log.info("bridge listening on http://%s:%s/", s.host, s.port,
                 extra={"EVENT": "listening"})
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
