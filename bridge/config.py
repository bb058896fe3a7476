"""The bridge's configuration file (TOML), validated as a whole before use."""

from __future__ import annotations

import tomllib
from ipaddress import IPv4Address
from pathlib import Path
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    ValidationError,
    field_validator,
    model_validator,
)


class RoomSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str
    title: str
    policy: Literal["private", "public"] = "private"
    guest_name_format: bool = False
    open_floor: bool | None = None
    # bridge/config.py's spelling: an unmoderated room is an open floor.
    moderated: bool | None = None

    @model_validator(mode="after")
    def one_floor_setting(self) -> RoomSeed:
        both = self.open_floor is not None and self.moderated is not None
        if both and self.open_floor == self.moderated:
            raise ValueError("open_floor and moderated contradict each other")
        return self

    @property
    def is_open_floor(self) -> bool:
        """Moderated (the host grants rights) unless the config says otherwise."""
        if self.open_floor is not None:
            return self.open_floor
        return self.moderated is False


class UserSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    role: Literal["host", "participant", "device"] = "participant"
    display_name: str | None = None
    password_file: Path | None = None
    password_hash: str | None = Field(default=None, pattern=r"^\$argon2(id|i|d)\$")
    disabled: bool = False

    @model_validator(mode="after")
    def one_password_source(self) -> UserSeed:
        if self.password_file is not None and self.password_hash is not None:
            raise ValueError("give password_file or password_hash, not both")
        return self


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
    # The address the other Janus servers send it relayed RTP to (a large meeting's
    # listeners here, its teacher on another): a private network. Default: the URL's host.
    relay_host: str | None = None


class JanusSettings(Strict):
    mode: Literal["local", "remote"] = "local"
    binary: str = "janus"
    # The address Janus offers ICE candidates on (its ice_enforce_list).
    media_ip: str | None = None
    # The server's public address when media_ip is private behind a 1:1 NAT (a cloud
    # VM): Janus's nat_1_1_mapping, so its candidates carry the address clients reach.
    public_ip: IPv4Address | None = None
    rtp_port_range: Annotated[str, Field(pattern=r"^\d+-\d+$")] = "20000-40000"
    # People sending audio or video at once in one room (Janus VideoRoom "publishers").
    max_publishers_per_room: Annotated[int, Field(ge=2, le=1000)] = 200
    servers: list[RemoteJanus] = []
    # A meeting's viewers on its Janus before further ones are placed on the other
    # servers of [[janus.servers]], its feeds relayed there. 0: every viewer on the
    # meeting's server. Unset: 300, or 0 with [cluster] (every process must run a
    # version that announces its feeds' streams before one relays: set it explicitly
    # once they all do; docs/deployment.md).
    listeners_per_server: Annotated[int, Field(ge=0, le=100_000)] | None = None

    @model_validator(mode="after")
    def remote_needs_servers(self) -> JanusSettings:
        if self.mode == "remote" and not self.servers:
            raise ValueError("mode = 'remote' needs at least one [[janus.servers]] entry")
        names = [j.name for j in self.servers]
        if len(set(names)) != len(names):
            raise ValueError(f"[[janus.servers]] names must differ: {names}")
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


class TlsSettings(Strict):
    """[tls] — the bridge serves HTTPS itself from these files, re-read when a renewal
    replaces them (checked every ``reload_check_s`` and on SIGHUP)."""

    cert_file: Path  # the full chain, leaf first (certbot's fullchain.pem)
    key_file: Path
    hsts_max_age_s: Annotated[int, Field(ge=0, le=63_072_000)] = 31_536_000
    reload_check_s: Annotated[float, Field(ge=0.05, le=86_400)] = 60.0
    # Plain HTTP on this port only redirects to https:// and serves ACME http-01
    # challenges from acme_webroot (certbot --webroot); None: no plain-HTTP listener.
    http_port: Annotated[int, Field(ge=1, le=65535)] | None = 80
    acme_webroot: Path | None = Path("/var/lib/salon-bridge/acme")


