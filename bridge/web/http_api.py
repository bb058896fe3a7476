"""HTTP routes for what does not fit a WebSocket: files (Dosyalar: upload by the host,
Bilgisayarıma Kaydet for everyone in the room) and reports (Raporlar) for hosts.

Every request carries the participant's room session token in ``Authorization: Bearer``
(never in a URL); a download link carries a single-use ticket instead (bridge/web/
tickets.py). The meetings domain decides what it may do.
"""

from __future__ import annotations

import dataclasses
import tempfile
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from bridge.meetings.effects import FileAdded, FileDownload, Files, Listing, Refusal
from bridge.meetings.files import storage_refusal
from bridge.meetings.reports import ReportReady, activity_csv, attendance_csv
from bridge.meetings.service import store_refusal
from bridge.store.db import StoreBusy, StoreFull
from bridge.web.tickets import add_ticket_api
from bridge.web.tickets import participant as _participant
from salon.protocol import MAX_ID

if TYPE_CHECKING:
    from bridge.web.app import Bridge

CHUNK = 256 * 1024
STATUS = {"not_host": 403, "not_admitted": 403, "no_such_file": 404, "file_too_large": 413,
          "unauthorized": 401, "rate_limited": 429, "no_such_meeting": 404,
          "storage_full": 507, "storage_error": 507, "busy": 503}
NOT_MULTIPART = Refusal("bad_upload", "upload file: send the file as multipart/form-data "
                                      "with a field named 'file'")


def _refused(refusal: Refusal) -> web.Response:
    return web.json_response({"code": refusal.code, "message": refusal.message},
                             status=STATUS.get(refusal.code, 400),
                             headers={"Retry-After": "5"} if refusal.code == "busy" else None)


def _row_id(request: web.Request, name: str) -> int | None:
    """A row id from the path (digits by the route), or None if no row can have it."""
    value = int(request.match_info[name])
    return value if value <= MAX_ID else None


@web.middleware
async def store_trouble(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The database busy or full outside a domain action (e.g. reading a token): the
    same clear answer the actions give."""
    try:
        return await handler(request)
    except (StoreBusy, StoreFull) as exc:
        return _refused(store_refusal(f"{request.method} {request.path}", exc))


async def _upload_part(request: web.Request) -> BodyPartReader | None:
    """The multipart field 'file' with a file name, or None."""
    if request.content_type != "multipart/form-data" or "boundary" not in (
            request.headers.get("Content-Type", "")):
        return None
    try:
        reader = await request.multipart()
        part = await reader.next()
        while part is not None and getattr(part, "name", None) != "file":
            part = await reader.next()
    except (ValueError, HttpProcessingError):  # a malformed multipart body
        return None
    return part if isinstance(part, BodyPartReader) and part.filename else None


def add_http_api(app: web.Application, bridge: Bridge) -> None:
    meetings, call = bridge.meetings, bridge.runner.call

    async def upload(request: web.Request) -> web.Response:
        pid = await _participant(bridge, request)
        checked = await call(meetings.check_upload, pid)
        if isinstance(checked, Refusal):
            return _refused(checked)
        part = await _upload_part(request)
        if part is None or part.filename is None:
            return _refused(NOT_MULTIPART)
        filename = part.filename
        limit = meetings.limits.file_max_bytes
        # Spooled on the vault's disk (an unnamed file): a full disk shows here already.
        with tempfile.SpooledTemporaryFile(max_size=4 * 1024**2,
                                           dir=str(meetings.vault.incoming)) as spool:
            size = 0
            try:
                while chunk := await part.read_chunk(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        return _refused(Refusal("file_too_large", f"larger than {limit} bytes"))
                    spool.write(chunk)
            except OSError as exc:
                return _refused(storage_refusal("upload file", exc))
            spool.seek(0)
            received = await call(meetings.receive_file, spool)  # type: ignore[arg-type]
        if isinstance(received, Refusal):
            return _refused(received)
        added = await call(meetings.add_file, pid, filename, received)
        if isinstance(added, Refusal):
            return _refused(added)
        await bridge.apply(added, None, None)
        assert isinstance(added, FileAdded)
        return web.json_response(added.file.model_dump(), status=201)

    async def list_files(request: web.Request) -> web.Response:
        listed = await call(meetings.list_files, await _participant(bridge, request))
        if isinstance(listed, Refusal):
            return _refused(listed)
        assert isinstance(listed, Files)
        return web.json_response([f.model_dump() for f in listed.files])

    async def download(request: web.Request) -> web.StreamResponse:
        pid = await _participant(bridge, request)
        file_id = _row_id(request, "file_id")
        if file_id is None:
            return _refused(Refusal("no_such_file", "download file: no such file in this room"))
        opened = await call(meetings.open_file, pid, file_id)
        if isinstance(opened, Refusal):
            return _refused(opened)
        assert isinstance(opened, FileDownload)
        return web.FileResponse(opened.path, headers={
            # Always an attachment: uploaded content is never rendered by the bridge's origin.
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(opened.name)}",
            "Content-Type": "application/octet-stream",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "private, no-store",
        })

    async def list_reports(request: web.Request) -> web.Response:
        listed = await call(meetings.list_meetings, await _participant(bridge, request))
        if isinstance(listed, Refusal):
            return _refused(listed)
        assert isinstance(listed, Listing)
        return web.json_response(list(listed.items))

    async def report(request: web.Request) -> web.Response:
        pid = await _participant(bridge, request)
        current = request.match_info["meeting"] == "current"
        meeting = None if current else _row_id(request, "meeting")
        if meeting is None and not current:
            return _refused(Refusal("no_such_meeting", "report: no such meeting in this room"))
        ready = await call(meetings.report, pid, meeting)
        if isinstance(ready, Refusal):
            return _refused(ready)
        assert isinstance(ready, ReportReady)
        fmt = request.query.get("format", "json")
        if fmt == "json":
            body: Any = dataclasses.asdict(ready.report)
            return web.json_response(body)
        kind = request.query.get("kind", "attendance")
        text = attendance_csv(ready.report) if kind == "attendance" else activity_csv(ready.report)
        name = f"salon-{ready.report.room}-{ready.report.meeting}-{kind}.csv"
        return web.Response(text=text, content_type="text/csv", charset="utf-8", headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "private, no-store"})

    app.middlewares.append(store_trouble)
    add_ticket_api(app, bridge)
    app.router.add_post("/api/files", upload)
    app.router.add_get("/api/files", list_files)
    app.router.add_get(r"/api/files/{file_id:\d+}", download)
    app.router.add_get("/api/reports", list_reports)
    app.router.add_get(r"/api/reports/{meeting:(\d+|current)}", report)
