"""One VideoRoom scenario, told through the bridge's own Janus client, whose observable
results are the contract the fake Janus (bridge/janus/fake.py) keeps with the real one."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from bridge.janus.client import JanusConnection, JanusError, JanusHandle
from bridge.janus.videoroom import (
    PLUGIN,
    Publisher,
    RoomControl,
    SubscribedStream,
    Subscriber,
    parse_streams,
)

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

# The same with the camera in three simulcast layers, as a browser publishes it.
SIMULCAST_OFFER = OFFER.replace(
    "a=ssrc:2002 cname:salon",
    "a=rid:h send\r\na=rid:m send\r\na=rid:l send\r\na=simulcast:send h;m;l")


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
    seen["publish on a kicked handle"] = await refused(
        two.send({"request": "publish", "display": "Two"}, {"type": "offer", "sdp": OFFER}))
    seen["configure a kicked handle"] = await refused(
        two.send({"request": "configure", "keyframe": True}))
    seen["the kicked id may come back"] = await refused(
        Publisher.join(session, "contract", "2", "Two again"))

    seen["destroy"] = await refused(raw.send(
        {"request": "destroy", "room": "contract", "secret": "s3cret"}))
    seen["destroy again"] = await refused(raw.send(
        {"request": "destroy", "room": "contract", "secret": "s3cret"}))
    await control.destroy_room("contract", "s3cret")  # the bridge's destroy: gone is fine
    await session.destroy()
    return seen


class Media(Protocol):
    """What only media causes: a publisher's PeerConnection up and down, a subscriber's
    answer. Real aiortc peers against Janus; the fake's controls against the fake."""

    async def offer(self) -> str: ...

    async def accept(self, answer: str) -> None: ...

    async def answer(self, offer: str) -> str: ...

    async def hang_up(self) -> None: ...


def watch_core(pub: Publisher) -> list[tuple[Any, ...]]:
    """The core events of a publisher's PeerConnection, as Janus sends them."""
    seen: list[tuple[Any, ...]] = []
    handler = pub.handle.on_core

    def record(msg: dict[str, Any]) -> None:
        seen.append((msg.get("janus"), msg.get("type"), msg.get("mid"), msg.get("receiving")))
        if handler is not None:
            handler(msg)

    pub.handle.on_core = record
    return seen


async def until(check: Any, what: str, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


def subscribed(streams: list[SubscribedStream]) -> list[tuple[str, str, str | None, str, bool]]:
    return [(s.kind, s.mid, s.feed, s.feed_mid, s.active) for s in streams]


async def media_scenario(conn: JanusConnection, admin_key: str | None, media: Media
                         ) -> dict[str, Any]:
    """A publisher whose PeerConnection comes up, is moderated, subscribed to, and hangs
    up: what the room and the subscriber are told."""
    seen: dict[str, Any] = {}
    session = await conn.create_session()
    control = await RoomControl.attach(session, admin_key)
    await control.ensure_room("media", "s3cret", "media")
    one = await Publisher.join(session, "media", "1", "One")
    core = watch_core(one)
    await media.accept(await one.publish(await media.offer(), "One"))
    await asyncio.wait_for(one.webrtc_up.wait(), 20)
    await until(lambda: len(core) >= 3, "Janus receiving both streams")
    seen["publisher told"] = sorted(core[:3], key=str)  # streams in any order

    async def participants() -> list[tuple[str, bool]]:
        listed, _ = await control.handle.send({"request": "listparticipants", "room": "media"})
        return sorted((str(x["id"]), bool(x.get("publisher"))) for x in listed["participants"])

    seen["participants when up"] = await participants()
    video = next(s.mid for s in one.streams if s.kind == "video")
    await control.moderate("media", "s3cret", "1", video, True)
    two = await session.attach(PLUGIN)
    joined, _ = await two.send({"request": "join", "ptype": "publisher", "room": "media",
                                "id": "2", "display": "Two"})
    seen["a newcomer is told"] = publishers(joined)

    sub, offer, streams = await Subscriber.join(session, "media", None, ["1"])
    seen["subscription"] = subscribed(streams)
    seen["subscription offer"] = m_lines(offer)
    events: asyncio.Queue[tuple[dict[str, Any], dict[str, Any] | None]] = asyncio.Queue()
    sub.handle.on_event = lambda data, jsep: events.put_nowait((data, jsep))
    await sub.start(await media.answer(offer))
    data, jsep = await sub.handle.send({"request": "update", "subscribe": [{"feed": "1"}]})
    seen["subscribe to it again"] = (data.get("videoroom"), (jsep or {}).get("type"),
                                     subscribed(parse_streams(data)))
    if jsep is not None:
        await sub.start(await media.answer(str(jsep["sdp"])))

    await media.hang_up()
    data, jsep = await asyncio.wait_for(events.get(), 20)  # Janus renegotiates by itself
    seen["after the hangup"] = (data.get("videoroom"), (jsep or {}).get("type"),
                                [(s.kind, s.mid, s.feed) for s in parse_streams(data)
                                 if s.carries_media])
    renegotiation = str((jsep or {}).get("sdp", ""))
    seen["participants after the hangup"] = await participants()
    seen["subscribe after the hangup"] = await refused(
        Subscriber.join(session, "media", None, ["1"]))
    seen["moderate after the hangup"] = await refused(
        control.moderate("media", "s3cret", "1", video, False))
    seen["the same id while it stays"] = await refused(
        Publisher.join(session, "media", "1", "One again"))

    await one.handle.detach()  # as the gateway republishes: leave, join, publish
    one = await Publisher.join(session, "media", "1", "One")
    await media.accept(await one.publish(await media.offer(), "One"))
    await asyncio.wait_for(one.webrtc_up.wait(), 20)
    data, jsep = await sub.handle.send({"request": "update", "subscribe": [{"feed": "1"}]})
    seen["subscribe while an offer is out"] = (data.get("videoroom"), jsep,
                                               subscribed(parse_streams(data)))
    await sub.start(await media.answer(renegotiation))
    data, jsep = await asyncio.wait_for(events.get(), 20)
    seen["the queued update, once answered"] = (
        data.get("videoroom"), (jsep or {}).get("type"), subscribed(parse_streams(data)))

    core = watch_core(one)
    data, _ = await one.handle.send({"request": "unpublish"})
    seen["unpublish"] = data.get("unpublished")
    await until(lambda: ("hangup", None, None, None) in core, "the hangup of unpublish")
    seen["unpublish again"] = await refused(one.handle.send({"request": "unpublish"}))

    # As the gateway republishes: the next offer on the same handle, once freed.
    await media.accept(await one.publish(await media.offer(), "One"))
    await until(lambda: core.count(("webrtcup", None, None, None)) == 1, "up again")
    seen["participants, republished on the same handle"] = await participants()
    await control.kick("media", "s3cret", "1")
    await until(lambda: core.count(("hangup", None, None, None)) == 2, "the hangup of a kick")
    seen["participants after the kick"] = await participants()
    await session.destroy()
    return seen
