"""Admin commands: `salon-bridge user add|passwd|list|disable|enable`,
`salon-bridge room add|list|show` (and `schedule ...`, bridge/schedule_admin.py), and
seeding rooms and users from the bridge's config file.

Passwords never come from the command line (it shows in `ps` and shell
history): they are read from `--password-file`, from standard input when it is
not a terminal, or from an interactive prompt.

bridge/cli.py wires this in:

    add_admin_commands(subparsers)
    args = parser.parse_args()
    if getattr(args, "admin", None):
        return run_admin(args, Store(url_from_config))
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.config import RoomSeed, UserSeed
from bridge.console import Console, table
from bridge.schedule_admin import add_schedule_commands
from bridge.schedules import ScheduleError
from bridge.store import Store
from bridge.store.accounts import (
    InvalidValue,
    Passwords,
    add_account,
    add_account_hashed,
    add_room,
    check_password_strength,
    clean_text,
    find_account,
    find_room,
    list_accounts,
    list_rooms,
    normalize_address,
    normalize_username,
    set_password,
)
from bridge.store.models import Meeting, Participant, Policy, Role, Room, StoredFile

Handler = Callable[[argparse.Namespace, Store, "Console"], int]


class ConfigError(ValueError):
    """The config's users or rooms are wrong; the message names the field."""


# -- the command line ---------------------------------------------------------------------


