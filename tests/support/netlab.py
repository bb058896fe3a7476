"""A small internet made of network namespaces, for tests and benchmarks that need NAT,
firewalls and several machines — and still keep every packet on 127.0.0.0/8.

Each node is a network namespace (plus a mount namespace, so it has the lab's
/etc/hosts, and an /etc/resolv.conf naming 127.0.0.1, where no DNS server listens: a
lookup that is not in the hosts file fails at once, and no query leaves 127/8) held
open by a sleeping child; veth pairs join nodes, a Linux bridge in
the "internet" node is the public network. Linux treats 127/8 as loopback, so every
namespace drops the kernel's `local 127.0.0.0/8` route (keeping 127.0.0.1 itself),
sets `route_localnet` so such addresses route across interfaces, and gives its
addresses `scope global` (nftables masquerade picks only such a source address).

`small_internet()` builds what issue 14 describes:

    home ── home-router (NAT) ──┐
                                ├── internet (bridge 127.50.0.0/24) ── server
    school ── school-router (NAT, firewall) ──┘

Use nodes with `node.prefix()` (a command prefix that enters the namespaces),
`node.call(fn)` (Python run on a thread inside the node's network namespace) and
`node.nft(...)`. Everything goes when `Lab.close()` runs or the test process dies.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
NFT = shutil.which("nft") or "/usr/sbin/nft"
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def _die_with_parent() -> None:
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def available() -> str | None:
    """Why a lab cannot be built here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth, nftables)"
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"needs {tool} (util-linux, iproute2)"
    if not os.path.exists(NFT):
        return "needs nftables"
    return None


