"""Admin CLI and config seeding: `user add|passwd|list|disable|enable`, `room add|list|show`."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.admin import ConfigError, add_admin_commands, run_admin, seed_from_config
from bridge.meetings import Meetings, Refusal
from bridge.store import Store
from bridge.store.accounts import find_account, find_room
from bridge.store.models import Policy, Role
from tests.support.meetings_world import CHEAP

ROOT = Path(__file__).resolve().parents[2]


def admin_cli(db: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge.admin", "--db", db, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def admin(store: Store, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    add_admin_commands(parser.add_subparsers(dest="command", required=True))
    out, err = io.StringIO(), io.StringIO()
    status = run_admin(
        parser.parse_args(argv),
        store,
        stdin=io.StringIO(stdin),
        stdout=out,
        stderr=err,
        passwords=CHEAP,
    )
    return status, out.getvalue(), err.getvalue()


def can_sign_in(store: Store, tmp_path: Path, user: str, password: str) -> bool:
    return not isinstance(Meetings(store, tmp_path / "files").authenticate(user, password), Refusal)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(f"sqlite:///{tmp_path / 'salon.sqlite3'}") as s:
        yield s


def test_cli_adds_users_with_passwords_from_stdin_or_a_file(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'salon.sqlite3'}"
    added = admin_cli(
        db,
        "user",
        "add",
        "ogretmen",
        "--role",
        "host",
        "--display-name",
        "Öğretmen Ayşe",
        stdin="gizli-parola-1\n",
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout == "added host ogretmen\n"
    (tmp_path / "pw").write_text("dosyadan-parola\n")
    assert (
        admin_cli(
            db, "user", "add", "sinif1", "--role", "device", "--password-file", str(tmp_path / "pw")
        ).returncode
        == 0
    )
    listing = admin_cli(db, "user", "list")
    assert listing.stdout.splitlines() == [
        "USER      ROLE    STATE  DISPLAY NAME",
        "ogretmen  host           Öğretmen Ayşe",
        "sinif1    device         sinif1",
    ]
    with Store(db) as store:
        assert can_sign_in(store, tmp_path, "ogretmen", "gizli-parola-1")
        assert can_sign_in(store, tmp_path, "sinif1", "dosyadan-parola")
        account = find_account_in(store, "ogretmen")
        assert account.startswith("$argon2id$") and "gizli" not in account


def find_account_in(store: Store, name: str) -> str:
    with store.transaction() as db:
        account = find_account(db, name)
        assert account is not None
        return account.password_hash


@pytest.mark.parametrize("command", ["add", "passwd"])
def test_passwords_are_never_taken_from_the_command_line(tmp_path: Path, command: str) -> None:
    db = f"sqlite:///{tmp_path / 'salon.sqlite3'}"
    result = admin_cli(db, "user", command, "ali", "--password", "gizli-parola-1")
    assert result.returncode == 2 and "unrecognized arguments: --password" in result.stderr


def test_passwd_changes_the_password(store: Store, tmp_path: Path) -> None:
    assert admin(store, "user", "add", "ali", stdin="eski-parola-1\n")[0] == 0
    status, out, _ = admin(store, "user", "passwd", "ali", stdin="yeni-parola-2\n")
    assert (status, out) == (0, "password changed for ali\n")
    assert can_sign_in(store, tmp_path, "ali", "yeni-parola-2")
    assert not can_sign_in(store, tmp_path, "ali", "eski-parola-1")
    status, _, err = admin(store, "user", "passwd", "veli", stdin="yeni-parola-2\n")
    assert status == 2 and "'veli': no such user" in err


def test_disable_and_enable(store: Store, tmp_path: Path) -> None:
    admin(store, "user", "add", "ali", stdin="parola-123\n")
    assert admin(store, "user", "disable", "ali")[0] == 0
    assert not can_sign_in(store, tmp_path, "ali", "parola-123")
    assert "ali   participant  disabled" in admin(store, "user", "list")[1]
    admin(store, "user", "enable", "ali")
    assert can_sign_in(store, tmp_path, "ali", "parola-123")


def test_interactive_prompt_asks_twice(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter(["birinci-parola", "ikinci-parola"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    parser = argparse.ArgumentParser()
    add_admin_commands(parser.add_subparsers(dest="command"))
    err = io.StringIO()
    status = run_admin(
        parser.parse_args(["user", "add", "ali"]),
        store,
        stdin=Terminal(),
        stdout=io.StringIO(),
        stderr=err,
        passwords=CHEAP,
    )
    assert status == 2 and "the two entries differ" in err.getvalue()


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (("user", "add", "ali veli"), "parola-123\n", "user name 'ali veli'"),
        (("user", "add", "ali"), "kısa\n", "at least 8 characters"),
        (("user", "add", "ali", "--password-file", "/nonexistent/pw"), "", "/nonexistent/pw"),
        (("room", "add", "test bim", "--title", "T"), "", "room address 'test bim'"),
        (("room", "show", "yok"), "", "'yok': no such room"),
    ],
)
def test_bad_input_gets_a_clear_error(
    store: Store, argv: tuple[str, ...], stdin: str, message: str
) -> None:
    status, _, err = admin(store, *argv, stdin=stdin)
    assert status == 2 and err.startswith("error: ") and message in err


def test_duplicate_user_is_refused(store: Store) -> None:
    admin(store, "user", "add", "ali", stdin="parola-123\n")
    status, _, err = admin(store, "user", "add", "ALI", stdin="parola-123\n")
    assert status == 2 and "'ali': already exists" in err


def test_rooms_add_list_show(store: Store, tmp_path: Path) -> None:
    assert (
        admin(
            store,
            "room",
            "add",
            "testbim",
            "--title",
            "Test BİM",
            "--policy",
            "public",
            "--guest-name-format",
        )[1]
        == "added room /testbim\n"
    )
    admin(store, "room", "add", "kurul", "--title", "Kurul")
    listing = admin(store, "room", "list")[1].splitlines()
    assert listing[1:] == [
        "/kurul    private  free              host grants  Kurul",
        "/testbim  public   AD SOYAD – BİRİM  host grants  Test BİM",
    ]
    admin(store, "user", "add", "ogretmen", "--role", "host", stdin="parola-123\n")
    Meetings(store, tmp_path / "files", passwords=CHEAP).join_account(
        "testbim", "ogretmen", "parola-123"
    )
    shown = admin(store, "room", "show", "testbim")[1]
    assert "address: /testbim\ntitle: Test BİM\npolicy: public\n" in shown
    meeting_line = shown.splitlines()[-1].split()
    assert meeting_line[0] == "1" and meeting_line[2:] == ["on", "1"]


def test_seeding_from_config_creates_then_follows_the_config(store: Store, tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets/sinif1.pw").write_text("cihaz-parolasi\n")
    encoded = CHEAP.hash("hoca-parolasi")
    config = {
        "rooms": [
            {
                "address": "testbim",
                "title": "Test BİM",
                "policy": "public",
                "guest_name_format": True,
            },
            {"address": "kurul", "title": "Kurul"},
            {"address": "serbest_oda", "title": "Serbest", "moderated": False},
        ],
        "users": [
            {
                "name": "ogretmen",
                "role": "host",
                "display_name": "Öğretmen",
                "password_hash": encoded,
            },
            {"name": "sinif1", "role": "device", "password_file": "secrets/sinif1.pw"},
        ],
    }
    first = seed_from_config(store, config, base_dir=tmp_path, passwords=CHEAP)
    assert (first.rooms_added, first.users_added, first.users_updated) == (3, 2, 0)
    assert can_sign_in(store, tmp_path, "sinif1", "cihaz-parolasi")
    assert can_sign_in(store, tmp_path, "ogretmen", "hoca-parolasi")
    device_hash = find_account_in(store, "sinif1")

    config["rooms"][1]["policy"] = "public"  # type: ignore[index]
    config["users"][0]["disabled"] = True  # type: ignore[index]
    again = seed_from_config(store, config, base_dir=tmp_path, passwords=CHEAP)
    assert (again.rooms_added, again.rooms_updated, again.users_added) == (0, 3, 0)
    assert find_account_in(store, "sinif1") == device_hash  # unchanged password: no rehash
    with store.transaction() as db:
        kurul = find_room(db, "kurul")
        ogretmen = find_account(db, "ogretmen")
        assert kurul is not None and kurul.policy is Policy.PUBLIC and not kurul.open_floor
        serbest = find_room(db, "serbest_oda")  # bridge/config.py's `moderated = false`
        assert serbest is not None and serbest.open_floor
        assert ogretmen is not None and ogretmen.disabled and ogretmen.role is Role.HOST

    (tmp_path / "secrets/sinif1.pw").write_text("yeni-cihaz-parolasi\n")
    seed_from_config(store, config, base_dir=tmp_path, passwords=CHEAP)
    assert can_sign_in(store, tmp_path, "sinif1", "yeni-cihaz-parolasi")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"users": [{"name": "a", "password": "düz-metin-1"}]},
            "users[0].password: plain-text passwords are not accepted",
        ),
        (
            {
                "rooms": [
                    {"address": "a", "title": "A"},
                    {"address": "b", "title": "B", "policy": "open"},
                ]
            },
            "rooms[1].policy",
        ),
        ({"rooms": [{"address": "a", "title": "A", "colour": "red"}]}, "rooms[0].colour"),
        (
            {"rooms": [{"address": "a", "title": "A", "moderated": True, "open_floor": True}]},
            "rooms[0]: Value error, open_floor and moderated contradict",
        ),
        ({"rooms": [{"address": "a b", "title": "A"}]}, "rooms[0]: room address 'a b'"),
        ({"users": [{"name": "yeni"}]}, "users[0]: a new user needs password_file"),
        ({"users": [{"name": "a", "password_file": "yok.pw"}]}, "users[0]: password_file"),
        ({"users": [{"name": "a", "password_hash": "md5$abc"}]}, "users[0].password_hash"),
        (
            {"users": [{"name": "a", "role": "admin", "password_hash": "$argon2id$x"}]},
            "users[0].role",
        ),
    ],
)
def test_config_errors_name_the_field(
    store: Store, tmp_path: Path, config: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        seed_from_config(store, config, base_dir=tmp_path, passwords=CHEAP)
    assert message in str(caught.value)
    with store.transaction() as db:  # all or nothing
        assert find_room(db, "a") is None


# -- `salon-bridge --config FILE user|room ...`: the installed command, the config's database --


def salon_bridge(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "salon-bridge"), "--config", str(config), *args],
        input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )


def test_salon_bridge_manages_accounts_and_rooms_in_the_configs_database(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text('state_dir = "durum"\n\n[[rooms]]\naddress = "kurul"\ntitle = "Kurul"\n')
    added = salon_bridge(config, "user", "add", "ogretmen", "--role", "host",
                         "--display-name", "Öğretmen Ayşe", stdin="gizli-parola-1\n")
    assert (added.returncode, added.stdout, added.stderr) == (0, "added host ogretmen\n", "")
    room = salon_bridge(config, "room", "add", "testbim", "--title", "Test BİM",
                        "--policy", "public")
    assert (room.returncode, room.stdout) == (0, "added room /testbim\n")
    assert salon_bridge(config, "user", "disable", "ogretmen").stdout == "disabled ogretmen\n"
    assert salon_bridge(config, "user", "enable", "ogretmen").returncode == 0
    listing = salon_bridge(config, "room", "list").stdout.splitlines()
    assert [line.split()[0] for line in listing] == ["ADDRESS", "/testbim"]

    # The bridge started on the same file sees them (state_dir is relative to the file).
    with Store(f"sqlite:///{tmp_path / 'durum' / 'salon.sqlite3'}") as store:
        assert can_sign_in(store, tmp_path, "ogretmen", "gizli-parola-1")
        with store.transaction() as db:
            added_room = find_room(db, "testbim")
            assert added_room is not None and added_room.policy is Policy.PUBLIC
    assert "ogretmen  host" in salon_bridge(config, "user", "list").stdout


def test_salon_bridge_admin_errors_are_clear(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text(f'state_dir = "{tmp_path / "durum"}"\n')
    for reserved in ("api", "static", "ws", "healthz", "r", "c"):
        refused = salon_bridge(config, "room", "add", reserved, "--title", "Olmaz")
        assert refused.returncode == 2, refused
        assert f"room address '{reserved}': reserved for the bridge's own pages" in refused.stderr
    wrong = salon_bridge(config, "user", "passwd", "yok", stdin="yeni-parola-2\n")
    assert (wrong.returncode, wrong.stderr) == (2, "error: user name 'yok': no such user\n")
    missing = salon_bridge(tmp_path / "yok.toml", "room", "list")
    assert missing.returncode == 2 and "yok.toml: cannot read" in missing.stderr
    config.write_text('state_dir = "durum"\nlog_levle = "debug"\n')
    typo = salon_bridge(config, "user", "list")
    assert typo.returncode == 2 and "log_levle" in typo.stderr
    assert salon_bridge(config, "user").returncode == 2  # a verb is needed


@pytest.mark.skipif(os.geteuid() != 0, reason="root's mistake: needs root")
def test_root_is_sent_to_the_bridges_own_user(tmp_path: Path) -> None:
    """root writing the bridge's SQLite file would leave root-owned journal files the
    bridge cannot write: the command names the user to run it as instead."""
    state = tmp_path / "durum"
    state.mkdir()
    os.chown(state, 65534, 65534)
    config = tmp_path / "bridge.toml"
    config.write_text(f'state_dir = "{state}"\n')
    refused = salon_bridge(config, "user", "list")
    assert refused.returncode == 2
    assert f"{state} belongs to nobody" in refused.stderr
    assert "sudo -u nobody salon-bridge" in refused.stderr
    assert list(state.iterdir()) == []  # nothing was written
