"""The bridge process: the meetings domain and its store, the live rooms and the media
gateway, the local Janus it supervises by default, and the aiohttp routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Coroutine
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from ssl import SSLContext
from typing import Any

from aiohttp import WSCloseCode, web

from bridge.admin import seed_from_config
from bridge.bus import NatsBus
from bridge.calendar_sync import CalendarSync
from bridge.config import BridgeSettings, seed_mapping
from bridge.fanout import Fanout
from bridge.gateway import MediaGateway
from bridge.janus.client import Dial
from bridge.janus.server import JanusEndpoint, JanusServer
from bridge.janus.supervisor import LocalJanus
from bridge.live import LiveRoom
from bridge.meetings.context import Limits
from bridge.meetings.effects import (
    Broadcast,
    Disconnect,
    Done,
    JanusModerate,
    Refusal,
    SendTo,
)
from bridge.meetings.messages import REASON_BRIDGE_RESTART
from bridge.meetings.runner import AsyncMeetings
from bridge.meetings.service import Meetings
from bridge.meetings.signin import SignInGate, SignInLimits
from bridge.store.db import Store, default_url, usable_dir
from bridge.store.grants import GrantBook
from bridge.tls import hsts_middleware, serve_https
from bridge.turn import TurnMinter
from bridge.web.client import ClientConnection
from bridge.web.companion import CompanionCodes
from bridge.web.connections import AddressCounter, GuardedSite
from bridge.web.http_api import add_http_api
from bridge.web.proxy import forwarded_middleware, tcp_peer
from bridge.web.schedule_api import add_schedule_api
from bridge.web.security import WebSecurity, add_security_headers, refuse_origin
from bridge.web.tickets import DownloadTickets
from salon import protocol as p

log = logging.getLogger("salon.bridge")
STATIC = Path(__file__).parent / "static"
SWEEP_INTERVAL_S = 60.0
# A meeting's viewers on its Janus before the next ones go to another (janus.servers):
# one 720p teacher (~2.5 Mbit/s) to 300 viewers is ~750 Mbit/s, most of a 1 Gbit/s NIC.
DEFAULT_LISTENERS_PER_SERVER = 300
# Stopping: the time clients get to answer the closing handshake, and then the time the
# handlers get to leave their rooms. Both far inside the unit's TimeoutStopSec (20 s).
CLOSE_GRACE_S = 1.0
HANDLERS_GRACE_S = 5.0
PER_RECIPIENT = (p.Welcome, p.LobbyWaiting)  # carry the recipient's own request id, token

try:
    VERSION = version("salon")
except PackageNotFoundError:  # running from a source tree
    VERSION = "0+src"


def _read_secret(path: Path | None) -> str | None:
    return path.read_text().strip() if path else None


class Bridge:
    """Everything one bridge process holds."""

    def __init__(self, settings: BridgeSettings, janus_dial: Dial | None = None) -> None:
        self.settings = settings
        self.janus_dial = janus_dial  # how remote Janus servers are reached (a fake in tests)
        usable_dir(settings.state_dir, "state directory")
        usable_dir(settings.state_dir / "files", "files directory")
        self.store = Store(settings.database_url or default_url(settings.state_dir))
        seed_from_config(self.store, seed_mapping(settings), base_dir=settings.state_dir)
        signin = settings.security.sign_in
        cluster = settings.cluster
        # Several processes: this one's name; None: the only process (in-process events).
        self.node = None if cluster is None else (
            cluster.node or f"{socket.gethostname()}:{settings.server.port}")
        self.meetings = Meetings(self.store, settings.state_dir / "files",
                                 limits=Limits(sign_in=SignInLimits(
                                     signin.address_failures, signin.address_refill_s,
                                     signin.account_failures, signin.account_refill_s)),
                                 node=self.node)
        self.runner = AsyncMeetings(self.meetings, SignInGate(
            signin.concurrency, signin.pending_per_address, signin.pending_max))
        self.security = WebSecurity(settings)
        # Several processes: tickets and phone codes where every process finds them.
        shared = settings.cluster is not None
        self.tickets = DownloadTickets(book=GrantBook(self.store, "ticket") if shared else None)
        self.websockets = AddressCounter(settings.security.max_connections_per_address)
        self.local_janus: LocalJanus | None = None
        self.gateway: MediaGateway = MediaGateway([])
        self.rooms: dict[str, LiveRoom] = {}
        self.connections: set[ClientConnection] = set()
        self.by_participant: dict[int, ClientConnection] = {}
        self.companion_codes = CompanionCodes(
            ttl_s=settings.companion.link_ttl_s,
            book=GrantBook(self.store, "companion") if shared else None)
        self.companions: dict[int, set[ClientConnection]] = {}
        self.turn = TurnMinter(settings.turn) if settings.turn is not None else None
        self.calendars = CalendarSync(self.store, settings.schedule, settings.state_dir)
        self._sweeper: asyncio.Task[None] | None = None
        self._ice_refresher: asyncio.Task[None] | None = None
        self.fanout: Fanout | None = None
        self._cluster_keeper: asyncio.Task[None] | None = None
        if cluster is not None and self.node is not None:
            self.fanout = Fanout(
                NatsBus(cluster.bus, self.node), self.node, self._carry_out,
                lambda room, after: self.runner.call(self.meetings.events_after, room, after),
                lambda rooms: self.runner.call(self.meetings.last_events, rooms),
                self._remote_live)
        self._calendar_sync: asyncio.Task[None] | None = None
        self._resets: set[asyncio.Task[None]] = set()

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
        await self.runner.call(self.companion_codes.revoke, pid)
        for conn in list(self.companions.pop(pid, ())):
            await conn.close("room_left")

    async def _end_companions_here(self, participant: str) -> None:
        """A seat left: its phones connected here end too (with several processes the
        seat's own process, which revoked the codes, may be another)."""
        pid = int(participant) if participant.isdigit() else None
        for conn in list(self.companions.pop(pid, ())) if pid is not None else []:
            await conn.close("room_left")

    def _recipients(self, pid: int) -> list[ClientConnection]:
        main = self.by_participant.get(pid)
        return ([main] if main else []) + sorted(self.companions.get(pid, ()), key=id)

    async def follow(self, room: str) -> None:
        """A connection joins ``room``: with several processes, hear its events."""
        if self.fanout is not None:
            await self.fanout.follow(room)

    async def unfollow(self, room: str) -> None:
        """A connection that followed ``room`` is done with it. The last one gone, what
        other processes announced of its members goes stale: the live room is dropped
        (the next join makes it afresh and asks them again)."""
        if self.fanout is None:
            return
        await self.fanout.unfollow(room)
        live = self.rooms.get(room)
        if not self.fanout.follows(room) and live is not None and not live.participants:
            live.forget_others()
            del self.rooms[room]

    def live_room(self, address: str) -> LiveRoom:
        room = self.rooms.get(address)
        if room is None:
            room = LiveRoom(address, self.gateway, on_talking=self._talking)
            self.rooms[address] = room
            if self.fanout is not None:
                fanout = self.fanout
                room.on_announce = lambda pid, live: fanout.publish_live(
                    address, {"id": pid, **live})
                fanout.spawn(fanout.ask_live(address))  # who publishes on other processes
        return room

    async def _remote_live(self, address: str, person: dict[str, Any]) -> None:
        """Another process's live media state of a member it holds, or its question."""
        if person.get("ask"):
            room = self.rooms.get(address)
            if room is not None and self.fanout is not None:
                for lp in list(room.participants.values()):
                    await self.fanout.publish_live(address, {"id": lp.id, **lp.announced()})
            return
        await self.live_room(address).remote_update(str(person["id"]), person)

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
        if result.sequenced is not None and self.fanout is not None:
            # In the room's order, here and (what they must do) in every other process.
            await self.fanout.own(result.effects, result.sequenced)
            return
        for effect in result.effects:
            try:
                await self._carry_out(effect)
            except Exception:
                log.exception("could not carry out %s", type(effect).__name__)

    async def _carry_out(self, effect: object) -> None:
        if isinstance(effect, SendTo):
            for target in self._recipients(effect.participant):
                await target.deliver(effect.message)
        elif isinstance(effect, Broadcast):
            if isinstance(effect.message, PER_RECIPIENT):
                for pid in effect.recipients:
                    for target in self._recipients(pid):
                        await target.deliver(effect.message)
                return
            # The same bytes for everyone: the domain built (and checked) the message,
            # the room adds its media state, and it is serialized once, not per recipient.
            room = self.rooms.get(effect.room)
            text = p.dump(room.augment(effect.message) if room else effect.message)
            for pid in effect.recipients:
                for target in self._recipients(pid):
                    await target.send_text(text)
            if isinstance(effect.message, p.ParticipantLeft):
                await self._end_companions_here(effect.message.id)
        elif isinstance(effect, JanusModerate):
            room = self.rooms.get(effect.room)
            if room is not None:
                await room.moderate(str(effect.participant), effect.audio_muted,
                                    effect.camera_muted, effect.content_muted)
        elif isinstance(effect, Disconnect):
            conn = self.by_participant.get(effect.participant)
            if conn is not None and effect.epoch in (None, conn.epoch):
                await conn.close(effect.reason)

    # ---- life cycle -----------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        if self.fanout is None:
            await self.runner.call(self.meetings.recover)
        else:
            await self.fanout.start()
            await self.runner.call(self.meetings.heartbeat)
            await self._leave_gone_seats(including_mine=True)  # those of our last run
            self._cluster_keeper = asyncio.create_task(self._keep_cluster())
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
                              _read_secret(j.room_admin_key_file), j.name, self.janus_dial,
                              j.relay_host)
                for j in s.janus.servers
            ]
        per_server = s.janus.listeners_per_server
        if per_server is None:
            # With [cluster] only when set: a process relays with the streams the others
            # announce, which older versions do not (docs/deployment.md, 9c).
            per_server = 0 if self.fanout is not None else DEFAULT_LISTENERS_PER_SERVER
        self.gateway = MediaGateway(endpoints, s.janus.max_publishers_per_room,
                                    shared=self.fanout is not None,
                                    listeners_per_server=per_server)
        self.gateway.on_server_back = self._server_back
        self.gateway.on_server_lost = self._server_lost
        await self.gateway.start()
        self._sweeper = asyncio.create_task(self._sweep_forever())
        if self.turn is not None:
            self._ice_refresher = asyncio.create_task(self._refresh_ice_forever())
        if s.schedule.calendars:
            self._calendar_sync = asyncio.create_task(self.calendars.run())

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

    async def _keep_cluster(self) -> None:
        """Several processes: this one's heartbeat, the seats of processes that stopped,
        and a check that no room's last event was missed."""
        cluster = self.settings.cluster
        assert cluster is not None and self.fanout is not None
        beating = asyncio.create_task(self._beat_forever(cluster.heartbeat_s))
        try:
            await self._upkeep_forever(cluster.heartbeat_s)
        finally:
            beating.cancel()

    async def _beat_forever(self, every: float) -> None:
        # Not through the domain's one worker thread: behind a class's worth of queued
        # joins the beat came late, and the other processes took this busy, living one
        # for gone and left all its seats.
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(self.meetings.heartbeat)
            except Exception:
                log.exception("heartbeat failed; trying again")

    async def _upkeep_forever(self, every: float) -> None:
        assert self.fanout is not None
        while True:
            await asyncio.sleep(every)
            try:
                await self.fanout.check()
                await self._leave_gone_seats()
            except Exception:
                log.exception("cluster upkeep failed; trying again")

    async def _leave_gone_seats(self, including_mine: bool = False) -> None:
        cluster = self.settings.cluster
        assert cluster is not None
        gone = await self.runner.call(self.meetings.seats_of_gone,
                                      timedelta(seconds=cluster.gone_after_s), including_mine)
        for pid, epoch in gone:
            if pid in self.by_participant:
                continue  # connected here (its seat moved here as its process went)
            log.info("participant %s: its bridge process is gone", pid,
                     extra={"EVENT": "seat-gone"})
            await self.apply(await self.runner.call(
                self.meetings.leave, pid, epoch, REASON_BRIDGE_RESTART), None, None)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            with contextlib.suppress(Exception):
                await self.runner.call(self.meetings.sweep)

    def _server_lost(self, server: JanusServer) -> None:
        """A Janus went away: those who received a larger meeting through it are placed
        on a server that is up, at once; so are those of the rooms it held, when the
        gateway moved them (another server is up)."""
        for conn in list(self.connections):
            media = conn.me.media if conn.me is not None else None
            if media is None or server not in (media.view, media.server):
                continue
            moved = self.gateway.room_server.get(media.room) is not server
            if media.server is not server or moved:
                self._spawn_reset(conn, "media server lost")

    def _spawn_reset(self, conn: ClientConnection, reason: str) -> None:
        task = asyncio.get_running_loop().create_task(self._reset_media(conn, reason))
        self._resets.add(task)
        task.add_done_callback(self._resets.discard)

    async def _reset_media(self, conn: ClientConnection, reason: str) -> None:
        try:
            await conn.reset_media(reason)
        except Exception:
            log.exception("could not restore media for %s", conn.peer)

    async def _server_back(self, server: JanusServer) -> None:
        """A Janus server is answering again after losing every session: re-establish
        media of its rooms, and of the rooms that go back to it (several processes)."""
        returning = set(self.gateway.rooms_returning(server))
        for conn in list(self.connections):
            room = conn.room.address if conn.room is not None else None
            if room in returning:
                self._spawn_reset(conn, "media server back")
            elif room is not None and self.gateway.room_server.get(room) is server:
                await self._reset_media(conn, "media server restarted")

    async def send_everyone_off(self, _app: web.Application | None = None) -> None:
        """Stopping (aiohttp's on_shutdown, after the listener closed): every client is
        told ``bye restarting`` (come back), then every socket is closed at once with
        1012 (service restart). The handlers then leave as a drop, so seats, rights and
        raised hands stay for the clients to resume on the next bridge."""
        conns = list(self.connections)
        if not conns:
            return
        log.info("stopping: sending %d clients off to come back", len(conns),
                 extra={"EVENT": "stopping"})
        for conn in conns:
            conn.drop_reason = REASON_BRIDGE_RESTART
        # Everyone hears bye before any socket closes (a close makes its handler leave,
        # which would tell the others about it first).
        bye = p.dump(p.Bye(reason=p.BYE_RESTARTING))
        await _all_within(CLOSE_GRACE_S, [conn.send_text(bye) for conn in conns])
        await _all_within(CLOSE_GRACE_S, [
            conn.ws.close(code=WSCloseCode.SERVICE_RESTART, message=b"restarting")
            for conn in conns])

    async def stop(self) -> None:
        for task in (self._sweeper, self._ice_refresher, self._cluster_keeper,
                     self._calendar_sync):
            if task is not None:
                task.cancel()
        for conn in list(self.connections):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(conn.ws.close(code=1001, message=b"bridge stopping"), 2.0)
        await self.gateway.close()
        if self.fanout is not None:
            await self.fanout.close()
        if self.local_janus is not None:
            await self.local_janus.stop()
        self.runner.close()

    # ---- routes ----------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        address = self.security.client_address(request)
        if not self.security.origin_allowed(request):
            return refuse_origin(request, address)
        # Through a trusted proxy the TCP cap cannot see clients: count their sockets here.
        proxied = self.security.is_trusted_proxy(tcp_peer(request))
        if proxied and not self.websockets.open(address):
            return web.json_response({"code": "too_many_connections", "message":
                                      "too many connections from your address"}, status=429)
        try:
            # Read frames well past the protocol's limit, so an oversized message gets a
            # readable `too_large` reply; past the hard cap aiohttp closes with 1009 (it
            # refuses a frame of exactly max_msg_size, hence the + 1).
            # heartbeat: a ping every 30 s, its pong due within 15 s (aiohttp: half). A
            # client behind a link down for 10 s gets it late (TCP's backoff) and keeps
            # its seat; its media ride the outage out too (ICE consent: 30 s).
            ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=p.MAX_FRAME_BYTES + 1)
            await ws.prepare(request)
            conn = ClientConnection(self, ws, address,
                                    request.headers.get("User-Agent", "")[:120])
            self.connections.add(conn)
            try:
                await conn.run()
            finally:
                self.connections.discard(conn)
            return ws
        finally:
            if proxied:
                self.websockets.close(address)

    async def health(self, request: web.Request) -> web.Response:
        up = all(s.up.is_set() for s in self.gateway.servers)
        if not self.security.may_see_detail(request):  # no PIDs or rooms for strangers
            return web.json_response({"status": "ok" if up else "degraded"})
        servers = [{"name": s.endpoint.name, "up": s.up.is_set(), "rooms": len(s.rooms)}
                   for s in self.gateway.servers]
        return web.json_response({
            "status": "ok" if up else "degraded", "version": VERSION,
            "protocol": p.PROTOCOL_VERSION, "janus": servers,
            "janus_restarts": self.local_janus.restarts if self.local_janus else None,
            "janus_pid": self.local_janus.pid if self.local_janus else None,
            "rooms": {a: len(r.participants) for a, r in self.rooms.items() if r.participants},
            "node": self.node,
            "resyncs": self.fanout.resyncs if self.fanout is not None else None,
            "rooms_heard": len(self.fanout.subscribed) if self.fanout is not None else None,
        })


