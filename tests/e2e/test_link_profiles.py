"""The bad links of tests/support/linkshape.py do what their profiles say, on the small
internet's school link (all on 127/8, inside the lab's namespaces): a rate caps what
gets through, delay holds every packet at least that long, random loss drops some but
not all, an outage drops everything and the link carries traffic again after it.
Lower bounds and counts only: the machine is shared."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import linkshape, netlab

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(netlab.available() is not None, reason=str(netlab.available())),
]
PORT = 9_000


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[linkshape.ShapedInternet]:
    with linkshape.running_shaped_internet(tmp_path_factory.mktemp("shaped")) as made:
        yield made


class Echo:
    """A UDP echo on the server node: what the school sends comes back."""

    def __init__(self, server: netlab.Node) -> None:
        self.sock = server.call(self._bind)
        threading.Thread(target=self._serve, daemon=True).start()

    @staticmethod
    def _bind() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((netlab.SERVER_IP, PORT))
        return sock

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(2048)
                self.sock.sendto(data, peer)
            except OSError:
                return


@pytest.fixture(scope="module")
def echo(net: linkshape.ShapedInternet) -> Iterator[Echo]:
    made = Echo(net.lab["server"])
    yield made
    made.sock.close()


def school_socket(net: linkshape.ShapedInternet) -> socket.socket:
    def make() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.connect((netlab.SERVER_IP, PORT))
        sock.settimeout(2.0)
        return sock
    return net.lab["school"].call(make)


def round_trips(net: linkshape.ShapedInternet, count: int, gap_s: float = 0.01,
                size: int = 108) -> tuple[list[float], int]:
    """(round-trip times of the echoes that came back, how many were sent)."""
    sock = school_socket(net)
    sent: dict[int, float] = {}
    rtts: list[float] = []

    def receive() -> None:
        while True:
            try:
                data = sock.recv(2048)
            except (TimeoutError, OSError):
                return
            n = int(data[:8])
            rtts.append(time.monotonic() - sent[n])

    reader = threading.Thread(target=receive)
    reader.start()
    for n in range(count):
        sent[n] = time.monotonic()
        sock.send(b"%08d" % n + b"\0" * (size - 8))
        time.sleep(gap_s)
    reader.join()
    sock.close()
    return rtts, count


def test_delay_holds_every_packet_for_the_profiles_round_trip(
        net: linkshape.ShapedInternet, echo: Echo) -> None:
    net.set(linkshape.PROFILES["rtt_150_jitter_30"].phases[0].shape)
    rtts, sent = round_trips(net, 40)
    assert len(rtts) == sent, "a delay profile lost packets"
    # 75 ms ± 30 each way: never less than 2 × 45 ms.
    assert min(rtts) >= 0.090, min(rtts)
    net.set(linkshape.Shape())
    fast, _ = round_trips(net, 20)
    assert min(fast) < 0.090, "the delay stayed after the profile was lifted"


def test_random_loss_drops_some_but_not_all(net: linkshape.ShapedInternet, echo: Echo) -> None:
    net.set(linkshape.PROFILES["loss_3"].phases[0].shape)
    before = net.links["school"].counters()
    rtts, sent = round_trips(net, 400, gap_s=0.002)
    after = net.links["school"].counters()
    lost = sum(after[d].lost - before[d].lost for d in ("up", "down"))
    assert 0 < lost < sent // 4, lost
    assert sent - len(rtts) >= lost - 1  # what the relay dropped never came back (≈ all)


def test_a_rate_caps_what_gets_through(net: linkshape.ShapedInternet, echo: Echo) -> None:
    """Several Mbit/s offered into a 500 kbit/s link: well under what was sent comes back."""
    net.set(linkshape.Shape(rate_kbit=500))
    rtts, sent = round_trips(net, 1000, gap_s=0.001, size=1000)
    net.set(linkshape.Shape())
    assert len(rtts) < sent * 0.75, (len(rtts), sent)
    counters = net.links["school"].counters()
    assert counters["up"].queue_full > 0, counters


def test_an_outage_drops_everything_and_the_link_comes_back(
        net: linkshape.ShapedInternet, echo: Echo) -> None:
    profile = linkshape.Profile("short_outage", "test", (
        linkshape.Phase(0, linkshape.Shape(down=True)), linkshape.Phase(2, linkshape.Shape())))
    net.play(profile, sites=("school",))
    during, _ = round_trips(net, 50)
    assert during == [], "packets crossed a link that was down"
    time.sleep(1.5)
    after, sent = round_trips(net, 20)
    assert len(after) == sent, "the link did not come back after the outage"
    assert net.links["school"].counters()["up"].outage > 0


def test_every_profile_in_the_doc_is_defined() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "performance.md").read_text()
    for name in linkshape.PROFILES:
        assert f"`{name}`" in text, f"profile {name} is not in docs/performance.md"
