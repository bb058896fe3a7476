"""salon-bridge.service under a real systemd with the real Debian Janus as its child:
the hardening leaves Janus working, a stop is clean (no SIGKILL), and a crashed bridge
never leaves an orphan Janus holding the ports when it is restarted. Then as a school
sets it up (docs/deployment.md): HTTPS on 443 as the unprivileged service user, the
certificate put in place and renewed by the shipped certbot deploy hook."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import (
    REPO,
    build_deb,
    remove_tree,
    rootfs_tarball,
    timed,
    unpack,
    wait_until,
)
from .container import Container

PACKAGES = ["systemd", "systemd-sysv", "dbus", "python3", "python3-systemd", "procps", "janus"]
UNIT = "salon-bridge.service"
CONFIG = """
[server]
host = "127.0.0.1"
port = 8080

[janus]
media_ip = "127.0.0.1"
"""
HEALTHZ = ("python3 -c \"import urllib.request as u; "
           "print(u.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status)\"")


@pytest.fixture(scope="module")
def server(timings: dict[str, float], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Container]:
    deb = build_deb("amd64", timings, package="bridge")
    root = unpack(rootfs_tarball("amd64", PACKAGES, timings), timings)
    (root / "etc/salon-bridge").mkdir(parents=True, exist_ok=True)
    (root / "etc/salon-bridge/bridge.toml").write_text(CONFIG)
    (root / "root/salon-bridge.deb").write_bytes(deb.read_bytes())
    container = Container(root, tmp_path_factory.mktemp("nspawn-bridge") / "console.log")
    try:
        container.boot()
        done = timed("bridge: dpkg -i (postinst starts the unit)", timings)
        # Keep the test's configuration over the package's example (a conffile).
        installed = container.sh("dpkg -i --force-confold /root/salon-bridge.deb 2>&1",
                                 timeout=600)
        print(installed.stdout)
        done()
        yield container
    finally:
        container.shutdown()
        if os.environ.get("SALON_KEEP_ROOTFS") != "1":
            remove_tree(root)
        remove_tree(deb.parent)


def janus_pids(box: Container) -> list[str]:
    """Every Janus on the box (there must be only the bridge's)."""
    return box.sh("pgrep -x janus || true").stdout.split()


def answering(box: Container) -> bool:
    return box.sh(HEALTHZ, check=False).stdout.strip() == "200"


def test_debian_janus_service_is_disabled_and_stopped(server: Container) -> None:
    assert server.sh("systemctl is-enabled janus.service", check=False).stdout.strip() \
        == "disabled"
    assert server.show("ActiveState", "janus.service") == "inactive"


def test_bridge_serves_with_janus_as_its_child(server: Container,
                                               timings: dict[str, float]) -> None:
    timings["bridge: start → /healthz 200"] = wait_until(
        lambda: answering(server) and len(janus_pids(server)) == 1, 90,
        "the bridge's /healthz and its Janus")
    (janus,) = janus_pids(server)
    main = server.show("MainPID", UNIT)
    assert server.sh(f"ps -o ppid= -p {janus}").stdout.strip() == main
    assert server.sh(f"ps -o user= -p {janus}").stdout.strip() == "salon-bridge"
    cgroup = server.sh(f"cat /proc/{janus}/cgroup").stdout
    assert "/system.slice/salon-bridge.service" in cgroup


def test_a_crashed_bridge_leaves_no_orphan_janus(server: Container) -> None:
    wait_until(lambda: answering(server), 60, "the bridge")
    old_main, (old_janus,) = server.show("MainPID", UNIT), janus_pids(server)
    server.sh(f"systemctl kill --kill-whom=main --signal=SIGKILL {UNIT}")
    wait_until(lambda: server.show("MainPID", UNIT) not in (old_main, "0")
               and answering(server) and len(janus_pids(server)) == 1, 90,
               "the restarted bridge with exactly one Janus")
    assert janus_pids(server) != [old_janus]


def test_stop_is_clean(server: Container) -> None:
    wait_until(lambda: answering(server), 60, "the bridge")
    cursor = server.cursor()
    started = time.monotonic()
    server.sh(f"systemctl stop {UNIT}")
    assert time.monotonic() - started < 20, "stop ran into TimeoutStopSec"
    assert janus_pids(server) == []
    assert server.show("Result", UNIT) == "success"
    log = " ".join(str(e.get("MESSAGE", "")) for e in server.journal(UNIT, cursor))
    assert "SIGKILL" not in log, log


HTTPS_CONFIG = """
[server]
host = "127.0.0.1"
port = 443
public_url = "https://127.0.0.1"
[tls]
cert_file = "/etc/salon-bridge/tls/fullchain.pem"
key_file = "/etc/salon-bridge/tls/privkey.pem"
http_port = 80
[janus]
media_ip = "127.0.0.1"
[turn]
secret_file = "/etc/salon-bridge/turn-secret"
urls = ["turn:127.0.0.1:3478?transport=udp", "turns:127.0.0.1:5349?transport=tcp"]
cert_file = "/etc/salon-bridge/tls/fullchain.pem"
key_file = "/etc/salon-bridge/tls/privkey.pem"
"""
SERIAL = """
import socket, ssl, sys
ctx = ssl.create_default_context(cafile="/root/ca.pem")
with socket.create_connection(("127.0.0.1", 443), timeout=3) as raw, \\
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
    print(tls.getpeercert()["serialNumber"])
"""


def deploy_hook(box: Container, root_dir: Path, issued: object) -> None:
    """certbot's renewal as the deploy hook sees it: a new lineage, then the hook."""
    lineage = root_dir / "root/lineage"
    lineage.mkdir(parents=True, exist_ok=True)
    issued.write(lineage / "fullchain.pem", lineage / "privkey.pem")  # type: ignore[attr-defined]
    box.sh("RENEWED_LINEAGE=/root/lineage /usr/share/salon-bridge/certbot-deploy-hook")


def served_serial(box: Container) -> int | None:
    out = box.sh("python3 /root/serial.py", check=False).stdout.strip()
    return int(out, 16) if out else None


def test_https_on_443_as_the_service_user_renewed_by_the_deploy_hook(server: Container) -> None:
    from tests.support.pki import TestCA

    root_dir = server.root
    assert server.sh("stat -c '%a %U %G' /etc/salon-bridge/turn-secret").stdout.split() == [
        "640", "root", "salon-bridge"], "postinst made no TURN secret for the service"
    shipped = (REPO / "config/bridge.toml").read_text()
    assert (root_dir / "etc/salon-bridge/bridge.toml.dpkg-dist").read_text() == shipped
    ca = TestCA()
    ca.write(root_dir / "root/ca.pem")
    (root_dir / "root/serial.py").write_text(SERIAL)
    server.sh("systemctl stop salon-bridge.service")
    (root_dir / "etc/salon-bridge/bridge.toml").write_text(HTTPS_CONFIG)
    first = ca.issue(["127.0.0.1"])
    deploy_hook(server, root_dir, first)
    assert server.sh("stat -c '%a %G' /etc/salon-bridge/tls/privkey.pem").stdout.split() == [
        "640", "salon-bridge"]
    server.sh("runuser -u salon-bridge -- salon-bridge check-config")
    assert "allowed-peer-ip=127.0.0.1" in server.sh("salon-bridge turn-config").stdout
    server.sh("systemctl start salon-bridge.service")
    wait_until(lambda: served_serial(server) == first.serial, 90,
               "HTTPS on 443 with the first certificate")
    assert server.sh("ps -o user= -p " + server.show("MainPID", UNIT)).stdout.strip() \
        == "salon-bridge"
    redirect = server.sh("python3 -c \"import http.client as h; c = h.HTTPConnection("
                         "'127.0.0.1', 80, timeout=3); c.request('GET', '/r/x'); "
                         "r = c.getresponse(); print(r.status, r.getheader('Location'))\"")
    assert redirect.stdout.split() == ["301", "https://127.0.0.1/r/x"]
    main = server.show("MainPID", UNIT)
    renewed = ca.issue(["127.0.0.1"])
    deploy_hook(server, root_dir, renewed)  # the hook ends with `systemctl reload`
    wait_until(lambda: served_serial(server) == renewed.serial, 30,
               "the renewed certificate served")
    assert server.show("MainPID", UNIT) == main  # reloaded, not restarted
