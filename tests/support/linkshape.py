"""Bad links, reproducibly: named link profiles on the wires of tests/support/netlab.py.

A `ShapedLink` sits on one access link of the small internet (a router's port on the
internet node): the port is taken off the bridge and a relay joins it to a new port
on the bridge, so every frame of that site passes through the relay in both
directions. What a profile asks for is applied there:

- **rate**: `tc` tbf on the egress of both relay ports (the kernel's token bucket and
  its queue, as a home or school router's uplink has one);
- **delay and jitter**: the relay holds each frame for delay ± jitter (uniform, like
  netem's `delay D J`), without reordering a flow (netem reorders with jitter; real
  access links rarely do);
- **loss**: the relay drops frames at random (seeded, so a run is repeatable);
- **outage**: the relay drops everything.

Why a relay and not netem: the kernels this runs on (the project's CI VMs) are built
without `sch_netem`; tbf is there. The relay is a thread per direction reading the
port with an AF_PACKET socket, at a few thousand frames a second at most here. On a
machine with netem the same profiles could be applied with `tc qdisc … netem`; the
figures in docs/performance.md come from the relay.

Profiles (docs/performance.md, "Bad links") are a list of phases: (seconds from the
start, the shape from then on). `ShapedLink.play(profile)` walks through them on a
thread; `set(shape)` applies one at once. Everything stays inside the lab's
namespaces: nothing here sends a packet of its own.
"""

from __future__ import annotations

import array
import collections
import contextlib
import fcntl
import random
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from tests.support import netlab

ETH_P_ALL = 0x0003
MAX_FRAME = 65_536
TBF_QUEUE_MS = 200  # what the bottleneck may hold before it drops (a router's buffer)
SIOCETHTOOL, ETHTOOL_STXCSUM = 0x8946, 0x17


def _checksum_in_software(ifname: str) -> None:
    """`ethtool -K IF tx off` (without ethtool): a veth leaves a packet's TCP/UDP checksum
    for "hardware" to fill, which a relay that copies frames would never do."""
    value = array.array("I", [ETHTOOL_STXCSUM, 0])
    request = struct.pack("16sP", ifname.encode(), value.buffer_info()[0])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock.fileno(), SIOCETHTOOL, request)


def checksums_in_software(node: netlab.Node) -> None:
    """Every interface of the node (but lo) computes its checksums in software."""
    names = [line.split()[0].split("@")[0]
             for line in node.run("ip", "-br", "link").stdout.splitlines()]
    for name in names:
        if name != "lo":
            node.call(_checksum_in_software, name)


@dataclass(frozen=True)
class Shape:
    """One condition of a link, the same in both directions (delay is one way)."""

    rate_kbit: int | None = None
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_percent: float = 0.0
    down: bool = False

    def describe(self) -> str:
        if self.down:
            return "down"
        parts = [f"{self.rate_kbit / 1000:g} Mbit/s" if self.rate_kbit else "unlimited"]
        if self.delay_ms:
            parts.append(f"{2 * self.delay_ms:g} ms RTT ± {self.jitter_ms:g} ms")
        if self.loss_percent:
            parts.append(f"{self.loss_percent:g} % loss")
        return ", ".join(parts)


@dataclass(frozen=True)
class Phase:
    at_s: float
    shape: Shape


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    phases: tuple[Phase, ...]

    @property
    def seconds(self) -> float:
        """When the last phase begins (a run lasts at least this plus a recovery window)."""
        return self.phases[-1].at_s

    def shape_at(self, t: float) -> Shape:
        current = self.phases[0].shape
        for phase in self.phases:
            if phase.at_s <= t:
                current = phase.shape
        return current


# The access link the guide assumes (a school's, 4 Mbit/s) before anything goes wrong:
# 20 ms RTT, as a city's fibre or cable to a national server.
BASE = Shape(rate_kbit=4000, delay_ms=10)
# What "shared" leaves the room: others in the school use the same 4 Mbit/s.
SHARED_SHARE_KBIT = 2500

PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("clean", "no shaping at all (the loopback the other tests run on)",
            (Phase(0, Shape()),)),
    Profile("shared_4mbit", "the guide's 4 Mbit/s, shared: 2.5 Mbit/s left for the call",
            (Phase(0, replace(BASE, rate_kbit=SHARED_SHARE_KBIT)),)),
    Profile("1mbit", "1 Mbit/s each way, 20 ms RTT",
            (Phase(0, replace(BASE, rate_kbit=1000)),)),
    Profile("loss_3", "3 % random loss each way on the 4 Mbit/s link",
            (Phase(0, replace(BASE, loss_percent=3.0)),)),
    Profile("rtt_150_jitter_30", "150 ms RTT, ±30 ms jitter each way, 4 Mbit/s",
            (Phase(0, replace(BASE, delay_ms=75, jitter_ms=30)),)),
    Profile("outage_10s", "4 Mbit/s, then nothing for 10 s, then 4 Mbit/s again",
            (Phase(0, BASE), Phase(15, Shape(down=True)), Phase(25, BASE))),
    Profile("step_down_up", "4 Mbit/s, down to 500 kbit/s for 20 s, back to 4 Mbit/s",
            (Phase(0, BASE), Phase(15, replace(BASE, rate_kbit=500)), Phase(35, BASE))),
)}


@dataclass
class DirectionCounters:
    forwarded: int = 0
    lost: int = 0  # random loss
    outage: int = 0  # dropped while the link was down
    queue_full: int = 0  # the tbf queue refused it


@dataclass
class _Direction:
    name: str
    src: socket.socket
    dst: socket.socket
    rng: random.Random
    counters: DirectionCounters = field(default_factory=DirectionCounters)
    held: collections.deque[tuple[float, bytes]] = field(default_factory=collections.deque)
    last_release: float = 0.0


