"""One VideoRoom scenario, told through the bridge's own Janus client, whose observable
results are the contract the fake Janus (bridge/janus/fake.py) keeps with the real one."""

from __future__ import annotations

from typing import Any

from bridge.janus.client import JanusConnection, JanusError, JanusHandle
from bridge.janus.videoroom import PLUGIN, Publisher, RoomControl, Subscriber

# A publisher's offer as a browser sends it, without candidates (trickle): Janus answers
# it at once and no packet is ever sent.
OFFER = "\r\n".join([
    "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
    "a=group:BUNDLE 0 1", "a=msid-semantic: WMS salon",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:Fk3q", "a=ice-pwd:5n6cU0ZaFkKpyYBkXqCNE3Qz", "a=ice-options:trickle",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=setup:actpass", "a=mid:0",
    "a=sendonly", "a=msid:salon mic", "a=rtcp-mux", "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 minptime=10;useinbandfec=1", "a=ssrc:1001 cname:salon",
    "m=video 9 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:Fk3q", "a=ice-pwd:5n6cU0ZaFkKpyYBkXqCNE3Qz", "a=ice-options:trickle",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=setup:actpass", "a=mid:1",
    "a=sendonly", "a=msid:salon cam", "a=rtcp-mux", "a=rtpmap:96 VP8/90000",
    "a=rtcp-fb:96 nack", "a=rtcp-fb:96 nack pli", "a=rtcp-fb:96 ccm fir",
    "a=ssrc:2002 cname:salon", "",
])


async def refused(step: Any) -> int | None:
    """The error code Janus answers a request with, or None when it does it."""
    try:
        await step
    except JanusError as exc:
        return exc.code
    return None


def m_lines(sdp: str) -> list[str]:
    return [line.split()[0] for line in sdp.splitlines() if line.startswith("m=")]


def publishers(data: dict[str, Any]) -> list[tuple[str, list[tuple[str, str, bool]]]]:
    """Who a joined publisher is told publishes, with each stream's moderation."""
    return sorted(
        (str(x["id"]), sorted((str(s["type"]), str(s["mid"]), bool(s.get("moderated", False)))
                              for s in x.get("streams", [])))
        for x in data.get("publishers", []))


async def scenario(conn: JanusConnection, admin_key: str | None) -> dict[str, Any]:
    """Room life, user ids, publishing, moderation and subscription refusals."""
    seen: dict[str, Any] = {}
    session = await conn.create_session()
    control = await RoomControl.attach(session, admin_key)
    await control.ensure_room("contract", "s3cret", "contract")
    await control.ensure_room("contract", "s3cret", "contract")  # exists: no error
    raw: JanusHandle = control.handle
    seen["create twice"] = await refused(raw.send({
        "request": "create", "room": "contract", "secret": "x", "admin_key": admin_key}))
    seen["create without the admin key"] = await refused(raw.send(
        {"request": "create", "room": "other"}))

    one = await Publisher.join(session, "contract", "1", "One")
    seen["the same user id again"] = await refused(
        Publisher.join(session, "contract", "1", "One again"))
    seen["join a room that is not there"] = await refused(
        Publisher.join(session, "nowhere", "5", "Five"))
    seen["subscribe before publishing"] = await refused(
        Subscriber.join(session, "contract", None, ["1"]))
    seen["subscribe to nobody"] = await refused(
        Subscriber.join(session, "contract", None, ["404"]))

    answer = await one.publish(OFFER, "One")
    seen["answer m-lines"] = m_lines(answer)
    seen["published"] = [(s.kind, s.mid) for s in one.streams]
    video = next(s.mid for s in one.streams if s.kind == "video")
    seen["publish again on the same handle"] = await refused(one.publish(OFFER, "One"))
    seen["subscribe before its PeerConnection is up"] = await refused(
        Subscriber.join(session, "contract", None, ["1"]))
    listed, _ = await raw.send({"request": "listparticipants", "room": "contract"})
    seen["participants"] = sorted((str(x["id"]), bool(x.get("publisher")))
                                  for x in listed["participants"])
    seen["configure before joining"] = await refused(
        (await session.attach(PLUGIN)).send({"request": "configure", "keyframe": True}))

    seen["moderate"] = await refused(control.moderate("contract", "s3cret", "1", video, True))
    seen["moderate, wrong secret"] = await refused(
        control.moderate("contract", "wrong", "1", video, True))
    seen["moderate nobody"] = await refused(
        control.moderate("contract", "s3cret", "404", video, True))
    seen["moderate a mid it does not publish"] = await refused(
        control.moderate("contract", "s3cret", "1", "7", True))
    seen["moderate in no room"] = await refused(
        control.moderate("nowhere", "s3cret", "1", video, True))

    two = await session.attach(PLUGIN)
    joined, _ = await two.send({"request": "join", "ptype": "publisher", "room": "contract",
                                "id": "2", "display": "Two"})
    seen["a newcomer is told"] = publishers(joined)

    seen["kick nobody"] = await refused(raw.send(
        {"request": "kick", "room": "contract", "secret": "s3cret", "id": "404"}))
    await control.kick("contract", "s3cret", "404")  # the bridge's kick: no such feed is fine
    seen["kick"] = await refused(raw.send(
        {"request": "kick", "room": "contract", "secret": "s3cret", "id": "2"}))
    seen["the kicked id may come back"] = await refused(
        Publisher.join(session, "contract", "2", "Two again"))

    seen["destroy"] = await refused(raw.send(
        {"request": "destroy", "room": "contract", "secret": "s3cret"}))
    seen["destroy again"] = await refused(raw.send(
        {"request": "destroy", "room": "contract", "secret": "s3cret"}))
    await control.destroy_room("contract", "s3cret")  # the bridge's destroy: gone is fine
    await session.destroy()
    return seen
