"""The bridge behind a reverse proxy: the client's address and scheme come from
X-Forwarded-For / X-Forwarded-Proto, but only when the connection comes from a proxy the
configuration trusts ([proxy] trusted). Anyone else's headers are ignored, so a client
cannot pass itself off as another address (per-address limits, logs) or as HTTPS.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, ip_address

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware


def _trusted(address: str | None, networks: list[IPv4Network]) -> bool:
    try:
        ip = ip_address(address or "")
    except ValueError:
        return False
    return isinstance(ip, IPv4Address) and any(ip in net for net in networks)


def client_address(remote: str | None, forwarded_for: str, networks: list[IPv4Network]
                   ) -> str | None:
    """The first address, from the right, that is not one of our proxies: the hops to
    its left were written by the client itself and prove nothing."""
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    address = remote
    while hops and _trusted(address, networks):
        address = hops.pop()
    return address


def forwarded_middleware(networks: list[IPv4Network]) -> Middleware:
    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not networks or not _trusted(request.remote, networks):
            return await handler(request)
        remote = client_address(request.remote, request.headers.get("X-Forwarded-For", ""),
                                networks) or request.remote or ""
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
        host = request.headers.get("X-Forwarded-Host", "").split(",")[-1].strip()
        return await handler(request.clone(
            remote=remote, scheme=proto if proto in ("http", "https") else request.scheme,
            host=host or request.host))

    return forwarded