class ProxySettings(Strict):
    """[proxy] — the bridge behind a reverse proxy (Caddy, nginx): X-Forwarded-For and
    X-Forwarded-Proto are believed only from these addresses, never from anyone else."""

    trusted: list[IPvAnyNetwork] = []  # addresses or networks, e.g. ["127.0.0.1"]
    # HSTS on responses the proxy says went out over https (the proxy may add its own).
    hsts_max_age_s: Annotated[int, Field(ge=0, le=63_072_000)] = 31_536_000


TURN_URL = r"^(turn|turns):([a-z0-9.-]+|\[[0-9a-f:]+\])(:[0-9]{1,5})?(\?transport=(udp|tcp))?$"


class TurnSettings(Strict):
    """[turn] — a coturn server with ``use-auth-secret``: the bridge mints each admitted
    seat a credential (username ``expiry:seat``, password HMAC-SHA1 of it with the shared
    secret) that lives ``ttl_s`` seconds. ``salon-bridge turn-config`` writes coturn's
    configuration from this table, so the two never disagree."""

    secret_file: Path
    # What clients are given, in order of preference, e.g.
    # "turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:443?transport=tcp".
    urls: Annotated[list[Annotated[str, Field(pattern=TURN_URL)]], Field(min_length=1)]
    ttl_s: Annotated[int, Field(ge=5, le=7 * 86_400)] = 3600
    # For turn-config (coturn's turnserver.conf):
    realm: str | None = None  # default: the host name of the first URL
    listening_ips: list[IPv4Address] = []  # default: every address of the machine
    relay_ip: IPv4Address | None = None
    external_ip: IPv4Address | None = None  # coturn behind a 1:1 NAT: its public address
    relay_port_range: Annotated[str, Field(pattern=r"^\d+-\d+$")] = "49152-65535"
    # TURN over TLS: default the [tls] files (one certificate naming both hosts).
    cert_file: Path | None = None
    key_file: Path | None = None
    # Peers coturn may relay to: Janus only (default: janus.media_ip and public_ip).
    allowed_peer_ips: list[IPv4Address] = []

    @field_validator("urls")
    @classmethod
    def usable_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            port = urlsplit(url.replace(":", "://", 1)).port
            if port is not None and not 1 <= port <= 65535:
                raise ValueError(f"{url}: port out of range")
            if url.startswith("turns:") and url.endswith("transport=udp"):
                raise ValueError(f"{url}: TURN over TLS runs on TCP (transport=tcp)")
        return urls


class ClusterSettings(Strict):
    """[cluster] — several bridge processes (on one or several machines, behind any
    load balancer) share one PostgreSQL database and a NATS bus (docs/deployment.md,
    "Several bridge processes"). Without this table: one process, in-process events."""

    # NATS server URLs (nats://host:4222); several for a NATS cluster.
    bus: Annotated[list[Annotated[str, Field(pattern=r"^(nats|tls)://[^\s]+$")]],
                   Field(min_length=1)]
    # This process's name, unique among the processes and the same across its restarts
    # (default: host name and port).
    node: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")] | None = None
    # A process that has not written its heartbeat for this long is gone: the seats it
    # held are left (others see them go) unless their clients came back elsewhere.
    heartbeat_s: Annotated[float, Field(gt=0, le=60)] = 3.0
    gone_after_s: Annotated[float, Field(gt=0, le=3600)] = 15.0

    @model_validator(mode="after")
    def gone_after_heartbeats(self) -> ClusterSettings:
        if self.gone_after_s < 3 * self.heartbeat_s:
            raise ValueError("gone_after_s must be at least three heartbeats (heartbeat_s)")
        return self


