"""Web hardening through a real bridge (issue 12, item 8): the WebSocket's Origin, framing
and the content security policy (in Chromium), a per-address connection cap, a deadline
for request headers (slowloris), and /healthz's detail only for local or authorised
callers. Clients connect from distinct loopback addresses (127.x.y.z in the test's
network namespace) so the bridge sees them as different machines."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser

from tests.support.browser import chromium
from tests.support.meetings import close, eventually, in_meeting, join_as_guest, open_room
from tests.support.procs import BridgeProcess, RoomSpec, free_port
from tests.support.wsclient import RawClient

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

PROXY = "127.0.0.90"
CAP, HEADER_TIMEOUT_S = 20, 2
HEALTH_TOKEN = "saglik-belirteci-7f3a9c"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bridge(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BridgeProcess]:
    tmp = tmp_path_factory.mktemp("hardening")
    (tmp / "health-token").write_text(HEALTH_TOKEN + "\n")
    security = (f'[proxy]\ntrusted = ["{PROXY}"]\n[security]\n'
                f"max_connections_per_address = {CAP}\nheader_timeout_s = {HEADER_TIMEOUT_S}\n"
                f'health_token_file = "{tmp / "health-token"}"\n')
    proc = await asyncio.to_thread(BridgeProcess, tmp, extra_toml=security,
                                   room_specs=[RoomSpec("acik", "Açık Oda", moderated=False)])
    yield proc
    code = proc.stop()
    print(f"---- bridge log (exit {code}) ----\n" + proc.log_tail(6000))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


def other_site_page(bridge: BridgeProcess) -> str:
    """A page of another site: it frames the meeting page and opens the bridge's socket."""
    return f"""<!doctype html><meta charset="utf-8"><title>başka site</title>
<iframe id="frame" src="{bridge.room_url('acik')}" width="800" height="600"></iframe>
<script>
  window.result = null;
  const ws = new WebSocket("{bridge.ws_url}");
  ws.onopen = () => ws.send(JSON.stringify({{type: "join", protocol: 1, room: "acik",
                                             name: "Yabancı Site", id: 1}}));
  ws.onmessage = (ev) => {{ window.result = JSON.parse(ev.data).type; }};
  ws.onerror = () => {{ window.result = window.result || "refused"; }};
  ws.onclose = () => {{ window.result = window.result || "refused"; }};
</script>"""


@contextlib.asynccontextmanager
async def serve_other_site(html: str) -> AsyncIterator[str]:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


async def test_another_site_can_neither_join_nor_frame_the_meeting(
        bridge: BridgeProcess, browser: Browser) -> None:
    # The bridge's own page works under its strict content security policy...
    own = await open_room(browser, bridge.room_url("acik"), "tr")
    violations: list[str] = []
    own.on("console", lambda m: violations.append(m.text)
           if "Content Security Policy" in m.text else None)
    try:
        await join_as_guest(own, "Kendi Sayfası", "tr")
        await in_meeting(own, "tr")
    finally:
        await close(own)
    assert violations == []
    # ...a page of another site gets neither a seat nor a frame of the meeting.
    async with serve_other_site(other_site_page(bridge)) as url:
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(url)
        result = await eventually(lambda: page.evaluate("() => window.result"),
                                  what="the other site's socket")
        assert result == "refused"
        # (page.goto waited for the load event, which waits for the frame's load too)
        assert await page.frame_locator("#frame").locator("#entry").count() == 0
        await context.close()
    assert re.search(r"refused a WebSocket from 127\.0\.0\.1: page origin "
                     r"'http://127\.0\.0\.1:\d+'", bridge.log_tail(200_000))


