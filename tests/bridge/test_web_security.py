"""The bridge's web security decisions without a server: configured origins, trusted
proxies' X-Forwarded-For, download tickets' expiry, the sign-in gate's bounds, and how
client addresses are counted (an IPv6 client by its /64). The
end-to-end behaviour is in tests/e2e/test_web_hardening.py, test_seat_tokens.py and
test_sign_in_abuse.py."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request

from bridge.config import BridgeConfigError, BridgeSettings, load_bridge_config
from bridge.meetings.signin import MemoryLedger, SignInGate, SignInLimits
from bridge.web.connections import AddressCounter
from bridge.web.security import WebSecurity
from bridge.web.tickets import DownloadTickets


def settings(**security: object) -> BridgeSettings:
    public_url = security.pop("public_url", None)
    proxy = {"trusted": security.pop("trusted_proxies", [])}
    return BridgeSettings.model_validate({"server": {"public_url": public_url},
                                          "proxy": proxy, "security": security})


def request(headers: dict[str, str], peer: str = "127.0.0.1"):  # type: ignore[no-untyped-def]
    class Transport:
        def get_extra_info(self, name: str, default: object = None) -> object:
            return (peer, 50000) if name == "peername" else default

    return make_mocked_request("GET", "/ws", headers=headers, transport=Transport())


def test_configured_origins_replace_the_same_host_rule() -> None:
    sec = WebSecurity(settings(public_url="https://salon.okul.example/",
                               allowed_origins=["http://10.0.0.5:8080"]))
    host = {"Host": "salon.okul.example"}
    assert sec.origin_allowed(request({**host, "Origin": "https://salon.okul.example"}))
    assert sec.origin_allowed(request({**host, "Origin": "https://SALON.okul.example:443"}))
    assert sec.origin_allowed(request({**host, "Origin": "http://10.0.0.5:8080"}))
    assert not sec.origin_allowed(request({**host, "Origin": "http://salon.okul.example"}))
    # DNS rebinding: a page of another name that reaches this address is still refused
    assert not sec.origin_allowed(request({"Host": "kotu.example",
                                           "Origin": "https://kotu.example"}))
    assert sec.origin_allowed(request(host))  # no Origin: not a web page (the appliance)


def test_without_configured_origins_a_page_must_come_from_the_host_it_connects_to() -> None:
    sec = WebSecurity(settings())
    assert sec.origin_allowed(request({"Host": "127.0.0.1:8080",
                                       "Origin": "http://127.0.0.1:8080"}))
    assert sec.origin_allowed(request({"Host": "salon.example", "Origin": "https://salon.example"}))
    for origin in ("http://127.0.0.1:9090", "null", "file://", "http://evil.example"):
        assert not sec.origin_allowed(request({"Host": "127.0.0.1:8080", "Origin": origin}))


def test_forwarded_for_counts_only_from_trusted_proxies() -> None:
    sec = WebSecurity(settings(trusted_proxies=["127.0.0.1", "10.1.0.0/16"]))
    chain = {"X-Forwarded-For": "203.0.113.5, 198.51.100.7, 10.1.2.3"}
    # nearest hop that is not a trusted proxy: 198.51.100.7 (203.0.113.5 is its claim)
    assert sec.client_address(request(chain, peer="127.0.0.1")) == "198.51.100.7"
    assert sec.client_address(request(chain, peer="192.0.2.44")) == "192.0.2.44"
    assert sec.client_address(request({}, peer="127.0.0.1")) == "127.0.0.1"
    garbage = {"X-Forwarded-For": "not-an-address"}
    assert sec.client_address(request(garbage, peer="127.0.0.1")) == "127.0.0.1"


def test_health_token_file_is_read_relative_to_the_config_and_checked(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text('[security]\nhealth_token_file = "health-token"\n')
    with pytest.raises(BridgeConfigError, match=r"health_token_file: .*health-token: cannot read"):
        WebSecurity(load_bridge_config(config))
    (tmp_path / "health-token").write_text("gizli\n")
    sec = WebSecurity(load_bridge_config(config))
    assert sec.may_see_detail(request({"Authorization": "Bearer gizli"}, peer="192.0.2.1"))
    assert not sec.may_see_detail(request({}, peer="192.0.2.1"))
    config.write_text('[proxy]\ntrusted = ["yok"]\n')
    with pytest.raises(BridgeConfigError, match=r"proxy\.trusted\.0"):
        load_bridge_config(config)


def test_a_ticket_expires_and_is_spent_by_any_use() -> None:
    now = [100.0]
    tickets = DownloadTickets(clock=lambda: now[0], ttl_s=60)
    late = tickets.issue(7, "/api/files/1")
    now[0] += 61
    assert tickets.redeem(late, "/api/files/1") is None
    wrong = tickets.issue(7, "/api/files/1")
    assert tickets.redeem(wrong, "/api/files/2") is None
    assert tickets.redeem(wrong, "/api/files/1") is None  # spent by the wrong try
    good = tickets.issue(7, "/api/files/1")
    assert tickets.redeem(good, "/api/files/1") == 7
    assert tickets.redeem(good, "/api/files/1") is None


async def test_the_sign_in_gate_bounds_checks_per_address_and_in_all() -> None:
    gate = SignInGate(concurrency=1, pending_per_address=3, pending_max=5)
    release = threading.Event()
    running = threading.Semaphore(0)

    def slow_check() -> str:
        running.release()
        release.wait(10)
        return "checked"

    try:
        flood = [asyncio.create_task(gate.run("198.51.100.1", slow_check)) for _ in range(5)]
        others = [asyncio.create_task(gate.run("198.51.100.2", slow_check)) for _ in range(3)]
        await asyncio.to_thread(running.acquire, True, 10)
        release.set()
        assert [await t for t in flood].count("checked") == 3  # two were refused at once
        results = [await t for t in others]
        assert results.count("checked") == 2  # the whole gate holds five
        assert gate.pending == 0
    finally:
        release.set()
        gate.close()


def test_an_ipv6_client_is_counted_by_its_64_and_a_mapped_ipv4_as_itself() -> None:
    ledger = MemoryLedger(SignInLimits(address_failures=2, account_failures=9))
    now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    ledger.failed("2001:db8:1:2::10", "ali", now)
    ledger.failed("2001:db8:1:2:ffff::99", "veli", now)  # the same /64, a fresh address
    assert not ledger.allowed("2001:db8:1:2::abcd", "ogretmen", now)
    assert ledger.allowed("2001:db8:1:3::10", "ogretmen", now)  # the next /64
    counter = AddressCounter(1)
    assert counter.open("::ffff:192.0.2.7")
    assert not counter.open("192.0.2.7")
    counter.close("::ffff:192.0.2.7")
    assert counter.open("192.0.2.7")
