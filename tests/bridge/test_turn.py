"""TURN credentials minted by the bridge, checked by a real coturn configured with what
`salon-bridge turn-config` writes: a fresh credential gets an allocation over UDP, TCP
and TLS; an expired one, another seat's password or another secret get none; and the
relay reaches Janus's address only."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aioice import stun
from aioice.turn import TurnClientTcpProtocol, TurnClientUdpProtocol

from bridge.config import load_bridge_config
from bridge.turn import TurnConfigError, TurnMinter, coturn_config, credential
from tests.support import coturn
from tests.support.pki import TestCA
from tests.support.procs import free_port, media_ip

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not coturn.available(), reason="needs coturn (apt)")]
SECRET = "0123456789abcdef0123456789abcdef"
JANUS_IP = "127.1.0.9"  # the only peer coturn may relay to here


def test_credential_is_coturns_rest_scheme() -> None:
    # HMAC-SHA1 over "expiry:seat", base64 (the value is `printf 1700000000:42 | openssl
    # dgst -sha1 -hmac north -binary | base64`).
    username, password = credential("north", "42", 1_700_000_000)
    assert username == "1700000000:42"
    assert password == "DWX3FI7DiPIpadEYQAZsnZBAagI="


def bridge_toml(tmp: Path, ip: str, ports: dict[str, int], ca: TestCA) -> Path:
    (tmp / "turn-secret").write_text(SECRET + "\n")
    cert, key = ca.issue(["turn.salon.test", ip]).write(tmp / "turn.pem", tmp / "turn.key")
    config = tmp / "bridge.toml"
    config.write_text(f"""
[janus]
media_ip = "{JANUS_IP}"
[turn]
secret_file = "turn-secret"
urls = ["turn:{ip}:{ports['plain']}?transport=udp", "turn:{ip}:{ports['plain']}?transport=tcp",
        "turns:turn.salon.test:{ports['tls']}?transport=tcp"]
ttl_s = 600
listening_ips = ["{ip}"]
relay_ip = "{ip}"
relay_port_range = "{ports['relay']}-{ports['relay'] + 20}"
cert_file = "{cert}"
key_file = "{key}"
""")
    return config


@pytest.fixture(scope="module")
def turn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, TestCA]]:
    tmp = tmp_path_factory.mktemp("turn")
    ca = TestCA()
    ip = media_ip()
    ports = {"plain": free_port(), "tls": free_port(), "relay": 41000}
    config = bridge_toml(tmp, ip, ports, ca)
    server = coturn.Coturn(coturn.turn_config(config), tmp / "coturn", (ip, ports["plain"]))
    try:
        server.wait_ready()
        yield config, ca
    finally:
        server.stop()


async def allocate(url_host: tuple[str, int], username: str, password: str,
                   transport: str = "udp", tls: ssl.SSLContext | None = None,
                   server_name: str | None = None) -> TurnClientUdpProtocol | TurnClientTcpProtocol:
    loop = asyncio.get_running_loop()
    proto: TurnClientUdpProtocol | TurnClientTcpProtocol
    if transport == "udp":
        _, proto = await loop.create_datagram_endpoint(
            lambda: TurnClientUdpProtocol(url_host, username, password, 600, 300),
            remote_addr=url_host)
    else:
        _, proto = await loop.create_connection(
            lambda: TurnClientTcpProtocol(url_host, username, password, 600, 300),
            host=url_host[0], port=url_host[1], ssl=tls, server_hostname=server_name)
    await asyncio.wait_for(proto.connect(), 10)
    return proto


def endpoints(config: Path) -> dict[str, tuple[str, int]]:
    settings = load_bridge_config(config)
    assert settings.turn is not None
    ip = media_ip()
    plain = int(settings.turn.urls[0].split(":")[2].split("?")[0])
    tls = int(settings.turn.urls[2].split(":")[2].split("?")[0])
    return {"plain": (ip, plain), "tls": (ip, tls)}


async def test_a_minted_credential_allocates_over_udp_tcp_and_tls(
        turn_server: tuple[Path, TestCA]) -> None:
    config, ca = turn_server
    settings = load_bridge_config(config)
    assert settings.turn is not None
    (server,) = TurnMinter(settings.turn).ice_servers("17")
    assert server.username is not None and server.username.endswith(":17")
    assert server.credential is not None
    where = endpoints(config)
    tls = ssl.create_default_context(cadata=ca.pem.decode())
    for transport, addr, ctx, name in (("udp", where["plain"], None, None),
                                       ("tcp", where["plain"], None, None),
                                       ("tcp", where["tls"], tls, "turn.salon.test")):
        proto = await allocate(addr, server.username, server.credential, transport, ctx, name)
        assert proto.relayed_address is not None
        assert proto.relayed_address[0] == media_ip()
        # Janus's address may be reached through the relay...
        await proto.channel_bind(0x4000, (JANUS_IP, 20000))
        # ...nothing else: not the machine's own network, not another host.
        with pytest.raises(stun.TransactionFailed) as refused:
            await proto.channel_bind(0x4001, ("127.1.0.77", 20000))
        assert refused.value.response.attributes["ERROR-CODE"][0] == 403
        await proto.delete()


@pytest.mark.parametrize("case", ["expired", "other seat's password", "other secret"])
async def test_a_credential_that_is_not_valid_gets_no_allocation(
        turn_server: tuple[Path, TestCA], case: str) -> None:
    config, _ = turn_server
    import time

    now = int(time.time())
    if case == "expired":
        username, password = credential(SECRET, "17", now - 5)
    elif case == "other seat's password":
        username, _ = credential(SECRET, "17", now + 600)
        _, password = credential(SECRET, "18", now + 600)
    else:
        username, password = credential("f" * 32, "17", now + 600)
    with pytest.raises(stun.TransactionFailed) as refused:
        await allocate(endpoints(config)["plain"], username, password, "tcp")
    assert refused.value.response.attributes["ERROR-CODE"][0] == 401


def test_turn_config_follows_the_bridge_configuration(tmp_path: Path) -> None:
    config = bridge_toml(tmp_path, "127.1.0.1", {"plain": 3478, "tls": 443, "relay": 50000},
                         TestCA())
    text = coturn_config(load_bridge_config(config))
    lines = set(text.splitlines())
    assert {"use-auth-secret", f"static-auth-secret={SECRET}", "listening-port=3478",
            "tls-listening-port=443", "listening-ip=127.1.0.1", "relay-ip=127.1.0.1",
            "min-port=50000", "max-port=50020", "denied-peer-ip=0.0.0.0-255.255.255.255",
            f"allowed-peer-ip={JANUS_IP}", "no-dtls", "realm=127.1.0.1"} <= lines
    assert "no-udp" not in lines and "no-tls" not in lines
    # TLS only: no plain listener URLs, so no UDP
    config.write_text(config.read_text().replace(
        'urls = ["turn:127.1.0.1:3478?transport=udp", "turn:127.1.0.1:3478?transport=tcp",',
        'urls = ['))
    assert "no-udp" in coturn_config(load_bridge_config(config)).splitlines()
    # No Janus address to restrict the relay to: refused, not an open relay
    config.write_text(config.read_text().replace(f'media_ip = "{JANUS_IP}"', ""))
    with pytest.raises(TurnConfigError, match="allowed_peer_ips"):
        coturn_config(load_bridge_config(config))
