"""config/bridge.toml — the example a school starts from, installed as
/etc/salon-bridge/bridge.toml — loads with the bridge's own loader, names every key the
bridge has, and gives coturn a configuration that relays to Janus only."""

from __future__ import annotations

import typing
from pathlib import Path

from pydantic import BaseModel

from bridge.config import BridgeSettings, load_bridge_config
from bridge.turn import coturn_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "bridge.toml"
# Keys the example leaves to their defaults on purpose (each says so in a comment).
COMMENTED = {"database_url", "janus.public_ip", "janus.binary", "janus.servers",
             "turn.realm", "turn.external_ip", "turn.allowed_peer_ips", "users",
             "security.health_token_file"}


def keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    out = set()
    for name, field in model.model_fields.items():
        out.add(prefix + name)
        for arg in (field.annotation, *typing.get_args(field.annotation)):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and name in (
                    "server", "tls", "proxy", "janus", "turn", "security", "sign_in",
                    "companion", "schedule"):
                out |= keys(arg, f"{prefix}{name}.")
    return out


def test_the_example_loads_with_the_bridges_loader() -> None:
    settings = load_bridge_config(EXAMPLE)
    assert settings.tls is not None and settings.turn is not None
    assert settings.server.port == 443 and settings.server.public_url
    assert str(settings.tls.cert_file).startswith("/etc/salon-bridge/tls/")
    assert settings.janus.media_ip and settings.rooms


def test_the_example_names_every_key() -> None:
    text = EXAMPLE.read_text()
    for key in sorted(keys(BridgeSettings)):
        name = key.rpartition(".")[2]
        if key in ("server", "tls", "proxy", "janus", "turn", "rooms", "security",
                   "security.sign_in", "companion", "schedule", "schedule.calendars"):
            assert f"[{key}]" in text or f"[[{key}]]" in text, key
            continue
        assert f"{name} =" in text or f"# {name} =" in text or key in COMMENTED, \
            f"config/bridge.toml does not mention {key}"


def test_coturn_from_the_example_relays_to_janus_only(tmp_path: Path) -> None:
    secret = tmp_path / "turn-secret"
    secret.write_text("f" * 64 + "\n")
    example = tmp_path / "bridge.toml"
    example.write_text(EXAMPLE.read_text().replace("/etc/salon-bridge/turn-secret",
                                                   str(secret)))
    lines = coturn_config(load_bridge_config(example)).splitlines()
    assert {"listening-ip=203.0.113.11", "relay-ip=203.0.113.11", "listening-port=3478",
            "tls-listening-port=443", "cert=/etc/coturn/salon/fullchain.pem",
            "allowed-peer-ip=203.0.113.10", "realm=turn.example.org"} <= set(lines)
    assert "allow-loopback-peers" not in lines
