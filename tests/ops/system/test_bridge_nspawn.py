"""salon-bridge.service under a real systemd with the real Debian Janus as its child:
the hardening leaves Janus working, a stop is clean (no SIGKILL), and a crashed bridge
never leaves an orphan Janus holding the ports when it is restarted."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from .conftest import build_deb, remove_tree, rootfs_tarball, timed, unpack, wait_until
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
        container.sh("dpkg -i /root/salon-bridge.deb", timeout=600)
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
