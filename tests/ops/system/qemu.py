"""The Salon Pi image booted under qemu-system-aarch64 (the `virt` machine, UEFI firmware
from qemu-efi-aarch64, GRUB on the image's boot partition choosing slot A or B), on a
network of one tap device inside a namespace the test makes:

    test namespace (netlab.Node)                      the guest
    tap0 127.2.0.1/32  ──────────── virtio-net ─────  127.2.0.2/32 (network/ on the card)
    bridge + Janus on 127.2.0.1                       salon-appliance, /healthz on 127.2.0.2

Only 127.0.0.0/8 addresses, `route_localnet` on both sides, no other network. The test
talks to the guest over SSH (provisioned on the card with `authorized_keys`, as an admin
would) and /healthz; the serial console goes to a file shown when a test fails.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.support.netlab import Node

from .conftest import REPO

HOST_IP = "127.2.0.1"
GUEST_IP = "127.2.0.2"
BRIDGE_PORT = 8080
HEALTH_PORT = 8765
BOOT_OFFSET = 4 * 1024 * 1024  # image-build/debian/build.sh: the FAT partition starts at 4 MiB
FIRMWARE = Path("/usr/share/qemu-efi-aarch64/QEMU_EFI.fd")

NETWORK_FILE = f"""\
# The test's network: one /32 each side of a tap, on 127/8 (tests/ops/system/qemu.py).
[Match]
Name=e*

[Network]
LinkLocalAddressing=no
IPv6AcceptRA=no

[Address]
Address={GUEST_IP}/32
# 127/8 addresses are host-scoped by default: global makes the link "routable".
Scope=global

[Route]
# In the local table and more specific than the kernel's `local 127.0.0.0/8`, so the
# bridge's address leaves through the wire instead of looping back.
Destination={HOST_IP}/32
Table=local
Scope=link
Type=unicast
"""
SYSCTL_FILE = """\
net.ipv4.conf.all.route_localnet = 1
net.ipv4.conf.default.route_localnet = 1
net.ipv4.conf.all.rp_filter = 0
net.ipv4.conf.default.rp_filter = 0
net.ipv6.conf.all.disable_ipv6 = 1
net.ipv6.conf.default.disable_ipv6 = 1
"""


def room_config(name: str = "ODA QEMU") -> str:
    """The shipped example (every device simulated), joined to the test's bridge, its
    health port on the guest's wire address so the test can read it."""
    text = (REPO / "config/appliance.example.toml").read_text()
    text = text.replace('url = "http://127.0.0.1:8080"', f'url = "http://{HOST_IP}:{BRIDGE_PORT}"')
    text = text.replace('host = "127.0.0.1"', f'host = "{GUEST_IP}"')
    text = text.replace('pin_factory = "keyboard"', 'pin_factory = "mock"')
    # Emulated arm64 is ~20x slower than a Pi: a small picture keeps the encoder going.
    text = text.replace("width = 1280\nheight = 720\nfps = 30",
                        "width = 320\nheight = 180\nfps = 10")
    return text.replace('name = "TOPLANTI ODASI 1 – ANKARA MEM"', f'name = "{name}"', 1)


class Card:
    """The image file, and writing to its FAT boot partition as a PC would (mtools)."""

    def __init__(self, image: Path) -> None:
        self.image = image

    def put(self, name: str, content: str | bytes) -> None:
        data = content.encode() if isinstance(content, str) else content
        src = self.image.parent / ("card-" + name.replace("/", "_"))
        src.write_bytes(data)
        if "/" in name:
            subprocess.run(["mmd", "-D", "s", "-i", f"{self.image}@@{BOOT_OFFSET}",
                            "::/" + name.rsplit("/", 1)[0]], capture_output=True, check=False)
        subprocess.run(["mcopy", "-o", "-i", f"{self.image}@@{BOOT_OFFSET}", str(src),
                        "::/" + name], check=True, capture_output=True)

    def get(self, name: str) -> str:
        return subprocess.run(["mtype", "-i", f"{self.image}@@{BOOT_OFFSET}", "::/" + name],
                              check=True, capture_output=True, text=True).stdout


