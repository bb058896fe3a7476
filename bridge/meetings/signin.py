"""Sign-in (Oturum Aç) abuse: throttling failed attempts, and bounding the argon2 work.

Failed sign-ins are counted by client address and by (address, account), never by
account alone: a stranger who keeps guessing a host's password throttles only their own
address, and the host signing in from anywhere else is not affected. An address that
sprays many user names runs out of its own budget.

The counts live behind `SignInLedger`, a small seam: today `MemoryLedger` keeps them in
this process; a later bridge that runs as several processes shares them through a
database or a bus by putting another ledger in its place.

`SignInGate` bounds the password checks themselves: a few at once on their own threads
(argon2 releases the GIL), at a lower CPU priority than the event loop, a bounded number
waiting per address and in all; beyond that a sign-in is refused at once, not queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from bridge.meetings.effects import Refusal
from bridge.meetings.ratelimit import Buckets, address_key

R = TypeVar("R")

BUSY = Refusal("sign_in_busy", "sign in: the server is busy; try again in a moment")
THROTTLED = Refusal("sign_in_throttled", "sign in: too many failed attempts, wait a minute")


@dataclass(frozen=True)
class SignInLimits:
    address_failures: int = 20  # failed sign-ins from one address (any names), then
    address_refill_s: float = 6.0  # one more every this many seconds
    account_failures: int = 5  # failed sign-ins from one address for one account, then
    account_refill_s: float = 12.0


class SignInLedger(Protocol):
    """Where failed sign-ins are counted. Thread-safe; time is passed in."""

    def allowed(self, address: str, account: str, now: datetime) -> bool:
        """Whether a sign-in from ``address`` as ``account`` may be checked now."""

    def failed(self, address: str, account: str, now: datetime) -> None:
        """A sign-in was checked and was wrong (unknown name, wrong password, disabled)."""

    def succeeded(self, address: str, account: str, now: datetime) -> None:
        """A sign-in was right: that address's failures for that account are forgotten."""


class BucketSet(Protocol):
    """Token buckets by key (ratelimit.Buckets, or kept in the database)."""

    def take(self, key: object, now: datetime) -> bool: ...
    def available(self, key: object, now: datetime) -> bool: ...
    def forget(self, key: object) -> None: ...


MakeBuckets = Callable[[float, float], BucketSet]


class MemoryLedger:
    """`SignInLedger` in this process's memory (token buckets, self-pruning)."""

    def __init__(self, limits: SignInLimits, buckets: MakeBuckets = Buckets) -> None:
        # ``buckets``: where the counts are kept (outbox.StoredBuckets: shared by processes).
        self.by_address = buckets(limits.address_failures, 1 / limits.address_refill_s)
        self.by_account = buckets(limits.account_failures, 1 / limits.account_refill_s)

    def allowed(self, address: str, account: str, now: datetime) -> bool:
        key = address_key(address)
        return (self.by_address.available(key, now)
                and self.by_account.available((key, account), now))

    def failed(self, address: str, account: str, now: datetime) -> None:
        key = address_key(address)
        self.by_address.take(key, now)
        self.by_account.take((key, account), now)

    def succeeded(self, address: str, account: str, now: datetime) -> None:
        self.by_account.forget((address_key(address), account))


HASHING_NICENESS = 10


def _yield_cpu_to_the_room() -> None:
    """A hashing thread runs at a lower priority (Linux: per thread, and inherited by the
    threads argon2 starts for its lanes): the event loop and the meetings, which every
    participant waits on, get the CPU first; sign-ins wait a little longer instead."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


def default_concurrency() -> int:
    """Half the cores, at least one: the event loop and the meetings keep the rest."""
    return max(1, (os.cpu_count() or 2) // 2)


class SignInGate:
    """Runs password checks on ``concurrency`` threads of their own. At most
    ``pending_per_address`` sign-ins from one address and ``pending_max`` in all wait or
    run; more get `sign_in_busy` at once. One address never has more checks handed to the
    threads than there are threads, so others' sign-ins are not stuck behind its flood."""

    def __init__(self, concurrency: int = 0, pending_per_address: int = 16,
                 pending_max: int = 256) -> None:
        self.concurrency = concurrency or default_concurrency()
        self.pending_per_address = pending_per_address
        self.pending_max = pending_max
        self._executor = ThreadPoolExecutor(max_workers=self.concurrency,
                                            thread_name_prefix="salon-sign-in",
                                            initializer=_yield_cpu_to_the_room)
        self._pending: Counter[str] = Counter()
        self._turns: dict[str, asyncio.Semaphore] = {}

    @property
    def pending(self) -> int:
        return self._pending.total()

    async def run(self, address: str, check: Callable[[], R]) -> R | Refusal:
        address = address_key(address)
        if self.pending >= self.pending_max or self._pending[address] >= self.pending_per_address:
            return BUSY
        self._pending[address] += 1
        turn = self._turns.setdefault(address, asyncio.Semaphore(self.concurrency))
        try:
            async with turn:
                return await asyncio.get_running_loop().run_in_executor(self._executor, check)
        finally:
            self._pending[address] -= 1
            if self._pending[address] <= 0:  # nobody of that address waits on its turn
                del self._pending[address]
                self._turns.pop(address, None)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
