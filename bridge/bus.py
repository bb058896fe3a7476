"""The message bus between bridge processes: a seam with two sides.

`LocalBus` is the embedded default (one process): a message published is handed to
this process's own handler, nothing leaves it. `NatsBus` speaks to a NATS server
(Debian's `nats-server`, the `nats-py` client; chosen by measurement over Redis
pub/sub and PostgreSQL LISTEN/NOTIFY, docs/performance.md "A bus between bridge
processes"). NATS delivers at most once: what a process misses while disconnected it
reads back from the database (bridge/meetings/outbox.py), told by ``on_reconnect``.

A process hears only the rooms it follows (it holds someone of them): each room has its
own subjects, ``salon.events.<room>`` (numbered room events) and ``salon.live.<room>``
(live media state), the room's address in a NATS-safe token. With a balancer that keeps
a room's people on one process, a room's events then cost only that process
(docs/performance.md "How many bridge processes").
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger("salon.bus")

OnMessage = Callable[[str, bytes], Awaitable[None]]
OnReconnect = Callable[[], Awaitable[None]]
EVENTS, LIVE = "events", "live"  # the two kinds of a room's subjects
FOLLOW_CONFIRM_S = 2  # a join waits at most this long for the bus to confirm its room


def room_subject(kind: str, room: str) -> str:
    """``salon.<kind>.<room>``: base64url without padding keeps any address (dots,
    spaces, Turkish letters) one NATS token."""
    token = base64.urlsafe_b64encode(room.encode()).rstrip(b"=").decode()
    return f"salon.{kind}.{token}"


def subject_kind(subject: str) -> str:
    return subject.split(".")[1]


class Bus(Protocol):
    async def start(self, on_message: OnMessage, on_reconnect: OnReconnect) -> None:
        """Connect; ``on_reconnect``: after any interruption (resync)."""

    async def follow(self, room: str) -> None:
        """Hear the room's subjects; returns once the server has the subscription, so
        anything published after that reaches this process."""

    async def unfollow(self, room: str) -> None: ...

    async def publish(self, subject: str, data: bytes) -> None: ...

    async def close(self) -> None: ...


class LocalHub:
    """Buses in one process that hear each other (several bridges in one test)."""

    def __init__(self) -> None:
        self.buses: list[LocalBus] = []


class LocalBus:
    """In this process: what is published reaches every bus of the same hub (by
    default only this one) that follows its room, at once, in order."""

    def __init__(self, hub: LocalHub | None = None) -> None:
        self.hub = hub or LocalHub()
        self._subjects: set[str] = set()
        self._on_message: OnMessage | None = None

    async def start(self, on_message: OnMessage, on_reconnect: OnReconnect) -> None:
        self._on_message = on_message
        self.hub.buses.append(self)

    async def follow(self, room: str) -> None:
        self._subjects |= {room_subject(EVENTS, room), room_subject(LIVE, room)}

    async def unfollow(self, room: str) -> None:
        self._subjects -= {room_subject(EVENTS, room), room_subject(LIVE, room)}

    async def publish(self, subject: str, data: bytes) -> None:
        for bus in list(self.hub.buses):
            if subject in bus._subjects:
                await bus.deliver(subject, data)

    async def deliver(self, subject: str, data: bytes) -> None:
        """As the network would hand it over."""
        if self._on_message is not None:
            await self._on_message(subject, data)

    async def close(self) -> None:
        if self in self.hub.buses:
            self.hub.buses.remove(self)
        self._on_message = None


class NatsBus:
    """A NATS server (or cluster: several URLs). Reconnects for ever; every
    interruption, and a message dropped as a slow consumer, ends in ``on_reconnect``."""

    def __init__(self, urls: list[str], name: str) -> None:
        self.urls = urls
        self.name = name
        self._nc: Any = None
        self._on_reconnect: OnReconnect | None = None
        self._deliver: Callable[[Any], Awaitable[None]] | None = None
        self._subscriptions: dict[str, Any] = {}  # room → its one subscription

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

        self._deliver = deliver

    async def follow(self, room: str) -> None:
        if room in self._subscriptions:
            return
        self._subscriptions[room] = await self._nc.subscribe(  # both kinds: salon.*.<room>
            room_subject("*", room), cb=self._deliver, pending_msgs_limit=1_000_000,
            pending_bytes_limit=1024 * 1024 * 1024)
        # The server has it: what others publish from now on comes here. With the bus
        # down or reconnecting the join goes on (as with one subject for all rooms): the
        # subscription is sent on reconnect and what was missed is read back then.
        try:
            if self._nc.is_connected:
                await self._nc.flush(timeout=FOLLOW_CONFIRM_S)
        except Exception as exc:
            log.warning("bus: the subscription to room %s is not confirmed (%s); what is "
                        "missed meanwhile is read back from the database", room, exc)

    async def unfollow(self, room: str) -> None:
        subscription = self._subscriptions.pop(room, None)
        if subscription is not None:
            await subscription.unsubscribe()

    async def publish(self, subject: str, data: bytes) -> None:
        await self._nc.publish(subject, data)

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()
            self._nc = None


def make_bus(urls: list[str] | None, name: str) -> Bus:
    return NatsBus(urls, name) if urls else LocalBus()
