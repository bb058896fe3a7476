"""Token buckets: a burst of `capacity`, then `rate` per second. Time is passed in."""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass
from datetime import datetime


@dataclass
class TokenBucket:
    capacity: float
    rate: float  # tokens per second
    tokens: float
    updated: datetime

    def take(self, now: datetime) -> bool:
        elapsed = max(0.0, (now - self.updated).total_seconds())
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def full(self, now: datetime) -> bool:
        elapsed = max(0.0, (now - self.updated).total_seconds())
        return self.tokens + elapsed * self.rate >= self.capacity


class Buckets:
    """One bucket per key (a participant, a user name); thread-safe, self-pruning."""

    def __init__(self, capacity: float, rate: float, *, prune_at: int = 10_000) -> None:
        self.capacity = capacity
        self.rate = rate
        self._buckets: dict[object, TokenBucket] = {}
        self._lock = threading.Lock()
        self._prune_at = prune_at

    def take(self, key: object, now: datetime) -> bool:
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self._prune_at:
                    self._prune(now)
                bucket = TokenBucket(self.capacity, self.rate, self.capacity, now)
                self._buckets[key] = bucket
            return bucket.take(now)

    def available(self, key: object, now: datetime) -> bool:
        """Whether `take` would succeed now, without taking."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                return True
            elapsed = max(0.0, (now - bucket.updated).total_seconds())
            return bucket.tokens + elapsed * bucket.rate >= 1.0

    def forget(self, key: object) -> None:
        with self._lock:
            self._buckets.pop(key, None)

    def _prune(self, now: datetime) -> None:
        # A full bucket carries no information: dropping it changes nothing.
        for key in [k for k, b in self._buckets.items() if b.full(now)]:
            del self._buckets[key]


IPV6_CLIENT_PREFIX = 64


def address_key(address: str) -> str:
    """What limits per client address count by: an IPv4 address (also when IPv4-mapped),
    or an IPv6 address's /64 — one household or host gets a whole /64 and could otherwise
    pick a fresh address for every attempt."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)
