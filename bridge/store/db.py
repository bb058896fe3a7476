"""The store: one engine, migrated to head before use.

A synchronous engine is used on purpose. The meetings domain runs each action as
one short transaction on a single worker thread (see bridge.meetings.runner),
which makes every action atomic with respect to every other without locks, and
SQLite allows only one writer anyway; an async driver would only add a thread
hop per statement instead of one per action.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bridge.store.migrate import upgrade_to_head

DB_FILE_NAME = "salon.sqlite3"
# How long a transaction waits for another program's write lock on the SQLite file
# before the action is answered `busy` (nothing changed; the client may try again).
BUSY_TIMEOUT_MS = 5000
# SQLite's and PostgreSQL's words for "another transaction holds the lock", and for a
# full disk (PostgreSQL SQLSTATE 55P03 lock_not_available, 53100 disk_full).
LOCKED = ("database is locked", "database table is locked", "55P03")
FULL = ("database or disk is full", "53100")


class StoreUnavailable(Exception):
    """The state directory or the database cannot be used at all (at start-up)."""


class StoreBusy(Exception):
    """Another program held the database's write lock for longer than BUSY_TIMEOUT_MS;
    the transaction was rolled back."""


class StoreFull(Exception):
    """The disk under the database is full; the transaction was rolled back."""


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
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()
    # SQLAlchemy emits BEGIN itself (below), not the sqlite3 module.
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE: the write lock is taken (waiting up to the busy timeout) when the
    # transaction starts. A deferred one that read first could not take it later if
    # another program wrote meanwhile: SQLite fails that at once, busy timeout or not.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _says(exc: OperationalError, words: tuple[str, ...]) -> bool:
    text = f"{exc.orig} {getattr(exc.orig, 'pgcode', '') or ''}"
    return any(w in text for w in words)


def usable_dir(path: Path, what: str) -> None:
    """Make ``path`` and check a file can be written in it, or say clearly why not."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise StoreUnavailable(
            f"cannot use the {what} {path}: {exc.strerror or exc}") from None


def describe_url(url: str) -> str:
    """The database's URL fit for a message: never its password."""
    return make_url(url).render_as_string(hide_password=True)


class Store:
    """Database access for the bridge: sessions over a migrated schema."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        if url.startswith("sqlite:///"):
            usable_dir(Path(url.removeprefix("sqlite:///")).parent, "database directory")
        if migrate:
            try:
                upgrade_to_head(url)
            except OperationalError as exc:
                raise StoreUnavailable(
                    f"cannot open the database {describe_url(url)}: {exc.orig}") from None
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error. A
        lock held too long elsewhere raises StoreBusy, a full disk StoreFull."""
        try:
            with self._sessions() as session, session.begin():
                yield session
        except OperationalError as exc:
            if _says(exc, LOCKED):
                raise StoreBusy(str(exc.orig)) from exc
            if _says(exc, FULL):
                raise StoreFull(str(exc.orig)) from exc
            raise

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
