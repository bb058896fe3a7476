"""The one logging setup shared by the bridge and the appliance.

Under systemd the records go to the journal with structured fields (ROOM, MEETING,
EVENT, SYSLOG_IDENTIFIER, ...) so an admin can ask ``journalctl EVENT=join``. Off
systemd they go to stderr with times and levels. Either way every record first passes
a redacting filter: registered secrets, ``password=...``-style pairs, bearer tokens
and URL credentials never leave the process.

systemd-python is optional: without it (a laptop, CI) a service still logs to the
journal through stderr with ``<N>`` syslog priority prefixes, which journald parses.

This module imports nothing from either program, so both sides can use it.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, TextIO

__all__ = [
    "RedactingFilter",
    "log_context",
    "log_event",
    "redact",
    "register_secret",
    "set_log_context",
    "setup_logging",
    "under_journal",
]

REDACTED = "***"
# Shorter strings would redact ordinary words that happen to equal a short secret.
_MIN_SECRET_LEN = 4

_SECRET_KEYS = (
    r"password|passwd|passphrase|secret|client[_-]?secret|token|access[_-]?token|"
    r"refresh[_-]?token|api[_-]?key|access[_-]?key|authorization|psk|cookie|session[_-]?id"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Bearer abc / Basic abc
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + REDACTED),
    # password=x, "token": "x", api_key: 'x', ?token=x&...
    (
        re.compile(
            r"(?i)\b([\w.-]*(?:" + _SECRET_KEYS + r"))(\"?'?\s*[:=]\s*)"
            r"(\"[^\"]*\"|'[^']*'|[^\s&,;)}\]]+)"
        ),
        r"\1\2" + REDACTED,
    ),
    # scheme://user:pass@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+):[^@\s/]+@"), r"\1:" + REDACTED + "@"),
)

_secrets: set[str] = set()

# Fields that follow every record logged in this context (room, meeting, ...).
_NO_FIELDS: Mapping[str, str] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "salon_log_context", default=_NO_FIELDS
)

# Standard LogRecord attributes; anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)
_JOURNAL_FIELD = re.compile(r"^[A-Z0-9][A-Z0-9_]*$")


def register_secret(value: str | None) -> None:
    """Remember a secret (a device token, an admin password) so no log line shows it."""
    if value and len(value) >= _MIN_SECRET_LEN:
        _secrets.add(value)


def redact(text: str) -> str:
    """Return text with every registered secret and secret-looking value replaced."""
    # Longest first, so a secret containing another one is removed whole.
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def set_log_context(**fields: object) -> None:
    """Attach fields (room=..., meeting=...) to every later record in this context.

    asyncio tasks copy the context when created, so call this before spawning them
    (the appliance does it once at start-up); ``None`` removes a field.
    """
    merged = dict(_context.get())
    for key, value in fields.items():
        if value is None:
            merged.pop(key.upper(), None)
        else:
            merged[key.upper()] = str(value)
    _context.set(merged)


@contextlib.contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Scoped form of set_log_context, e.g. around one meeting's request handling."""
    token = _context.set(dict(_context.get()))
    try:
        set_log_context(**fields)
        yield
    finally:
        _context.reset(token)


def log_event(
    logger: logging.Logger | logging.LoggerAdapter[Any],
    event: str,
    msg: str,
    *args: object,
    level: int = logging.INFO,
    exc_info: bool = False,
    **fields: object,
) -> None:
    """Log msg with an EVENT field and extra structured fields (upper-cased for journald).

    ``log_event(log, "join", "joined %s", room, room="5a", participant="p1")``
    shows in the journal with EVENT=join ROOM=5a PARTICIPANT=p1.
    """
    extra = {key.upper(): value for key, value in fields.items() if value is not None}
    extra["EVENT"] = event
    logger.log(level, msg, *args, exc_info=exc_info, extra=extra, stacklevel=2)


