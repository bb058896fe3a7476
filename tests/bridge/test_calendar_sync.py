"""A room's calendar read again and again ([[schedule.calendars]]): from an iCalendar
URL served by a test server, and from a real CalDAV server (Radicale) started by the
test — a changed event is updated, a removed one disappears, a failed fetch keeps the
last good schedule and says so in the log and the admin view. In the private network
namespace: every calendar is on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp.web
import pytest

from bridge.calendar_sync import CalendarSync, read_status
from bridge.config import (
    BridgeConfigError,
    BridgeSettings,
    CalendarSource,
    ScheduleSettings,
    load_bridge_config,
)
from bridge.schedules import expand, make_entry
from bridge.store import Store
from bridge.store import schedules as stored
from bridge.store.accounts import add_room, find_room
from bridge.store.models import Policy
from tests.bridge.test_schedules import admin

pytestmark = pytest.mark.netns
SOON = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)


def event(uid: str, title: str, start: datetime, minutes: int = 40) -> str:
    return (f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260901T080000Z\r\nSUMMARY:{title}\r\n"
            f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDURATION:PT{minutes}M\r\n"
            "RRULE:FREQ=WEEKLY;COUNT=4\r\nEND:VEVENT\r\n")


def calendar(*events: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Okul//Test//TR\r\n"
            + "".join(events) + "END:VCALENDAR\r\n")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(f"sqlite:///{tmp_path / 'salon.sqlite3'}") as s:
        with s.transaction() as db:
            add_room(db, "oda1", "Oda 1", Policy.PRIVATE)
            add_room(db, "kurul", "Kurul", Policy.PRIVATE)
        yield s


def titles(store: Store, room: str) -> list[str]:
    with store.transaction() as db:
        found = find_room(db, room)
        assert found is not None
        texts = stored.icals(db, found)
    return sorted({o.title for o in expand(texts, SOON - timedelta(days=1),
                                           SOON + timedelta(days=30))})


async def until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


class CalendarServer:
    """The school's calendar export: what it serves can change, or it can be down."""

    def __init__(self) -> None:
        self.text = ""
        self.down = False
        self.requests = 0
        self.authorizations: list[str] = []

    async def serve(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        self.requests += 1
        self.authorizations.append(request.headers.get("Authorization", ""))
        if self.down:
            return aiohttp.web.Response(status=503, text="bakımda")
        return aiohttp.web.Response(text=self.text, content_type="text/calendar")


@pytest.fixture
async def school() -> AsyncIterator[tuple[CalendarServer, str]]:
    server = CalendarServer()
    app = aiohttp.web.Application()
    app.router.add_get("/oda1.ics", server.serve)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield server, f"http://127.0.0.1:{port}/oda1.ics"
    await runner.cleanup()


async def test_an_ical_url_is_read_again_changes_follow_and_a_failure_keeps_the_last_good(
        store: Store, school: tuple[CalendarServer, str], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    server, url = school
    server.text = calendar(event("fizik@okul", "Fizik 10-B", SOON),
                           event("kimya@okul", "Kimya 11-A", SOON + timedelta(hours=2)))
    with store.transaction() as db:  # typed in by a host: a sync never touches it
        room = find_room(db, "oda1")
        assert room is not None
        stored.add_entry(db, room, make_entry("Kurul", SOON.replace(tzinfo=None), 30, "UTC"))
    settings = ScheduleSettings(refresh_min=0.01, calendars=[CalendarSource(room="oda1", url=url)])
    sync = CalendarSync(store, settings, tmp_path)
    task = asyncio.create_task(sync.run())
    try:
        await until(lambda: titles(store, "oda1") == ["Fizik 10-B", "Kimya 11-A", "Kurul"],
                    20, "the first reading")
        # The school renames one class and drops the other: the next reading follows.
        server.text = calendar(event("fizik@okul", "Fizik 10-B (laboratuvar)", SOON))
        await until(lambda: titles(store, "oda1") == ["Fizik 10-B (laboratuvar)", "Kurul"],
                    20, "the changed calendar")
        # The calendar server goes down: the room keeps what it had, and says why.
        seen = server.requests
        with caplog.at_level(logging.WARNING, logger="salon.schedule"):
            server.down = True
            await until(lambda: server.requests > seen + 1 and bool(
                read_status(tmp_path).get(f"oda1 {url}", None)
                and read_status(tmp_path)[f"oda1 {url}"].error), 20, "a failed reading")
        assert titles(store, "oda1") == ["Fizik 10-B (laboratuvar)", "Kurul"]
        assert any("keeping the last good schedule" in r.getMessage() and "503" in r.getMessage()
                   for r in caplog.records)
        status = read_status(tmp_path)[f"oda1 {url}"]
        assert "503" in status.error and status.last_ok is not None
        # The admin view says so too.
        code, out, _ = admin(store, "schedule", "list", "oda1", settings=BridgeSettings(
            state_dir=tmp_path, schedule=settings))
        assert code == 0 and "FAILED" in out and "503" in out and "keeping the last good" in out
        server.down = False
        await until(lambda: not read_status(tmp_path)[f"oda1 {url}"].error, 20, "recovery")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert server.authorizations and not any(server.authorizations)  # none configured


async def test_an_unusable_calendar_changes_nothing(store: Store, school: tuple[
        CalendarServer, str], tmp_path: Path) -> None:
    server, url = school
    server.text = calendar(event("fizik@okul", "Fizik 10-B", SOON))
    sync = CalendarSync(store, ScheduleSettings(calendars=[CalendarSource(room="oda1", url=url)]),
                        tmp_path)
    await sync.sync_all()
    server.text = "<html>Giriş yapın</html>"  # a login page instead of the calendar
    await sync.sync_all()
    assert titles(store, "oda1") == ["Fizik 10-B"]
    assert "not an iCalendar file" in sync.status[f"oda1 {url}"].error


def test_credentials_never_in_a_calendar_url(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text('[[schedule.calendars]]\nroom = "oda1"\n'
                      'url = "https://salon:gizli-parola@takvim.okul.example/dav/oda1/"\n'
                      'caldav = true\n')
    with pytest.raises(BridgeConfigError) as refused:
        load_bridge_config(config)
    assert "schedule.calendars.0" in str(refused.value) and "password_file" in str(refused.value)
    assert "gizli-parola" not in str(refused.value)


# -- CalDAV against Radicale -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real CalDAV server with one user (salon / its password in a file)."""
    pytest.importorskip("radicale")
    users = tmp_path / "radicale-users"
    users.write_text("salon:takvim-parolasi-1\n")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "radicale", "--server-hosts", f"127.0.0.1:{port}",
         "--storage-filesystem-folder", str(tmp_path / "radicale"),
         "--auth-type", "htpasswd", "--auth-htpasswd-filename", str(users),
         "--auth-htpasswd-encryption", "plain", "--logging-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "Radicale did not start"
            time.sleep(0.1)
        password = tmp_path / "caldav.pw"
        password.write_text("takvim-parolasi-1\n")
        yield f"http://127.0.0.1:{port}/", password
    finally:
        proc.terminate()
        proc.wait(10)


async def test_a_caldav_calendar_is_followed_with_credentials_from_a_file(
        store: Store, radicale: tuple[str, Path], tmp_path: Path) -> None:
    from caldav.davclient import DAVClient

    base, password_file = radicale
    # The school's side: a calendar with two meetings, written by another CalDAV client.
    client = DAVClient(url=base, username="salon", password="takvim-parolasi-1")
    school_cal = client.principal().make_calendar(name="Kurul odası", cal_id="kurul")
    school_cal.save_event(calendar(event("kurul@okul", "Öğretmenler kurulu", SOON)))
    veli = school_cal.save_event(calendar(event("veli@okul", "Veli görüşmesi",
                                                 SOON + timedelta(hours=3))))
    url = str(school_cal.url)
    assert "@" not in url and "takvim-parolasi" not in url
    source = CalendarSource(room="kurul", url=url, caldav=True, user="salon",
                            password_file=password_file)
    sync = CalendarSync(store, ScheduleSettings(calendars=[source]), tmp_path)
    await sync.sync_all()
    assert titles(store, "kurul") == ["Veli görüşmesi", "Öğretmenler kurulu"]
    # Changed on the server: one event renamed, the other deleted.
    school_cal.save_event(calendar(event("kurul@okul", "Öğretmenler kurulu (ertelendi)",
                                         SOON + timedelta(days=1))))
    veli.delete()
    await sync.sync_all()
    assert titles(store, "kurul") == ["Öğretmenler kurulu (ertelendi)"]
    # A wrong password: refused by the server, the schedule stays, the error says so.
    password_file.write_text("yanlış\n")
    await sync.sync_all()
    assert titles(store, "kurul") == ["Öğretmenler kurulu (ertelendi)"]
    error = sync.status[source.key].error
    assert "CalDAV failed" in error and "yanlış" not in error
    client.close()


def test_check_config_names_a_calendar_password_file_it_cannot_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bridge.cli import main

    config = tmp_path / "bridge.toml"
    config.write_text(f'state_dir = "{tmp_path}"\n[[schedule.calendars]]\nroom = "oda1"\n'
                      'url = "https://takvim.okul.example/dav/oda1/"\ncaldav = true\n'
                      'user = "salon"\npassword_file = "passwords/caldav"\n')
    assert main(["--config", str(config), "check-config"]) == 2
    assert "schedule.calendars.0.password_file: cannot read" in capsys.readouterr().err
    (tmp_path / "passwords").mkdir()
    (tmp_path / "passwords" / "caldav").write_text("gizli\n")  # next to the config file
    assert main(["--config", str(config), "check-config"]) == 0
