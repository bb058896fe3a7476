"""The store: one engine, migrated to head before use.

A synchronous engine is used on purpose. The meetings domain runs each action as
one short transaction on a single worker thread (see bridge.meetings.runner),
which makes every action atomic with respect to every other without locks, and
SQLite allows only one writer anyway; an async driver would only add a thread
hop per statement instead of one per action.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from bridge.store.migrate import upgrade_to_head

DB_FILE_NAME = "salon.sqlite3"


def default_url(state_dir: Path) -> str:
    """The SQLite file in the bridge's state directory."""
    return f"sqlite:///{(state_dir / DB_FILE_NAME).resolve()}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer; NORMAL sync is durable across a
    # process crash (only an OS crash may lose the last transactions).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Store:
    """Database access for the bridge: sessions over a migrated schema."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        if migrate:
            upgrade_to_head(url)
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