async def _all_within(seconds: float, steps: list[Coroutine[Any, Any, Any]]) -> None:
    """Run ``steps`` side by side; whatever is not done after ``seconds`` is cancelled
    (a client that does not answer the closing handshake has its socket cut)."""
    tasks = [asyncio.ensure_future(step) for step in steps]
    _done, pending = await asyncio.wait(tasks, timeout=seconds)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _page(name: str, status: int = 200) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / name, status=status)  # headers: add_security_headers
    return handler


def _room_pages(bridge: Bridge) -> tuple[Any, Any]:
    """A meeting's page at /<address> (and /r/<address>); at an address without a room,
    the front page with a 404 that says so at once. And the room's public facts (title,
    whether guests wait for the host) for the entry and lobby views."""
    meeting, missing = _page("room.html"), _page("index.html", status=404)

    async def page(request: web.Request) -> web.StreamResponse:
        found = await bridge.runner.call(bridge.meetings.room_info, request.match_info["room"])
        return await (meeting if found else missing)(request)

    async def info(request: web.Request) -> web.Response:
        found = await bridge.runner.call(bridge.meetings.room_info, request.match_info["room"])
        if found is None:
            return web.json_response({"code": "no_such_room",
                                      "message": "there is no room at this address"}, status=404)
        return web.json_response(found.model_dump(), headers={"Cache-Control": "no-cache"})

    return page, info


