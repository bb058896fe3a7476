"""TURN for clients behind NAT and firewalls: short-lived credentials per seat, and
coturn's configuration written from the same settings.

coturn's ``use-auth-secret`` (the "TURN REST API" draft): the bridge and coturn share a
secret; a credential is username ``<expiry unix time>:<seat>`` and password
``base64(HMAC-SHA1(secret, username))``. coturn recomputes the password, so nothing is
stored and the bridge never talks to coturn. coturn checks the expiry when an
allocation is made, not while it lives: a call in progress keeps its relay, a client
building a new PeerConnection needs a fresh credential (the bridge sends one before the
old one expires: ``ice_servers``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from pathlib import Path

from bridge.config import (
    BridgeConfigError,
    BridgeSettings,
    TurnSettings,
    turn_host,
    turn_port,
)
from salon import protocol as p


class TurnConfigError(BridgeConfigError):
    pass


def read_secret(path: Path) -> str:
    """The shared secret: the file's first line (at least 16 characters)."""
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise TurnConfigError(f"[turn] secret_file {path}: cannot read: {exc.strerror}") from None
    if len(secret) < 16 or any(c.isspace() or c == "#" for c in secret):
        raise TurnConfigError(f"[turn] secret_file {path}: the secret must be one word of at "
                              "least 16 characters (e.g. `openssl rand -hex 32`)")
    return secret


def credential(secret: str, seat: str, expires_at: int) -> tuple[str, str]:
    """(username, password) for ``seat`` valid until ``expires_at`` (unix seconds)."""
    username = f"{expires_at}:{seat}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


class TurnMinter:
    """Mints the ICE servers an admitted seat is given."""

    def __init__(self, settings: TurnSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.secret = read_secret(settings.secret_file)
        self.clock = clock

    @property
    def refresh_after_s(self) -> float:
        """Send a fresh credential when half of the last one's life has gone."""
        return self.settings.ttl_s / 2

    def ice_servers(self, seat: str) -> list[p.IceServer]:
        expires = int(self.clock()) + self.settings.ttl_s
        username, password = credential(self.secret, seat, expires)
        return [p.IceServer(urls=list(self.settings.urls), username=username,
                            credential=password)]


# ---- coturn's configuration ---------------------------------------------------------------


def _transports(turn: TurnSettings) -> tuple[set[int], set[int], bool, bool]:
    """(plain ports, TLS ports, any UDP, any TCP) named by the URLs."""
    plain, tls, udp, tcp = set(), set(), False, False
    for url in turn.urls:
        if url.startswith("turns:"):
            tls.add(turn_port(url))
            tcp = True
        else:
            plain.add(turn_port(url))
            if url.endswith("transport=tcp"):
                tcp = True
            else:
                udp = True
    return plain, tls, udp, tcp


def allowed_peers(settings: BridgeSettings) -> list[str]:
    turn = settings.turn
    assert turn is not None
    peers = [str(ip) for ip in turn.allowed_peer_ips]
    if not peers:
        janus = settings.janus
        peers = [str(ip) for ip in (janus.media_ip, janus.public_ip) if ip]
    if not peers:
        raise TurnConfigError(
            "[turn] allowed_peer_ips (or [janus] media_ip) must name Janus's address: "
            "coturn relays to Janus only")
    return peers


def coturn_config(settings: BridgeSettings) -> str:
    """coturn's turnserver.conf for [turn] (and [tls]/[janus] where they say more)."""
    turn = settings.turn
    if turn is None:
        raise TurnConfigError("the configuration has no [turn] table")
    plain, tls, udp, tcp = _transports(turn)
    if len(plain) > 1 or len(tls) > 1:
        raise TurnConfigError("[turn] urls: coturn listens on one plain and one TLS port; "
                              f"the URLs name {sorted(plain)} and {sorted(tls)}")
    realm = turn.realm or turn_host(turn.urls[0])
    lines = [
        "# coturn for Salon, written by `salon-bridge turn-config` from the bridge's",
        "# configuration. Regenerate it instead of editing (the secret lives there too).",
        "use-auth-secret",
        f"static-auth-secret={read_secret(turn.secret_file)}",
        f"realm={realm}",
        "fingerprint",
        f"listening-port={next(iter(plain), 3478)}",
    ]
    if tls:
        cert = turn.cert_file or (settings.tls.cert_file if settings.tls else None)
        key = turn.key_file or (settings.tls.key_file if settings.tls else None)
        if cert is None or key is None:
            raise TurnConfigError("[turn] a turns: URL needs cert_file and key_file "
                                  "(in [turn] or [tls])")
        lines += [f"tls-listening-port={next(iter(tls))}", f"cert={cert}", f"pkey={key}",
                  "no-tlsv1", "no-tlsv1_1"]
    else:
        lines.append("no-tls")
    lines.append("no-dtls")
    if not udp:
        lines.append("no-udp")
    if not tcp and not tls:
        lines.append("no-tcp")
    lines += [f"listening-ip={ip}" for ip in turn.listening_ips]
    if turn.relay_ip is not None:
        lines.append(f"relay-ip={turn.relay_ip}")
    if turn.external_ip is not None:
        lines.append(f"external-ip={turn.external_ip}")
    low, high = turn.relay_port_range.split("-")
    lines += [f"min-port={low}", f"max-port={high}"]
    peers = allowed_peers(settings)
    lines += [
        "# Relay to Janus and nowhere else: a credential cannot be used to reach",
        "# anything else from this server (another host, the server's own network).",
        "denied-peer-ip=0.0.0.0-255.255.255.255",
        *(f"allowed-peer-ip={ip}" for ip in peers),
        "no-multicast-peers",
        "no-tcp-relay",  # Janus speaks UDP; clients may reach coturn over TCP/TLS
        "user-quota=12",  # allocations per credential (one seat: 2 peers plus rebuilds)
        "stale-nonce=600",
        "no-cli",
        "simple-log",
    ]
    if any(peer.startswith("127.") for peer in peers):
        lines += ["# Janus has a loopback address: a test network (tests/support/netlab.py).",
                  "allow-loopback-peers"]
    return "\n".join(lines) + "\n"
