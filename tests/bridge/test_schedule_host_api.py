"""Takvim on the server: the host of a room adds, edits and removes its meetings and
imports an .ics file over /api/schedule…, with the seat's token; nobody else may, and a
host of one room cannot touch another's. The real bridge app on a Unix socket (fake
Janus), as in test_web_client_fast."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from tests.bridge import test_web_client_fast as fast
from tests.bridge.test_web_client_fast import MODERATED, OPEN, Served

migrated, served = fast.migrated, fast.served  # its fixtures: the app on a Unix socket

ICS = Path(__file__).with_name("data") / "school.ics"


class Api:
    def __init__(self, served: Served, token: str) -> None:
        self.socket, self.token = served.socket, token

    async def __call__(self, method: str, path: str, body: Any = None,
                       data: bytes | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(self.socket)) as http, \
                http.request(method, f"http://bridge{path}", json=body, data=data,
                             headers=headers) as r:
            return r.status, await r.json()


def weekly(title: str = "Matematik 9-A", **more: Any) -> dict[str, Any]:
    return {"title": title, "start": "2030-01-08T09:00", "minutes": 40, "weekly": True,
            "until": None, "time_zone": "Europe/Istanbul", **more}


async def test_the_host_keeps_the_rooms_schedule_and_nobody_else_may(served: Served) -> None:
    _, welcome = await served.host()
    host = Api(served, welcome["token"])
    status, view = await host("GET", "/api/schedule")
    assert status == 200 and view["room"] == MODERATED and view["entries"] == []

    status, added = await host("POST", "/api/schedule/entries", weekly())
    assert status == 201
    status, view = await host("GET", "/api/schedule")
    [entry] = view["entries"]
    assert entry["typed"] == {"title": "Matematik 9-A", "start": "2030-01-08T09:00",
                              "minutes": 40, "time_zone": "Europe/Istanbul", "weekly": True,
                              "until": None}
    status, _ = await host("PUT", f"/api/schedule/entries/{added['id']}",
                           weekly("Matematik 9-A (lab)", minutes=80, until="2030-06-25"))
    assert status == 200
    _, view = await host("GET", "/api/schedule")
    assert view["entries"][0]["typed"]["minutes"] == 80
    assert view["entries"][0]["typed"]["until"] == "2030-06-25"

    # Bad input is named; nothing is stored.
    status, refused = await host("POST", "/api/schedule/entries", weekly(start="yarın"))
    assert status == 400 and refused["code"] == "bad_schedule" and "start" in refused["message"]
    status, refused = await host("POST", "/api/schedule/entries",
                                 weekly(time_zone="Asia/Nowhere"))
    assert status == 400 and "Asia/Nowhere" in refused["message"]

    # An .ics file: imported, and its series cannot be edited here (only removed).
    status, summary = await host("POST", "/api/schedule/import?name=okul.ics",
                                 data=ICS.read_bytes())
    assert status == 200 and summary["added"] == 3 and summary["notes"]
    _, view = await host("GET", "/api/schedule")
    imported = next(e for e in view["entries"] if e["source"] == "upload: okul.ics")
    assert imported["typed"] is None
    status, refused = await host("PUT", f"/api/schedule/entries/{imported['id']}", weekly())
    assert status == 409 and refused["code"] == "entry_imported"
    status, refused = await host("POST", "/api/schedule/import?name=x.ics", data=b"merhaba")
    assert status == 400 and "not an iCalendar file" in refused["message"]

    # A guest in the room, and a host of another room, may do nothing to this schedule.
    _, guest_welcome = await served.guest(OPEN, "Ali Veli")
    guest = Api(served, guest_welcome["token"])
    status, refused = await guest("GET", "/api/schedule")
    assert status == 403 and refused["code"] == "not_host"
    status, refused = await guest("POST", "/api/schedule/entries", weekly())
    assert status == 403
    other = await served.client()
    await other.send({"type": "join", "id": 1, "protocol": 1, "room": OPEN, "user": "ayse",
                      "password": "doğru-parola-123"})
    other_host = Api(served, (await other.expect("welcome", timeout=2))["token"])
    status, refused = await other_host("DELETE", f"/api/schedule/entries/{added['id']}")
    assert status == 404 and refused["code"] == "no_such_entry"
    status, refused = await other_host("PUT", f"/api/schedule/entries/{added['id']}", weekly())
    assert status == 404
    status, view = await other_host("GET", "/api/schedule")
    assert view["room"] == OPEN and view["entries"] == []
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(served.socket)) as http, \
            http.get("http://bridge/api/schedule") as r:
        assert r.status == 401

    status, _ = await host("DELETE", f"/api/schedule/entries/{added['id']}")
    assert status == 200
    _, view = await host("GET", "/api/schedule")
    assert all(e["id"] != added["id"] for e in view["entries"])