class Guest:
    """One QEMU machine with the card; start() powers it on, power_cut() kills QEMU."""

    def __init__(self, node: Node, card: Card, workdir: Path, ssh_key: Path) -> None:
        self.node, self.card, self.dir, self.ssh_key = node, card, workdir, ssh_key
        self.proc: subprocess.Popen[bytes] | None = None
        self.boots = 0
        self.powered_on = 0.0

    @property
    def console(self) -> Path:
        return self.dir / f"console-{self.boots}.log"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.boots += 1
        args = [
            "qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", "2048",
            "-accel", "tcg,thread=multi", "-bios", str(FIRMWARE), "-nographic",
            "-serial", f"file:{self.console}", "-monitor", "none",
            # cache=writeback: what the guest flushed is in the file when QEMU is killed,
            # what it did not flush is lost, as on a card when the power goes.
            "-drive", f"if=none,id=card,format=raw,cache=writeback,file={self.card.image}",
            "-device", "virtio-blk-pci,drive=card",
            "-netdev", "tap,id=net0,ifname=tap0,script=no,downscript=no",
            # romfile=: UEFI needs no PXE ROM (ipxe-qemu is not installed).
            "-device", "virtio-net-pci,netdev=net0,mac=52:54:00:5a:10:02,romfile=",
            "-device", "virtio-rng-pci",
            # A watchdog device for systemd's RuntimeWatchdogSec (the Pi's is the SoC's).
            "-device", "i6300esb",
        ]
        self.powered_on = time.monotonic()
        self.qemu_log = (self.dir / f"qemu-{self.boots}.log").open("wb")
        self.proc = subprocess.Popen([*self.node.prefix(), *args], stdin=subprocess.DEVNULL,
                                     stdout=self.qemu_log, stderr=subprocess.STDOUT)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def power_cut(self) -> None:
        """Kill QEMU: no shutdown, no flush."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def shutdown(self, timeout: float = 300) -> None:
        if not self.running():
            return
        self.ssh("systemctl poweroff", check=False, timeout=30)
        try:
            assert self.proc is not None
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.power_cut()

    def ssh(self, command: str, *, check: bool = True, timeout: float = 600,
            input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.node.prefix(), "ssh", "-i", str(self.ssh_key), "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", f"root@{GUEST_IP}", command],
            capture_output=True, timeout=timeout, input=input, check=False)
        out = subprocess.CompletedProcess(result.args, result.returncode,
                                          result.stdout.decode(errors="replace"),
                                          result.stderr.decode(errors="replace"))
        if check and out.returncode != 0:
            raise AssertionError(
                f"guest: {command}: exit {out.returncode}\n{out.stdout}{out.stderr}")
        return out

    def copy_in(self, src: Path, dest: str) -> None:
        subprocess.run(
            [*self.node.prefix(), "scp", "-q", "-i", str(self.ssh_key), "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "LogLevel=ERROR", str(src), f"root@{GUEST_IP}:{dest}"],
            check=True, timeout=1800, capture_output=True)

    def health(self) -> Any:
        """The appliance's /healthz (any status code), or None when nothing answers."""
        def get() -> Any:
            import urllib.error
            import urllib.request
            try:
                with urllib.request.urlopen(f"http://{GUEST_IP}:{HEALTH_PORT}/healthz",
                                            timeout=5) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as err:  # 503: unhealthy, still a document
                return json.loads(err.read())
            except (OSError, ValueError):
                return None
        return self.node.call(get)

    def in_meeting(self) -> bool:
        doc = self.health()
        return bool(doc) and doc["meeting"]["state"] == "in_meeting"

    def rauc_status(self) -> dict[str, Any]:
        out = self.ssh("rauc status --detailed --output-format=json").stdout
        return dict(json.loads(out))

    def console_tail(self, chars: int = 6000) -> str:
        try:
            qemu = (self.dir / f"qemu-{self.boots}.log").read_text(errors="replace")
            return qemu + self.console.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no console output)"


def make_tap(node: Node) -> None:
    node.sh("ip tuntap add dev tap0 mode tap",
            f"ip addr add {HOST_IP}/32 dev tap0",
            "ip link set tap0 up",
            f"ip route add {GUEST_IP}/32 dev tap0")


def copy_image(image: Path, dest: Path) -> Path:
    subprocess.run(["cp", "--sparse=always", str(image.resolve()), str(dest)], check=True)
    return dest


def have_tools() -> str | None:
    for tool in ("qemu-system-aarch64", "mcopy", "rauc", "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"needs {tool} (make .stamp-apt-system)"
    if not FIRMWARE.exists():
        return f"needs {FIRMWARE} (qemu-efi-aarch64)"
    return None
