"""Fetching the room's schedule from the bridge (GET /api/rooms/<room>/schedule).

The room signs in as it does to join ([join] device account, HTTP Basic in the header,
never in the URL); in guest mode it asks without credentials (a public room's schedule
is public). The bridge's certificate is checked with the room's own trust — the CA,
or the pinned key on this very connection before the credentials are sent — which is
why this is one plain HTTP/1.1 request over an asyncio stream rather than a pooled
client that could send the header on a connection nobody checked.

The last good schedule is kept in the state directory: a room that restarts while
the bridge is unreachable still follows it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from appliance.conference.trust import CertificateRefused, check_certificate, client_context
from appliance.day import ScheduledMeeting
from appliance.provisioning.loader import Settings

log = logging.getLogger("salon.schedule")
CACHE_FILE = "schedule.json"
MAX_RESPONSE = 1024 * 1024
TIMEOUT_S = 15.0


class ScheduleUnavailable(Exception):
    """The schedule could not be fetched or read; the message says why."""


def parse(body: dict[str, Any]) -> tuple[ScheduledMeeting, ...]:
    try:
        return tuple(sorted(ScheduledMeeting(
            start=datetime.fromisoformat(o["start"].replace("Z", "+00:00")),
            end=datetime.fromisoformat(o["end"].replace("Z", "+00:00")),
            uid=str(o["uid"]), title=str(o["title"])) for o in body["occurrences"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ScheduleUnavailable(f"the bridge's schedule is not understood: {exc!r}") from None


def _authorization(s: Settings) -> str | None:
    j = s.join
    if j.mode != "device" or not j.user:
        return None
    secret = j.read_password()
    if secret is None:
        return None
    token = base64.b64encode(f"{j.user}:{secret.get_secret_value()}".encode()).decode()
    return f"Basic {token}"


async def fetch(s: Settings, days: int = 7) -> tuple[ScheduledMeeting, ...]:
    url = urlsplit(s.bridge.url)
    secure = url.scheme == "https"
    host = url.hostname or ""
    port = url.port or (443 if secure else 80)
    path = f"{url.path.rstrip('/')}/api/rooms/{s.bridge.room}/schedule?days={days}"
    tls: ssl.SSLContext | None = (
        client_context(s.bridge.ca_file, s.bridge.pin_sha256) if secure else None)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            host, port, ssl=tls, server_hostname=host if secure else None), TIMEOUT_S)
    except ssl.SSLError as exc:
        raise ScheduleUnavailable(f"TLS with {host}:{port} failed: {exc}") from None
    except (OSError, TimeoutError) as exc:
        raise ScheduleUnavailable(f"cannot reach {host}:{port}: {exc}") from None
    try:
        if secure and s.bridge.pin_sha256:  # before the credentials leave the room
            ssl_object = writer.get_extra_info("ssl_object")
            check_certificate(ssl_object.getpeercert(binary_form=True) if ssl_object else None,
                              s.bridge.pin_sha256)
        headers = [f"GET {path} HTTP/1.1", f"Host: {url.netloc}", "Accept: application/json",
                   "User-Agent: salon-appliance", "Connection: close"]
        auth = _authorization(s)
        if auth:
            headers.append(f"Authorization: {auth}")
        writer.write(("\r\n".join(headers) + "\r\n\r\n").encode())
        raw = await asyncio.wait_for(reader.read(MAX_RESPONSE), TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise ScheduleUnavailable(f"schedule request failed: {exc}") from None
    except CertificateRefused as exc:
        raise ScheduleUnavailable(f"the bridge's certificate is refused: {exc.detail}") from None
    finally:
        writer.close()
    return parse(_json_body(raw))


def _json_body(raw: bytes) -> dict[str, Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (h.partition(":") for h in header_lines)}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _unchunk(body)
    try:
        data = json.loads(body)
    except ValueError:
        data = {}
    if status != 200:
        why = data.get("message") if isinstance(data, dict) else None
        raise ScheduleUnavailable(f"the bridge answered {status}: {why or status_line}")
    if not isinstance(data, dict):
        raise ScheduleUnavailable("the bridge's schedule is not a JSON object")
    return data


def _unchunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return bytes(out)


def save(state_dir: Path, meetings: tuple[ScheduledMeeting, ...]) -> None:
    data = {"occurrences": [{"uid": m.uid, "title": m.title, "start": m.start.isoformat(),
                             "end": m.end.isoformat()} for m in meetings]}
    tmp = state_dir / (CACHE_FILE + ".tmp")
    try:
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        tmp.replace(state_dir / CACHE_FILE)
    except OSError as exc:
        log.warning("cannot keep the schedule in %s: %s", state_dir, exc)


def load_saved(state_dir: Path) -> tuple[ScheduledMeeting, ...] | None:
    try:
        return parse(json.loads((state_dir / CACHE_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, ScheduleUnavailable):
        return None
