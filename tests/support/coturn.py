"""Debian's coturn run by a test with the configuration `salon-bridge turn-config`
writes, and what its log says about the allocations it made."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from pathlib import Path

from tests.support.procs import BIN, Proc, wait_until

TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"


def available() -> bool:
    return Path(TURNSERVER).exists()


def turn_config(bridge_config: Path, prefix: list[str] | None = None) -> str:
    """coturn's configuration, as the admin makes it: `salon-bridge turn-config`."""
    return subprocess.run([*(prefix or []), str(BIN / "salon-bridge"), "--config",
                           str(bridge_config), "turn-config"],
                          check=True, capture_output=True, text=True).stdout


class Coturn(Proc):
    """turnserver in the foreground, logging to a file; ``prefix`` runs it elsewhere (e.g.
    ``nsenter`` into a namespace)."""

    def __init__(self, config_text: str, workdir: Path, check_port: tuple[str, int],
                 prefix: list[str] | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "turnserver.conf"
        self.config.write_text(config_text)
        self.log = workdir / "turnserver.log"
        super().__init__([*(prefix or []), TURNSERVER, "-c", str(self.config),
                          "--log-file", "stdout", "--pidfile", str(workdir / "turn.pid"),
                          "--verbose"], workdir / "turnserver.out")
        self.check_port = check_port

    def wait_ready(self, answers: object = None) -> None:
        """Until its TCP listener answers (checked by ``answers`` when given, e.g. from
        inside its namespace)."""
        def up() -> bool:
            if answers is not None:
                return bool(answers())  # type: ignore[operator]
            with socket.create_connection(self.check_port, timeout=0.5):
                return True
        try:
            wait_until(up, 20, "coturn listening")
        except TimeoutError:
            raise RuntimeError("coturn did not start:\n" + self.log_tail()) from None

    def allocations(self) -> list[dict[str, str]]:
        """Every allocation made: its session, user name and client address, and what
        the log says about it (transport, peers it was allowed to reach)."""
        text = self.log_tail(10_000_000)
        found = []
        for m in re.finditer(r"session (\d+): new, realm=<[^>]*>, username=<([^>]+)>", text):
            session = m.group(1)
            info = {"session": session, "username": m.group(2)}
            for line in text.splitlines():
                if f"session {session}:" not in line:
                    continue
                if "peer " in line and "lifetime updated" in line:
                    info.setdefault("peers", "")
                    peer = line.split("peer ", 1)[1].split()[0]
                    if peer not in info["peers"].split(","):
                        info["peers"] = ",".join(x for x in (info["peers"], peer) if x)
            for line in text.splitlines():
                if session in line and ("remote " in line or "IPv4. tcp" in line):
                    info.setdefault("line", line)
            found.append(info)
        return found
