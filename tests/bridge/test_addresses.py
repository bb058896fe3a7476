"""A room is served at its own address, /testbim: the bridge's own paths are never room
addresses, so no room can shadow them and none of them shadows a room."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.admin import ConfigError, seed_from_config
from bridge.config import BridgeSettings
from bridge.store import Store
from bridge.store.accounts import RESERVED_ADDRESSES, InvalidValue, normalize_address
from bridge.web.app import create_app


def first_segments(settings: BridgeSettings) -> set[str]:
    app = create_app(settings)
    segments = set()
    for resource in app.router.resources():
        path = resource.canonical.lstrip("/")
        first = path.split("/", 1)[0]
        if first and not first.startswith("{"):
            segments.add(first)
    app["bridge"].store.close()
    return segments


def test_every_path_of_the_bridge_is_reserved(tmp_path: Path) -> None:
    segments = first_segments(BridgeSettings(state_dir=tmp_path))
    assert {"api", "ws", "static", "healthz", "r", "c"} <= segments
    assert segments <= RESERVED_ADDRESSES, segments - RESERVED_ADDRESSES


def test_the_room_address_route_comes_last(tmp_path: Path) -> None:
    app = create_app(BridgeSettings(state_dir=tmp_path))
    canonical = [r.canonical for r in app.router.resources()]
    app["bridge"].store.close()
    assert canonical[-1] == "/{room}"
    assert "/r/{room}" in canonical


@pytest.mark.parametrize("address", sorted(RESERVED_ADDRESSES))
def test_a_reserved_word_is_never_a_new_room(address: str) -> None:
    with pytest.raises(InvalidValue, match="reserved for the bridge's own pages"):
        normalize_address(f"/{address.upper()}")


def test_the_config_cannot_seed_a_room_at_a_reserved_address(tmp_path: Path) -> None:
    rooms = {"rooms": [{"address": "testbim", "title": "T"}, {"address": "api", "title": "A"}]}
    with Store(f"sqlite:///{tmp_path / 'salon.sqlite3'}") as store, pytest.raises(
            ConfigError, match=r"rooms\[1\]: room address 'api': reserved"):
        seed_from_config(store, rooms)
