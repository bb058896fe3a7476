"""GET /api/rooms/{room}/schedule: a room's coming meetings, for its appliance and hosts.
And /api/schedule…: the host of the room keeps its schedule (Takvim in the web client).

Who may read it: a room appliance signs in the way it does to join — its device
account's user name and password, here as HTTP Basic in the Authorization header
(never in a URL), checked through the same throttled, bounded sign-in as a join; a
participant of the room with its seat token (``Bearer``); anyone for a public room,
whose guests can see the room anyway (a guest-mode appliance has no secret).
"""

from __future__ import annotations

import base64
import binascii
import functools
from dataclasses import asdict
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import hdrs, web
from sqlalchemy import select

from bridge.meetings.effects import Listing, Refusal
from bridge.schedules import MAX_CALENDAR_BYTES, expand
from bridge.store import schedules as stored
from bridge.store.accounts import find_room
from bridge.store.models import Admission, Meeting, Participant, Policy
from bridge.web.http_api import STATUS
from bridge.web.tickets import participant
from salon.protocol import MAX_ID

if TYPE_CHECKING:
    from bridge.meetings import Meetings
    from bridge.web.app import Bridge

MAX_DAYS = 31
DEFAULT_DAYS = 7
PAST = timedelta(hours=12)  # a meeting that began before the room restarted is still on


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep and user and password else None


def read_schedule(meetings: Meetings, address: str, days: int, *, signed_in: bool,
                  pid: int | None) -> dict[str, Any] | Refusal:
    """The room's occurrences from 12 hours ago to `days` ahead, if the caller may see
    them. Runs on the meetings' worker thread like every domain action."""
    now = meetings.clock()
    with meetings.store.transaction() as db:
        room = find_room(db, address)
        if room is None:
            return Refusal("no_such_room", "schedule: there is no room at this address")
        allowed = signed_in or room.policy is Policy.PUBLIC
        if pid is not None and not allowed:
            seat = db.execute(select(Participant.admission, Meeting.room_id).join(
                Meeting, Meeting.id == Participant.meeting_id).where(Participant.id == pid)).first()
            allowed = seat is not None and seat.room_id == room.id \
                and seat.admission is Admission.ADMITTED
        if not allowed:
            return Refusal("unauthorized", "schedule: sign in with the room's account")
        texts = stored.icals(db, room)
        title = room.title
    occurrences = expand(texts, now - PAST, now + timedelta(days=days))
    return {"room": address, "title": title,
            "now": now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "occurrences": [o.as_json() for o in occurrences if o.end > now - PAST]}


def add_schedule_api(app: web.Application, bridge: Bridge) -> None:
    async def schedule(request: web.Request) -> web.Response:
        try:
            days = int(request.query.get("days", DEFAULT_DAYS))
        except ValueError:
            days = 0
        if not 1 <= days <= MAX_DAYS:
            return _error(400, "bad_request", f"schedule: days is 1 to {MAX_DAYS}")
        header = request.headers.get(hdrs.AUTHORIZATION, "")
        signed_in, pid = False, None
        if header.startswith("Bearer "):
            pid = await bridge.runner.call(bridge.meetings.participant_for_token,
                                           header.removeprefix("Bearer ").strip())
            if pid is None:
                return _error(401, "unauthorized", "this room session is no longer valid")
        elif header:
            credentials = _basic(header)
            if credentials is None:
                return _error(401, "unauthorized", "schedule: Authorization is Basic or Bearer")
            address = bridge.security.client_address(request)
            account = await bridge.runner.sign_in.run(address, functools.partial(
                bridge.meetings.authenticate, *credentials, address))
            if isinstance(account, Refusal):
                status = 429 if account.code in ("sign_in_throttled", "sign_in_busy") else 401
                return _error(status, account.code, account.message)
            signed_in = True
        found = await bridge.runner.call(read_schedule, bridge.meetings,
                                         request.match_info["room"], days,
                                         signed_in=signed_in, pid=pid)
        if isinstance(found, Refusal):
            status = 404 if found.code == "no_such_room" else 401
            return _error(status, found.code, found.message)
        return web.json_response(found, headers={"Cache-Control": "private, no-store"})

    app.router.add_get("/api/rooms/{room}/schedule", schedule)
    add_host_schedule_api(app, bridge)


HOST_STATUS = {"no_such_entry": 404, "bad_schedule": 400, "entry_imported": 409}


def _answer(result: Listing | Refusal, status: int = 200) -> web.Response:
    if isinstance(result, Refusal):
        code = HOST_STATUS.get(result.code) or STATUS.get(result.code, 400)
        return web.json_response({"code": result.code, "message": result.message}, status=code)
    return web.json_response(result.items[0], status=status,
                             headers={"Cache-Control": "private, no-store"})


async def _json(request: web.Request) -> object:
    try:
        return await request.json()
    except ValueError:
        return None  # the domain names what is missing


def add_host_schedule_api(app: web.Application, bridge: Bridge) -> None:
    """The host's side, with the seat's token (Bearer) like files and reports; what a
    host may do is decided in bridge/meetings/schedule.py."""
    meetings, call = bridge.meetings, bridge.runner.call

    def entry_id(request: web.Request) -> int:
        value = int(request.match_info["entry"])
        return value if value <= MAX_ID else 0

    async def view(request: web.Request) -> web.Response:
        pid = await participant(bridge, request)
        calendars = [asdict(s) for s in bridge.calendars.status.values()]
        return _answer(await call(meetings.schedule_view, pid, calendars))

    async def add(request: web.Request) -> web.Response:
        pid = await participant(bridge, request)
        return _answer(await call(meetings.schedule_add, pid, await _json(request)), 201)

    async def edit(request: web.Request) -> web.Response:
        pid = await participant(bridge, request)
        return _answer(await call(meetings.schedule_edit, pid, entry_id(request),
                                  await _json(request)))

    async def remove(request: web.Request) -> web.Response:
        pid = await participant(bridge, request)
        return _answer(await call(meetings.schedule_remove, pid, entry_id(request)))

    async def import_file(request: web.Request) -> web.Response:
        pid = await participant(bridge, request)
        if request.content_length is not None and request.content_length > MAX_CALENDAR_BYTES:
            return _answer(Refusal("bad_schedule", f"import: larger than {MAX_CALENDAR_BYTES} "
                                                   "bytes"))
        data = await request.content.read(MAX_CALENDAR_BYTES + 1)
        if len(data) > MAX_CALENDAR_BYTES:
            return _answer(Refusal("bad_schedule", f"import: larger than {MAX_CALENDAR_BYTES} "
                                                   "bytes"))
        name = request.query.get("name", "calendar.ics")
        return _answer(await call(meetings.schedule_import, pid, name, data))

    app.router.add_get("/api/schedule", view)
    app.router.add_post("/api/schedule/entries", add)
    app.router.add_put(r"/api/schedule/entries/{entry:\d{1,18}}", edit)
    app.router.add_delete(r"/api/schedule/entries/{entry:\d{1,18}}", remove)
    app.router.add_post("/api/schedule/import", import_file)
