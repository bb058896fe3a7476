"""Several bridge processes for tests: PostgreSQL (tests/support/postgres.py), Debian's
`nats-server` and one Janus of their own, the bridges sharing them, and Debian's HAProxy
in front, balancing WebSockets round-robin with no stickiness, or by room. All on
127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bridge.janus.client import JanusConnection, JanusError
from bridge.janus.config import LocalJanusLayout, write_local_janus_config
from bridge.janus.relay import list_remotes
from bridge.janus.server import JanusEndpoint, shared_secret
from bridge.janus.videoroom import ERR_NO_SUCH_ROOM, RoomControl
from tests.support.postgres import postgres_cluster
from tests.support.procs import (
    BridgeProcess,
    Proc,
    RoomSpec,
    UserSpec,
    free_port,
    media_ip,
    wait_until,
)

NATS = shutil.which("nats-server") or "/usr/sbin/nats-server"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
JANUS = shutil.which("janus") or "/usr/bin/janus"


def available() -> str | None:
    """Why a cluster cannot run here, or None."""
    for binary in (NATS, HAPROXY, JANUS):
        if not Path(binary).exists():
            return f"{binary} is not installed (make setup)"
    return None


def listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


class NatsServer(Proc):
    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        super().__init__([NATS, "-a", "127.0.0.1", "-p", str(self.port)],
                         workdir / "nats.log")
        wait_until(lambda: listening(self.port), 20, "nats-server")

    def restart(self) -> None:
        """Stopped and started again on the same port (every client is disconnected)."""
        self.stop()
        super().__init__([NATS, "-a", "127.0.0.1", "-p", str(self.port)],
                         self.log_path.with_name("nats-2.log"))
        wait_until(lambda: listening(self.port), 20, "nats-server again")


class JanusProcess(Proc):
    """A Janus the bridges share (janus.mode = "remote")."""

    def __init__(self, workdir: Path) -> None:
        self.layout: LocalJanusLayout = write_local_janus_config(
            workdir, free_port(), free_port(), media_ip(), "30000-32000")
        super().__init__([JANUS, "-F", str(workdir), "-C", str(self.layout.config_file)],
                         workdir / "janus.log")
        wait_until(lambda: listening(self.layout.ws_port), 30, "janus")

    def toml(self) -> str:
        """The bridges' [janus] keys for it (the secrets in files next to its config)."""
        return 'mode = "remote"\n' + self.server_toml("shared")

    def server_toml(self, name: str) -> str:
        """Its [[janus.servers]] entry, relayed RTP reaching it on the media address."""
        api, key = self.layout.root / "api.secret", self.layout.root / "room-admin.key"
        api.write_text(self.layout.api_secret)
        key.write_text(self.layout.room_admin_key)
        return (f'[[janus.servers]]\nurl = "{self.layout.ws_url}"\n'
                f'name = "{name}"\napi_secret_file = "{api}"\n'
                f'room_admin_key_file = "{key}"\nrelay_host = "{media_ip()}"\n')