class RedactingFilter(logging.Filter):
    """Renders a record's message once, redacted, and adds the context fields.

    The rendered text replaces msg/args on the shared record, so no later handler,
    formatter or journal field (systemd-python sends the whole record) sees the raw
    arguments. Exception text is rendered and redacted here too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_salon_redacted", False):
            return True
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        # The exception object itself may carry the secret in its repr.
        record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        for key in _extra_keys(record):
            value = getattr(record, key)
            if isinstance(value, str):
                setattr(record, key, redact(value))
        record._salon_redacted = True
        return True


def _extra_keys(record: logging.LogRecord) -> list[str]:
    return [k for k in vars(record) if k not in _RECORD_ATTRS and not k.startswith("_")]


class _FieldsFormatter(logging.Formatter):
    """stderr format: time level logger: message [EVENT room=.. meeting=..]."""

    def __init__(self, *, with_time: bool, syslog_prefix: bool) -> None:
        fmt = "%(asctime)s " if with_time else ""
        fmt += "%(levelname)-7s %(name)s: %(message)s"
        super().__init__(fmt)
        self._syslog_prefix = syslog_prefix

    def formatMessage(self, record: logging.LogRecord) -> str:
        # The fields go right after the message, before any traceback.
        text = super().formatMessage(record)
        fields = {k: getattr(record, k) for k in _extra_keys(record) if k.isupper()}
        event = fields.pop("EVENT", None)
        tail = " ".join(f"{k.lower()}={v}" for k, v in sorted(fields.items()))
        if event or tail:
            text += " [" + " ".join(p for p in (str(event or ""), tail) if p) + "]"
        return text

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if self._syslog_prefix:
            text = f"<{_syslog_priority(record.levelno)}>" + text.replace("\n", "\n  ")
        return text


def _syslog_priority(levelno: int) -> int:
    for limit, priority in ((10, 7), (20, 6), (30, 4), (40, 3), (50, 2)):
        if levelno <= limit:
            return priority
    return 1


def under_journal(stream: TextIO | None = None) -> bool:
    """True when stderr is connected to journald (systemd sets JOURNAL_STREAM=dev:ino)."""
    value = os.environ.get("JOURNAL_STREAM", "")
    if not value:
        return False
    stream = stream if stream is not None else sys.stderr
    try:
        stat = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return True  # can't compare; trust systemd's variable
    return value == f"{stat.st_dev}:{stat.st_ino}"


def _journal_sender(message: str, /, **fields: Any) -> None:
    from systemd import journal

    # systemd-python passes the whole LogRecord; journald only keeps upper-case names,
    # so send only those (the raw record attributes would be noise, or worse).
    clean = {k: v for k, v in fields.items() if _JOURNAL_FIELD.match(k)}
    clean.pop("EXCEPTION_INFO", None)
    journal.send(message, **clean)


def _journal_handler(program: str) -> logging.Handler | None:
    try:
        from systemd.journal import JournalHandler
    except ImportError:
        return None
    handler: logging.Handler = JournalHandler(
        sender_function=_journal_sender, SYSLOG_IDENTIFIER=program
    )
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


def setup_logging(
    program: str,
    level: int | str = logging.INFO,
    *,
    journal: bool | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Configure the root logger for `program` ("salon-appliance", "salon-bridge").

    journal=None detects systemd (JOURNAL_STREAM); True/False forces it. Calling it
    again replaces the handler it installed before. Returns the handler.
    """
    use_journal = under_journal(stream) if journal is None else journal
    handler: logging.Handler | None = _journal_handler(program) if use_journal else None
    if handler is None:
        out = stream if stream is not None else sys.stderr
        handler = logging.StreamHandler(out)
        handler.setFormatter(_FieldsFormatter(with_time=not use_journal, syslog_prefix=use_journal))
    handler.addFilter(RedactingFilter())
    handler.set_name(f"salon:{program}")

    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() and str(old.get_name()).startswith("salon:"):
            root.removeHandler(old)
            old.close()
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # aiohttp's access log and asyncio's debug chatter are not for the journal.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return handler
