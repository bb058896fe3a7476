"""Download tickets and phone-companion codes kept in the database, for several bridge
processes: one minted on a process is good on any (a balancer sends a browser's download
or a phone's request wherever it likes). One process keeps them in memory instead
(bridge/web/tickets.py, bridge/web/companion.py); these are the same books, shared.

Only a code's SHA-256 is stored. Expiry is wall-clock time (the processes' clocks are
kept by NTP); expired rows go as new ones are written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import delete

from bridge.store.db import Store
from bridge.store.models import StoredGrant


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True)
class GrantRow:
    participant: int
    scope: str
    expires: float


class GrantBook:
    """One kind of grant (``"ticket"``, ``"companion"``) in the shared table."""

    def __init__(self, store: Store, kind: str) -> None:
        self.store = store
        self.kind = kind

    def add(self, code: str, participant: int, scope: str, expires: float, now: float
            ) -> None:
        with self.store.transaction() as db:
            db.execute(delete(StoredGrant).where(StoredGrant.expires < now))
            db.add(StoredGrant(code_hash=code_hash(code), kind=self.kind,
                               participant=participant, scope=scope, expires=expires))

    def find(self, code: str) -> GrantRow | None:
        with self.store.transaction() as db:
            row = db.get(StoredGrant, code_hash(code))
            if row is None or row.kind != self.kind:
                return None
            return GrantRow(row.participant, row.scope, row.expires)

    def take(self, code: str) -> GrantRow | None:
        """Found and removed in one statement: of two processes redeeming the same code
        at once, one gets it."""
        with self.store.transaction() as db:
            taken = db.execute(
                delete(StoredGrant)
                .where(StoredGrant.code_hash == code_hash(code), StoredGrant.kind == self.kind)
                .returning(StoredGrant.participant, StoredGrant.scope, StoredGrant.expires)
            ).first()
            return None if taken is None else GrantRow(taken[0], taken[1], taken[2])

    def revoke(self, participant: int) -> None:
        with self.store.transaction() as db:
            db.execute(delete(StoredGrant).where(StoredGrant.kind == self.kind,
                                                 StoredGrant.participant == participant))
