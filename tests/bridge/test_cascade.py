"""Where a large meeting's viewers receive (bridge/janus/cascade.py): the meeting's own
Janus first, then the others in an order fixed per room, each filled to the limit; and
the configuration that turns it on. The relays themselves are exercised with two real
Janus servers in tests/e2e/test_cascade.py."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.config import BridgeConfigError, load_bridge_config
from bridge.gateway import MediaGateway
from bridge.gateway import session as media_session
from bridge.janus.announced import Announced
from bridge.janus.cascade import Cascade, _Relayed
from bridge.janus.fake import FakeJanus
from bridge.janus.relay import Relay
from bridge.janus.server import JanusEndpoint, JanusServer
from bridge.janus.videoroom import PublishedStream, Publisher, streams_from_json, streams_json
from tests.support.fake_janus import ADMIN_KEY, ROOM, endpoint, joined, publishing, until


def servers(*names: str) -> list[JanusServer]:
    made = [JanusServer(JanusEndpoint(f"ws://127.0.0.1:{8188 + i}", None, None, name))
            for i, name in enumerate(names)]
    for server in made:
        server.up.set()
    return made


def no_streams(room: str, feed: str) -> None:
    return None


def test_viewers_fill_the_meetings_server_then_the_others_in_a_fixed_order() -> None:
    a, b, c = servers("a", "b", "c")
    cascade = Cascade(2, no_streams)
    placed = [cascade.place("sinif", a, [a, b, c]).endpoint.name for _ in range(6)]
    assert placed[:2] == ["a", "a"]
    edges = placed[2:]
    assert sorted(edges) == ["b", "b", "c", "c"] and edges[0] == edges[1], placed
    # The same room orders its edges the same way every time (any process, any run).
    again = Cascade(2, no_streams)
    assert [again.place("sinif", a, [a, b, c]).endpoint.name for _ in range(6)] == placed


def test_all_full_the_least_filled_and_a_freed_place_is_taken_again() -> None:
    a, b = servers("a", "b")
    cascade = Cascade(1, no_streams)
    assert [cascade.place("r", a, [a, b]).endpoint.name for _ in range(4)] == \
        ["a", "b", "a", "b"]
    cascade.left("r", a)
    cascade.left("r", a)
    assert cascade.place("r", a, [a, b]) is a


def test_a_server_that_is_down_gets_nobody_and_its_places_are_forgotten() -> None:
    a, b, c = servers("a", "b", "c")
    cascade = Cascade(1, no_streams)
    cascade.place("r", a, [a, b, c])
    first_edge = cascade.place("r", a, [a, b, c])
    first_edge.up.clear()
    cascade.server_lost(first_edge)
    other = cascade.place("r", a, [a, b, c])
    assert other not in (a, first_edge)
    first_edge.up.set()
    assert cascade.place("r", a, [a, b, c]) is first_edge  # empty again after the loss


def test_listeners_other_processes_placed_count_as_this_ones() -> None:
    """With several bridge processes each places its own listeners, counting those the
    others announced (``elsewhere``): together they fill each server to the limit."""
    a, b, c = servers("a", "b", "c")
    announced = Counter({("r", "a"): 1})  # another process's listener on the origin
    cascade = Cascade(2, no_streams, [a, b, c], shared=True,
                      elsewhere=lambda room, server: announced[(room, server)])
    assert cascade.place("r", a, [a, b, c]) is a  # the origin's second place
    first_edge = cascade.place("r", a, [a, b, c])
    assert first_edge is not a
    announced[("r", first_edge.endpoint.name)] += 1  # the other process filled it
    second_edge = cascade.place("r", a, [a, b, c])
    assert second_edge not in (a, first_edge)
    assert cascade.listeners("r", first_edge) == 2
    announced.clear()  # the others' listeners left: their places are free again
    assert cascade.place("r", a, [a, b, c]) is a


@pytest.mark.parametrize("shared", [False, True])
async def test_an_edges_last_listener_here_drops_its_relays_with_one_process_only(
        shared: bool) -> None:
    """With several processes, others' listeners may receive the relays there
    (docs/architecture.md): they stay until their feed stops."""
    a, b = servers("a", "b")
    cascade = Cascade(1, no_streams, [a, b], shared=shared)
    cascade.place("r", a, [a, b])
    edge = cascade.place("r", a, [a, b])
    assert edge is b
    cascade.relays[("r", "1", "b")] = _Relayed(Relay("r", "1", "relay-b"), a, b)
    cascade.left("r", edge)
    await asyncio.gather(*cascade._tasks)  # a drop, if one was started
    assert (("r", "1", "b") in cascade.relays) == shared


def config(tmp_path: Path, janus: str, extra: str = "") -> Path:
    path = tmp_path / "bridge.toml"
    path.write_text(f'state_dir = "{tmp_path}"\n{extra}\n[janus]\n{janus}\n')
    return path


SERVERS = ('[[janus.servers]]\nurl = "ws://127.0.0.1:8188"\nname = "a"\n'
           '[[janus.servers]]\nurl = "ws://127.0.0.1:8189"\nname = "{second}"\n'
           'relay_host = "127.1.0.2"\n')


def test_the_limit_and_each_servers_relay_address_are_read(tmp_path: Path) -> None:
    settings = load_bridge_config(config(
        tmp_path, 'mode = "remote"\nlisteners_per_server = 40\n'
        + SERVERS.format(second="b")))
    assert settings.janus.listeners_per_server == 40
    assert [j.relay_host for j in settings.janus.servers] == [None, "127.1.0.2"]
    assert JanusEndpoint("ws://127.0.0.1:8188", None, None).relay_address == "127.0.0.1"


def test_two_servers_of_one_name_are_refused_naming_the_key(tmp_path: Path) -> None:
    path = config(tmp_path, 'mode = "remote"\n' + SERVERS.format(second="a"))
    with pytest.raises(BridgeConfigError, match=r"bridge.toml: janus: .*names must differ"):
        load_bridge_config(path)


def test_relaying_with_several_bridge_processes_is_read_and_off_unless_set(
        tmp_path: Path) -> None:
    cluster = ('database_url = "postgresql+psycopg://salon@/salon"\n'
               '[cluster]\nbus = ["nats://127.0.0.1:4222"]\n')
    settings = load_bridge_config(config(
        tmp_path, 'mode = "remote"\nlisteners_per_server = 40\n' + SERVERS.format(second="b"),
        cluster))
    assert settings.janus.listeners_per_server == 40
    unset = load_bridge_config(config(tmp_path, 'mode = "remote"\n'
                                      + SERVERS.format(second="b"), cluster))
    assert unset.janus.listeners_per_server is None  # 0 with [cluster] (bridge/web/app.py)


# ---- relays with several bridge processes, against two fake Janus servers -------------
# (bridge/janus/fake_remotes.py answers the cascading requests as Janus 1.1.2 does; two
# Cascade objects stand for two processes: their locks and records are their own.)

STREAMS = [PublishedStream("0", "audio", 0, "opus"), PublishedStream("1", "video", 1, "vp8")]


@dataclass
class Pair:
    a: JanusServer  # the room's server (origin)
    b: JanusServer  # an edge
    fa: FakeJanus
    fb: FakeJanus
    teacher: Publisher
    secret: str

    def process(self, holds: bool = True) -> Cascade[JanusServer]:
        """A process's cascade; ``holds``: it holds the teacher's publisher."""
        return Cascade(1, lambda room, feed: STREAMS, [self.a, self.b], shared=True,
                       holds=lambda room, feed: holds)

    def forwards(self) -> list[str]:
        return list(self.fa.rooms["r"].remotes.forwards.get("1", {}))

    def on_edge(self) -> set[str]:
        return set(self.fb.rooms["r"].remotes.publishers)


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    fa, fb = FakeJanus(admin_key=ADMIN_KEY), FakeJanus(admin_key=ADMIN_KEY)
    a = JanusServer(endpoint(fa, "a"), shared=True)
    b = JanusServer(endpoint(fb, "b"), shared=True)
    await a.connect()
    await b.connect()
    secret = await a.ensure_room("r")
    await b.ensure_room("r", secret)
    teacher = await Publisher.join(await a.new_session(), "r", "1", "Öğretmen")
    yield Pair(a, b, fa, fb, teacher, secret)
    await a.close()
    await b.close()


async def test_a_relay_another_process_made_is_adopted_not_made_twice(pair: Pair) -> None:
    """Only the publisher's process makes a feed's relays; another process's listener
    waits for it (asking first) and adopts it."""
    publishers, listeners = pair.process(), pair.process(holds=False)
    waiting = asyncio.create_task(listeners.ensure("r", "1", pair.a, pair.b))
    await asyncio.sleep(0.3)  # it asks the origin and the edge meanwhile; makes nothing
    assert not waiting.done() and pair.on_edge() == set() and pair.forwards() == []
    assert await publishers.ensure("r", "1", pair.a, pair.b)
    assert await waiting
    assert pair.forwards() == ["relay-b"] and pair.on_edge() == {"1"}
    assert listeners.relays[("r", "1", "b")].relay.port == 0, "adopted: made by the other"
    assert publishers.relays[("r", "1", "b")].relay.port != 0


async def test_a_relay_never_made_is_given_up(pair: Pair) -> None:
    listeners = pair.process(holds=False)
    listeners.made_within = 0.5
    assert not await listeners.ensure("r", "1", pair.a, pair.b)
    assert pair.on_edge() == set() and not listeners.relays


async def test_a_stale_copy_on_the_edge_is_replaced(pair: Pair) -> None:
    """A copy nothing forwards to (the process that made it died half way, or the
    origin restarted): removed and made again, once no forwarding came meanwhile."""
    assert pair.b.control is not None
    await pair.b.control.handle.send({"request": "add_remote_publisher", "room": "r",
                                      "secret": pair.secret, "id": "1", "streams": []})
    cascade = pair.process()
    assert await cascade.ensure("r", "1", pair.a, pair.b)
    port = cascade.relays[("r", "1", "b")].relay.port
    assert port != 0 and pair.forwards() == ["relay-b"]
    assert pair.fa.rooms["r"].remotes.forwards["1"]["relay-b"]["port"] == port


async def test_a_forwarding_without_its_copy_is_replaced(pair: Pair) -> None:
    """The edge restarted (its copy is gone) while the origin still forwards to it."""
    assert pair.a.control is not None
    await pair.a.control.handle.send({
        "request": "publish_remotely", "room": "r", "secret": pair.secret,
        "publisher_id": "1", "remote_id": "relay-b", "host": "127.0.0.1", "port": 9,
        "rtcp_port": 10, "admin_key": ADMIN_KEY})
    cascade = pair.process()
    assert await cascade.ensure("r", "1", pair.a, pair.b)
    port = cascade.relays[("r", "1", "b")].relay.port
    assert pair.fa.rooms["r"].remotes.forwards["1"]["relay-b"]["port"] == port != 9
    assert pair.on_edge() == {"1"}


async def test_the_publishers_process_drops_relays_it_did_not_know_of(pair: Pair) -> None:
    """Made by an earlier process of the publisher (it moved here), or before this one
    restarted: found at Janus."""
    earlier, publishers = pair.process(), pair.process()
    assert await earlier.ensure("r", "1", pair.a, pair.b)
    await publishers.drop_feed("r", "1", pair.a)  # it publishes anew
    assert pair.forwards() == [] and pair.on_edge() == set()
    assert await publishers.ensure("r", "1", pair.a, pair.b)
    assert pair.forwards() == ["relay-b"] and pair.on_edge() == {"1"}


async def test_a_publisher_gone_from_the_origin_leaves_no_copy_on_any_edge(pair: Pair
                                                                          ) -> None:
    """Janus frees a leaving publisher's forwardings with it: the copies are found by
    asking every edge."""
    earlier, publishers = pair.process(), pair.process()
    assert await earlier.ensure("r", "1", pair.a, pair.b)
    await pair.teacher.handle.detach()
    assert "1" not in pair.fa.rooms["r"].participants
    await publishers.drop_feed("r", "1", pair.a)
    assert pair.on_edge() == set()


def test_what_other_processes_announce_is_counted_and_read_back() -> None:
    """Their members' servers count per (room, server), a member moving is counted once;
    feeds' streams go over the bus as ``streams_json`` writes them, and a malformed
    list (another version's) is taken for none."""
    announced = Announced()
    assert announced.set_view("r", "7", "b") == "b"
    assert announced.set_view("r", "7", "b") is None  # the same: nothing new
    announced.set_view("r", "8", "b")
    assert announced.listeners("r", "b") == 2
    announced.set_view("r", "7", "a")
    assert (announced.listeners("r", "a"), announced.listeners("r", "b")) == (1, 1)
    announced.set_view("r", "8", None)  # left
    assert announced.listeners("r", "b") == 0

    assert streams_from_json(json.loads(json.dumps(streams_json(STREAMS)))) == STREAMS
    assert streams_from_json([{"mid": "0", "kind": "audio"}]) is None
    assert not announced.set_streams("r", "7", streams_json(STREAMS))  # new: none void
    assert announced.streams[("r", "7")] == STREAMS
    assert not announced.set_streams("r", "7", streams_json(STREAMS))  # unchanged
    assert announced.set_streams("r", "7", None)  # stopped: relays of it are void
    assert ("r", "7") not in announced.streams


async def test_a_listener_whose_relay_came_late_receives_it_when_it_comes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes on two fake Janus servers. A listener of process 2 placed on the
    edge asks for the teacher of process 1 before process 1 knows of it; its wait for
    the relay ends empty. Once process 1 hears where that listener is and makes the
    relay, the listener gets the teacher by itself (asked again), not only at the
    room's next change of feeds."""
    monkeypatch.setattr(media_session, "RELAY_RETRY_S", 0.2)
    fakes = {"a": FakeJanus(admin_key=ADMIN_KEY), "b": FakeJanus(admin_key=ADMIN_KEY)}
    one, two = (MediaGateway([endpoint(f, n) for n, f in fakes.items()], shared=True,
                             listeners_per_server=1) for _ in range(2))
    for gw in (one, two):
        await gw.start()
        await until(lambda gw=gw: all(s.up.is_set() for s in gw.servers), "both servers")
    origin = one.server_for(ROOM).endpoint.name
    try:
        teacher = await publishing(one, fakes[origin], "1")
        two.remote_member(ROOM, "1", teacher.announced(publishing=True, content_up=False))
        listener, offers = await joined(two, "3")
        assert listener.relayed, "the origin is full with the teacher"
        assert two.cascade is not None
        two.cascade.made_within = 0.3  # process 1 makes nothing yet: it does not know
        await listener.reconcile({"1"})
        assert offers.got == [] and listener.wanted == set()
        one.remote_member(ROOM, "3", listener.announced(publishing=False, content_up=False))
        await until(lambda: offers.feeds == {"1"}, "the teacher offered on the edge", 5.0)
        assert listener.subscribed == {"1"}
    finally:
        for gw in (one, two):
            await gw.close()
