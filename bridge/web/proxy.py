"""Who the client is when the bridge sits behind a reverse proxy: the client's address and
scheme come from X-Forwarded-For / X-Forwarded-Proto, but only when the TCP peer is a
proxy the configuration trusts (``[proxy] trusted``). Anyone else's headers are ignored,
so a client cannot pass itself off as another address (per-address limits, sign-in
throttling, logs) or as HTTPS. The one place that reads those headers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


def is_trusted(address: str | None, networks: Sequence[Network]) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in net for net in networks)


def client_address(peer: str | None, forwarded_for: str, networks: Sequence[Network]
                   ) -> str | None:
    """The nearest address, from the right, that is not one of our proxies: the hops to
    its left were written by the client itself and prove nothing. A hop a trusted proxy
    wrote that is no address ends the walk at the last good one."""
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    address = peer
    while hops and is_trusted(address, networks):
        ip = _ip(hops.pop())
        if ip is None:
            break
        address = str(ip)
    return address


def tcp_peer(request: web.BaseRequest) -> str | None:
    """The address of the connection itself (a proxy's, when there is one), even after
    `forwarded_middleware` has put the client's address in ``request.remote``."""
    peername = request.transport.get_extra_info("peername") if request.transport else None
    if isinstance(peername, tuple | list) and peername:
        return str(peername[0])
    return request.remote


def forwarded_middleware(networks: Sequence[Network]) -> Middleware:
    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        peer = tcp_peer(request)
        if not networks or not is_trusted(peer, networks):
            return await handler(request)
        forwarded_for = ",".join(request.headers.getall(hdrs.X_FORWARDED_FOR, ()))
        remote = client_address(peer, forwarded_for, networks) or peer or ""
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
        host = request.headers.get("X-Forwarded-Host", "").split(",")[-1].strip()
        return await handler(request.clone(
            remote=remote, scheme=proto if proto in ("http", "https") else request.scheme,
            host=host or request.host))

    return forwarded
