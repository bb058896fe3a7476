"""A small asyncio client for the Janus WebSocket API (sessions, handles, transactions).

One ``JanusConnection`` multiplexes every session of the bridge over one WebSocket.
Replies are matched by transaction; plugin events without a transaction go to the
handle they belong to.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import aiohttp

log = logging.getLogger("salon.janus")

Json = dict[str, Any]
EventCallback = Callable[[Json, Json | None], None]
KEEPALIVE_S = 20.0
REQUEST_TIMEOUT_S = 10.0


class JanusSocket(Protocol):
    """What a connection needs of its WebSocket: aiohttp's, or a fake's
    (bridge/janus/fake.py) in fast tests."""

    @property
    def closed(self) -> bool: ...

    async def send_json(self, data: Any) -> None: ...

    async def close(self) -> bool: ...

    def __aiter__(self) -> AsyncIterator[aiohttp.WSMessage]: ...


# Opens a JanusSocket to a URL in place of aiohttp (the seam fast tests use).
Dial = Callable[[str], Awaitable[JanusSocket]]


class JanusError(Exception):
    """Janus (core or plugin) refused a request."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"janus error {code}: {reason}")
        self.code = code
        self.reason = reason


class JanusGone(ConnectionError):
    """The WebSocket to Janus closed (Janus died or restarted)."""


class JanusHandle:
    """A plugin handle. Plugin events without a transaction are passed to ``on_event``."""

    def __init__(self, session: JanusSession, handle_id: int) -> None:
        self.session = session
        self.id = handle_id
        self.on_event: EventCallback | None = None
        # Core events about the handle's PeerConnection: webrtcup, media, slowlink, hangup.
        self.on_core: Callable[[Json], None] | None = None

    async def send(self, body: Json, jsep: Json | None = None) -> tuple[Json, Json | None]:
        """Send a plugin message; return the plugin's data and JSEP, sync or async alike."""
        msg: Json = {"janus": "message", "body": body}
        if jsep is not None:
            msg["jsep"] = jsep
        reply = await self.session.connection.call(msg, self.session.id, self.id, plugin=True)
        plugindata = reply.get("plugindata", {}).get("data", {})
        if "error_code" in plugindata:
            raise JanusError(int(plugindata["error_code"]), str(plugindata.get("error", "")))
        return plugindata, reply.get("jsep")

    async def detach(self) -> None:
        self.session.handles.pop(self.id, None)
        with contextlib.suppress(JanusError, JanusGone, asyncio.TimeoutError):
            await self.session.connection.call({"janus": "detach"}, self.session.id, self.id)

    def _dispatch(self, msg: Json) -> None:
        kind = msg.get("janus")
        if kind == "event" and self.on_event is not None:
            self.on_event(msg.get("plugindata", {}).get("data", {}), msg.get("jsep"))
        elif kind in ("webrtcup", "media", "slowlink", "hangup") and self.on_core is not None:
            self.on_core(msg)


class JanusSession:
    def __init__(self, connection: JanusConnection, session_id: int) -> None:
        self.connection = connection
        self.id = session_id
        self.handles: dict[int, JanusHandle] = {}
        self._keepalive = asyncio.create_task(self._keepalive_loop(), name=f"janus-ka-{session_id}")

    async def attach(self, plugin: str) -> JanusHandle:
        reply = await self.connection.call({"janus": "attach", "plugin": plugin}, self.id)
        handle = JanusHandle(self, int(reply["data"]["id"]))
        self.handles[handle.id] = handle
        return handle

    async def destroy(self) -> None:
        self._keepalive.cancel()
        self.connection.sessions.pop(self.id, None)
        with contextlib.suppress(JanusError, JanusGone, asyncio.TimeoutError):
            await self.connection.call({"janus": "destroy"}, self.id)

    async def _keepalive_loop(self) -> None:
        with contextlib.suppress(JanusGone, JanusError, asyncio.TimeoutError):
            while True:
                await asyncio.sleep(KEEPALIVE_S)
                await self.connection.call({"janus": "keepalive"}, self.id)


class JanusConnection:
    """One WebSocket to one Janus server."""

    def __init__(self, url: str, api_secret: str | None, dial: Dial | None = None) -> None:
        self.url = url
        self.api_secret = api_secret
        self.dial = dial
        self.sessions: dict[int, JanusSession] = {}
        self.closed = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None
        self._ws: JanusSocket | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[Json]] = {}
        self._plugin_calls: set[str] = set()
        self._ids = itertools.count(1)
        self._closing = False  # we close it: its end is no news

    async def connect(self) -> None:
        if self.dial is not None:
            self._ws = await self.dial(self.url)
            self._reader = asyncio.create_task(self._read_loop(), name="janus-reader")
            return
        self._http = aiohttp.ClientSession()
        try:
            self._ws = await self._http.ws_connect(
                self.url, protocols=("janus-protocol",), heartbeat=15.0, max_msg_size=0
            )
        except BaseException:
            await self._http.close()
            raise
        self._reader = asyncio.create_task(self._read_loop(), name="janus-reader")

    async def close(self) -> None:
        self._closing = True
        for session in list(self.sessions.values()):
            session._keepalive.cancel()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()
        self._fail_pending()
        self.closed.set()

    async def create_session(self) -> JanusSession:
        reply = await self.call({"janus": "create"})
        session = JanusSession(self, int(reply["data"]["id"]))
        self.sessions[session.id] = session
        return session

    async def server_info(self) -> Json:
        return await self.call({"janus": "info"})

    async def call(
        self, msg: Json, session_id: int | None = None, handle_id: int | None = None,
        plugin: bool = False,
    ) -> Json:
        if self._ws is None or self.closed.is_set():
            raise JanusGone("not connected to Janus")
        tid = f"t{next(self._ids)}"
        msg = {**msg, "transaction": tid}
        if self.api_secret:
            msg["apisecret"] = self.api_secret
        if session_id is not None:
            msg["session_id"] = session_id
        if handle_id is not None:
            msg["handle_id"] = handle_id
        future: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self._pending[tid] = future
        if plugin:
            self._plugin_calls.add(tid)
        try:
            await self._ws.send_json(msg)
            return await asyncio.wait_for(future, REQUEST_TIMEOUT_S)
        finally:
            self._pending.pop(tid, None)
            self._plugin_calls.discard(tid)

    async def _read_loop(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                if raw.type == aiohttp.WSMsgType.TEXT:
                    self._on_message(raw.json())
                elif raw.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                    break
        finally:
            self._fail_pending()
            self.closed.set()
            log.log(logging.INFO if self._closing else logging.WARNING,
                    "connection to Janus at %s closed", self.url)

    def _fail_pending(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(JanusGone("Janus connection closed"))

    def _on_message(self, msg: Json) -> None:
        kind = msg.get("janus")
        tid = msg.get("transaction")
        future = self._pending.get(tid) if isinstance(tid, str) else None
        if future is not None and not future.done():
            if kind == "error":
                err = msg.get("error", {})
                future.set_exception(JanusError(int(err.get("code", 0)), str(err.get("reason"))))
                return
            if kind == "ack" and tid in self._plugin_calls:
                return  # an async plugin request: the event with this transaction follows
            if kind in ("success", "ack", "event", "server_info"):
                future.set_result(msg)
                return
        self._route(msg)

    def _route(self, msg: Json) -> None:
        session = self.sessions.get(int(msg.get("session_id", 0) or 0))
        if session is None:
            return
        handle = session.handles.get(int(msg.get("sender", 0) or 0))
        if handle is not None:
            handle._dispatch(msg)
