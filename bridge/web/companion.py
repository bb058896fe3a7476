"""Phone companions: short-lived codes that let a phone act for a room appliance (raise
or lower the hand, answer a poll, chat, download a file) without taking its seat.

A code is valid for ``ttl_s`` (15 minutes unless the bridge's config says otherwise)
and only while the room it was issued to is connected and admitted: it is revoked the
moment the room leaves the meeting. A phone's session ends with its code: the bridge
closes it when the code expires and refuses whatever it sends after that.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from bridge.store.grants import GrantBook

TTL_S = 15 * 60
CODE_BYTES = 18


@dataclass(frozen=True)
class Grant:
    participant: int
    room: str
    expires: float


class CompanionCodes:
    """The codes this bridge issued: in memory, or with ``book`` (several processes) in
    the database, where every process finds them (then on the wall clock). Called
    through the domain's worker (``bridge.runner.call``): the database is I/O."""

    def __init__(self, clock: object = time.monotonic, ttl_s: float = TTL_S,
                 book: GrantBook | None = None) -> None:
        self._clock = time.time if book is not None else clock
        self.ttl_s = ttl_s
        self.book = book
        self._grants: dict[str, Grant] = {}

    def now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    def issue(self, participant: int, room: str) -> str:
        code = secrets.token_urlsafe(CODE_BYTES)
        grant = Grant(participant, room, self.now() + self.ttl_s)
        if self.book is not None:
            self.book.add(code, participant, room, grant.expires, self.now())
            return code
        self._expire()
        self._grants[code] = grant
        return code

    def check(self, code: str, room: str | None = None) -> Grant | None:
        grant = self._grants.get(code) if self.book is None else self._stored(code)
        if grant is None or grant.expires < self.now():
            return None
        if room is not None and grant.room != room:
            return None
        return grant

    def _stored(self, code: str) -> Grant | None:
        assert self.book is not None
        row = self.book.find(code)
        return None if row is None else Grant(row.participant, row.scope, row.expires)

    def seconds_left(self, grant: Grant) -> float:
        return max(0.0, grant.expires - self.now())

    def revoke(self, participant: int) -> None:
        if self.book is not None:
            self.book.revoke(participant)
            return
        self._grants = {c: g for c, g in self._grants.items() if g.participant != participant}

    def _expire(self) -> None:
        now = self.now()
        self._grants = {c: g for c, g in self._grants.items() if g.expires >= now}
