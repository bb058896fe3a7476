"""Web hardening of the bridge: who the client is (through `web.proxy`), which pages may open
the WebSocket (Origin), the headers every response carries (CSP, no framing), and who
may read /healthz's detail. Settings: ``[security]`` (bridge/config.py,
docs/operations.md "Bridge security")."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import hdrs, web

from bridge.config import BridgeConfigError, BridgeSettings
from bridge.web.proxy import Network, client_address, is_trusted, tcp_peer

log = logging.getLogger("salon.security")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

# The web client is plain ES modules and stylesheets from /static: nothing inline, no
# eval, no framing by anyone (its mute and hand buttons must not be clickjacked).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _ip(text: str | None) -> IPAddress | None:
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL or an Origin header; None if it is not one."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        return None
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


class WebSecurity:
    def __init__(self, settings: BridgeSettings) -> None:
        sec = settings.security
        self.trusted: tuple[Network, ...] = tuple(settings.proxy.trusted)
        configured = [settings.server.public_url] if settings.server.public_url else []
        configured += sec.allowed_origins
        self.origins = {o for o in map(_origin, configured) if o is not None}
        self.health_token = _read_token(sec.health_token_file)

    # ---- who is asking -----------------------------------------------------------

    def is_trusted_proxy(self, peer: str | None) -> bool:
        return is_trusted(peer, self.trusted)

    def client_address(self, request: web.BaseRequest) -> str:
        """The client's address: the TCP peer's, or, when the peer is a trusted proxy, the
        nearest address in X-Forwarded-For that is not a trusted proxy itself."""
        forwarded_for = ",".join(request.headers.getall(hdrs.X_FORWARDED_FOR, ()))
        return client_address(tcp_peer(request), forwarded_for, self.trusted) or "?"

    # ---- which pages may open the WebSocket -------------------------------------------

    def origin_allowed(self, request: web.BaseRequest) -> bool:
        """Browsers always send Origin on a WebSocket handshake, so a missing one is not a
        web page (the appliance, scripts): allowed. A page's origin must be a configured
        one (server.public_url, security.allowed_origins) or, with none configured, the
        host the page connects to."""
        header = request.headers.get(hdrs.ORIGIN)
        if header is None:
            return True
        origin = _origin(header)
        if origin is None:  # "null" (sandboxed frames, file:), or nonsense
            return False
        if self.origins:
            return origin in self.origins
        here = _origin(f"{origin[0]}://{request.host}")
        return here == origin

    # ---- /healthz detail --------------------------------------------------------------

    def may_see_detail(self, request: web.BaseRequest) -> bool:
        """Local callers (loopback, not relayed by an untrusted proxy) and callers with the
        configured health token see /healthz's detail; others only its status."""
        if self.health_token is not None:
            given = request.headers.get(hdrs.AUTHORIZATION, "").removeprefix("Bearer ").strip()
            if given and hmac.compare_digest(given.encode(), self.health_token.encode()):
                return True
        relayed = (hdrs.X_FORWARDED_FOR in request.headers or hdrs.FORWARDED in request.headers)
        if relayed and not self.is_trusted_proxy(tcp_peer(request)):
            return False  # a proxy we were not told about: everyone would look local
        ip = _ip(self.client_address(request))
        return ip is not None and ip.is_loopback


def _read_token(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        cause = getattr(exc, "strerror", None) or str(exc)
        raise BridgeConfigError(f"security.health_token_file: {path}: cannot read: {cause}"
                                ) from None
    if not token:
        raise BridgeConfigError(f"security.health_token_file: {path}: is empty")
    return token


async def add_security_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, errors and the WebSocket handshake included."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def refuse_origin(request: web.BaseRequest, address: str) -> web.Response:
    log.warning("refused a WebSocket from %s: page origin %r is not this bridge's", address,
                request.headers.get(hdrs.ORIGIN), extra={"EVENT": "origin-refused"})
    return web.json_response({"code": "bad_origin", "message":
                              "this page's origin may not open the bridge's WebSocket"},
                             status=403)