class ShapedLink:
    """The relay between a site's router port and the lab's internet bridge."""

    def __init__(self, internet: netlab.Node, port: str, bridge: str = "wan",
                 seed: int = 1) -> None:
        self.internet, self.port = internet, port
        # Frames toward the site leave on `port`; toward the internet on `self.outer`.
        self.outer = f"{port[:9]}sh"
        self.inner = f"{port[:9]}br"
        internet.sh(f"ip link set {port} nomaster",
                    f"ip link add {self.outer} type veth peer name {self.inner}",
                    f"ip link set {self.inner} master {bridge}",
                    f"ip link set {self.inner} up", f"ip link set {self.outer} up")
        # No offloads: a segment the relay reads must fit the wire it writes to.
        for ifname in (port, self.outer, self.inner):
            # promisc: the relay's ports carry frames addressed to the machines behind them.
            internet.sh(f"ip link set {ifname} gso_max_segs 1 gro_max_size 1514 promisc on")
        self.shape = Shape()
        self._stop = threading.Event()
        self.applied: list[tuple[float, Shape]] = []  # (monotonic time, shape) as applied
        up = _Direction("up", self._socket(port), self._socket(self.outer), random.Random(seed))
        down = _Direction("down", self._socket(self.outer), self._socket(port),
                          random.Random(seed + 1))
        self.directions = {"up": up, "down": down}
        self._threads = [threading.Thread(target=self._pump, args=(d,), daemon=True,
                                          name=f"link-{port}-{d.name}") for d in (up, down)]
        for thread in self._threads:
            thread.start()
        self._player: threading.Thread | None = None

    def _socket(self, ifname: str) -> socket.socket:
        def make() -> socket.socket:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            sock.bind((ifname, 0))  # resolved in the node's namespace
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            return sock
        return self.internet.call(make)

    # -- shaping --------------------------------------------------------------------

    def set(self, shape: Shape) -> None:
        """Apply a shape now (rate in the kernel, the rest in the relay)."""
        for ifname in (self.port, self.outer):
            if shape.rate_kbit:
                bytes_per_s = shape.rate_kbit * 1000 // 8
                burst = max(3200, bytes_per_s // 200)  # 5 ms of the rate, a few frames
                self.internet.sh(
                    f"tc qdisc replace dev {ifname} root tbf rate {shape.rate_kbit}kbit "
                    f"burst {burst} latency {TBF_QUEUE_MS}ms")
            else:
                self.internet.run("tc", "qdisc", "del", "dev", ifname, "root", check=False)
        self.shape = shape
        self.applied.append((time.monotonic(), shape))

    def play(self, profile: Profile) -> float:
        """Walk through the profile's phases on a thread; returns its start (monotonic)."""
        self.set(profile.phases[0].shape)
        start = time.monotonic()

        def walk() -> None:
            for phase in profile.phases[1:]:
                if self._stop.wait(max(0.0, start + phase.at_s - time.monotonic())):
                    return
                self.set(phase.shape)

        self._player = threading.Thread(target=walk, daemon=True, name=f"play-{self.port}")
        self._player.start()
        return start

    def counters(self) -> dict[str, DirectionCounters]:
        return {name: replace(d.counters) for name, d in self.directions.items()}

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        for d in self.directions.values():
            d.src.close()
            d.dst.close()

    # -- the relay ----------------------------------------------------------------------

    def _pump(self, d: _Direction) -> None:
        while not self._stop.is_set():
            timeout = 0.1
            if d.held:
                timeout = min(timeout, max(0.0, d.held[0][0] - time.monotonic()))
            readable, _, _ = select.select([d.src], [], [], timeout)
            if readable:
                self._take(d)
            now = time.monotonic()
            while d.held and d.held[0][0] <= now:
                self._send(d, d.held.popleft()[1])

    def _take(self, d: _Direction) -> None:
        while True:
            try:
                frame, address = d.src.recvfrom(MAX_FRAME)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # closing
            if address[2] == socket.PACKET_OUTGOING:
                continue  # our own writes to this port, seen on the way out
            shape = self.shape
            if shape.down:
                d.counters.outage += 1
                continue
            if shape.loss_percent and d.rng.random() * 100 < shape.loss_percent:
                d.counters.lost += 1
                continue
            now = time.monotonic()
            if not shape.delay_ms and not d.held:
                self._send(d, frame)
                continue
            jitter = d.rng.uniform(-shape.jitter_ms, shape.jitter_ms) if shape.jitter_ms else 0
            release = now + max(0.0, shape.delay_ms + jitter) / 1000
            d.last_release = max(release, d.last_release)  # no reordering
            d.held.append((d.last_release, frame))

    @staticmethod
    def _send(d: _Direction, frame: bytes) -> None:
        try:
            d.dst.send(frame)
            d.counters.forwarded += 1
        except OSError:  # ENOBUFS: the tbf queue is full (a bottleneck drops)
            d.counters.queue_full += 1


@dataclass
class ShapedInternet:
    """The small internet with the school's and the home's access links shaped."""

    lab: netlab.Lab
    links: dict[str, ShapedLink]

    def set(self, shape: Shape, sites: tuple[str, ...] = ("school", "home")) -> None:
        for site in sites:
            self.links[site].set(shape)

    def play(self, profile: Profile, sites: tuple[str, ...] = ("school", "home")) -> float:
        starts = [self.links[site].play(profile) for site in sites]
        return min(starts)

    def close(self) -> None:
        for link in self.links.values():
            link.close()
        self.lab.close()


# The routers' ports on the internet node (netlab._router names them so).
SITE_PORTS = {"school": "school0", "home": "home-r0"}


def shaped_small_internet(workdir: Path, seed: int = 1) -> ShapedInternet:
    lab = netlab.small_internet(workdir)
    links: dict[str, ShapedLink] = {}
    try:
        for node in lab.nodes.values():
            checksums_in_software(node)
        for i, (site, port) in enumerate(SITE_PORTS.items()):
            links[site] = ShapedLink(lab["internet"], port, seed=seed + 10 * i)
    except BaseException:
        for link in links.values():
            link.close()
        lab.close()
        raise
    return ShapedInternet(lab, links)


@contextlib.contextmanager
def running_shaped_internet(workdir: Path, seed: int = 1) -> Iterator[ShapedInternet]:
    net = shaped_small_internet(workdir, seed)
    try:
        yield net
    finally:
        net.close()
