"""The shared logging setup: redaction, structured fields, journal vs stderr."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

from salon import logs


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logs.setup_logging("salon-test", "DEBUG", journal=False, stream=out)
    yield out
    logging.getLogger().removeHandler(handler)


@pytest.fixture
def journal_fields(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """What reaches systemd.journal.send (the last step before journald's socket)."""
    journal = pytest.importorskip("systemd.journal")
    sent: list[dict[str, Any]] = []

    def capture(message: str, **fields: Any) -> None:
        sent.append({"MESSAGE": message, **fields})

    monkeypatch.setattr(journal, "send", capture)
    handler = logs.setup_logging("salon-appliance", "DEBUG", journal=True)
    assert isinstance(handler, journal.JournalHandler)
    yield sent
    logging.getLogger().removeHandler(handler)


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("login password=hunter22 ok", "hunter22"),
        ('{"password": "s3cr3t!", "user": "ayse"}', "s3cr3t!"),
        ("GET /ws?token=abc.def.ghi&room=5a", "abc.def.ghi"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x.y", "eyJhbGciOiJIUzI1NiJ9"),
        ("bridge https://room5a:devpass@bridge.example/ws", "devpass"),
        ("api_key: 'k-123456'", "k-123456"),
        ("wifi psk=correcthorse", "correcthorse"),
        ("device_token=dt-99887766", "dt-99887766"),
    ],
)
def test_redact_patterns(text: str, leaked: str) -> None:
    assert leaked not in logs.redact(text)
    assert "***" in logs.redact(text)


def test_redact_keeps_ordinary_text() -> None:
    text = "camera on gpio pin=17, room=5a, 30 fps"
    assert logs.redact(text) == text


def test_registered_secret_never_reaches_stderr(stream: io.StringIO) -> None:
    logs.register_secret("Zq9-room-secret")
    log = logging.getLogger("salon.test")
    log.info("joining with %s", "Zq9-room-secret")
    try:
        raise ConnectionError("rejected key Zq9-room-secret")
    except ConnectionError:
        log.exception("join failed")
    out = stream.getvalue()
    assert "Zq9-room-secret" not in out
    assert "joining with ***" in out
    assert "ConnectionError: rejected key ***" in out  # the traceback is redacted too


def test_short_secrets_are_not_registered() -> None:
    logs.register_secret("ab")
    assert logs.redact("tab stop") == "tab stop"


def test_stderr_has_time_level_and_fields(stream: io.StringIO) -> None:
    logs.set_log_context(room="5A", meeting="m-1")
    try:
        logs.log_event(logging.getLogger("salon.room"), "hand", "hand raised by %s", "Ayşe",
                       participant="p7")
    finally:
        logs.set_log_context(room=None, meeting=None)
    line = stream.getvalue().strip()
    expected = " INFO    salon.room: hand raised by Ayşe [hand meeting=m-1 participant=p7 room=5A]"
    assert expected in line
    assert line[:4].isdigit()  # starts with the date


def test_log_context_is_scoped(stream: io.StringIO) -> None:
    log = logging.getLogger("salon.bridge")
    with logs.log_context(meeting="m-2"):
        log.warning("inside")
    log.warning("outside")
    inside, outside = stream.getvalue().splitlines()
    assert inside.endswith("inside [meeting=m-2]")
    assert outside.endswith("outside")


def test_journal_gets_structured_fields_and_no_raw_arguments(
    journal_fields: list[dict[str, Any]],
) -> None:
    logs.register_secret("pw-AAAA-1234")
    with logs.log_context(room="5A", meeting="m-3"):
        logs.log_event(logging.getLogger("salon.conference"), "join", "joined as %s with %s",
                       "Room 5A", "pw-AAAA-1234", participant="p1")
    (entry,) = journal_fields
    assert entry["MESSAGE"] == "joined as Room 5A with ***"
    assert entry["SYSLOG_IDENTIFIER"] == "salon-appliance"
    assert entry["EVENT"] == "join"
    assert entry["ROOM"] == "5A"
    assert entry["MEETING"] == "m-3"
    assert entry["PARTICIPANT"] == "p1"
    assert entry["PRIORITY"] == "6"
    assert entry["LOGGER"] == "salon.conference"
    assert entry["CODE_FUNC"] == "test_journal_gets_structured_fields_and_no_raw_arguments"
    assert "pw-AAAA-1234" not in repr(entry)
    assert "CODE_ARGS" not in entry
    assert all(key.isupper() for key in entry)  # no raw LogRecord attributes (msg, args)


def test_journal_without_systemd_python_uses_priority_prefixes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logs, "_journal_handler", lambda program: None)
    out = io.StringIO()
    handler = logs.setup_logging("salon-bridge", "INFO", journal=True, stream=out)
    try:
        logging.getLogger("salon.x").error("janus died")
        logging.getLogger("salon.x").info("janus restarted")
    finally:
        logging.getLogger().removeHandler(handler)
    assert out.getvalue().splitlines() == [
        "<3>ERROR   salon.x: janus died",
        "<6>INFO    salon.x: janus restarted",
    ]


def test_journal_detection_compares_the_stream(
    monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]
) -> None:
    with open(os.path.join(tmp_path, "f"), "w") as f:
        st = os.fstat(f.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        assert logs.under_journal(f)
        monkeypatch.setenv("JOURNAL_STREAM", "1:2")
        assert not logs.under_journal(f)
    monkeypatch.delenv("JOURNAL_STREAM")
    assert not logs.under_journal()


def test_setup_twice_replaces_its_own_handler() -> None:
    root = logging.getLogger()
    before = len(root.handlers)
    first = logs.setup_logging("salon-test", journal=False, stream=io.StringIO())
    second = logs.setup_logging("salon-test", journal=False, stream=io.StringIO())
    try:
        assert first not in root.handlers
        assert len(root.handlers) == before + 1
    finally:
        root.removeHandler(second)
