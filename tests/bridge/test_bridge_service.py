"""The bridge process as a school runs it: on PostgreSQL instead of the SQLite file
(the schema migrated at start), and handing each admitted seat TURN credentials in its
welcome, fresh ones again before they expire."""

from __future__ import annotations

import signal
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bridge.store.migrate import current_revision
from bridge.turn import credential
from tests.support.deployment import served_serial
from tests.support.pki import TestCA
from tests.support.postgres import postgres_cluster, server_binaries
from tests.support.procs import BIN, BridgeProcess, Proc, free_port, media_ip, wait_until
from tests.support.wsclient import RawClient

pytestmark = [pytest.mark.netns, pytest.mark.slow]
SECRET = "s" * 40


@pytest.mark.skipif(server_binaries() is None, reason="needs PostgreSQL (apt-get install "
                    "postgresql)")
async def test_the_bridge_runs_on_postgresql_migrated_at_start(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    with postgres_cluster() as url:
        assert current_revision(url) is None  # an empty database
        bridge = BridgeProcess(tmp_path, rooms=[("testbim", "Test BİM")],
                               extra_toml=f'database_url = "{url}"')
        try:
            assert current_revision(url) is not None
            client = await RawClient.connect(bridge.ws_url)
            await client.send({"type": "join", "protocol": 1, "room": "testbim",
                               "name": "Ayşe Yılmaz", "id": 1})
            welcome = await client.expect("welcome")
            await client.close()
            engine = create_engine(url)
            with engine.connect() as db:
                names = db.execute(text("SELECT display_name FROM participants")).scalars()
                assert "Ayşe Yılmaz" in list(names)
            engine.dispose()
            assert not (tmp_path / "bridge-state" / "salon.sqlite3").exists()
            assert welcome["ice_servers"] == []  # no [turn]: Janus is reached directly
        finally:
            bridge.stop()


async def test_turn_credentials_in_the_welcome_and_again_before_they_expire(
        tmp_path: Path) -> None:
    (tmp_path / "turn-secret").write_text(SECRET + "\n")
    urls = '["turn:127.1.0.1:3478?transport=udp", "turns:127.1.0.1:5349?transport=tcp"]'
    bridge = BridgeProcess(tmp_path, rooms=[("testbim", "Test BİM")], extra_toml=(
        f'[turn]\nsecret_file = "{tmp_path / "turn-secret"}"\nurls = {urls}\nttl_s = 6\n'))
    try:
        client = await RawClient.connect(bridge.ws_url)
        await client.send({"type": "join", "protocol": 1, "room": "testbim",
                           "name": "Ayşe Yılmaz", "id": 1})
        welcome = await client.expect("welcome")
        seat = welcome["you"]["id"]
        (server,) = welcome["ice_servers"]
        assert server["urls"] == ["turn:127.1.0.1:3478?transport=udp",
                                  "turns:127.1.0.1:5349?transport=tcp"]
        expiry, who = server["username"].split(":")
        assert who == seat
        assert server["credential"] == credential(SECRET, seat, int(expiry))[1]
        fresh = await client.expect("ice_servers", timeout=10)  # at half of the 6 s
        (renewed,) = fresh["servers"]
        assert int(renewed["username"].split(":")[0]) > int(expiry)
        assert renewed["credential"] == credential(SECRET, seat, int(
            renewed["username"].split(":")[0]))[1]
        await client.close()
    finally:
        bridge.stop()


def test_a_missing_turn_secret_stops_the_bridge_with_the_file_named(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"\[turn\] secret_file .*nowhere: cannot read"):
        BridgeProcess(tmp_path, extra_toml=(
            '[turn]\nsecret_file = "nowhere"\nurls = ["turn:127.1.0.1:3478"]\n'))


def test_a_new_server_waits_for_its_certificate_and_reloads_on_sighup(tmp_path: Path) -> None:
    """First start before certbot has run: plain HTTP answers the ACME challenge, HTTPS
    comes up once the files are there; `systemctl reload` (SIGHUP) takes a renewal."""
    ca = TestCA()
    https, plain = free_port(), free_port()
    tls = tmp_path / "tls"
    tls.mkdir()
    challenge = tmp_path / "acme" / ".well-known" / "acme-challenge"
    challenge.mkdir(parents=True)
    (challenge / "tok").write_text("tok.key")
    config = tmp_path / "bridge.toml"
    config.write_text(f"""state_dir = "{tmp_path / 'state'}"
[server]
port = {https}
public_url = "https://meet.salon.test:{https}"
[tls]
cert_file = "tls/fullchain.pem"
key_file = "tls/privkey.pem"
reload_check_s = 3600  # renewals only through SIGHUP here
http_port = {plain}
acme_webroot = "acme"
[janus]
media_ip = "{media_ip()}"
""")
    bridge = Proc([str(BIN / "salon-bridge"), "--config", str(config)], tmp_path / "b.log")
    try:
        url = f"http://127.0.0.1:{plain}/.well-known/acme-challenge/tok"
        wait_until(lambda: _get(url) == "tok.key", 40, "the ACME challenge answered")
        assert "no HTTPS until the certificate is there" in bridge.log_tail()
        first = ca.issue(["meet.salon.test"])
        first.write(tls / "fullchain.pem", tls / "privkey.pem")  # certbot's deploy hook
        wait_until(lambda: served_serial("127.0.0.1", https, ca.pem) == first.serial, 20,
                   "HTTPS with the first certificate")
        renewed = ca.issue(["meet.salon.test"])
        renewed.write(tls / "fullchain.pem", tls / "privkey.pem")
        assert served_serial("127.0.0.1", https, ca.pem) == first.serial
        bridge.proc.send_signal(signal.SIGHUP)  # systemctl reload salon-bridge
        wait_until(lambda: served_serial("127.0.0.1", https, ca.pem) == renewed.serial, 10,
                   "the renewal served after SIGHUP")
        assert bridge.alive()
    finally:
        bridge.stop()


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return str(resp.read().decode())
