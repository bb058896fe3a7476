"""Who an HTTP request acts for, with no secret in any URL.

The seat's token resumes a seat with all its rights, so it travels only in an
``Authorization: Bearer`` header (a phone companion sends ``Authorization: Companion
<code>``). A download the browser itself must fetch (a file, a report's CSV) carries a
*ticket* instead: minted with ``POST /api/tickets`` for one path, good for one request
within ``TTL_S``, so what lands in a shared PC's history or download list opens nothing.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import hdrs, web
from yarl import URL

from bridge.store.grants import GrantBook

if TYPE_CHECKING:
    from bridge.web.app import Bridge

TTL_S = 60.0
TICKET_BYTES = 24
MAX_OUTSTANDING = 10_000  # tickets minted and not yet used or expired, all clients
# What a ticket may open: downloads a browser fetches by itself (JSON goes with a header).
DOWNLOADS = re.compile(r"/api/files/\d{1,18}|/api/reports/(\d{1,18}|current)")


@dataclass(frozen=True)
class Ticket:
    participant: int
    resource: str
    expires: float


def resource_of(url: URL) -> str:
    """A path and its query, the ticket left out, in one canonical form."""
    query = sorted((k, v) for k, v in url.query.items() if k != "ticket")
    return str(URL.build(path=url.path, query=query))


class DownloadTickets:
    """Single-use tickets: in this process's memory, or with ``book`` (several
    processes) in the database, so a ticket minted on one process opens its download on
    any (then on the wall clock). Called through the domain's worker
    (``bridge.runner.call``): the database is I/O."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, ttl_s: float = TTL_S,
                 book: GrantBook | None = None) -> None:
        self._clock = time.time if book is not None else clock
        self.ttl_s = ttl_s
        self.book = book
        self._tickets: dict[str, Ticket] = {}

    def issue(self, participant: int, resource: str) -> str:
        now = self._clock()
        ticket = secrets.token_urlsafe(TICKET_BYTES)
        if self.book is not None:
            self.book.add(ticket, participant, resource, now + self.ttl_s, now)
            return ticket
        if len(self._tickets) >= MAX_OUTSTANDING:
            self._tickets = {k: t for k, t in self._tickets.items() if t.expires >= now}
            while len(self._tickets) >= MAX_OUTSTANDING:  # still full: the oldest go
                del self._tickets[next(iter(self._tickets))]
        self._tickets[ticket] = Ticket(participant, resource, now + self.ttl_s)
        return ticket

    def redeem(self, ticket: str, resource: str) -> int | None:
        """The participant the ticket was minted for, once; None if unknown, used, expired
        or minted for another resource (it is spent all the same)."""
        if self.book is not None:
            row = self.book.take(ticket)
            found = None if row is None else Ticket(row.participant, row.scope, row.expires)
        else:
            found = self._tickets.pop(ticket, None)
        if found is None or found.expires < self._clock() or found.resource != resource:
            return None
        return found.participant


async def participant(bridge: Bridge, request: web.Request) -> int:
    """The participant an HTTP request acts for: a seat's bearer token, a companion's code,
    or a download ticket for exactly this resource."""
    scheme, _, credential = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    credential = credential.strip()
    if scheme == "Companion" and credential:
        grant = await bridge.runner.call(bridge.companion_codes.check, credential)
        if grant is None:
            raise web.HTTPUnauthorized(text="this companion link has expired")
        return grant.participant
    if scheme == "Bearer" and credential:
        pid = await bridge.runner.call(bridge.meetings.participant_for_token, credential)
        if pid is None:
            raise web.HTTPUnauthorized(text="this room session is no longer valid")
        return int(pid)
    ticket = request.query.get("ticket")
    if ticket:
        found = await bridge.runner.call(bridge.tickets.redeem, ticket,
                                         resource_of(request.rel_url))
        if found is None:
            raise web.HTTPUnauthorized(text="this download link was used or has expired; "
                                            "press the button again")
        return found
    raise web.HTTPUnauthorized(text="a room session is needed (Authorization header)")


def add_ticket_api(app: web.Application, bridge: Bridge) -> None:
    async def mint(request: web.Request) -> web.Response:
        """``POST /api/tickets {"path": "/api/files/7"}`` → ``{"url", "expires_in_s"}``."""
        pid = await participant(bridge, request)
        try:
            body = await request.json()
            target = URL(str(body["path"]))
        except (ValueError, TypeError, KeyError):
            raise web.HTTPBadRequest(text='send JSON {"path": "/api/files/<id>"}') from None
        if target.is_absolute() or not DOWNLOADS.fullmatch(target.path):
            raise web.HTTPBadRequest(text=f"no download ticket for {target.path!r}: only "
                                          "/api/files/<id> and /api/reports/<id|current>")
        ticket = await bridge.runner.call(bridge.tickets.issue, pid, resource_of(target))
        url = target.with_query(sorted({**target.query, "ticket": ticket}.items()))
        return web.json_response({"url": str(url), "expires_in_s": bridge.tickets.ttl_s},
                                 headers={"Cache-Control": "no-store"})

    app.router.add_post("/api/tickets", mint)
