"""Where a large meeting's viewers receive (bridge/janus/cascade.py): the meeting's own
Janus first, then the others in an order fixed per room, each filled to the limit; and
the configuration that turns it on. The relays themselves are exercised with two real
Janus servers in tests/e2e/test_cascade.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import BridgeConfigError, load_bridge_config
from bridge.janus.cascade import Cascade
from bridge.janus.server import JanusEndpoint, JanusServer


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


def test_relaying_with_several_bridge_processes_is_refused_clearly(tmp_path: Path) -> None:
    path = config(tmp_path, 'mode = "remote"\nlisteners_per_server = 40\n'
                  + SERVERS.format(second="b"),
                  'database_url = "postgresql+psycopg://salon@/salon"\n'
                  '[cluster]\nbus = ["nats://127.0.0.1:4222"]\n')
    with pytest.raises(BridgeConfigError, match="listeners_per_server"):
        load_bridge_config(path)
