"""The store: migrations from empty, models matching them, durability, accounts and rooms."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy.exc
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select

from bridge.store import Store, default_url, upgrade_to_head
from bridge.store.accounts import (
    InvalidValue,
    add_account,
    add_room,
    find_account,
    find_room,
    normalize_address,
    normalize_username,
)
from bridge.store.migrate import alembic_config, current_revision
from bridge.store.models import Account, Base, Event, Meeting, Participant, Policy, Role, Room
from tests.support.meetings_world import CHEAP
from tests.support.postgres import postgres_cluster, server_binaries

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()

TABLES = {
    "accounts",
    "rooms",
    "meetings",
    "participants",
    "events",
    "chat_messages",
    "polls",
    "poll_answers",
    "files",
    "schedule_entries",
    "room_events",
    "bridge_nodes",
    "rate_buckets",
    "grants",
    "alembic_version",
}


def schema_drift(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))
    finally:
        engine.dispose()


def test_upgrade_from_empty_creates_the_schema_the_models_describe(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    assert current_revision(url) is None
    upgrade_to_head(url)
    assert current_revision(url) == HEAD
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) == TABLES
    engine.dispose()
    assert schema_drift(url) == []
    upgrade_to_head(url)  # idempotent
    assert current_revision(url) == HEAD


def test_downgrade_to_nothing_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cycle.sqlite3'}"
    upgrade_to_head(url)
    command.downgrade(alembic_config(url), "base")
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()
    upgrade_to_head(url)
    assert schema_drift(url) == []


def test_store_opens_a_new_file_in_a_new_state_directory(tmp_path: Path) -> None:
    url = default_url(tmp_path / "state" / "bridge")
    assert url == f"sqlite:///{tmp_path}/state/bridge/salon.sqlite3"
    with Store(url) as store, store.transaction() as db:
        assert db.scalars(select(Room)).all() == []
    assert (tmp_path / "state/bridge/salon.sqlite3").is_file()


def test_data_survives_closing_and_reopening(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'salon.sqlite3'}"
    with Store(url) as store, store.transaction() as db:
        add_room(db, "testbim", "Test BİM", Policy.PUBLIC, guest_name_format=True)
        add_account(db, CHEAP, "Ogretmen", "uzun-parola-1", Role.HOST, "Öğretmen")
    with Store(url) as store, store.transaction() as db:
        room = find_room(db, "/TestBIM/")
        account = find_account(db, "ogretmen")
        assert room is not None and room.title == "Test BİM" and room.guest_name_format
        assert room.created_at.tzinfo is UTC
        assert account is not None and account.role is Role.HOST
        assert account.password_hash.startswith("$argon2id$")
        assert CHEAP.verify(account.password_hash, "uzun-parola-1")
        assert not CHEAP.verify(account.password_hash, "uzun-parola-2")


def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'salon.sqlite3'}") as store:
        with pytest.raises(InvalidValue), store.transaction() as db:
            add_room(db, "bir", "Bir", Policy.PUBLIC)
            add_room(db, "bir", "Yine bir", Policy.PUBLIC)
        with store.transaction() as db:
            assert db.scalars(select(Room)).all() == []


def test_times_must_be_aware_and_come_back_in_utc(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'salon.sqlite3'}") as store:
        with pytest.raises(sqlalchemy.exc.StatementError, match="naive"), store.transaction() as db:
            db.add(
                Account(
                    username="x",
                    password_hash="h",
                    role=Role.HOST,
                    display_name="X",
                    disabled=False,
                    created_at=datetime(2026, 1, 1),
                )
            )
        istanbul = datetime.fromisoformat("2026-03-02T12:00:00+03:00")
        with store.transaction() as db:
            room = add_room(db, "saat", "Saat", Policy.PUBLIC)
            db.add(Meeting(room_id=room.id, started_at=istanbul))
        with store.transaction() as db:
            meeting = db.scalars(select(Meeting)).one()
            assert meeting.started_at == istanbul
            assert meeting.started_at.isoformat() == "2026-03-02T09:00:00+00:00"


def test_database_constraints_back_the_models(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'salon.sqlite3'}") as store:
        with pytest.raises(sqlalchemy.exc.IntegrityError), store.transaction() as db:
            db.add(Meeting(room_id=42, started_at=datetime.now(UTC)))  # no such room
        with pytest.raises(sqlalchemy.exc.IntegrityError), store.transaction() as db:
            db.connection().exec_driver_sql(
                "INSERT INTO rooms (address, title, policy, guest_name_format, open_floor, "
                "created_at) VALUES ('x', 'X', 'secret', 0, 0, '2026-01-01')"
            )
        with pytest.raises(sqlalchemy.exc.IntegrityError), store.transaction() as db:
            room = add_room(db, "tek", "Tek", Policy.PUBLIC)
            now = datetime.now(UTC)
            db.add(Meeting(room_id=room.id, started_at=now, ended_at=now))  # over: fine
            db.add(Meeting(room_id=room.id, started_at=now))
            db.flush()
            db.add(Meeting(room_id=room.id, started_at=now))  # a second one on at once
        with (
            pytest.raises(sqlalchemy.exc.IntegrityError, match="append-only"),
            store.transaction() as db,
        ):
            room = add_room(db, "olay", "Olay", Policy.PUBLIC)
            db.add(Event(at=datetime.now(UTC), room_id=room.id, kind="test", data={}))
            db.flush()
            db.connection().exec_driver_sql("DELETE FROM events")


@pytest.mark.parametrize(
    ("raw", "expected"), [("Ali", "ali"), (" ayse.k ", "ayse.k"), ("sinif-1_a", "sinif-1_a")]
)
def test_user_names_are_normalized(raw: str, expected: str) -> None:
    assert normalize_username(raw) == expected


@pytest.mark.parametrize("raw", ["", "-ali", "ali veli", "ayşe", "a" * 65, "ali/../x"])
def test_bad_user_names_are_refused_with_the_reason(raw: str) -> None:
    with pytest.raises(InvalidValue, match="user name"):
        normalize_username(raw)


@pytest.mark.parametrize("raw", ["", "test bim", "../etc", "_oda", "ğ", "a" * 64])
def test_bad_room_addresses_are_refused(raw: str) -> None:
    with pytest.raises(InvalidValue, match="room address"):
        normalize_address(raw)


def test_short_passwords_are_refused(tmp_path: Path) -> None:
    with (
        Store(f"sqlite:///{tmp_path / 'salon.sqlite3'}") as store,
        pytest.raises(InvalidValue, match="at least 8"),
        store.transaction() as db,
    ):
        add_account(db, CHEAP, "ali", "kısa", Role.PARTICIPANT, "Ali")


# -- PostgreSQL, when a server binary and the psycopg driver are at hand -------------------

@pytest.fixture
def postgres_url() -> Iterator[str]:
    pytest.importorskip("psycopg")
    if server_binaries() is None:
        pytest.skip("no PostgreSQL server binaries")
    with postgres_cluster() as url:
        yield url


def test_postgresql_by_url(postgres_url: str) -> None:
    upgrade_to_head(postgres_url)
    assert current_revision(postgres_url) == HEAD
    assert schema_drift(postgres_url) == []
    with Store(postgres_url) as store:
        with store.transaction() as db:
            room = add_room(db, "testbim", "Test BİM", Policy.PUBLIC)
            db.add(Event(at=datetime.now(UTC), room_id=room.id, kind="test", data={"ş": 1}))
        with (
            pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"),
            store.transaction() as db,
        ):
            db.connection().exec_driver_sql("UPDATE events SET kind = 'x'")
        with store.transaction() as db:
            event = db.scalars(select(Event)).one()
            assert (event.kind, event.data, event.at.tzinfo) == ("test", {"ş": 1}, UTC)
    command.downgrade(alembic_config(postgres_url), "base")
    engine = create_engine(postgres_url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()


def renaming_the_camera_keeps_rights_and_history(url: str) -> None:
    """0002: a database made before "camera" was one word keeps every right and event."""
    command.upgrade(alembic_config(url), "0001")
    engine = create_engine(url)
    t = "'2026-12-01 09:00:00'"
    with engine.begin() as conn:
        for sql in (
            f"INSERT INTO rooms VALUES (1, 'testbim', 'Test', 'public', false, false, {t})",
            f"INSERT INTO meetings VALUES (1, 1, {t}, NULL)",
            "INSERT INTO participants (id, meeting_id, kind, is_host, display_name, token_hash,"
            " admission, joined_at, epoch, audio_right, video_right, muted, speaking_ms)"
            f" VALUES (1, 1, 'guest', false, 'Ali', 'h', 'admitted', {t}, 1, false, true,"
            " false, 0)",
            "INSERT INTO events (at, room_id, meeting_id, subject_id, kind, data)"
            f" VALUES ({t}, 1, 1, 1, 'video_granted', '{{}}')",
        ):
            conn.exec_driver_sql(sql)
    engine.dispose()
    upgrade_to_head(url)
    assert schema_drift(url) == []
    with Store(url) as store:
        with store.transaction() as db:
            assert db.get(Participant, 1).camera_right is True  # type: ignore[union-attr]
            assert [e.kind for e in db.scalars(select(Event))] == ["camera_granted"]
        with (
            pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"),
            store.transaction() as db,
        ):
            db.connection().exec_driver_sql("UPDATE events SET kind = 'x'")


def test_renaming_the_camera_keeps_rights_and_history_on_sqlite(tmp_path: Path) -> None:
    renaming_the_camera_keeps_rights_and_history(f"sqlite:///{tmp_path / 'old.sqlite3'}")


def test_renaming_the_camera_keeps_rights_and_history_on_postgresql(postgres_url: str) -> None:
    renaming_the_camera_keeps_rights_and_history(postgres_url)


def presenting_columns_fill_existing_seats(url: str) -> None:
    """0004: seats made before presenting existed get the right exactly when they host."""
    command.upgrade(alembic_config(url), "0003")
    engine = create_engine(url)
    t = "'2026-12-01 09:00:00'"
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO rooms VALUES (1, 'testbim', 'Test', 'public', false, false, {t})")
        conn.exec_driver_sql(
            f"INSERT INTO meetings (id, room_id, started_at) VALUES (1, 1, {t})")
        for pid, host in ((1, "true"), (2, "false")):
            conn.exec_driver_sql(
                "INSERT INTO participants (id, meeting_id, kind, is_host, display_name,"
                " token_hash, admission, joined_at, epoch, audio_right, camera_right, muted,"
                f" speaking_ms) VALUES ({pid}, 1, 'account', {host}, 'P{pid}', 'h{pid}',"
                f" 'admitted', {t}, 1, false, false, false, 0)")
    engine.dispose()
    upgrade_to_head(url)
    assert schema_drift(url) == []
    with Store(url) as store, store.transaction() as db:
        seats = {p.id: (p.present_right, p.presenting_since, p.presenting_ms)
                 for p in db.scalars(select(Participant))}
    assert seats == {1: (True, None, 0), 2: (False, None, 0)}
    command.downgrade(alembic_config(url), "0003")
    engine = create_engine(url)
    columns = {c["name"] for c in inspect(engine).get_columns("participants")}
    engine.dispose()
    assert "present_right" not in columns and "camera_right" in columns


def test_presenting_columns_fill_existing_seats_on_sqlite(tmp_path: Path) -> None:
    presenting_columns_fill_existing_seats(f"sqlite:///{tmp_path / 'old.sqlite3'}")


def test_presenting_columns_fill_existing_seats_on_postgresql(postgres_url: str) -> None:
    presenting_columns_fill_existing_seats(postgres_url)