class CalendarSource(Strict):
    """[[schedule.calendars]] — a room's calendar kept by the school's own system, read
    again every [schedule] refresh_min: an iCalendar URL (https, webcal) or, with
    ``caldav = true``, a CalDAV calendar collection. Credentials come from ``user`` and
    ``password_file``, never in the URL (it is logged and shown to admins)."""

    room: str
    url: Annotated[str, Field(pattern=r"^(https?|webcal)://[^\s]+$")]
    caldav: bool = False
    user: str | None = None
    password_file: Path | None = None

    @model_validator(mode="after")
    def no_secret_in_url(self) -> CalendarSource:
        parts = urlsplit(self.url)
        if parts.username or parts.password:
            raise ValueError("url: no user name or password in the URL; "
                             "give user and password_file")
        if (self.user is None) != (self.password_file is None):
            raise ValueError("user and password_file: give both or neither")
        return self

    @property
    def key(self) -> str:
        return f"{self.room} {self.url}"


class ScheduleSettings(Strict):
    """[schedule] — how often the rooms' calendars are read again."""

    refresh_min: Annotated[float, Field(gt=0, le=24 * 60)] = 15.0
    calendars: list[CalendarSource] = []


class BridgeSettings(Strict):
    state_dir: Path = Path("/var/lib/salon-bridge")
    # SQLAlchemy URL; default: an SQLite file in the state directory.
    database_url: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    server: ServerSettings = ServerSettings()
    janus: JanusSettings = JanusSettings()
    security: SecuritySettings = SecuritySettings()
    companion: CompanionSettings = CompanionSettings()
    tls: TlsSettings | None = None
    proxy: ProxySettings = ProxySettings()
    turn: TurnSettings | None = None
    cluster: ClusterSettings | None = None
    schedule: ScheduleSettings = ScheduleSettings()
    # Rooms and accounts created or updated at every start (the admin CLI does the same).
    rooms: list[RoomSeed] = []
    users: list[UserSeed] = []


    @model_validator(mode="after")
    def cluster_shares_a_database(self) -> BridgeSettings:
        if self.cluster is None:
            return self
        if not (self.database_url or "").startswith("postgresql"):
            raise ValueError("[cluster] needs database_url = 'postgresql+psycopg://…': the "
                             "processes share one PostgreSQL database")
        if self.janus.mode != "remote":
            raise ValueError("[cluster] needs janus.mode = 'remote': the processes share "
                             "the Janus servers of [[janus.servers]]")
        return self
S = TypeVar("S", bound=Strict)


class BridgeConfigError(Exception):
    """The configuration (or a file it names) is wrong: the message says where."""


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
    return _relative_to(settings, path.parent)


def _relative_to(settings: BridgeSettings, base: Path) -> BridgeSettings:
    """Relative file names in [tls], [turn] and [security] mean next to the configuration
    file."""
    update: dict[str, Strict] = {}
    for name in ("tls", "turn", "security"):
        table = getattr(settings, name)
        if table is not None:
            update[name] = _paths_relative_to(table, base)
    calendars = [_paths_relative_to(c, base) for c in settings.schedule.calendars]
    update["schedule"] = settings.schedule.model_copy(update={"calendars": calendars})
    return settings.model_copy(update=update)


def _paths_relative_to(table: S, base: Path) -> S:
    paths = {key: base / value for key, value in table
             if isinstance(value, Path) and not value.is_absolute()}
    return table.model_copy(update=paths) if paths else table


def turn_port(url: str) -> int:
    """The port of a turn:/turns: URL (3478 and 5349 when left out, as RFC 7065 says)."""
    port = urlsplit(url.replace(":", "://", 1)).port
    return port if port is not None else (5349 if url.startswith("turns:") else 3478)


def turn_host(url: str) -> str:
    return urlsplit(url.replace(":", "://", 1)).hostname or ""


def seed_mapping(settings: BridgeSettings) -> dict[str, list[dict[str, object]]]:
    """The rooms and users of the config, as the admin seeding takes them."""
    return {
        "rooms": [r.model_dump(exclude_none=True) for r in settings.rooms],
        "users": [u.model_dump(exclude_none=True) for u in settings.users],
    }
