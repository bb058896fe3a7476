"""The room trusts the bridge's certificate only as its provisioning file says (system
CAs, a CA file, pinned keys): a wrong, expired or unknown certificate is refused with
the reason the screen shows, and not a byte of the join (the device password) is sent."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from aiohttp import WSMsgType, web

from appliance.conference import client as conf
from appliance.conference.trust import client_context
from appliance.screen import i18n
from tests.support.pki import DAY, NOW, TestCA, self_signed, spki_sha256
from tests.support.procs import free_port


class NoMedia:
    def new_tracks(self) -> tuple[None, None]:
        return None, None


class FakeBridge:
    """A TLS WebSocket endpoint that records what clients send (and answers nothing)."""

    def __init__(self) -> None:
        self.received: list[str] = []

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        msg = await ws.receive(timeout=5)
        if msg.type == WSMsgType.TEXT:  # not the client closing
            self.received.append(str(msg.data))
        await ws.close()
        return ws


@pytest.fixture
def ca() -> TestCA:
    return TestCA()


async def serve(cert_pem: bytes, key_pem: bytes, tmp: Path) -> tuple[FakeBridge, web.AppRunner,
                                                                     int]:
    (tmp / "c.pem").write_bytes(cert_pem)
    (tmp / "k.pem").write_bytes(key_pem)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tmp / "c.pem", tmp / "k.pem")
    bridge = FakeBridge()
    app = web.Application()
    app.router.add_get("/ws", bridge.ws)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx).start()
    return bridge, runner, port


async def attempt(port: int, ca_file: str | None = None, pins: tuple[str, ...] = ()
                  ) -> list[conf.ConferenceEvent]:
    """One connection attempt of the room's client; the events it reported."""
    events: list[conf.ConferenceEvent] = []
    client = conf.BridgeClient(
        f"https://127.0.0.1:{port}", "testbim", conf.Credentials(name="ROOM A"), NoMedia(),
        events.append, connect_timeout_s=5, tls=client_context(ca_file, pins), pins=pins)
    task = asyncio.create_task(client.run())
    for _ in range(100):
        if any(isinstance(e, conf.Disconnected) for e in events):
            break
        await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return events


def refusal(events: list[conf.ConferenceEvent]) -> tuple[str, str] | None:
    for e in events:
        if isinstance(e, conf.BridgeUntrusted):
            return e.key, e.detail
    return None


def the_reason(events: list[conf.ConferenceEvent]) -> str:
    return next(e.reason for e in events if isinstance(e, conf.Disconnected))


async def start(cert_pem: bytes, key_pem: bytes, tmp: Path,
                runners: list[web.AppRunner]) -> tuple[FakeBridge, int]:
    bridge, runner, port = await serve(cert_pem, key_pem, tmp)
    runners.append(runner)
    return bridge, port


CASES = {
    # name: (certificate, trust) -> expected refusal key, or None when trusted
    "CA-signed, CA file": ("good", "ca_file", None),
    "CA-signed, system CAs only": ("good", "system", "tls_untrusted"),
    "expired": ("expired", "ca_file", "tls_expired"),
    "not yet valid": ("future", "ca_file", "tls_not_yet_valid"),
    "another name": ("other_name", "ca_file", "tls_wrong_host"),
    "self-signed, pinned": ("self_signed", "pin", None),
    "self-signed, other pin": ("self_signed", "other_pin", "tls_pin_mismatch"),
    "self-signed, not pinned": ("self_signed", "ca_file", "tls_untrusted"),
    "pinned but expired": ("self_signed_expired", "pin", "tls_expired"),
    "CA-signed, CA file and the wrong pin": ("good", "ca_file+other_pin", "tls_pin_mismatch"),
}


@pytest.mark.parametrize("case", CASES)
async def test_the_room_trusts_only_what_its_file_says(case: str, ca: TestCA,
                                                       tmp_path: Path) -> None:
    kind, trust, expected = CASES[case]
    issued = {
        "good": lambda: ca.issue(["127.0.0.1"]),
        "expired": lambda: ca.issue(["127.0.0.1"], valid_from=NOW - 9 * DAY,
                                    valid_to=NOW - 2 * DAY),
        "future": lambda: ca.issue(["127.0.0.1"], valid_from=NOW + 2 * DAY),
        "other_name": lambda: ca.issue(["meet.other.test"]),
        "self_signed": lambda: self_signed(["127.0.0.1"]),
        "self_signed_expired": lambda: TestCA("Self").issue(
            ["127.0.0.1"], valid_from=NOW - 9 * DAY, valid_to=NOW - 2 * DAY),
    }[kind]()
    ca_file = str(ca.write(tmp_path / "ca.pem")) if "ca_file" in trust else None
    pins: tuple[str, ...] = ()
    if trust == "pin":
        pins = (spki_sha256(issued.leaf_pem),)
    elif "other_pin" in trust:
        pins = (spki_sha256(self_signed(["x"]).leaf_pem),)
    runners: list[web.AppRunner] = []
    try:
        bridge, port = await start(issued.cert_pem, issued.key_pem, tmp_path, runners)
        events = await attempt(port, ca_file, pins)
    finally:
        for runner in runners:
            await runner.cleanup()
    if expected is None:
        assert refusal(events) is None, refusal(events)
        assert bridge.received and '"type":"join"' in bridge.received[0]
        return
    got = refusal(events)
    assert got is not None and got[0] == expected, (got, events)
    assert the_reason(events) == expected  # what the room's screen is given
    assert bridge.received == [], "something was sent to a bridge that was not trusted"
    for language in ("tr", "en"):
        assert i18n.status(expected, language) != expected  # translated, not the key


def test_every_refusal_reason_is_translated() -> None:
    from appliance.conference.trust import REFUSED_KEYS

    for key in REFUSED_KEYS:
        assert set(i18n.STATUS[key]) == {"tr", "en"}
