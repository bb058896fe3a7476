"""A booted systemd-nspawn container driven with nsenter (this host has no machined)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from .conftest import PATH, wait_until

# Holds the master side of a pty whose slave is /dev/tty1; drains what the service writes.
FAKE_TTY1 = """
import os, time
master, slave = os.openpty()
name = os.ttyname(slave)
os.close(slave)
if os.path.lexists('/dev/tty1'):
    os.unlink('/dev/tty1')
os.symlink(name, '/dev/tty1')
while True:
    try:
        os.read(master, 65536)
    except OSError:
        time.sleep(0.2)
"""


class Container:
    """A booted systemd-nspawn container, driven with nsenter (no machined here)."""

    def __init__(self, root: Path, log: Path) -> None:
        self.root = root
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.leader = 0

    def boot(self, timeout: float = 90) -> None:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                ["systemd-nspawn", "-D", str(self.root), "--boot", "--register=no",
                 "--keep-unit", "--private-network", "--console=pipe", "-q"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        wait_until(self._find_leader, 30, "the container's init")
        wait_until(lambda: self.sh("systemctl is-system-running --wait", check=False,
                                   timeout=timeout).stdout.strip() in ("running", "degraded"),
                   timeout, "the container to finish booting", interval=1)

    def _find_leader(self) -> bool:
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            pids = children.read_text().split()
        except OSError:
            return False
        if pids:
            self.leader = int(pids[0])
        return bool(pids)

    def sh(self, command: str, *, check: bool = True, timeout: float = 120
           ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["nsenter", "-t", str(self.leader), "-m", "-u", "-i", "-n", "-p", "-C", "--",
             "env", "-i", f"PATH={PATH}", "LANG=C.UTF-8", "sh", "-c", command],
            capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            pytest.fail(f"`{command}` exited {result.returncode}:\n{result.stdout}{result.stderr}")
        return result

    def show(self, prop: str, unit: str) -> str:
        return self.sh(f"systemctl show -P {prop} {unit}").stdout.strip()

    def journal(self, unit: str, since_cursor: str | None = None) -> list[dict[str, str]]:
        after = f"--after-cursor='{since_cursor}'" if since_cursor else ""
        out = self.sh(f"journalctl -u {unit} -o json --no-pager {after}").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def cursor(self) -> str:
        out = self.sh("journalctl -n 0 --show-cursor --no-pager").stdout
        return out.strip().rsplit("cursor: ", 1)[-1]

    def shutdown(self) -> None:
        if self.proc is None:
            return
        self.sh("systemctl poweroff --no-block", check=False, timeout=10)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
