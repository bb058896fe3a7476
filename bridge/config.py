"""The bridge's configuration file (TOML), validated as a whole before use."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bridge.admin import RoomSeed, UserSeed


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    public_url: str | None = None  # how clients reach the bridge, e.g. behind a proxy


class RemoteJanus(Strict):
    url: Annotated[str, Field(pattern=r"^wss?://")]
    name: str = "janus"
    api_secret_file: Path | None = None
    room_admin_key_file: Path | None = None


class JanusSettings(Strict):
    mode: Literal["local", "remote"] = "local"
    binary: str = "janus"
    # The address Janus offers ICE candidates on (its ice_enforce_list).
    media_ip: str | None = None
    rtp_port_range: Annotated[str, Field(pattern=r"^\d+-\d+$")] = "20000-40000"
    # People sending audio or video at once in one room (Janus VideoRoom "publishers").
    max_publishers_per_room: Annotated[int, Field(ge=2, le=1000)] = 200
    servers: list[RemoteJanus] = []

    @model_validator(mode="after")
    def remote_needs_servers(self) -> JanusSettings:
        if self.mode == "remote" and not self.servers:
            raise ValueError("mode = 'remote' needs at least one [[janus.servers]] entry")
        return self


class CompanionSettings(Strict):
    # How long a phone-companion link (the QR code on a room's screen) works; the
    # phone's session ends with it.
    link_ttl_s: Annotated[int, Field(ge=5, le=24 * 3600)] = 15 * 60


class BridgeSettings(Strict):
    state_dir: Path = Path("/var/lib/salon-bridge")
    # SQLAlchemy URL; default: an SQLite file in the state directory.
    database_url: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    server: ServerSettings = ServerSettings()
    janus: JanusSettings = JanusSettings()
    companion: CompanionSettings = CompanionSettings()
    # Rooms and accounts created or updated at every start (the admin CLI does the same).
    rooms: list[RoomSeed] = []
    users: list[UserSeed] = []


class BridgeConfigError(Exception):
    pass


def load_bridge_config(path: Path) -> BridgeSettings:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BridgeConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BridgeConfigError(f"{path}: {exc}") from None
    try:
        settings = BridgeSettings.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{path}: {'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise BridgeConfigError("\n".join(lines)) from None
    if not settings.state_dir.is_absolute():
        settings = settings.model_copy(update={"state_dir": path.parent / settings.state_dir})
    return settings


def seed_mapping(settings: BridgeSettings) -> dict[str, list[dict[str, object]]]:
    """The rooms and users of the config, as the admin seeding takes them."""
    return {
        "rooms": [r.model_dump(exclude_none=True) for r in settings.rooms],
        "users": [u.model_dump(exclude_none=True) for u in settings.users],
    }