def create_app(settings: BridgeSettings, janus_dial: Dial | None = None) -> web.Application:
    bridge = Bridge(settings, janus_dial)
    app = web.Application(client_max_size=bridge.meetings.limits.file_max_bytes + 1024**2)
    app["bridge"] = bridge
    app.on_response_prepare.append(add_security_headers)
    app.router.add_get("/", _page("index.html"))
    room_page, room_info = _room_pages(bridge)
    app.router.add_get("/r/{room}", room_page)
    app.router.add_get("/c/{code}", _page("companion.html"))
    app.router.add_get("/ws", bridge.websocket)
    app.router.add_get("/healthz", bridge.health)
    app.router.add_static("/static/", STATIC, append_version=True)
    add_http_api(app, bridge)
    # Outermost first: the client's real address and scheme before anything reads them.
    app.middlewares.insert(0, forwarded_middleware(settings.proxy.trusted))
    app.middlewares.insert(1, hsts_middleware(
        settings.tls.hsts_max_age_s if settings.tls else settings.proxy.hsts_max_age_s))
    app.router.add_get("/api/rooms/{room}", room_info)
    add_schedule_api(app, bridge)
    # Last: a room's own address, /testbim. Every route above wins over it, and their
    # first path segments are never room addresses (store.accounts.RESERVED_ADDRESSES).
    app.router.add_get("/{room}", room_page)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await bridge.start()
        yield
        await bridge.stop()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(bridge.send_everyone_off)
    return app


async def serve(settings: BridgeSettings) -> None:
    """Run until cancelled (SIGINT/SIGTERM handled by the caller)."""
    s, security = settings.server, settings.security
    app = create_app(settings)
    # keepalive_timeout: aiohttp closes a kept-alive connection whose next request's
    # headers have not come by then; GuardedSite does the same for the first request.
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=HANDLERS_GRACE_S,
                           keepalive_timeout=security.header_timeout_s)
    await runner.setup()
    bridge: Bridge = app["bridge"]

    def site(ssl_context: SSLContext | None = None) -> GuardedSite:
        return GuardedSite(runner, s.host, s.port,
                           AddressCounter(security.max_connections_per_address),
                           security.header_timeout_s, bridge.security.is_trusted_proxy,
                           ssl_context=ssl_context)

    try:
        if settings.tls is not None:
            await serve_https(site, s.host, s.port, s.public_url, settings.tls)
        await site().start()
        log.info("bridge listening on http://%s:%s/", s.host, s.port,
                 extra={"EVENT": "listening"})
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
