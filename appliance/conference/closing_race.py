"""A connection closed while aiortc was still connecting it: logged as what it is.

aiortc (1.16) connects a PeerConnection in a task of its own that nobody awaits. If the
connection is closed while that task is in the DTLS handshake of its first transport,
the task goes on to the next m-line, finds the shared ICE transport closed and ends
with ``InvalidStateError("RTCIceTransport is closed")``; asyncio then logs "Task
exception was never retrieved" with a traceback at ERROR, once per such close. Closing
a connection that is still connecting is normal here (the room leaves, a link profile
changes, a peer is rebuilt instead of an ICE restart), so the event loop is told to log
that one case as a single INFO line; every other unretrieved exception still reaches
asyncio's default handler.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiortc.exceptions import InvalidStateError

log = logging.getLogger(__name__)

# aiortc's private connect coroutine, by its qualified name (name-mangled attribute).
CONNECT_TASK = "RTCPeerConnection.__connect"


def is_closed_while_connecting(context: dict[str, Any]) -> bool:
    """Whether an event-loop error report is aiortc's connect task meeting a closed
    transport."""
    future = context.get("future")
    if not isinstance(future, asyncio.Task):
        return False
    coro = future.get_coro()
    name = getattr(coro, "__qualname__", "")
    return name == CONNECT_TASK and isinstance(context.get("exception"), InvalidStateError)


def handle_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    if is_closed_while_connecting(context):
        log.info("a connection was closed while it was still connecting (%s)",
                 context["exception"])
        return
    loop.default_exception_handler(context)


def install(loop: asyncio.AbstractEventLoop) -> None:
    """Route the event loop's error reports through ``handle_loop_error``."""
    loop.set_exception_handler(handle_loop_error)
