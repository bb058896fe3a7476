"""A laptop in the room shares its screen through the room's companion page, through the
real web handler and gateway with the fake Janus: the room's seat presents under the
room's right, on the seat's content publisher; the room itself is shown it; the room's
own input and the laptop each start and stop only their own; and the presentation ends
with the laptop's page or the host's stop."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from bridge.janus.fake import FakeJanus
from salon import protocol as p
from tests.support.janus_scenario import OFFER
from tests.support.served_bridge import MODERATED, Served
from tests.support.wsclient import RawClient


async def room_and_laptop(served: Served, host: RawClient
                          ) -> tuple[RawClient, str, RawClient]:
    """A room (a guest the host admits) and a laptop on the room's companion page."""
    room, waiting = await served.guest(MODERATED, "ODA 1")
    pid = str(waiting["you"]["id"])
    await host.send({"type": "admit", "id": 2, "participant": pid})
    await room.expect("welcome", timeout=2)
    link = await room.request({"type": "companion_link"}, 3, timeout=2)
    code = urlsplit(link["path"]).path.rsplit("/", 1)[-1]
    laptop = await served.client()
    welcome = await laptop.request({"type": "join", "protocol": p.PROTOCOL_VERSION,
                                    "room": MODERATED, "companion": code}, 1, timeout=2)
    assert welcome["type"] == "welcome" and welcome["you"]["id"] == pid
    return room, pid, laptop


def presenting(pid: str, via: str | None) -> Any:
    """The seat's record presenting `via` the companion page or (None) its own client."""
    return lambda m: (m.get("type") == "participant_updated" and m["participant"]["id"] == pid
                      and m["participant"]["presenting"]
                      and m["participant"]["presenting_via"] == via)


def not_presenting(pid: str) -> Any:
    return lambda m: (m.get("type") == "participant_updated" and m["participant"]["id"] == pid
                      and not m["participant"]["presenting"])


def offers_content_of(pid: str) -> Any:
    return lambda m: (m.get("type") == "subscribe_offer" and any(
        s["source"] == "content" and s["participant"] == pid for s in m["streams"]))


async def test_a_laptop_presents_for_the_room_under_the_rooms_right(
        served: Served, fake_janus: FakeJanus) -> None:
    host, _ = await served.host()
    room, pid, laptop = await room_and_laptop(served, host)
    refused = await laptop.request({"type": "present", "active": True}, 4, timeout=2)
    assert (refused["type"], refused["code"]) == ("error", "no_present_right")
    early = await laptop.request({"type": "publish_content", "sdp": OFFER}, 5, timeout=2)
    assert (early["type"], early["code"]) == ("error", "not_presenting")

    await host.send({"type": "set_right", "id": 3, "participant": pid, "right": "present",
                     "granted": True})
    assert (await laptop.request({"type": "present", "active": True}, 6, timeout=2)
            )["type"] == "ok"
    await host.expect_where(presenting(pid, "companion"), timeout=2)
    # the room's own input is another side of the seat: it neither stops nor doubles it
    assert (await room.request({"type": "present", "active": False}, 7, timeout=2)
            )["type"] == "ok"
    busy = await room.request({"type": "present", "active": True}, 8, timeout=2)
    assert (busy["type"], busy["code"]) == ("error", "presentation_busy")

    answer = await laptop.request({"type": "publish_content", "sdp": OFFER}, 9, timeout=2)
    assert answer["type"] == "publish_answer"
    fake_janus.webrtc_up(MODERATED, f"{pid}-content")
    await host.expect_where(offers_content_of(pid), timeout=2)
    await room.expect_where(offers_content_of(pid), timeout=2)  # the room shows its laptop
    assert fake_janus.forwarded(MODERATED, f"{pid}-content", "video")

    await laptop.close()  # the laptop's page goes: its presentation ends with it
    await host.expect_where(not_presenting(pid), timeout=2)
    assert not fake_janus.forwarded(MODERATED, f"{pid}-content", "video")


async def test_the_host_stops_the_laptops_share_and_the_room_may_present_again(
        served: Served, fake_janus: FakeJanus) -> None:
    host, _ = await served.host()
    room, pid, laptop = await room_and_laptop(served, host)
    await host.send({"type": "set_right", "id": 3, "participant": pid, "right": "present",
                     "granted": True})
    assert (await laptop.request({"type": "present", "active": True}, 4, timeout=2)
            )["type"] == "ok"
    await laptop.request({"type": "publish_content", "sdp": OFFER}, 5, timeout=2)
    fake_janus.webrtc_up(MODERATED, f"{pid}-content")
    await host.send({"type": "stop_presenting", "id": 6, "participant": pid})
    update = await laptop.expect_where(not_presenting(pid), timeout=2)
    assert update["participant"]["present_right"]  # the right stays
    assert not fake_janus.forwarded(MODERATED, f"{pid}-content", "video")
    # the room's own input may take the presentation now (from its own client)
    assert (await room.request({"type": "present", "active": True}, 9, timeout=2)
            )["type"] == "ok"
    await host.expect_where(presenting(pid, None), timeout=2)