class JanusRoom:
    """A room as one of these Janus servers holds it, asked through Janus's own API:
    which of its publishers are relayed there from another server."""

    def __init__(self, janus: JanusProcess, room: str) -> None:
        self.janus, self.room = janus, room
        self.conn: JanusConnection | None = None
        self.control: RoomControl | None = None

    async def open(self) -> None:
        self.conn = JanusConnection(self.janus.layout.ws_url, self.janus.layout.api_secret)
        await self.conn.connect()
        self.control = await RoomControl.attach(await self.conn.create_session(),
                                                self.janus.layout.room_admin_key)

    async def _participants(self) -> list[dict[str, Any]]:
        """The room's participants there; none if the room was never made there."""
        assert self.control is not None
        try:
            data, _ = await self.control.handle.send({"request": "listparticipants",
                                                      "room": self.room})
        except JanusError as exc:
            if exc.code != ERR_NO_SUCH_ROOM:
                raise
            return []
        return list(data.get("participants", []))

    async def remote_publishers(self) -> set[str]:
        """Relayed publishers' ids."""
        return {str(p["id"]) for p in await self._participants() if p.get("remote")}

    async def publishers(self) -> set[str]:
        """Ids of the room's own publishers there (not relayed ones)."""
        return {str(p["id"]) for p in await self._participants()
                if p.get("publisher") and not p.get("remote")}

    async def remotizations(self, feed: str) -> list[str] | None:
        """The names of the feed's forwardings to other servers (Janus's listremotes,
        with the room's secret as bridges of a cluster derive it); None: no such
        publisher there."""
        assert self.control is not None
        layout = self.janus.layout
        secret = shared_secret(JanusEndpoint(layout.ws_url, layout.api_secret,
                                             layout.room_admin_key), self.room)
        return await list_remotes(self.control, self.room, secret, feed)

    async def until_remote(self, expected: set[str], timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            while await self.remote_publishers() != expected:
                await asyncio.sleep(0.2)

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


class HAProxy(Proc):
    """Two front doors to the same bridges, health-checked on /healthz (a dead one is
    skipped within a second), WebSockets passing through: ``ws_url`` deals connections
    out in turn (round robin); ``room_url(room)`` keeps a room's people on one bridge
    (room affinity: a consistent hash of the ``room`` the clients name in the socket's
    address, as docs/deployment.md configures it)."""

    def __init__(self, workdir: Path, backends: list[int]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port, self.affinity_port = free_port(), free_port()
        servers = "".join(f"    server b{i} 127.0.0.1:{port} check\n"
                          for i, port in enumerate(backends, start=1))
        checks = ("    option httpchk GET /healthz\n    option redispatch\n    retries 3\n"
                  "    default-server inter 300ms fall 2 rise 2 on-marked-down shutdown-sessions\n")
        config = workdir / "haproxy.cfg"
        config.write_text(
            "global\n    maxconn 4000\n"
            "defaults\n    mode http\n    timeout connect 2s\n    timeout client 1h\n"
            "    timeout server 1h\n    timeout tunnel 1h\n"
            f"frontend salon\n    bind 127.0.0.1:{self.port}\n    default_backend bridges\n"
            f"frontend salon_rooms\n    bind 127.0.0.1:{self.affinity_port}\n"
            "    default_backend rooms\n"
            f"backend bridges\n    balance roundrobin\n{checks}{servers}"
            f"backend rooms\n    balance url_param room\n    hash-type consistent\n"
            f"{checks}{servers}")
        super().__init__([HAPROXY, "-db", "-f", str(config)], workdir / "haproxy.log")
        wait_until(lambda: listening(self.port) and listening(self.affinity_port), 20,
                   "haproxy")

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def room_url(self, room: str) -> str:
        return f"ws://127.0.0.1:{self.affinity_port}/ws?{urlencode({'room': room})}"


@dataclass
class Cluster:
    database_url: str
    nats: NatsServer
    janus: JanusProcess
    bridges: list[BridgeProcess] = field(default_factory=list)
    januses: list[JanusProcess] = field(default_factory=list)  # janus first
    proxy: HAProxy | None = None


HOST = UserSpec("ogretmen", "ogretmen-parola", role="host", display_name="Öğretmen")


@contextlib.contextmanager
def bridge_cluster(tmp: Path, rooms: tuple[RoomSpec, ...], processes: int = 2,
                   users: tuple[UserSpec, ...] = (HOST,), extra: str = "",
                   janus_names: tuple[str, ...] = (), janus_extra: str = ""
                   ) -> Iterator[Cluster]:
    """``processes`` bridges on one PostgreSQL, one NATS and one Janus, behind HAProxy.
    The first bridge migrates the database before the others start. ``janus_names``:
    as many Janus servers of these names instead, ``janus_extra`` more [janus] keys."""
    with postgres_cluster() as url:
        nats = NatsServer(tmp / "nats")
        januses: list[JanusProcess] = []
        cluster: Cluster | None = None
        try:
            for name in janus_names or ("shared",):
                januses.append(JanusProcess(tmp / f"janus-{name}"
                                            if janus_names else tmp / "janus"))
            janus = januses[0]
            cluster = Cluster(url, nats, janus, januses=januses)
            janus_toml = (janus.toml() if not janus_names else
                          'mode = "remote"\n' + janus_extra + "".join(
                              j.server_toml(n) for j, n in zip(januses, janus_names,
                                                               strict=True)))
            # One files directory for all, as docs/deployment.md asks (here a symlink).
            (tmp / "shared-files").mkdir(parents=True, exist_ok=True)
            for i in range(1, processes + 1):
                (tmp / f"bridge-{i}" / "bridge-state").mkdir(parents=True, exist_ok=True)
                (tmp / f"bridge-{i}" / "bridge-state" / "files").symlink_to(
                    tmp / "shared-files")
                cluster.bridges.append(BridgeProcess(
                    tmp / f"bridge-{i}", room_specs=rooms, users=users, janus_toml=janus_toml,
                    extra_toml=(f'database_url = "{url}"\n[cluster]\n'
                                f'bus = ["{nats.url}"]\nnode = "bridge-{i}"\n'
                                'heartbeat_s = 0.5\ngone_after_s = 3\n'
                                # No refill within a test: a limit reached stays reached.
                                f'{extra}[security.sign_in]\naccount_refill_s = 3600\n')))
            cluster.proxy = HAProxy(tmp / "haproxy", [b.port for b in cluster.bridges])
            yield cluster
        finally:
            started = [cluster.proxy, *cluster.bridges] if cluster is not None else []
            for proc in [*started, *reversed(januses), nats]:
                if proc is not None:
                    proc.stop()


