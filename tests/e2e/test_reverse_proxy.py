"""The other way to serve HTTPS: the bridge behind Debian's Caddy with the Caddyfile the
project ships. Through Caddy the page, the WebSocket and the meeting work; the bridge
believes Caddy's forwarded headers (it sends HSTS, it sees the client's own address)
and nobody else's: a client's forged X-Forwarded-For reaches nothing."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
from pathlib import Path

import aiohttp
import pytest

from tests.support.pki import TestCA
from tests.support.procs import REPO, BridgeProcess, Proc, free_port, media_ip, wait_until

CADDY = shutil.which("caddy") or "/usr/bin/caddy"
pytestmark = [pytest.mark.netns, pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CADDY), reason="needs caddy (apt)")]
NAME = "meet.salon.test"


def caddyfile(tmp: Path, port: int, cert: Path, key: Path) -> Path:
    """The shipped Caddyfile with this test's certificate instead of ACME (no internet
    here) and Caddy's admin endpoint off."""
    shipped = (REPO / "config" / "Caddyfile").read_text()
    site = "{$SALON_DOMAIN:meet.example.org} {"
    assert site in shipped
    text = "{\n\tadmin off\n\tauto_https disable_redirects\n}\n" + shipped.replace(
        site, f"{site}\n\ttls {cert} {key}")
    path = tmp / "Caddyfile"
    path.write_text(text)
    return path


async def test_behind_caddy_the_bridge_trusts_only_its_proxy(tmp_path: Path) -> None:
    ca = TestCA()
    cert, key = ca.issue([NAME]).write(tmp_path / "cert.pem", tmp_path / "key.pem")
    bridge = BridgeProcess(tmp_path, rooms=[("testbim", "Test BİM")],
                           extra_toml='[proxy]\ntrusted = ["127.0.0.1/32"]\n')
    port = free_port()
    caddy = Proc([CADDY, "run", "--adapter", "caddyfile", "--config",
                  str(caddyfile(tmp_path, port, cert, key))], tmp_path / "caddy.log",
                 env={"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
                      "XDG_CONFIG_HOME": str(tmp_path / "config"),
                      "SALON_DOMAIN": f"{NAME}:{port}",
                      "SALON_BRIDGE": f"127.0.0.1:{bridge.port}"})
    tls = ssl.create_default_context(cadata=ca.pem.decode())
    me = media_ip()  # the client's address as Caddy sees it
    base = f"https://{NAME}:{port}"
    try:
        # Caddy listens on every address; the client reaches it on this namespace's own.
        connector = aiohttp.TCPConnector(ssl=tls, local_addr=(me, 0),
                                         resolver=StaticResolver({NAME: "127.0.0.1"}))
        async with aiohttp.ClientSession(connector=connector) as http:
            await asyncio.to_thread(wait_until, lambda: caddy.alive() and _up(port), 20,
                                    "caddy")
            forged = {"X-Forwarded-For": "203.0.113.66", "X-Forwarded-Proto": "http"}
            async with http.get(f"{base}/r/testbim", headers=forged) as resp:
                assert resp.status == 200
                assert "max-age=" in resp.headers["Strict-Transport-Security"]
            async with http.ws_connect(f"wss://{NAME}:{port}/ws", headers=forged) as ws:
                await ws.send_json({"type": "join", "protocol": 1, "room": "testbim",
                                    "name": "Ayşe Yılmaz", "id": 1})
                welcome = await ws.receive_json(timeout=10)
                assert welcome["type"] == "welcome", welcome
                await ws.send_str("not json")  # the bridge logs the sender's address
                assert (await ws.receive_json(timeout=10))["code"] == "bad_json"
        log = bridge.log_tail(200_000)
        assert f"bad message from {me}" in log, log[-2000:]
        assert "203.0.113.66" not in log
        # Straight to the bridge from anywhere but Caddy's address, forged headers are
        # ignored.
        direct = aiohttp.TCPConnector(local_addr=(me, 0))
        async with aiohttp.ClientSession(connector=direct) as http, http.get(
                f"{bridge.url}/r/testbim", headers={"X-Forwarded-Proto": "https"}) as resp:
            assert "Strict-Transport-Security" not in resp.headers
    finally:
        caddy.stop()
        bridge.stop()


def _up(port: int) -> bool:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


class StaticResolver(aiohttp.abc.AbstractResolver):
    """Names to addresses for this test (no DNS here)."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[dict]:  # type: ignore[override]
        import socket

        return [{"hostname": host, "host": self.names.get(host, host), "port": port,
                 "family": socket.AF_INET, "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        pass
