"""The room's ICE servers: the TURN server the bridge names (never a public STUN server),
which of its URLs the next PeerConnection uses, and which path media took.

aiortc (aioice) uses one TURN URL per PeerConnection, where a browser uses them all.
The room takes the one most likely to pass a school's firewall first — TURN over TLS,
then over TCP, then over UDP — and, when a PeerConnection fails without ever
connecting, the next one for the rebuilt connection. A relay over TCP costs nothing
when UDP is open: the direct path has the higher ICE priority and is chosen; the relay
carries media only where the direct path is blocked.
"""

from __future__ import annotations

import logging
import ssl

from aioice import Connection
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer, RTCPeerConnection

from salon import protocol as p

log = logging.getLogger("salon.ice")


def _rank(url: str) -> int:
    if url.startswith("turns:"):
        return 0
    return 1 if url.endswith("transport=tcp") else 2


class IceChoice:
    """The ICE configuration for the room's next PeerConnection."""

    def __init__(self, turn_tls: ssl.SSLContext | None = None) -> None:
        self.turn_tls = turn_tls
        self._servers: list[tuple[str, p.IceServer]] = []  # (url, its server), best first
        self._index = 0

    def update(self, servers: list[p.IceServer]) -> None:
        """New servers from the bridge (a welcome, or fresh credentials): keep the URL in
        use if it is still offered."""
        current = self.url
        urls = [(url, s) for s in servers for url in s.urls if url.startswith(("turn:",
                                                                                "turns:"))]
        self._servers = sorted(urls, key=lambda pair: _rank(pair[0]))
        known = [url for url, _ in self._servers]
        self._index = known.index(current) if current in known else 0

    @property
    def url(self) -> str | None:
        return self._servers[self._index][0] if self._servers else None

    def never_connected(self, url: str | None) -> None:
        """A PeerConnection using ``url`` failed before it ever connected: the next one
        tries the next URL (once it is the one in use)."""
        if url is None or url != self.url or len(self._servers) < 2:
            return
        self._index = (self._index + 1) % len(self._servers)
        log.warning("no media path through %s; trying %s next", url, self.url,
                    extra={"EVENT": "ice-next-turn"})

    def new_peer_connection(self) -> tuple[RTCPeerConnection, str | None]:
        """A PeerConnection for talking to Janus, and the TURN URL it uses.

        MAX_BUNDLE because Janus bundles everything, and aiortc 1.16 under its default
        BALANCED policy strands the second video m-line of an offer on a transport that
        BUNDLE then abandons. No server at all without the bridge's: aiortc's default
        would reach out to a public STUN server.
        """
        servers = []
        if self._servers:
            url, server = self._servers[self._index]
            servers.append(RTCIceServer(urls=[url], username=server.username,
                                        credential=server.credential))
        config = RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        return RTCPeerConnection(config), self.url

    def before_gathering(self, pc: RTCPeerConnection) -> None:
        """TURN over TLS checks the server's certificate against the room's trust (aioice
        would take the system's CAs alone). Call once the transports exist, before the
        local description is set (that is when candidates are gathered)."""
        if self.turn_tls is None:
            return
        for connection in _ice_connections(pc):
            if connection.turn_ssl is True:
                # aioice hands this to create_connection(ssl=...), which takes a context.
                connection.turn_ssl = self.turn_tls  # type: ignore[assignment]


def _ice_connections(pc: RTCPeerConnection) -> list[Connection]:
    seen, out = set(), []
    for t in pc.getTransceivers():
        transport = t.receiver.transport
        if transport is None or id(transport) in seen:
            continue
        seen.add(id(transport))
        # aiortc keeps the aioice Connection on the gatherer, its one private attribute here.
        out.append(transport.transport.iceGatherer._connection)
    return out


def media_path(pc: RTCPeerConnection | None) -> str | None:
    """"direct" or "relay/udp|tcp|tls": the candidate pair ICE chose (None: none yet)."""
    if pc is None:
        return None
    for connection in _ice_connections(pc):
        pair = connection._nominated.get(1)
        if pair is None:
            continue
        if pair.local_candidate.type != "relay":
            return "direct"
        if connection.turn_ssl:
            return "relay/tls"
        return f"relay/{connection.turn_transport}"
    return None
