"""A raw protocol client for tests: sends whatever it is told, even nonsense."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

# Every wait here is for something that must arrive, so its timeout is a ceiling, never
# a timing: a test's short timeout says how soon it should come on a quiet machine, and
# on a loaded 2-core one it is raised to this floor (no test waits for nothing here).
WAIT_FLOOR_S = 15.0


class RawClient:
    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self.http = http
        self.ws = ws
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        # Sees every message first, in order (e.g. an aiortc seat answering offers).
        self.tap: Callable[[dict[str, Any]], Awaitable[None]] | None = None
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, *, source: str | None = None, origin: str | None = None,
                      headers: dict[str, str] | None = None) -> RawClient:
        """``source``: the local address to connect from (any 127.x.y.z in a test's network
        namespace), so the bridge sees distinct clients; ``origin``: as a browser page
        would send it (none, like the appliance, by default)."""
        connector = aiohttp.TCPConnector(local_addr=(source, 0)) if source else None
        http = aiohttp.ClientSession(connector=connector)
        try:
            ws = await http.ws_connect(url, origin=origin, headers=headers)
        except BaseException:
            await http.close()
            raise
        return cls(http, ws)

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                data = json.loads(msg.data)
                if self.tap is not None:
                    await self.tap(data)
                await self.inbox.put(data)

    async def send(self, message: dict[str, Any] | list[Any] | str | bytes) -> None:
        if isinstance(message, dict | list):
            await self.ws.send_str(json.dumps(message))
        elif isinstance(message, bytes):
            await self.ws.send_bytes(message)
        else:
            await self.ws.send_str(message)

    async def expect(self, type_: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        """Wait for the next message of ``type_`` (others are skipped)."""
        timeout = max(timeout, WAIT_FLOOR_S)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"no '{type_}' {match} within {timeout}s")
            msg = await asyncio.wait_for(self.inbox.get(), left)
            if msg.get("type") == type_ and all(msg.get(k) == v for k, v in match.items()):
                return msg

    async def expect_where(self, predicate: Callable[[dict[str, Any]], bool],
                           timeout: float = 10.0, what: str = "a message") -> dict[str, Any]:
        """Wait for the next message ``predicate`` accepts (others are skipped)."""
        timeout = max(timeout, WAIT_FLOOR_S)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"no {what} within {timeout}s")
            try:
                msg = await asyncio.wait_for(self.inbox.get(), left)
            except TimeoutError:
                raise TimeoutError(f"no {what} within {timeout}s") from None
            if predicate(msg):
                return msg

    # A ceiling, not a timing: on a loaded 2-core machine a sign-in that runs the
    # password hash can take seconds; a test only fails if no answer ever comes.
    async def request(self, message: dict[str, Any], rid: int, timeout: float = 30.0
                      ) -> dict[str, Any]:
        timeout = max(timeout, WAIT_FLOOR_S)
        await self.send({**message, "id": rid})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                msg = await asyncio.wait_for(self.inbox.get(),
                                             max(0.01, deadline - loop.time()))
            except TimeoutError:
                raise TimeoutError(f"no answer to {message.get('type')!r} "
                                   f"within {timeout}s") from None
            if msg.get("re") == rid:
                return msg

    async def join(self, room: str, name: str, rid: int = 1) -> dict[str, Any]:
        return await self.request(
            {"type": "join", "protocol": 1, "room": room, "name": name, "client": "bot"}, rid
        )

    async def sign_in(self, room: str, user: str, password: str, rid: int = 1,
                      client: str = "appliance", timeout: float = 30.0) -> dict[str, Any]:
        """Oturum Aç: join with an account (a room appliance signs in with its device one)."""
        return await self.request({"type": "join", "protocol": 1, "room": room, "user": user,
                                   "password": password, "client": client}, rid, timeout)

    async def closed(self) -> None:
        """Until the other end has closed the socket."""
        await asyncio.shield(self._reader)

    def drain(self) -> list[dict[str, Any]]:
        """Every message received so far and not yet taken."""
        out = []
        while not self.inbox.empty():
            out.append(self.inbox.get_nowait())
        return out

    async def close(self) -> None:
        self._reader.cancel()
        await self.ws.close()
        await self.http.close()
