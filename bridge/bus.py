"""The message bus between bridge processes: a seam with two sides.

`LocalBus` is the embedded default (one process): a message published is handed to
this process's own handler, nothing leaves it. `NatsBus` speaks to a NATS server
(Debian's `nats-server`, the `nats-py` client; chosen by measurement over Redis
pub/sub and PostgreSQL LISTEN/NOTIFY, docs/performance.md "A bus between bridge
processes"). NATS delivers at most once: what a process misses while disconnected it
reads back from the database (bridge/meetings/outbox.py), told by ``on_reconnect``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger("salon.bus")

OnMessage = Callable[[str, bytes], Awaitable[None]]
OnReconnect = Callable[[], Awaitable[None]]
SUBJECTS = ("salon.events", "salon.live")  # numbered room events; live media state


class Bus(Protocol):
    async def start(self, on_message: OnMessage, on_reconnect: OnReconnect) -> None:
        """Subscribe to SUBJECTS; ``on_reconnect``: after any interruption (resync)."""

    async def publish(self, subject: str, data: bytes) -> None: ...

    async def close(self) -> None: ...


class LocalHub:
    """Buses in one process that hear each other (several bridges in one test)."""

    def __init__(self) -> None:
        self.handlers: list[OnMessage] = []


class LocalBus:
    """In this process: what is published reaches every bus of the same hub (by
    default only this one) at once, in order."""

    def __init__(self, hub: LocalHub | None = None) -> None:
        self.hub = hub or LocalHub()
        self._on_message: OnMessage | None = None

    async def start(self, on_message: OnMessage, on_reconnect: OnReconnect) -> None:
        self._on_message = on_message
        self.hub.handlers.append(on_message)

    async def publish(self, subject: str, data: bytes) -> None:
        for handler in list(self.hub.handlers):
            await handler(subject, data)

    async def close(self) -> None:
        if self._on_message in self.hub.handlers:
            self.hub.handlers.remove(self._on_message)
        self._on_message = None


class NatsBus:
    """A NATS server (or cluster: several URLs). Reconnects for ever; every
    interruption, and a message dropped as a slow consumer, ends in ``on_reconnect``."""

    def __init__(self, urls: list[str], name: str) -> None:
        self.urls = urls
        self.name = name
        self._nc: Any = None
        self._on_reconnect: OnReconnect | None = None

    async def start(self, on_message: OnMessage, on_reconnect: OnReconnect) -> None:
        import nats  # only with several processes (pip: nats-py)
        from nats.errors import SlowConsumerError

        self._on_reconnect = on_reconnect

        async def reconnected() -> None:
            log.warning("bus reconnected; resyncing from the database",
                        extra={"EVENT": "bus-reconnected"})
            await on_reconnect()

        async def disconnected() -> None:
            log.warning("bus disconnected", extra={"EVENT": "bus-disconnected"})

        async def error(exc: Exception) -> None:
            if isinstance(exc, SlowConsumerError):  # messages were dropped: read them back
                log.warning("bus: slow consumer, messages dropped; resyncing")
                await on_reconnect()
            else:
                log.warning("bus error: %s", exc)

        self._nc = await nats.connect(
            servers=self.urls, name=self.name, max_reconnect_attempts=-1,
            reconnect_time_wait=0.5, allow_reconnect=True, no_echo=True,
            reconnected_cb=reconnected,
            disconnected_cb=disconnected, error_cb=error)

        async def deliver(msg: Any) -> None:
            await on_message(msg.subject, msg.data)

        for subject in SUBJECTS:
            await self._nc.subscribe(subject, cb=deliver, pending_msgs_limit=1_000_000,
                                     pending_bytes_limit=1024 * 1024 * 1024)
        await self._nc.flush()

    async def publish(self, subject: str, data: bytes) -> None:
        await self._nc.publish(subject, data)

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()
            self._nc = None


def make_bus(urls: list[str] | None, name: str) -> Bus:
    return NatsBus(urls, name) if urls else LocalBus()
