"""The appliance package under a real systemd: boot an amd64 Debian rootfs with
systemd-nspawn, install the .deb while systemd runs, and hold the unit to its promises:
READY with a STATUS, structured journal entries, a hung loop killed by the watchdog and
restarted, a crash loop stopped by the start limit and escalated.

The container has no VT, so a pseudo-terminal stands in for /dev/tty1 (TTYPath=); the
unit itself is the shipped one, unmodified except where a test says so in a drop-in.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import (
    build_deb,
    remove_tree,
    rootfs_tarball,
    simulated_config,
    timed,
    unpack,
    wait_until,
)
from .container import FAKE_TTY1, Container

PACKAGES = ["systemd", "systemd-sysv", "dbus", "libpam-systemd", "python3", "python3-systemd",
            "procps"]
UNIT = "salon-appliance.service"
DROPIN = Path("run/systemd/system/salon-appliance.service.d")

@pytest.fixture(scope="module")
def box(timings: dict[str, float], tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Container]:
    deb = build_deb("amd64", timings)
    root = unpack(rootfs_tarball("amd64", PACKAGES, timings), timings)
    (root / "boot/firmware").mkdir(parents=True, exist_ok=True)
    (root / "boot/firmware/salon.toml").write_text(simulated_config())
    (root / "root/salon.deb").write_bytes(deb.read_bytes())
    log = tmp_path_factory.mktemp("nspawn") / "console.log"
    container = Container(root, log)
    try:
        done = timed("nspawn boot", timings)
        container.boot()
        done()
        container.sh("systemd-run --unit=salon-test-tty1 --property=Type=exec "
                     f"/usr/bin/python3 -c \"{FAKE_TTY1}\"")
        wait_until(lambda: container.sh("test -c /dev/tty1", check=False).returncode == 0,
                   10, "the stand-in /dev/tty1")
        done = timed("dpkg -i (postinst starts the unit)", timings)
        container.sh("dpkg -i /root/salon.deb", timeout=600)
        done()
        yield container
    finally:
        container.shutdown()
        if os.environ.get("SALON_KEEP_ROOTFS") != "1":
            remove_tree(root)
        remove_tree(deb.parent)


def show(box: Container, prop: str, unit: str = UNIT) -> str:
    return box.show(prop, unit)


def active_with_status(box: Container) -> bool:
    return show(box, "ActiveState") == "active" and show(box, "StatusText") != ""


def test_units_verify_in_the_installed_system(box: Container) -> None:
    units = " ".join(f"/usr/lib/systemd/system/{u}" for u in (
        "salon-appliance.service", "salon-appliance-failed.service",
        "salon-appliance-retry.service", "salon-appliance-retry.timer"))
    result = box.sh(f"systemd-analyze verify {units}", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_postinst_created_the_user_and_enabled_the_unit(box: Container) -> None:
    groups = box.sh("id -nG salon").stdout.split()
    assert {"salon", "video", "render", "audio", "gpio", "input"} <= set(groups)
    assert box.sh(f"systemctl is-enabled {UNIT}").stdout.strip() == "enabled"
    assert box.sh("stat -c '%U %a' /var/lib/salon").stdout.strip() == "salon 750"


def test_service_reaches_ready_and_reports_status(box: Container, timings: dict[str, float]
                                                   ) -> None:
    took = wait_until(lambda: active_with_status(box), 120, "READY=1 and a STATUS")
    timings["install → READY"] = took
    assert show(box, "Type") == "notify"
    assert show(box, "StatusText").endswith("testbim")  # e.g. "connecting: testbim"
    assert show(box, "WatchdogUSec") == "15s"
    assert show(box, "User") == "salon"
    status = box.sh("salon-appliance status", check=False)
    assert "meeting" in status.stdout and "config     valid" in status.stdout, status.stdout


def test_journal_entries_carry_structured_fields(box: Container) -> None:
    wait_until(lambda: active_with_status(box), 60, "the service")
    entries = box.journal(UNIT)
    ready = [e for e in entries if e.get("EVENT") == "service.ready"]
    assert ready, "no EVENT=service.ready entry (is systemd-python used?)"
    assert ready[-1]["SYSLOG_IDENTIFIER"] == "salon-appliance"
    assert ready[-1]["PRIORITY"] == "6"
    assert ready[-1]["LOGGER"] == "appliance.service.runtime"


def test_a_hung_loop_is_killed_by_the_watchdog_and_restarted(
    box: Container, timings: dict[str, float]
) -> None:
    box.sh(f"mkdir -p /{DROPIN} && printf '[Service]\\nEnvironment=SALON_TEST_HOOKS=1\\n' "
           f"> /{DROPIN}/test-hooks.conf && systemctl daemon-reload && systemctl restart {UNIT}")
    wait_until(lambda: active_with_status(box), 120, "the restarted service")
    pid, restarts = show(box, "MainPID"), int(show(box, "NRestarts"))
    cursor = box.cursor()
    hung_at = time.monotonic()
    box.sh("touch /var/lib/salon/test-hang")  # the service blocks its own event loop

    def restarted() -> bool:
        return (int(show(box, "NRestarts")) > restarts and show(box, "MainPID") not in (pid, "0")
                and active_with_status(box))

    took = wait_until(restarted, 90, "the watchdog to kill and systemd to restart")
    timings["hang → restarted and READY"] = time.monotonic() - hung_at
    assert took >= 10, "restarted before WatchdogSec=15s could have expired"
    log = "\n".join(e.get("MESSAGE", "") for e in box.journal(UNIT, cursor)
                    if isinstance(e.get("MESSAGE"), str))
    assert "Watchdog timeout" in log, log
    assert "hang_hook" in log, "faulthandler's traceback should show where the loop hung"
    box.sh(f"rm /{DROPIN}/test-hooks.conf && systemctl daemon-reload")


def test_a_crash_loop_hits_the_start_limit_and_is_escalated(
    box: Container, timings: dict[str, float]
) -> None:
    restarts = int(show(box, "NRestarts"))  # not reset by a manual restart
    box.sh(f"mkdir -p /{DROPIN} && printf '[Service]\\nExecStart=\\nExecStart=/bin/false\\n' "
           f"> /{DROPIN}/crash.conf && systemctl daemon-reload && systemctl restart {UNIT}",
           check=False)
    cursor = box.cursor()
    started = time.monotonic()
    wait_until(lambda: show(box, "ActiveState") == "failed", 120, "the start limit")
    timings["crash loop → failed (start limit)"] = time.monotonic() - started
    # 5 starts (StartLimitBurst) = the manual restart + 4 automatic ones, then no more.
    assert int(show(box, "NRestarts")) - restarts == 4
    log = [e.get("MESSAGE", "") for e in box.journal(UNIT, cursor)]
    assert any("Start request repeated too quickly" in str(m) for m in log), log
    time.sleep(5)  # RestartSec=3s has passed: still failed, not restarting
    assert show(box, "ActiveState") == "failed"
    wait_until(lambda: show(box, "Result", "salon-appliance-failed.service") == "success"
               and show(box, "ActiveState", "salon-appliance-retry.timer") == "active",
               30, "the failure report and the retry timer")
    report = " ".join(e.get("MESSAGE", "") for e in box.journal("salon-appliance-failed.service")
                      if isinstance(e.get("MESSAGE"), str))
    assert "stopped after repeated failures" in report, report

    # The retry (here started at once instead of after 15 min) brings the room back.
    box.sh(f"rm /{DROPIN}/crash.conf && systemctl daemon-reload && "
           "systemctl start salon-appliance-retry.service")
    wait_until(lambda: active_with_status(box), 120, "the service after the retry")
