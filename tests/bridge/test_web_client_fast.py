"""The web client handler (bridge/web/client.py) in the real bridge app, with the fake
Janus behind its gateway and the app served on a Unix socket in the test's own process:
no Janus process, no browser, no network. What a client is told and what Janus is asked:
rights become ``moderate`` at the SFU, talking reaches the roster, a Janus that went
away brings ``media_reset``, and media needs admission."""

from __future__ import annotations

from typing import Any

from bridge.janus.fake import FakeJanus
from tests.support.fake_janus import until
from tests.support.janus_scenario import OFFER
from tests.support.served_bridge import MODERATED, OPEN, Served
from tests.support.wsclient import RawClient


async def publish(c: RawClient, fake: FakeJanus, room: str, pid: str) -> dict[str, Any]:
    """Publish, as a browser does, and have Janus see the PeerConnection come up."""
    await c.send({"type": "publish", "id": 5, "sdp": OFFER})
    answer = await c.expect("publish_answer", timeout=2)
    fake.webrtc_up(room, pid)
    await c.expect_where(lambda m: m.get("type") == "participant_updated"
                         and m["participant"]["id"] == pid and m["participant"]["publishing"],
                         timeout=2)
    return answer


async def test_a_guest_on_an_open_floor_publishes_and_is_forwarded(
        served: Served, fake_janus: FakeJanus) -> None:
    c, welcome = await served.guest(OPEN, "Ali Veli")
    pid = welcome["you"]["id"]
    answer = await publish(c, fake_janus, OPEN, pid)
    assert [line.split()[0] for line in answer["sdp"].splitlines()
            if line.startswith("m=")] == ["m=audio", "m=video"]
    assert fake_janus.forwarded(OPEN, pid, "audio") and fake_janus.forwarded(OPEN, pid, "video")


async def test_a_camera_is_forwarded_only_while_the_host_grants_it(
        served: Served, fake_janus: FakeJanus) -> None:
    host, _ = await served.host()
    guest, waiting = await served.guest(MODERATED, "Veli Can")
    assert waiting["type"] == "lobby_waiting"
    pid = waiting["you"]["id"]
    await guest.send({"type": "publish", "id": 2, "sdp": OFFER})
    assert (await guest.expect("error", timeout=2))["code"] == "not_admitted"
    await host.send({"type": "admit", "id": 2, "participant": pid})
    await guest.expect("welcome", timeout=2)

    await publish(guest, fake_janus, MODERATED, pid)  # a client sending video anyway
    assert not fake_janus.forwarded(MODERATED, pid, "video")
    assert not fake_janus.forwarded(MODERATED, pid, "audio")
    await guest.send({"type": "set_media_state", "id": 6, "camera_on": True})
    assert (await guest.expect("error", timeout=2))["code"] == "no_camera_right"

    await host.send({"type": "set_right", "id": 3, "participant": pid, "right": "camera",
                     "granted": True})
    await host.expect("ok", timeout=2, re=3)
    await until(lambda: fake_janus.forwarded(MODERATED, pid, "video"), "video unmuted")
    assert not fake_janus.forwarded(MODERATED, pid, "audio"), "the camera right only"
    publisher = fake_janus.publisher(MODERATED, pid)
    assert publisher is not None and publisher.keyframes == 1

    await host.send({"type": "set_right", "id": 4, "participant": pid, "right": "camera",
                     "granted": False})
    await host.expect("ok", timeout=2, re=4)
    await until(lambda: not fake_janus.forwarded(MODERATED, pid, "video"), "video muted")


async def test_talking_reaches_the_others_roster(
        served: Served, fake_janus: FakeJanus) -> None:
    speaker, welcome = await served.guest(OPEN, "Ali Veli")
    listener, _ = await served.guest(OPEN, "Ayşe Kaya")
    pid = welcome["you"]["id"]
    await publish(speaker, fake_janus, OPEN, pid)
    offer = await listener.expect("subscribe_offer", timeout=2)
    assert {s["participant"] for s in offer["streams"]} == {pid}
    await listener.send({"type": "subscribe_answer", "id": 9, "sdp": "v=0 an answer"})
    await listener.expect("ok", timeout=2, re=9)
    assert [h.started for h in fake_janus.subscribers(OPEN)] == [True]

    fake_janus.talking(OPEN, pid)
    update = await listener.expect_where(
        lambda m: m.get("type") == "participant_updated" and m["participant"]["talking"],
        timeout=2)
    assert update["participant"]["id"] == pid


async def test_a_janus_that_went_away_and_came_back_brings_a_media_reset(
        served: Served, fake_janus: FakeJanus) -> None:
    c, welcome = await served.guest(OPEN, "Ali Veli")
    pid = welcome["you"]["id"]
    await publish(c, fake_janus, OPEN, pid)
    await fake_janus.go_away()
    await c.send({"type": "publish", "id": 7, "sdp": OFFER})
    assert (await c.expect("error", timeout=2, re=7))["code"] == "media_unavailable"
    fake_janus.come_back()
    await c.expect("media_reset", timeout=3)
    await publish(c, fake_janus, OPEN, pid)  # the same seat, a new Janus session
    assert fake_janus.forwarded(OPEN, pid, "audio")


async def test_leaving_ends_the_participants_janus_session(
        served: Served, fake_janus: FakeJanus) -> None:
    c, welcome = await served.guest(OPEN, "Ali Veli")
    pid = welcome["you"]["id"]
    await publish(c, fake_janus, OPEN, pid)
    await c.send({"type": "leave"})
    assert (await c.expect("bye", timeout=2))["reason"] == "left"
    await until(lambda: fake_janus.publisher(OPEN, pid) is None, "its publisher gone")
    assert len(fake_janus.sessions) == 1, "only the gateway's room control is left"
