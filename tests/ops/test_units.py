"""`systemd-analyze verify` on every unit we ship, as the package installs them.

verify needs the units' executables and the units they reference, so the check runs
against a throw-away root: the host's own unit directory, our units and helper
scripts where the package puts them, and the two console scripts (which pip writes
at build time) as stand-ins. The nspawn system test verifies them again in a real
installed system.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SYSTEMD = REPO / "systemd"
UNITS = sorted(p.name for p in SYSTEMD.iterdir() if p.suffix in (".service", ".timer"))
HOST_UNITS = Path("/usr/lib/systemd/system")

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None or not HOST_UNITS.is_dir(),
    reason="systemd-analyze missing (apt-get install systemd)")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("root")
    units = root / "usr/lib/systemd/system"
    shutil.copytree(HOST_UNITS, units, symlinks=True)
    for unit in UNITS:
        shutil.copy(SYSTEMD / unit, units / unit)
    (root / "usr/bin").mkdir(parents=True, exist_ok=True)
    for name in ("salon-appliance", "salon-bridge"):  # pip's console scripts
        script = root / "usr/bin" / name
        script.write_text("#!/bin/sh\n")
        script.chmod(0o755)
    libexec = root / "opt/salon/libexec"
    libexec.mkdir(parents=True)
    shutil.copy(SYSTEMD / "libexec/salon-appliance-failed", libexec)
    for tool in ("systemctl", "kill"):
        shutil.copy(shutil.which(tool) or f"/usr/bin/{tool}", root / "usr/bin" / tool)
    (root / "bin").symlink_to("usr/bin")
    return root


def test_every_unit_is_shipped() -> None:
    assert UNITS == [
        "salon-appliance-failed.service", "salon-appliance-retry.service",
        "salon-appliance-retry.timer", "salon-appliance.service", "salon-bridge.service",
    ]


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verify(root: Path, unit: str) -> None:
    result = subprocess.run(
        ["systemd-analyze", f"--root={root}", "verify",
         str(root / "usr/lib/systemd/system" / unit)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_appliance_unit_promises(root: Path) -> None:
    """The properties issue 7 asks for, read back through systemd's own parser."""
    result = subprocess.run(
        ["systemd-analyze", f"--root={root}", "cat-config",
         "systemd/system/salon-appliance.service"],
        capture_output=True, text=True, timeout=60)
    text = result.stdout
    for line in ("Type=notify", "NotifyAccess=main", "WatchdogSec=15s", "Restart=always",
                 "StartLimitBurst=5", "OnFailure=salon-appliance-failed.service",
                 "ProtectSystem=strict", "NoNewPrivileges=yes", "DevicePolicy=closed",
                 "DeviceAllow=char-drm rw", "User=salon", "TTYPath=/dev/tty1",
                 "StateDirectory=salon"):
        assert line in text.splitlines(), line


def test_failure_report_script_is_valid_shell() -> None:
    subprocess.run(["sh", "-n", str(SYSTEMD / "libexec/salon-appliance-failed")], check=True)


def test_sysusers_and_tmpfiles_parse(tmp_path: Path) -> None:
    """systemd-sysusers / -tmpfiles against an empty root: they create what we declare."""
    (tmp_path / "etc").mkdir()
    subprocess.run(["systemd-sysusers", f"--root={tmp_path}",
                    str(SYSTEMD / "sysusers.d/salon.conf")], check=True, capture_output=True)
    passwd = (tmp_path / "etc/passwd").read_text()
    group = (tmp_path / "etc/group").read_text()
    assert passwd.startswith("salon:") and "/usr/sbin/nologin" in passwd
    for name in ("video", "render", "audio", "gpio", "input"):
        line = next(g for g in group.splitlines() if g.startswith(name + ":"))
        assert "salon" in line.split(":")[3].split(","), line
    subprocess.run(["systemd-tmpfiles", f"--root={tmp_path}", "--create",
                    str(SYSTEMD / "tmpfiles.d/salon.conf")], check=True, capture_output=True)
    assert (tmp_path / "var/lib/salon").is_dir()