def add_admin_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `user` and `room` commands; each sets `args.admin` to its handler."""
    user = subparsers.add_parser("user", help="manage accounts").add_subparsers(
        dest="user_command", required=True, metavar="{add,passwd,list,disable,enable}"
    )
    # No abbreviations: "--password SECRET" must not pass for "--password-file SECRET".
    p = user.add_parser("add", help="create an account (password asked for)", allow_abbrev=False)
    p.add_argument("name", help="user name: a-z 0-9 . _ -")
    p.add_argument("--role", choices=[r.value for r in Role], default=Role.PARTICIPANT.value)
    p.add_argument("--display-name", help="name shown in meetings (default: the user name)")
    _password_file(p)
    p.set_defaults(admin=_user_add)
    p = user.add_parser("passwd", help="set an account's password", allow_abbrev=False)
    p.add_argument("name")
    _password_file(p)
    p.set_defaults(admin=_user_passwd)
    user.add_parser("list", help="list accounts").set_defaults(admin=_user_list)
    for verb in ("disable", "enable"):
        p = user.add_parser(verb, help=f"{verb} sign-in for an account")
        p.add_argument("name")
        p.set_defaults(admin=_user_disable if verb == "disable" else _user_enable)

    room = subparsers.add_parser("room", help="manage rooms").add_subparsers(
        dest="room_command", required=True, metavar="{add,list,show}"
    )
    p = room.add_parser("add", help="create a room")
    p.add_argument("address", help="the room's address, like testbim: the meeting is at /testbim")
    p.add_argument("--title", required=True)
    p.add_argument("--policy", choices=[x.value for x in Policy], default=Policy.PRIVATE.value)
    p.add_argument(
        "--guest-name-format",
        action="store_true",
        help="guests must be named like 'AD SOYAD – İL/BİRİM'",
    )
    p.add_argument(
        "--open-floor", action="store_true", help="everyone gets audio and camera rights"
    )
    p.set_defaults(admin=_room_add)
    room.add_parser("list", help="list rooms").set_defaults(admin=_room_list)
    p = room.add_parser("show", help="a room's settings, meetings and files")
    p.add_argument("address")
    p.set_defaults(admin=_room_show)
    add_schedule_commands(subparsers)


def _password_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-file",
        type=Path,
        help="read the password from this file's first line (else stdin or a prompt)",
    )


def run_admin(
    args: argparse.Namespace,
    store: Store,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    passwords: Passwords | None = None,
) -> int:
    """Run the admin command parsed into `args`; returns the exit status."""
    console = Console(
        stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr, passwords or Passwords()
    )
    handler: Handler = args.admin
    try:
        return handler(args, store, console)
    except (InvalidValue, ConfigError, ScheduleError) as exc:
        print(f"error: {exc}", file=console.stderr)
        return 2


def read_password(args: argparse.Namespace, console: Console) -> str:
    path: Path | None = args.password_file
    if path is not None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise InvalidValue(f"{path}: cannot read the password file ({exc.strerror})") from exc
        password = lines[0] if lines else ""
    elif not console.stdin.isatty():
        password = console.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise InvalidValue("password: the two entries differ")
    check_password_strength(password)
    return password


def _user_add(args: argparse.Namespace, store: Store, console: Console) -> int:
    name = normalize_username(args.name)
    password = read_password(args, console)
    with store.transaction() as db:
        add_account(
            db, console.passwords, name, password, Role(args.role), args.display_name or name
        )
    print(f"added {args.role} {name}", file=console.stdout)
    return 0


def _user_passwd(args: argparse.Namespace, store: Store, console: Console) -> int:
    with store.transaction() as db:
        account = find_account(db, args.name)
    if account is None:
        raise InvalidValue(f"user name {args.name!r}: no such user")
    password = read_password(args, console)
    with store.transaction() as db:
        set_password(db, console.passwords, args.name, password)
    print(f"password changed for {account.username}", file=console.stdout)
    return 0


def _set_disabled(args: argparse.Namespace, store: Store, console: Console, off: bool) -> int:
    with store.transaction() as db:
        account = find_account(db, args.name)
        if account is None:
            raise InvalidValue(f"user name {args.name!r}: no such user")
        account.disabled = off
    print(f"{'disabled' if off else 'enabled'} {account.username}", file=console.stdout)
    return 0


def _user_disable(args: argparse.Namespace, store: Store, console: Console) -> int:
    return _set_disabled(args, store, console, True)


def _user_enable(args: argparse.Namespace, store: Store, console: Console) -> int:
    return _set_disabled(args, store, console, False)


def _user_list(args: argparse.Namespace, store: Store, console: Console) -> int:
    with store.transaction() as db:
        rows = [
            (a.username, a.role.value, "disabled" if a.disabled else "", a.display_name)
            for a in list_accounts(db)
        ]
    table(console.stdout, ("USER", "ROLE", "STATE", "DISPLAY NAME"), rows)
    return 0


def _room_add(args: argparse.Namespace, store: Store, console: Console) -> int:
    with store.transaction() as db:
        room = add_room(
            db,
            args.address,
            args.title,
            Policy(args.policy),
            guest_name_format=args.guest_name_format,
            open_floor=args.open_floor,
        )
        address = room.address
    print(f"added room /{address}", file=console.stdout)
    return 0


def _room_list(args: argparse.Namespace, store: Store, console: Console) -> int:
    with store.transaction() as db:
        rows = [_room_row(r) for r in list_rooms(db)]
    table(console.stdout, ("ADDRESS", "POLICY", "GUEST NAMES", "FLOOR", "TITLE"), rows)
    return 0


def _room_row(room: Room) -> tuple[str, ...]:
    return (
        "/" + room.address,
        room.policy.value,
        "AD SOYAD – BİRİM" if room.guest_name_format else "free",
        "open" if room.open_floor else "host grants",
        room.title,
    )


def _room_show(args: argparse.Namespace, store: Store, console: Console) -> int:
    out = console.stdout
    with store.transaction() as db:
        room = find_room(db, args.address)
        if room is None:
            raise InvalidValue(f"room address {args.address!r}: no such room")
        address, policy, flags, floor, title = _room_row(room)
        meetings = db.execute(
            select(Meeting, func.count(Participant.id))
            .outerjoin(Participant, Participant.meeting_id == Meeting.id)
            .where(Meeting.room_id == room.id)
            .group_by(Meeting.id)
            .order_by(Meeting.id.desc())
            .limit(20)
        ).all()
        files = db.scalar(select(func.count(StoredFile.id)).where(StoredFile.room_id == room.id))
        print(f"address: {address}\ntitle: {title}\npolicy: {policy}", file=out)
        print(f"guest names: {flags}\nfloor: {floor}\nfiles: {files}", file=out)
        print(f"created: {room.created_at.isoformat(timespec='seconds')}", file=out)
        rows = [
            (
                str(m.id),
                m.started_at.isoformat(timespec="seconds"),
                m.ended_at.isoformat(timespec="seconds") if m.ended_at else "on",
                str(n),
            )
            for m, n in meetings
        ]
    print("meetings (newest first):", file=out)
    table(out, ("MEETING", "STARTED", "ENDED", "PEOPLE"), rows)
    return 0


# -- seeding from the config file ---------------------------------------------------------


class Seed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rooms: list[RoomSeed] = []
    users: list[UserSeed] = []


@dataclass(frozen=True)
class SeedSummary:
    rooms_added: int
    rooms_updated: int
    users_added: int
    users_updated: int


def seed_from_config(
    store: Store,
    mapping: Mapping[str, Any],
    *,
    base_dir: Path | None = None,
    passwords: Passwords | None = None,
) -> SeedSummary:
    """Create or update the rooms and users a config names (the config wins for the
    fields it gives; rooms and users it does not name are left alone).

    `mapping` holds "rooms" and "users" lists; password files are relative to `base_dir`
    (the config file's directory). Plain-text passwords are not accepted.
    """
    seed = _validate(mapping)
    hasher = passwords or Passwords()
    counts = [0, 0, 0, 0]
    with store.transaction() as db:
        for i, spec in enumerate(seed.rooms):
            added = _seed_room(db, spec, f"rooms[{i}]")
            counts[0 if added else 1] += 1
        for i, user in enumerate(seed.users):
            added = _seed_user(db, user, f"users[{i}]", hasher, base_dir)
            counts[2 if added else 3] += 1
    return SeedSummary(*counts)


def _validate(mapping: Mapping[str, Any]) -> Seed:
    for i, user in enumerate(mapping.get("users") or []):
        if isinstance(user, Mapping) and "password" in user:
            raise ConfigError(
                f"users[{i}].password: plain-text passwords are not accepted; "
                "use password_file or password_hash"
            )
    try:
        return Seed.model_validate(dict(mapping))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
            problems.append(f"{where.lstrip('.')}: {err['msg']}")
        raise ConfigError("; ".join(problems)) from exc


def _seed_room(db: Session, spec: RoomSeed, where: str) -> bool:
    try:
        address = normalize_address(spec.address)
        title = clean_text(spec.title, "title", 200)
    except InvalidValue as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    room = find_room(db, address)
    if room is None:
        add_room(
            db,
            address,
            title,
            Policy(spec.policy),
            guest_name_format=spec.guest_name_format,
            open_floor=spec.is_open_floor,
        )
        return True
    room.title = title
    room.policy = Policy(spec.policy)
    room.guest_name_format = spec.guest_name_format
    room.open_floor = spec.is_open_floor
    return False


def _seed_user(
    db: Session, spec: UserSeed, where: str, passwords: Passwords, base_dir: Path | None
) -> bool:
    try:
        name = normalize_username(spec.name)
        display = clean_text(spec.display_name or name, "display_name", 80)
        password = _seed_password(spec, base_dir)
    except InvalidValue as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    account = find_account(db, name)
    added = account is None
    if account is None:
        if password is not None:
            encoded = passwords.hash(password)
        elif spec.password_hash is not None:
            encoded = spec.password_hash
        else:
            raise ConfigError(f"{where}: a new user needs password_file or password_hash")
        account = add_account_hashed(db, name, encoded, Role(spec.role), display)
    else:
        account.role = Role(spec.role)
        account.display_name = display
        if password is not None and not passwords.verify(account.password_hash, password):
            account.password_hash = passwords.hash(password)
        elif spec.password_hash is not None:
            account.password_hash = spec.password_hash
    account.disabled = spec.disabled
    return added


def _seed_password(spec: UserSeed, base_dir: Path | None) -> str | None:
    if spec.password_file is None:
        return None
    path = spec.password_file
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidValue(f"password_file {str(path)!r}: {exc.strerror}") from exc
    password = lines[0] if lines else ""
    try:
        check_password_strength(password)
    except InvalidValue as exc:
        raise InvalidValue(f"password_file {str(path)!r}: {exc}") from exc
    return password


# -- `python -m bridge.admin --db URL ...` (tests, and use without a config file) ----------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="salon-bridge-admin", description=__doc__)
    parser.add_argument("--db", required=True, help="database URL, e.g. sqlite:////var/lib/...")
    add_admin_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    with Store(args.db) as store:
        return run_admin(args, store)


if __name__ == "__main__":
    sys.exit(main())
