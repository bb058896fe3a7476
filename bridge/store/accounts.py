"""Accounts and rooms: validation, argon2 password hashes, and their rows."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.store.models import Account, Policy, Role, Room

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
ADDRESS = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")  # as bridge/config.py accepts
# A room is served at /<address>: these first path segments belong to the bridge itself
# (bridge/web/app.py's routes, and a few kept for later) and are never room addresses.
RESERVED_ADDRESSES = frozenset(
    {"api", "c", "r", "static", "ws", "healthz", "metrics", "admin", "login", "logout"}
)
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 hashes anything, but nobody needs a megabyte password
MAX_DISPLAY_NAME = 80
MAX_TITLE = 200


class InvalidValue(ValueError):
    """A value an admin or a config file gave is not acceptable; says which and why."""


class Passwords:
    """Hashes and checks passwords with argon2id (argon2-cffi's RFC 9106 defaults).

    Tests pass a cheaper hasher (argon2.profiles.CHEAPEST); hashes made with other
    parameters still verify, and `needs_rehash` tells when to upgrade one.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()

    def hash(self, password: str) -> str:
        check_password_strength(password)
        return self.hasher.hash(password)

    def verify(self, encoded: str, password: str) -> bool:
        try:
            return self.hasher.verify(encoded, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        return self.hasher.check_needs_rehash(encoded)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidValue(f"password: at least {MIN_PASSWORD} characters are needed")
    if len(password) > MAX_PASSWORD:
        raise InvalidValue(f"password: at most {MAX_PASSWORD} characters")


def normalize_username(name: str) -> str:
    username = name.strip().lower()
    if not USERNAME.fullmatch(username):
        raise InvalidValue(
            f"user name {name!r}: use 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter "
            "or digit"
        )
    return username


def normalize_address(address: str) -> str:
    slug = address.strip().strip("/").lower()
    if not ADDRESS.fullmatch(slug):
        raise InvalidValue(
            f"room address {address!r}: use 1-63 of a-z, 0-9, '_' and '-', like 'testbim'"
        )
    if slug in RESERVED_ADDRESSES:
        taken = ", ".join(sorted(RESERVED_ADDRESSES))
        raise InvalidValue(f"room address {address!r}: reserved for the bridge's own pages "
                           f"(these are: {taken})")
    return slug


def clean_text(value: str, field: str, limit: int) -> str:
    """NFC, no control or bidi-override characters, single spaces, 1..limit chars."""
    text = unicodedata.normalize("NFC", value)
    text = "".join(" " if ch.isspace() else ch for ch in text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf"))
    text = " ".join(text.split())
    if not text:
        raise InvalidValue(f"{field}: must not be empty")
    if len(text) > limit:
        raise InvalidValue(f"{field}: at most {limit} characters")
    return text


def _now() -> datetime:
    return datetime.now(UTC)


def find_account(session: Session, username: str) -> Account | None:
    return session.scalar(select(Account).where(Account.username == username.strip().lower()))


def add_account(
    session: Session,
    passwords: Passwords,
    username: str,
    password: str,
    role: Role,
    display_name: str,
) -> Account:
    return add_account_hashed(session, username, passwords.hash(password), role, display_name)


def add_account_hashed(
    session: Session, username: str, password_hash: str, role: Role, display_name: str
) -> Account:
    name = normalize_username(username)
    if find_account(session, name) is not None:
        raise InvalidValue(f"user name {name!r}: already exists")
    account = Account(
        username=name,
        password_hash=password_hash,
        role=Role(role),
        display_name=clean_text(display_name, "display name", MAX_DISPLAY_NAME),
        disabled=False,
        created_at=_now(),
    )
    session.add(account)
    session.flush()
    return account


def set_password(session: Session, passwords: Passwords, username: str, password: str) -> None:
    account = find_account(session, username)
    if account is None:
        raise InvalidValue(f"user name {username!r}: no such user")
    account.password_hash = passwords.hash(password)


def list_accounts(session: Session) -> list[Account]:
    return list(session.scalars(select(Account).order_by(Account.username)))


def find_room(session: Session, address: str) -> Room | None:
    return session.scalar(select(Room).where(Room.address == address.strip().strip("/").lower()))


def add_room(
    session: Session,
    address: str,
    title: str,
    policy: Policy,
    *,
    guest_name_format: bool = False,
    open_floor: bool = False,
) -> Room:
    slug = normalize_address(address)
    if find_room(session, slug) is not None:
        raise InvalidValue(f"room address {slug!r}: already exists")
    room = Room(
        address=slug,
        title=clean_text(title, "room title", MAX_TITLE),
        policy=Policy(policy),
        guest_name_format=guest_name_format,
        open_floor=open_floor,
        created_at=_now(),
    )
    session.add(room)
    session.flush()
    return room


def list_rooms(session: Session) -> list[Room]:
    return list(session.scalars(select(Room).order_by(Room.address)))
