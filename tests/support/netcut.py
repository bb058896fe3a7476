"""Cutting one appliance off the network inside the test namespace, and back.

The appliance runs as its own process under a dedicated group id (still as root: the
virtualenv's interpreter may live where only root can read); an nftables rule in the
namespace's output hook drops every packet its sockets send (`meta skgid`: its
WebSocket to the bridge and its media to Janus), except the replies of its local
health endpoint, so the test can watch it while it is cut off. Nothing outside
the namespace is touched: the namespace has its own nftables.

Keys reach the appliance on its standard input (pin_factory "keyboard": the same
mock pins and debounce code as real buttons).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.procs import BIN, REPO, get_json

CUT_GID = 64123  # no group entry needed: only packets are matched by it
NFT = shutil.which("nft") or "/usr/sbin/nft"


def nft_available() -> bool:
    return os.path.exists(NFT) and os.geteuid() == 0


def nft(*script: str) -> None:
    subprocess.run([NFT, "-f", "-"], input="\n".join(script) + "\n", text=True, check=True,
                   capture_output=True)


class NetworkCut:
    """`with NetworkCut(gid, keep_tcp_port=health_port):` — the group's traffic is gone."""

    def __init__(self, gid: int, keep_tcp_port: int) -> None:
        self.gid, self.keep = gid, keep_tcp_port
        self.table = f"salon_cut_{gid}"
        self.active = False

    def start(self) -> None:
        nft(f"add table inet {self.table}",
            f"add chain inet {self.table} out {{ type filter hook output priority 0; }}",
            f"add rule inet {self.table} out meta skgid {self.gid} tcp sport {self.keep} accept",
            f"add rule inet {self.table} out meta skgid {self.gid} counter drop")
        self.active = True

    def dropped_packets(self) -> int:
        out = subprocess.run([NFT, "list", "table", "inet", self.table], text=True,
                             capture_output=True, check=True).stdout
        words = out.split()
        return int(words[words.index("packets") + 1]) if "packets" in words else 0

    def stop(self) -> None:
        if self.active:
            nft(f"delete table inet {self.table}")
            self.active = False

    def __enter__(self) -> NetworkCut:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SeparateUserAppliance:
    """`salon-appliance run` in group `gid`, in a directory of its own, keys on stdin."""

    def __init__(self, config_text: str, health_port: int, gid: int = CUT_GID,
                 secrets: dict[str, str] | None = None) -> None:
        self.gid, self.health_port = gid, health_port
        self.dir = Path(tempfile.mkdtemp(prefix="salon-cut-"))
        os.chmod(self.dir, 0o755)
        for name, text in (secrets or {}).items():  # readable by the service only
            path = self.dir / name
            path.write_text(text)
            path.chmod(0o600)
        self.config = self.dir / "salon.toml"
        self.config.write_text(config_text.replace("@DIR@", str(self.dir)))
        (self.dir / "state").mkdir()
        self.log_path = self.dir / "appliance.log"
        self._log = self.log_path.open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
        env.update(SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", HOME=str(self.dir),
                   PYTHONDONTWRITEBYTECODE="1")
        self.proc = subprocess.Popen(
            [str(BIN / "salon-appliance"), "run", "--config", str(self.config),
             "--state-dir", str(self.dir / "state")],
            stdin=subprocess.PIPE, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO,
            env=env, group=gid, extra_groups=[])

    def press(self, keys: str) -> None:
        """Type keys: lower case taps, upper case holds (a long press)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(keys.encode())
        self.proc.stdin.flush()

    def health(self) -> Any:
        try:
            return get_json(f"http://127.0.0.1:{self.health_port}/healthz")
        except urllib.error.HTTPError as exc:  # 503 still carries the document
            return json.loads(exc.read())

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self._log.close()

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
