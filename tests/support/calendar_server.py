"""The school's calendar export for tests: an .ics served on 127.0.0.1 (inside the test's
namespace) whose text can change, or which can be down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp.web


class CalendarServer:
    def __init__(self, text: str = "") -> None:
        self.text = text
        self.down = False
        self.requests = 0
        self.authorizations: list[str] = []  # each request's Authorization header ("" if none)

    async def serve(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        self.requests += 1
        self.authorizations.append(request.headers.get("Authorization", ""))
        if self.down:
            return aiohttp.web.Response(status=503, text="bakımda")
        return aiohttp.web.Response(text=self.text, content_type="text/calendar")


@asynccontextmanager
async def serving(server: CalendarServer, path: str) -> AsyncIterator[str]:
    """Serve `server` at `path` on a free port; yields the calendar's URL."""
    app = aiohttp.web.Application()
    app.router.add_get(path, server.serve)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}{path}"
    finally:
        await runner.cleanup()
