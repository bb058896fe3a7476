"""Connection-level limits in front of aiohttp: open connections per client address, and
a deadline for a new connection's request headers (slowloris).

aiohttp has no per-address cap, and only its newest releases close a connection that
never completes a request (their keep-alive timer, which the bridge also sets to the same
deadline for the requests that follow on a kept-alive connection). `GuardedProtocol`
stands in front of aiohttp's protocol for each connection and does both, whatever
aiohttp version is installed; `GuardedSite` listens with it.

Connections from a trusted reverse proxy are not counted here (the proxy carries many
clients): the WebSocket handler counts those by their forwarded address instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from ssl import SSLContext

from aiohttp import web
from yarl import URL

from bridge.meetings.ratelimit import address_key

log = logging.getLogger("salon.connections")
END_OF_HEADERS = (b"\r\n\r\n", b"\n\n")
TOO_MANY = (b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\n"
            b"Connection: close\r\nRetry-After: 10\r\nContent-Length: 40\r\n\r\n"
            b"too many connections from your address\r\n")
WARN_EVERY_S = 60.0


class AddressCounter:
    """Open connections per client address, at most ``limit`` each."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()
        self._warned: dict[str, float] = {}

    def open(self, address: str) -> bool:
        """Counts by `address_key` (an IPv6 client's whole /64); False: at the limit."""
        address = address_key(address)
        if self._open[address] >= self.limit:
            self._warn(address)
            return False
        self._open[address] += 1
        return True

    def close(self, address: str) -> None:
        address = address_key(address)
        self._open[address] -= 1
        if self._open[address] <= 0:
            del self._open[address]

    def _warn(self, address: str) -> None:
        # Once a minute per address: a flood must not flood the journal too.
        now = time.monotonic()
        if now - self._warned.get(address, -WARN_EVERY_S) >= WARN_EVERY_S:
            self._warned = {a: t for a, t in self._warned.items() if now - t < WARN_EVERY_S}
            self._warned[address] = now
            log.warning("refused connections from %s: %d already open (the limit)", address,
                        self.limit, extra={"EVENT": "connection-cap"})


class GuardedProtocol(asyncio.Protocol):
    """One connection: refused when its address is at its cap, closed when its request
    headers have not arrived within ``header_timeout_s``; otherwise aiohttp's protocol
    gets every call."""

    def __init__(self, inner: Callable[[], asyncio.Protocol], counter: AddressCounter,
                 header_timeout_s: float, exempt: Callable[[str], bool]) -> None:
        self._make_inner = inner
        self._counter = counter
        self._header_timeout_s = header_timeout_s
        self._exempt = exempt
        self._inner: asyncio.Protocol | None = None
        self._counted: str | None = None
        self._transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if peer else "?"
        if not self._exempt(address):
            if not self._counter.open(address):
                transport.write(TOO_MANY)
                transport.close()
                return
            self._counted = address
        self._deadline = asyncio.get_running_loop().call_later(
            self._header_timeout_s, self._too_slow, address)
        self._inner = self._make_inner()
        self._inner.connection_made(transport)

    def _too_slow(self, address: str) -> None:
        log.info("closed a connection from %s: no request headers within %.0f s", address,
                 self._header_timeout_s, extra={"EVENT": "header-timeout"})
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._deadline is not None:
            seen = self._tail + data
            if any(end in seen for end in END_OF_HEADERS):
                self._deadline.cancel()
                self._deadline = None
            else:
                self._tail = seen[-3:]
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._counted is not None:
            self._counter.close(self._counted)
            self._counted = None
        if self._inner is not None:
            self._inner.connection_lost(exc)
        self._transport = None


class GuardedSite(web.BaseSite):
    """A TCP site whose connections pass through `GuardedProtocol`."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, counter: AddressCounter,
                 header_timeout_s: float, exempt: Callable[[str], bool], *,
                 ssl_context: SSLContext | None = None) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._guarded_runner = runner
        self._host, self._port = host, port
        self._counter = counter
        self._header_timeout_s = header_timeout_s
        self._exempt = exempt

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return str(URL.build(scheme=scheme, host=self._host, port=self._port))

    async def start(self) -> None:
        await super().start()
        server = self._guarded_runner.server
        assert server is not None

        def protocol() -> GuardedProtocol:
            return GuardedProtocol(server, self._counter, self._header_timeout_s, self._exempt)

        self._server = await asyncio.get_running_loop().create_server(
            protocol, self._host, self._port, ssl=self._ssl_context, backlog=self._backlog)
