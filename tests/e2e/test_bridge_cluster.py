"""Two bridge processes behind HAProxy, on one PostgreSQL, one NATS and one Janus (all from
Debian packages, started here): the people of one meeting are split between them, and
the meeting is one — the lobby, rights, hands, chat order, poll counts and a rate limit
hold across the processes; when one process is killed its clients come back through the
proxy to the other, in their seats with rights, hand and mute; through the proxy's room
door each room's people meet on one process (issue 19)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import cluster as cl
from tests.support.procs import RoomSpec, get_json
from tests.support.wsclient import RawClient

pytestmark = [pytest.mark.netns, pytest.mark.slow,
              pytest.mark.skipif(cl.available() is not None, reason=str(cl.available()))]

ROOM = "sinif"
ROOM_B = "sinif-b"


@pytest.fixture
def two(tmp_path: Path) -> Iterator[cl.Cluster]:
    with cl.bridge_cluster(tmp_path, (RoomSpec(ROOM, "Sınıf 5-A", moderated=True),
                                      RoomSpec(ROOM_B, "Sınıf 5-B", moderated=True))) as c:
        yield c


def held(c: cl.Cluster) -> list[int]:
    """How many admitted members each bridge process holds (its /healthz, local caller)."""
    return [sum(get_json(b.url + "/healthz")["rooms"].values()) for b in c.bridges]


@dataclass
class Seat:
    client: RawClient
    id: str
    token: str


async def host_and_class(c: cl.Cluster, guests: int, room: str = ROOM,
                         url: str | None = None) -> tuple[Seat, list[Seat]]:
    """The host signs in and admits ``guests``, all of whom came through the proxy
    (round robin, or ``url``)."""
    assert c.proxy is not None
    url = url or c.proxy.ws_url
    host = await RawClient.connect(url)
    welcome = await host.sign_in(room, cl.HOST.name, cl.HOST.password, client="bot")
    assert welcome["type"] == "welcome", welcome
    people = []
    for i in range(guests):
        guest = await RawClient.connect(url)
        waiting = await guest.join(room, f"Öğrenci {i}")
        assert waiting["type"] == "lobby_waiting", waiting
        gid = waiting["you"]["id"]
        # The host hears of the guest in the lobby, whichever process holds either.
        await host.expect_where(lambda m, gid=gid: m.get("type") == "lobby" and any(
            w["id"] == gid for w in m["waiting"]), what="the guest in the lobby")
        assert (await host.request({"type": "admit", "participant": gid}, 100 + i))["type"] \
            == "ok"
        admitted = await guest.expect("welcome")
        assert admitted["you"]["id"] == gid
        people.append(Seat(guest, gid, admitted["token"]))
    return Seat(host, welcome["you"]["id"], welcome["token"]), people


async def close_all(*seats: Seat) -> None:
    for seat in seats:
        await seat.client.close()


async def test_one_meeting_across_two_processes(two: cl.Cluster) -> None:
    host, guests = await host_and_class(two, 5)
    try:
        assert all(n > 0 for n in held(two)), f"both processes hold someone: {held(two)}"
        # Hands raised on both processes make one queue, the same for everyone.
        for i, g in enumerate(guests):
            assert (await g.client.request({"type": "set_hand", "raised": True}, 10 + i)
                    )["type"] == "ok"
        places: dict[str, int] = {}
        while len(places) < len(guests):
            m = await host.client.expect("participant_updated")
            if m["participant"]["hand_position"] is not None:
                places[m["participant"]["id"]] = m["participant"]["hand_position"]
        assert [places[g.id] for g in guests] == [1, 2, 3, 4, 5], places

        # Audio rights to a guest reach it and everyone, wherever they are.
        target = guests[-1].id
        assert (await host.client.request({"type": "set_right", "participant": target,
                                           "right": "audio", "granted": True}, 3)
                )["type"] == "ok"
        for g in guests:
            await g.client.expect_where(lambda m: m.get("type") == "participant_updated"
                                        and m["participant"]["id"] == target
                                        and m["participant"]["audio_right"], what="the grant")

        # Chat sent at once on both processes reaches everyone once, in one order.
        for seat in (host, *guests):
            seat.client.drain()
        await asyncio.gather(*(g.client.send({"type": "chat", "text": f"merhaba {i}"})
                               for i, g in enumerate(guests)))
        orders = []
        for seat in (host, *guests):
            orders.append([(await seat.client.expect("chat"))["id"] for _ in guests])
        assert all(order == orders[0] for order in orders), orders
        assert orders[0] == sorted(set(orders[0])) and len(orders[0]) == len(guests)

        # A poll answered on both processes is counted whole.
        await host.client.send({"type": "poll_create", "question": "Hazır mısınız?",
                                "options": ["Evet", "Hayır"]})
        poll = await host.client.expect("poll")
        await host.client.send({"type": "poll_open", "poll": poll["id"]})
        for g in guests:
            await g.client.expect("poll", state="open")
        await asyncio.gather(*(g.client.send({"type": "poll_answer", "poll": poll["id"],
                                              "option": i % 2}) for i, g in enumerate(guests)))
        result = await host.client.expect_where(
            lambda m: m.get("type") == "poll_results" and m["total"] == len(guests),
            what="every answer counted")
        assert result["counts"] == [3, 2]
    finally:
        await close_all(host, *guests)


async def test_after_the_bus_comes_back_nothing_is_lost_or_doubled(two: cl.Cluster) -> None:
    """NATS stops while people on both processes chat, and starts again: each process
    reads back what it missed from the database (and takes what the bus buffered once),
    so everyone gets every line once, in one order, and the room's subjects are heard
    again after the reconnect."""
    host, guests = await host_and_class(two, 4)
    try:
        assert all(n > 0 for n in held(two)), f"both processes hold someone: {held(two)}"
        for seat in (host, *guests):
            seat.client.drain()
        two.nats.stop()
        sent = [f"kesinti {i}" for i in range(len(guests))]
        await asyncio.gather(*(g.client.send({"type": "chat", "text": text})
                               for g, text in zip(guests, sent, strict=True)))
        # A room no process follows yet can be joined with the bus down (its subscription
        # is sent on reconnect).
        late = await RawClient.connect(two.bridges[1].ws_url)
        try:
            entered = await asyncio.wait_for(
                late.sign_in(ROOM_B, cl.HOST.name, cl.HOST.password, client="bot"), 15)
            assert entered["type"] == "welcome", entered
        finally:
            await late.close()
        await asyncio.sleep(1.0)
        two.nats.restart()
        await asyncio.sleep(2.0)  # reconnected (nats-py retries every 0.5 s)
        await host.client.send({"type": "chat", "text": "geri geldi"})
        sent.append("geri geldi")
        orders = []
        for seat in (host, *guests):
            lines = [await seat.client.expect("chat", timeout=60) for _ in sent]
            assert sorted(m["text"] for m in lines) == sorted(sent), lines
            orders.append([m["id"] for m in lines])
        assert all(order == orders[0] for order in orders), orders
        await asyncio.sleep(2.0)
        for seat in (host, *guests):
            again = [m for m in seat.client.drain() if m.get("type") == "chat"]
            assert not again, f"a line came twice: {again}"
    finally:
        await close_all(host, *guests)


async def test_with_room_affinity_each_rooms_people_meet_on_one_process(
        two: cl.Cluster) -> None:
    """The proxy's room door hashes the room the clients name in the socket's address
    (`?room=`, as the meeting page and the appliance do): a room's events are then
    handled by one process, not by every process holding one of its people (what the
    capacity model's room affinity counts on). Two rooms, four people each."""
    assert two.proxy is not None
    seats: list[Seat] = []
    try:
        for room in (ROOM, ROOM_B):
            host, guests = await host_and_class(two, 3, room, two.proxy.room_url(room))
            seats += [host, *guests]
        health = [get_json(b.url + "/healthz") for b in two.bridges]
        for room in (ROOM, ROOM_B):
            assert sorted(h["rooms"].get(room, 0) for h in health) == [0, 4], health
        # Each process hears only the rooms it holds someone of (bridge/bus.py).
        assert [h["rooms_heard"] for h in health] == [len(h["rooms"]) for h in health]
    finally:
        await close_all(*seats)
    # Everyone gone: no process hears either room any longer.
    cl.wait_until(lambda: all(get_json(b.url + "/healthz")["rooms_heard"] == 0
                              for b in two.bridges), 20, "the rooms left")


async def http(method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(method, url,
                                                                   **kwargs) as resp:
        body = await (resp.json() if resp.content_type == "application/json"
                      else resp.read())
        return resp.status, body


async def test_tickets_and_phone_codes_are_good_on_either_process(two: cl.Cluster) -> None:
    """A balancer sends a browser's download, and a phone's requests, wherever it likes:
    a download ticket minted on one process opens its file on the other, once; a phone
    code issued on one works on the other, socket and downloads, and ends there when the
    seat leaves."""
    first, second = two.bridges
    host = await RawClient.connect(first.ws_url)
    phone: RawClient | None = None
    try:
        welcome = await host.sign_in(ROOM, cl.HOST.name, cl.HOST.password, client="bot")
        bearer = {"Authorization": f"Bearer {welcome['token']}"}
        form = aiohttp.FormData()
        form.add_field("file", b"odev: sayfa 12", filename="Odev.txt")
        status, added = await http("POST", first.url + "/api/files", data=form, headers=bearer)
        assert status == 201, added
        path = f"/api/files/{added['id']}"
        status, minted = await http("POST", first.url + "/api/tickets", json={"path": path},
                                    headers=bearer)
        assert status == 200, minted
        assert await http("GET", second.url + minted["url"]) == (200, b"odev: sayfa 12")
        for bridge in (second, first):  # spent, on both
            assert (await http("GET", bridge.url + minted["url"]))[0] == 401

        link = await host.request({"type": "companion_link"}, 2)
        code = link["path"].split("/c/")[1].split("?")[0]
        phone = await RawClient.connect(second.ws_url)
        seat = await phone.request({"type": "join", "protocol": 1, "room": ROOM,
                                    "companion": code, "client": "companion"}, 1)
        assert seat["type"] == "welcome" and seat["you"]["id"] == welcome["you"]["id"], seat
        # Nobody acts in the room on the phone's process, and it still carries out the
        # room's events for the phone.
        await host.send({"type": "chat", "text": "telefona merhaba"})
        await phone.expect("chat", timeout=20, text="telefona merhaba")
        status, minted = await http("POST", second.url + "/api/tickets", json={"path": path},
                                    headers={"Authorization": f"Companion {code}"})
        assert status == 200, minted
        assert await http("GET", first.url + minted["url"]) == (200, b"odev: sayfa 12")

        await host.send({"type": "leave", "id": 3})
        bye = await phone.expect("bye", timeout=20)
        assert bye["reason"] == "room_left", bye
        status, _ = await http("POST", first.url + "/api/tickets", json={"path": path},
                               headers={"Authorization": f"Companion {code}"})
        assert status == 401, "the code is revoked on every process"
    finally:
        await host.close()
        if phone is not None:
            await phone.close()


async def test_a_sign_in_throttle_holds_across_processes(two: cl.Cluster) -> None:
    """Failed sign-ins counted on one process count on the other: a guesser who spreads
    attempts over the processes behind the balancer gains nothing."""
    first, second = two.bridges
    for i, bridge in enumerate([first] * 5 + [second]):
        guesser = await RawClient.connect(bridge.ws_url)
        try:
            answer = await guesser.sign_in(ROOM, cl.HOST.name, f"yanlis-{i}", client="bot")
        finally:
            await guesser.close()
        expected = "bad_credentials" if i < 5 else "sign_in_throttled"
        assert answer["type"] == "error" and answer["code"] == expected, (i, answer)


async def test_killing_one_process_its_clients_resume_on_the_other(two: cl.Cluster) -> None:
    """SIGKILL, not a clean stop: nobody is told. Those it held reconnect through the
    proxy to the other process with their tokens and are in their seats — rights, raised
    hand and mute kept, the meeting whole; one that does not come back is seen to leave."""
    assert two.proxy is not None
    host, guests = await host_and_class(two, 4)
    try:
        for i, g in enumerate(guests):
            for ask in ({"type": "set_right", "participant": g.id, "right": "audio",
                         "granted": True},):
                assert (await host.client.request(ask, 30 + i))["type"] == "ok"
            assert (await g.client.request({"type": "set_hand", "raised": True}, 40)
                    )["type"] == "ok"
            assert (await g.client.request({"type": "set_media_state", "mic_muted": True},
                                           41))["type"] == "ok"
        killed = two.bridges[0]
        killed.proc.send_signal(signal.SIGKILL)
        killed.proc.wait(10)
        everyone = [host, *guests]
        await asyncio.sleep(2.0)  # the sockets it held end (the proxy closes them)
        dropped = [s for s in everyone if s.client._reader.done()]
        kept = [s for s in everyone if s not in dropped]
        assert dropped and kept, "the proxy had put people on both processes"
        stays_away = next((s for s in dropped if s is not host), None)
        back = [s for s in dropped if s is not stays_away]
        present: set[str] = set()
        for seat in back:
            await seat.client.close()
            seat.client = await RawClient.connect(two.proxy.ws_url)
            welcome = await seat.client.request({"type": "join", "protocol": 1, "room": ROOM,
                                                 "token": seat.token, "client": "bot"}, 1)
            assert welcome["type"] == "welcome", welcome
            you = welcome["you"]
            if seat is not host:
                assert you["audio_right"] and you["mic_muted"], you
                assert you["hand_position"] is not None, you
            present = {p["id"] for p in welcome["participants"]}
        # The meeting is whole: everyone who came back and everyone who stayed.
        assert {s.id for s in back + kept} <= present, present
        if stays_away is not None:
            # Its process is gone (no heartbeat for gone_after_s): the others see it leave.
            for seat in kept:
                await seat.client.expect_where(
                    lambda m: m.get("type") == "participant_left" and m["id"] == stays_away.id,
                    timeout=30, what="the one who did not come back, leaving")
    finally:
        await close_all(host, *guests)
