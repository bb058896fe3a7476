"""The bridge's configuration file (TOML), validated as a whole before use."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    ValidationError,
    model_validator,
)

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


class SignInSettings(Strict):
    """Sign-in (Oturum Aç) abuse limits: failures by address and by (address, account),
    and how many argon2 checks may run at once (docs/operations.md, "Bridge security")."""

    # Password checks at once; 0: half the CPU cores, at least one (the event loop and
    # the meetings keep the other half).
    concurrency: Annotated[int, Field(ge=0, le=64)] = 0
    # Sign-ins from one address waiting or being checked; more are refused at once.
    pending_per_address: Annotated[int, Field(ge=1, le=10_000)] = 16
    pending_max: Annotated[int, Field(ge=1, le=100_000)] = 256
    # Failed sign-ins from one address (any user names): a burst, then one per refill.
    address_failures: Annotated[int, Field(ge=1, le=10_000)] = 20
    address_refill_s: Annotated[float, Field(gt=0, le=86_400)] = 6.0
    # Failed sign-ins from one address for one account: a burst, then one per refill.
    account_failures: Annotated[int, Field(ge=1, le=10_000)] = 5
    account_refill_s: Annotated[float, Field(gt=0, le=86_400)] = 12.0


class SecuritySettings(Strict):
    """Web hardening (docs/operations.md, "Bridge security")."""

    # Web origins (scheme://host[:port]) besides server.public_url's whose pages may open
    # the WebSocket. With neither set, a page must come from the host it connects to.
    allowed_origins: list[Annotated[str, Field(pattern=r"^https?://[^/?#\s]+$")]] = []
    # Reverse proxies (addresses or networks) whose X-Forwarded-For names the client.
    trusted_proxies: list[IPvAnyNetwork] = []
    # Open TCP connections from one client address (WebSockets through a trusted proxy).
    max_connections_per_address: Annotated[int, Field(ge=1, le=100_000)] = 200
    # A connection must send a whole request's headers within this (also the idle
    # keep-alive limit between requests).
    header_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    # A file holding a bearer token that unlocks /healthz's detail for remote callers.
    health_token_file: Path | None = None
    sign_in: SignInSettings = SignInSettings()


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
    security: SecuritySettings = SecuritySettings()
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
    token = settings.security.health_token_file
    if token is not None and not token.is_absolute():
        security = settings.security.model_copy(update={"health_token_file": path.parent / token})
        settings = settings.model_copy(update={"security": security})
    return settings


def seed_mapping(settings: BridgeSettings) -> dict[str, list[dict[str, object]]]:
    """The rooms and users of the config, as the admin seeding takes them."""
    return {
        "rooms": [r.model_dump(exclude_none=True) for r in settings.rooms],
        "users": [u.model_dump(exclude_none=True) for u in settings.users],
    }