async def test_clients_without_a_page_origin_and_the_own_origin_may_connect(
        bridge: BridgeProcess) -> None:
    for origin in (None, bridge.url):  # the appliance sends none; the own page its own
        client = await RawClient.connect(bridge.ws_url, origin=origin)
        try:
            assert (await client.join("acik", "Cihaz"))["type"] == "welcome"
        finally:
            await client.close()
    for origin in ("null", "http://127.0.0.1:1", "https://saldirgan.example"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await RawClient.connect(bridge.ws_url, origin=origin)
        assert refused.value.status == 403


async def test_every_response_forbids_framing(bridge: BridgeProcess) -> None:
    async with aiohttp.ClientSession() as http:
        for path, status in (("/r/acik", 200), ("/", 200), ("/api/files", 401),
                             ("/static/room.js", 200), ("/healthz", 200), ("/yok", 404)):
            async with http.get(bridge.url + path) as resp:
                assert resp.status == status, path
                assert resp.headers["X-Frame-Options"] == "DENY", path
                assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"], path


async def ws_from(bridge: BridgeProcess, source: str) -> tuple[aiohttp.ClientSession,
                                                                aiohttp.ClientWebSocketResponse]:
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source, 0)))
    try:
        return http, await http.ws_connect(bridge.ws_url)
    except BaseException:
        await http.close()
        raise


async def test_one_address_holds_at_most_its_share_of_connections(
        bridge: BridgeProcess) -> None:
    greedy, other = "127.0.0.31", "127.0.0.32"
    held: list[tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]] = []
    refused = 0
    try:
        for _ in range(CAP + 5):
            try:
                held.append(await ws_from(bridge, greedy))
            except (aiohttp.WSServerHandshakeError, aiohttp.ClientError) as exc:
                assert getattr(exc, "status", 429) == 429, exc
                refused += 1
        assert (len(held), refused) == (CAP, 5)
        # another address is not affected
        http, ws = await ws_from(bridge, other)
        await ws.close()
        await http.close()
        # a connection closed makes room for one more
        http, ws = held.pop()
        await ws.close()
        await http.close()
        await eventually(lambda: _connects(bridge, greedy, held), what="a freed place")
    finally:
        for http, ws in held:
            await ws.close()
            await http.close()
    assert "refused connections from 127.0.0.31" in bridge.log_tail(200_000)


async def _connects(bridge: BridgeProcess, source: str,
                    held: list[tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]]
                    ) -> bool:
    try:
        held.append(await ws_from(bridge, source))
    except (aiohttp.WSServerHandshakeError, aiohttp.ClientError):
        return False
    return True


async def slow_headers(bridge: BridgeProcess, source: str) -> bool:
    """A slowloris connection: a request line, then a header byte every half second
    until the bridge hangs up (True) or a minute has gone by (False)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", bridge.port,
                                                   local_addr=(source, 0))
    try:
        writer.write(b"GET /r/acik HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Yavas: ")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while loop.time() < deadline:
            try:
                writer.write(b"a")
                await writer.drain()
                if await asyncio.wait_for(reader.read(1024), 0.5) == b"":
                    return True
            except TimeoutError:
                continue
            except ConnectionError:
                return True
        return False
    finally:
        writer.close()


async def test_slow_request_headers_are_cut_off_and_sockets_stay(
        bridge: BridgeProcess) -> None:
    settled = await RawClient.connect(bridge.ws_url)  # a meeting's socket, long past its headers
    try:
        sources = [f"127.0.0.{40 + i}" for i in range(3)]
        cut = await asyncio.gather(*(slow_headers(bridge, s) for s in sources for _ in range(15)))
        assert all(cut), f"{cut.count(False)} of {len(cut)} slow connections were kept"
        assert (await settled.request({"type": "ping"}, 7))["type"] == "pong"
    finally:
        await settled.close()


async def health(bridge: BridgeProcess, source: str | None = None,
                 **headers: str) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(local_addr=(source, 0)) if source else None
    async with aiohttp.ClientSession(connector=connector) as http, http.get(
            bridge.url + "/healthz", headers=headers) as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


async def test_healthz_detail_only_for_local_or_authorised_callers(
        bridge: BridgeProcess) -> None:
    local = await health(bridge)
    assert local["status"] == "ok" and isinstance(local["janus_pid"], int)
    remote = {"X-Forwarded-For": "198.51.100.7"}  # a school PC behind the trusted proxy
    assert await health(bridge, PROXY, **remote) == {"status": "ok"}
    authorised = await health(bridge, PROXY, **remote, Authorization=f"Bearer {HEALTH_TOKEN}")
    assert isinstance(authorised["janus_pid"], int) and "rooms" in authorised
    assert await health(bridge, PROXY, **remote, Authorization="Bearer yanlis") == {
        "status": "ok"}
    # A proxy nobody configured: its clients must not all look local.
    assert await health(bridge, "127.0.0.35", **remote) == {"status": "ok"}