@dataclass
class Node:
    """One machine of the lab."""

    name: str
    hosts_file: Path
    resolv_file: Path
    holder: subprocess.Popen[bytes] = field(init=False)
    _pool: concurrent.futures.ThreadPoolExecutor | None = field(default=None, init=False)
    _forwarders: list[socket.socket] = field(default_factory=list, init=False)

    def start(self) -> None:
        # The holder makes the namespaces, puts the lab's /etc/hosts in place and sleeps;
        # it dies with the test process (PDEATHSIG), taking the namespaces with it.
        script = (f'mount --bind "{self.hosts_file}" /etc/hosts && '
                  f'mount --bind "{self.resolv_file}" /etc/resolv.conf && exec sleep infinity')
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--mount", "--propagation", "private", "--", "sh", "-c",
             script], preexec_fn=_die_with_parent, stdin=subprocess.DEVNULL)
        for _ in range(100):
            if self._ready():
                break
            time.sleep(0.02)
        else:
            raise RuntimeError(f"node {self.name}: namespaces did not come up")
        self.sh("ip link set lo up",
                # Only 127.0.0.1 stays local: the rest of 127/8 is routed like any network.
                "ip route del local 127.0.0.0/8 dev lo table local",
                "ip route replace local 127.0.0.1 dev lo table local")
        for key, value in (("net.ipv4.conf.all.route_localnet", 1),
                           ("net.ipv4.conf.default.route_localnet", 1),
                           ("net.ipv4.conf.all.rp_filter", 0),
                           ("net.ipv4.conf.default.rp_filter", 0),
                           ("net.ipv6.conf.all.disable_ipv6", 1),
                           ("net.ipv6.conf.default.disable_ipv6", 1)):
            self.sysctl(key, value)

    def _ready(self) -> bool:
        try:
            mine = os.readlink(f"/proc/{self.holder.pid}/ns/net")
            mnt = os.readlink(f"/proc/{self.holder.pid}/ns/mnt")
        except OSError:
            return False
        with open(f"/proc/{self.holder.pid}/cmdline", "rb") as f:
            sleeping = f.read().startswith(b"sleep")
        return sleeping and mine != os.readlink("/proc/self/ns/net") and bool(mnt)

    @property
    def pid(self) -> int:
        return self.holder.pid

    def prefix(self) -> list[str]:
        """Prepend to a command to run it on this node."""
        return ["nsenter", f"--net=/proc/{self.pid}/ns/net", f"--mount=/proc/{self.pid}/ns/mnt",
                "--"]

    def run(self, *args: str, check: bool = True, input: str | None = None
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix(), *args], check=check, capture_output=True,
                              text=True, input=input)

    def sh(self, *commands: str) -> None:
        for command in commands:
            result = self.run("sh", "-c", command, check=False)
            if result.returncode:
                raise RuntimeError(f"{self.name}: {command}: {result.stderr.strip()}")

    def sysctl(self, key: str, value: int) -> None:
        self.run("sysctl", "-qw", f"{key}={value}")

    def nft(self, script: str) -> None:
        self.run(NFT, "-f", "-", input=script)

    def nft_counter(self, table: str, chain: str) -> int:
        """Packets counted by the chain's `counter` rules, summed."""
        text = self.run(NFT, "list", "chain", "inet", table, chain).stdout
        words = text.split()
        return sum(int(words[i + 1]) for i, w in enumerate(words) if w == "packets")

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a thread that lives in this node's network namespace (so its
        sockets do); it keeps the test process's files and /etc/hosts."""
        if self._pool is None:
            fd = os.open(f"/proc/{self.pid}/ns/net", os.O_RDONLY)

            def enter() -> None:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")

            self._pool = concurrent.futures.ThreadPoolExecutor(1, f"netns-{self.name}", enter)
        return self._pool.submit(fn, *args).result()

    def forward(self, port: int, host: str = "127.0.0.1") -> int:
        """A port on the test's own 127.0.0.1 that reaches ``host:port`` on this node (e.g.
        an appliance's loopback-only /healthz), so ordinary clients can use it."""
        listener = socket.create_server(("127.0.0.1", 0))
        self._forwarders.append(listener)

        def pump(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    dst.sendall(data)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        def serve() -> None:
            with contextlib.suppress(OSError):
                while True:
                    client, _ = listener.accept()
                    try:
                        remote = self.call(socket.create_connection, (host, port), 5)
                    except OSError:
                        client.close()
                        continue
                    for a, b in ((client, remote), (remote, client)):
                        threading.Thread(target=pump, args=(a, b), daemon=True).start()

        threading.Thread(target=serve, name=f"forward-{self.name}-{port}", daemon=True).start()
        return int(listener.getsockname()[1])

    def close(self) -> None:
        for listener in self._forwarders:
            listener.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self.holder.poll() is None:
            self.holder.kill()
            self.holder.wait()


class Lab:
    """Nodes and the wires between them."""

    def __init__(self, workdir: Path, hosts: dict[str, str]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.hosts_file = workdir / "hosts"
        self.hosts_file.write_text("127.0.0.1 localhost\n" + "".join(
            f"{ip} {name}\n" for name, ip in hosts.items()))
        self.resolv_file = workdir / "resolv.conf"
        self.resolv_file.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        self.nodes: dict[str, Node] = {}

    def node(self, name: str) -> Node:
        node = Node(name, self.hosts_file, self.resolv_file)
        node.start()
        self.nodes[name] = node
        return node

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    @staticmethod
    def wire(a: Node, a_if: str, b: Node, b_if: str) -> None:
        """A veth pair: ``a_if`` on node a, ``b_if`` on node b, both up."""
        tmp = f"v{os.getpid() % 10000}{len(a_if)}{b.pid % 1000}"
        a.sh(f"ip link add {a_if} type veth peer name {tmp}")
        a.sh(f"ip link set {tmp} netns /proc/{b.pid}/ns/net")
        b.sh(f"ip link set {tmp} name {b_if}", f"ip link set {b_if} up")
        a.sh(f"ip link set {a_if} up")

    @staticmethod
    def address(node: Node, ifname: str, cidr: str) -> None:
        # scope global: 127/8 would default to "host", which masquerade cannot use.
        node.sh(f"ip addr add {cidr} dev {ifname} scope global")

    def close(self) -> None:
        for node in reversed(list(self.nodes.values())):
            node.close()


# ---- the small internet of issue 14 ----------------------------------------------------

PUBLIC_NET = "127.50.0.0/24"
SERVER_IP = "127.50.0.10"        # the bridge (HTTPS 443) and Janus
TURN_IP = "127.50.0.11"          # coturn, its own address (TURN over TLS on 443)
SCHOOL_ROUTER_IP = "127.50.0.20"
HOME_ROUTER_IP = "127.50.0.30"
SCHOOL_LAN = ("127.60.0.1", "127.60.0.2")   # router, the room appliance
HOME_LAN = ("127.70.0.1", "127.70.0.2")     # router, the laptop
MEET_NAME = "meet.salon.test"
TURN_NAME = "turn.salon.test"


def _router(lab: Lab, name: str, internet: Node, public_ip: str, lan: tuple[str, str],
            host: str) -> None:
    router, inside = lab.node(name), lab.node(host)
    lab.wire(internet, f"{name[:6]}0", router, "wan0")
    internet.sh(f"ip link set {name[:6]}0 master wan")
    lab.address(router, "wan0", f"{public_ip}/24")
    lab.wire(router, "lan0", inside, "eth0")
    lab.address(router, "lan0", f"{lan[0]}/24")
    lab.address(inside, "eth0", f"{lan[1]}/24")
    inside.sh(f"ip route add default via {lan[0]}")
    router.sysctl("net.ipv4.ip_forward", 1)
    router.nft(f"""
table inet nat {{
    chain postrouting {{
        type nat hook postrouting priority srcnat;
        oifname "wan0" ip saddr {lan[0].rsplit('.', 1)[0]}.0/24 masquerade
    }}
}}
""")


def small_internet(workdir: Path) -> Lab:
    """server, school behind school-router, home behind home-router, all on 127/8."""
    lab = Lab(workdir, {MEET_NAME: SERVER_IP, TURN_NAME: TURN_IP})
    try:
        internet = lab.node("internet")
        internet.sh("ip link add wan type bridge", "ip link set wan up")
        server = lab.node("server")
        lab.wire(internet, "server0", server, "eth0")
        internet.sh("ip link set server0 master wan")
        lab.address(server, "eth0", f"{SERVER_IP}/24")
        lab.address(server, "eth0", f"{TURN_IP}/24")
        _router(lab, "school-router", internet, SCHOOL_ROUTER_IP, SCHOOL_LAN, "school")
        _router(lab, "home-router", internet, HOME_ROUTER_IP, HOME_LAN, "home")
    except BaseException:
        lab.close()
        raise
    return lab


def block_udp_and_all_but_https(router: Node) -> None:
    """The strict school firewall: out of the LAN only TCP to port 443 (and its replies);
    every UDP packet is dropped and counted (`udp_dropped`)."""
    router.nft("""
table inet school_firewall {
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        iifname "lan0" tcp dport 443 accept
        iifname "lan0" meta l4proto udp counter drop
    }
}
""")


def udp_dropped(router: Node) -> int:
    return router.nft_counter("school_firewall", "forward")


@contextlib.contextmanager
def running_small_internet(workdir: Path) -> Iterator[Lab]:
    lab = small_internet(workdir)
    try:
        yield lab
    finally:
        lab.close()
