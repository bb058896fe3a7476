"""Debian's coturn run by a test with the configuration `salon-bridge turn-config`
writes, and what its log says about the allocations it made."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

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

    def allocations(self) -> dict[str, dict[str, Any]]:
        """Every allocation coturn made, by session: the user name it was made with,
        whether the client came over TLS, the peers it was allowed to reach and what it
        relayed from and to them, in bytes (coturn's "peer usage" lines: one every
        minute or so, and one when the allocation closes, each since the last)."""
        found: dict[str, dict[str, Any]] = {}
        for line in self.log_tail(50_000_000).splitlines():
            m = re.search(r"session (\d+): new, realm=<[^>]*>, username=<([^>]+)>(.*)", line)
            if m:
                found[m.group(1)] = {"username": m.group(2), "tls": "cipher=" in m.group(3),
                                     "peers": set(), "from_peers": 0, "to_peers": 0}
                continue
            m = re.search(r"session (\d+): peer (\S+) lifetime updated", line)
            if m and m.group(1) in found:
                found[m.group(1)]["peers"].add(m.group(2).rsplit(":", 1)[0])
                continue
            m = re.search(r"session (\d+): peer usage: .* rb=(\d+), sp=\d+, sb=(\d+)", line)
            if m and m.group(1) in found:
                found[m.group(1)]["from_peers"] += int(m.group(2))
                found[m.group(1)]["to_peers"] += int(m.group(3))
        return found

    def allocations_of(self, seat: str) -> list[dict[str, Any]]:
        """The allocations made with a credential the bridge minted for ``seat``."""
        return [a for a in self.allocations().values() if a["username"].endswith(f":{seat}")]
