"""The meetings domain on a real SQLite file, driven by hand: a world with a store, a
clock the test moves, and people in rooms (tests/bridge/conftest.py gives it as `world`)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from argon2 import PasswordHasher, profiles

from bridge.meetings import (
    Broadcast,
    Done,
    Effect,
    Joined,
    Meetings,
    Message,
    Refusal,
    SendTo,
)
from bridge.store import Store
from bridge.store.accounts import Passwords, add_account, add_room
from bridge.store.models import Policy, Role
from salon import protocol as p

# Real argon2id, cheapest parameters: the tests hash a few dozen passwords.
CHEAP = Passwords(PasswordHasher.from_parameters(profiles.CHEAPEST))
PASSWORD = "doğru-parola-123"
START = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
T = TypeVar("T")



class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1.0) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class Person:
    pid: int
    token: str
    epoch: int
    room: str
    joined: Joined

    @property
    def id(self) -> str:
        """The participant id as payloads carry it."""
        return str(self.pid)


class World:
    """A bridge's meetings over a real SQLite file, restartable like the process."""

    def __init__(self, root: Path, template: Path | None = None) -> None:
        self.root = root
        self.url = f"sqlite:///{root / 'salon.sqlite3'}"
        if template is not None:
            shutil.copyfile(template, root / "salon.sqlite3")
        self.clock = Clock()
        self.store = Store(self.url)
        self.meetings = self._meetings()

    def _meetings(self) -> Meetings:
        return Meetings(self.store, self.root / "files", clock=self.clock, passwords=CHEAP)

    def restart(self) -> int:
        """What a bridge restart does: new process state, same database, then recover()."""
        self.store.close()
        self.store = Store(self.url)
        self.meetings = self._meetings()
        return self.meetings.recover()

    def close(self) -> None:
        self.store.close()

    def add_user(self, name: str, role: Role, display: str | None = None) -> None:
        with self.store.transaction() as db:
            add_account(db, CHEAP, name, PASSWORD, role, display or name.title())

    def add_room(self, address: str, policy: Policy = Policy.PUBLIC, **flags: bool) -> None:
        with self.store.transaction() as db:
            add_room(db, address, f"Oda {address}", policy, **flags)

    def sign_in(self, name: str, room: str = "testbim") -> Person:
        return person(ok(self.meetings.join_account(room, name, PASSWORD)))

    def guest(self, name: str, room: str = "testbim") -> Person:
        return person(ok(self.meetings.join_guest(room, name)))

    def admitted_guest(self, host: Person, name: str, room: str = "testbim") -> Person:
        guest = self.guest(name, room)
        ok(self.meetings.admit(host.pid, guest.pid))
        return guest


def person(joined: Joined) -> Person:
    return Person(joined.participant, joined.token, joined.epoch, joined.room, joined)


def ok(result: T | Refusal) -> T:
    assert not isinstance(result, Refusal), f"refused: {result}"
    return result


def refused(result: object, code: str) -> Refusal:
    assert isinstance(result, Refusal), f"expected refusal {code}, got {result}"
    assert result.code == code, result
    return result


def received(effects: tuple[Effect, ...] | Done, pid: int) -> list[dict[str, Any]]:
    """Every message the participant `pid` would get from these effects, in order, as
    the domain writes it on the wire (before the transport adds media state)."""
    if isinstance(effects, Done):
        effects = effects.effects
    out: list[Message] = []
    for e in effects:
        match e:
            case SendTo(participant=to, message=message) if to == pid:
                out.append(message)
            case Broadcast(recipients=recipients, message=message) if pid in recipients:
                out.append(message)
    return [json.loads(p.dump(m)) for m in out]


def types(effects: tuple[Effect, ...] | Done, pid: int) -> list[str]:
    return [p["type"] for p in received(effects, pid)]


def seed(world: World) -> None:
    world.add_user("ogretmen", Role.HOST, "Öğretmen Ayşe")
    world.add_user("mudur", Role.HOST, "Müdür Bey")
    world.add_user("ali", Role.PARTICIPANT, "Ali Yılmaz")
    world.add_user("sinif1", Role.DEVICE, "Sınıf 1")
    world.add_room("testbim")
    world.add_room("kurul", guest_name_format=True)
    world.add_room("ozel", Policy.PRIVATE)


_TEMPLATES: dict[Path, Path] = {}


def make_world(tmp_path: Path, factory: pytest.TempPathFactory) -> World:
    """A seeded world in `tmp_path`: a copy of one database migrated and seeded per session
    (the migrations themselves are tested from empty in test_store)."""
    base = factory.getbasetemp()
    if base not in _TEMPLATES:
        template_dir = factory.mktemp("template")
        template = World(template_dir)
        seed(template)
        template.close()
        _TEMPLATES[base] = template_dir / "salon.sqlite3"
    return World(tmp_path, _TEMPLATES[base])
