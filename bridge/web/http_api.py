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

from bridge.meetings.effects import FileAdded, FileDownload, Listing, Refusal
from bridge.meetings.reports import ReportReady, activity_csv, attendance_csv
from bridge.web.tickets import add_ticket_api
from bridge.web.tickets import participant as _participant

if TYPE_CHECKING:
    from bridge.web.app import Bridge

CHUNK = 256 * 1024
STATUS = {"not_host": 403, "not_admitted": 403, "no_such_file": 404, "file_too_large": 413,
          "unauthorized": 401, "rate_limited": 429}


def _refused(refusal: Refusal) -> web.Response:
    return web.json_response({"code": refusal.code, "message": refusal.message},
                             status=STATUS.get(refusal.code, 400))


def add_http_api(app: web.Application, bridge: Bridge) -> None:
    meetings, call = bridge.meetings, bridge.runner.call

    async def upload(request: web.Request) -> web.Response:
        pid = await _participant(bridge, request)
        checked = await call(meetings.check_upload, pid)
        if isinstance(checked, Refusal):
            return _refused(checked)
        reader = await request.multipart()
        part = await reader.next()
        while part is not None and getattr(part, "name", None) != "file":
            part = await reader.next()
        if not isinstance(part, BodyPartReader) or not part.filename:
            raise web.HTTPBadRequest(text="send the file as a multipart field named 'file'")
        filename = part.filename
        limit = meetings.limits.file_max_bytes
        with tempfile.SpooledTemporaryFile(max_size=4 * 1024**2) as spool:
            size = 0
            while chunk := await part.read_chunk(CHUNK):
                size += len(chunk)
                if size > limit:
                    return _refused(Refusal("file_too_large", f"larger than {limit} bytes"))
                spool.write(chunk)
            spool.seek(0)
            received = await call(meetings.receive_file, spool)  # type: ignore[arg-type]
        if isinstance(received, Refusal):
            return _refused(received)
        added = await call(meetings.add_file, pid, filename, received)
        if isinstance(added, Refusal):
            return _refused(added)
        await bridge.apply(added, None, None)
        assert isinstance(added, FileAdded)
        return web.json_response(dataclasses.asdict(added.file), status=201)

    async def list_files(request: web.Request) -> web.Response:
        listed = await call(meetings.list_files, await _participant(bridge, request))
        if isinstance(listed, Refusal):
            return _refused(listed)
        assert isinstance(listed, Listing)
        return web.json_response(list(listed.items))

    async def download(request: web.Request) -> web.StreamResponse:
        pid = await _participant(bridge, request)
        opened = await call(meetings.open_file, pid, int(request.match_info["file_id"]))
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
        which = request.match_info["meeting"]
        ready = await call(meetings.report, pid, None if which == "current" else int(which))
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

    add_ticket_api(app, bridge)
    app.router.add_post("/api/files", upload)
    app.router.add_get("/api/files", list_files)
    app.router.add_get(r"/api/files/{file_id:\d+}", download)
    app.router.add_get("/api/reports", list_reports)
    app.router.add_get(r"/api/reports/{meeting:(\d+|current)}", report)
