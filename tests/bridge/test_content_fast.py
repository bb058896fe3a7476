"""Content (a shared screen) through the real web handler and gateway with the fake Janus:
a publisher of its own, opened at the SFU only while its participant holds the right and
the presentation, and announced to viewers as ``source: "content"``."""

from __future__ import annotations

from typing import Any

from bridge.janus.fake import FakeJanus
from tests.support.janus_scenario import OFFER
from tests.support.served_bridge import MODERATED, Served
from tests.support.wsclient import RawClient


async def admitted_guest(served: Served, host: RawClient, name: str) -> tuple[RawClient, str]:
    guest, waiting = await served.guest(MODERATED, name)
    pid = str(waiting["you"]["id"])
    await host.send({"type": "admit", "id": 2, "participant": pid})
    await guest.expect("welcome", timeout=2)
    return guest, pid


async def share(guest: RawClient, fake: FakeJanus, pid: str) -> dict[str, Any]:
    await guest.send({"type": "publish_content", "id": 7, "sdp": OFFER})
    reply = await guest.expect_where(lambda m: m.get("re") == 7, timeout=2)
    if reply["type"] == "publish_answer":
        fake.webrtc_up(MODERATED, f"{pid}-content")
    return reply


async def test_content_needs_the_presentation_and_is_offered_as_content(
        served: Served, fake_janus: FakeJanus) -> None:
    host, _ = await served.host()
    guest, pid = await admitted_guest(served, host, "Veli Can")
    refused = await share(guest, fake_janus, pid)
    assert (refused["type"], refused["code"]) == ("error", "not_presenting")
    await guest.send({"type": "present", "id": 8, "active": True})
    assert (await guest.expect("error", timeout=2, re=8))["code"] == "no_present_right"

    await host.send({"type": "set_right", "id": 3, "participant": pid, "right": "present",
                     "granted": True})
    assert (await guest.expect("notice", timeout=2))["code"] == "present_granted"
    await guest.send({"type": "present", "id": 9, "active": True})
    await guest.expect("ok", timeout=2, re=9)
    assert (await share(guest, fake_janus, pid))["type"] == "publish_answer"
    offer = await host.expect_where(
        lambda m: m.get("type") == "subscribe_offer"
        and any(s["source"] == "content" for s in m["streams"]), timeout=2)
    content = [(s["kind"], s["participant"]) for s in offer["streams"]
               if s["source"] == "content"]
    assert content == [("audio", pid), ("video", pid)]
    assert fake_janus.forwarded(MODERATED, f"{pid}-content", "video")
    assert not fake_janus.forwarded(MODERATED, pid, "video")  # the camera is apart


async def test_content_reaches_nobody_once_the_right_is_taken_back(
        served: Served, fake_janus: FakeJanus) -> None:
    host, _ = await served.host()
    guest, pid = await admitted_guest(served, host, "Veli Can")
    await host.send({"type": "set_right", "id": 3, "participant": pid, "right": "present",
                     "granted": True})
    await guest.send({"type": "present", "id": 9, "active": True})
    await guest.expect("ok", timeout=2, re=9)
    await share(guest, fake_janus, pid)
    await host.expect_where(lambda m: m.get("type") == "subscribe_offer", timeout=2)
    assert fake_janus.forwarded(MODERATED, f"{pid}-content", "video")

    # the client keeps sending; the host takes the right back: muted at Janus
    await host.send({"type": "set_right", "id": 4, "participant": pid, "right": "present",
                     "granted": False})
    update = await host.expect_where(
        lambda m: m.get("type") == "participant_updated" and m["participant"]["id"] == pid
        and not m["participant"]["present_right"], timeout=2)
    assert update["participant"]["presenting"] is False
    await host.expect("ok", timeout=2, re=4)
    assert not fake_janus.forwarded(MODERATED, f"{pid}-content", "video")
    assert not fake_janus.forwarded(MODERATED, f"{pid}-content", "audio")


async def test_the_host_stops_a_presentation_and_the_presenter_is_told(
        served: Served, fake_janus: FakeJanus) -> None:
    host, _ = await served.host()
    guest, pid = await admitted_guest(served, host, "Veli Can")
    await host.send({"type": "present", "id": 5, "active": True})
    await host.expect("ok", timeout=2, re=5)
    await host.send({"type": "set_right", "id": 3, "participant": pid, "right": "present",
                     "granted": True})
    await guest.send({"type": "present", "id": 9, "active": True})
    busy = await guest.expect("error", timeout=2, re=9)
    assert busy["code"] == "presentation_busy" and "Ayşe Öğretmen" in busy["message"]
    await host.send({"type": "present", "id": 6, "active": False})
    await guest.send({"type": "present", "id": 10, "active": True})
    await guest.expect("ok", timeout=2, re=10)
    await share(guest, fake_janus, pid)
    await host.send({"type": "stop_presenting", "id": 7, "participant": pid})
    assert (await guest.expect("notice", timeout=2))["code"] == "presentation_stopped_by_host"
    await host.expect("ok", timeout=2, re=7)
    assert not fake_janus.forwarded(MODERATED, f"{pid}-content", "video")
