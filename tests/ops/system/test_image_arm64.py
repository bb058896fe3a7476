"""The arm64 package in an arm64 Debian rootfs under qemu-user emulation: it installs,
checks a provisioning file, passes the native self-test (H.264, echo cancellation,
DTLS, pygame) and runs the appliance with simulated devices until /healthz answers.

This is what can be checked of the Pi image without a Pi: the Raspberry Pi archive is
not reachable from CI, so the rootfs is Debian's, not Raspberry Pi OS's.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import PATH, build_deb, remove_tree, rootfs_tarball, simulated_config, timed, unpack

PACKAGES = ["python3", "python3-systemd", "systemd", "libpam-systemd"]
BROKEN = """
[room]
name = "Oda 3"
[camera]
backend = "picamera3"
"""


class Rootfs:
    def __init__(self, root: Path) -> None:
        self.root = root

    def run(self, command: str, *, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """A command in the rootfs (emulated), with only loopback networking."""
        return subprocess.run(
            ["systemd-nspawn", "-D", str(self.root), "--register=no", "--keep-unit",
             "--private-network", "-q", "--pipe", "--setenv=PATH=" + PATH,
             "--setenv=LANG=C.UTF-8", "sh", "-c", command],
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def arm64(timings: dict[str, float]) -> Iterator[Rootfs]:
    deb = build_deb("arm64", timings)
    root = unpack(rootfs_tarball("arm64", PACKAGES, timings), timings)
    (root / "root/salon.deb").write_bytes(deb.read_bytes())
    (root / "root/salon.toml").write_text(simulated_config(health_port=8766))
    (root / "root/broken.toml").write_text(BROKEN)
    rootfs = Rootfs(root)
    try:
        done = timed("arm64 dpkg -i (emulated, incl. byte-compiling)", timings)
        result = rootfs.run("uname -m && dpkg -i /root/salon.deb")
        done()
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith("aarch64")
        yield rootfs
    finally:
        if os.environ.get("SALON_KEEP_ROOTFS") != "1":
            remove_tree(root)
        remove_tree(deb.parent)


def test_package_is_arm64_and_enabled(arm64: Rootfs) -> None:
    result = arm64.run("dpkg --print-architecture; dpkg -s salon-appliance | grep Architecture;"
                       " systemctl is-enabled salon-appliance.service; id -nG salon")
    lines = result.stdout.split("\n")
    assert lines[0] == "arm64" and lines[1] == "Architecture: arm64", result.stdout
    assert lines[2] == "enabled"
    assert {"video", "render", "audio", "gpio", "input"} <= set(lines[3].split())


def test_check_config_accepts_the_example_and_names_the_broken_field(
    arm64: Rootfs, timings: dict[str, float]
) -> None:
    done = timed("arm64 check-config (emulated)", timings)
    good = arm64.run("salon-appliance check-config /usr/share/salon/salon.toml.example")
    done()
    assert good.returncode == 0, good.stdout + good.stderr
    bad = arm64.run("salon-appliance check-config /root/broken.toml")
    assert bad.returncode != 0
    assert "camera" in bad.stdout + bad.stderr and "picamera3" in bad.stdout + bad.stderr


def test_native_self_test_passes_under_emulation(arm64: Rootfs,
                                                 timings: dict[str, float]) -> None:
    done = timed("arm64 self-test (emulated)", timings)
    result = arm64.run("/opt/salon/venv/bin/python3 -m appliance.service.selftest")
    done()
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed, 0 failed" in result.stdout


def test_the_appliance_runs_with_simulated_devices(arm64: Rootfs,
                                                   timings: dict[str, float]) -> None:
    # Start the real appliance, wait for its health endpoint, ask it for its status.
    script = """
        salon-appliance run --config /root/salon.toml --state-dir /var/lib/salon \
            > /root/run.log 2>&1 &
        pid=$!
        start=$(date +%s)
        until salon-appliance status --url http://127.0.0.1:8766 > /root/status.txt; do
            if ! kill -0 $pid 2>/dev/null || [ $(( $(date +%s) - start )) -gt 300 ]; then
                cat /root/run.log; exit 1
            fi
            sleep 2
        done
        echo "healthy after $(( $(date +%s) - start )) s"
        cat /root/status.txt
        kill -TERM $pid; wait $pid
        echo "exit $?"
    """
    started = time.monotonic()
    result = arm64.run(script)
    timings["arm64 appliance start → /healthz ok (emulated)"] = time.monotonic() - started
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "healthy after" in result.stdout
    assert "camera     simulated" in result.stdout
    assert "exit 0" in result.stdout
