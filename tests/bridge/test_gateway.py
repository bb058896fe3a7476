"""The media gateway on the fake Janus: a participant's publisher and subscriber through
their life, rights enforced at the SFU with ``moderate``, talking, and the gateway
finding a Janus that went away and came back. No Janus process, no network."""

from __future__ import annotations

import asyncio

import pytest

from bridge.gateway import MediaGateway, MediaUnavailable, ParticipantMedia
from bridge.janus.ceiling import ReceiveCeiling
from bridge.janus.fake import FakeJanus
from bridge.janus.layers import UPSTREAM_GRACE_S, UPSTREAM_MEMORY_S
from salon import protocol as p
from tests.support.fake_janus import until
from tests.support.janus_scenario import OFFER

ROOM = "testbim"


class Offers:
    """The subscription offers the gateway sends one participant's client."""

    def __init__(self) -> None:
        self.got: list[tuple[str, list[p.StreamInfo]]] = []

    async def __call__(self, sdp: str, streams: list[p.StreamInfo]) -> None:
        self.got.append((sdp, streams))

    @property
    def feeds(self) -> set[str | None]:
        return {s.participant for s in self.got[-1][1]} if self.got else set()


async def joined(gateway: MediaGateway, feed: str) -> tuple[ParticipantMedia, Offers]:
    offers = Offers()
    return await gateway.open_media(ROOM, feed, f"P{feed}", offers), offers


async def publishing(gateway: MediaGateway, fake: FakeJanus, feed: str) -> ParticipantMedia:
    media, _ = await joined(gateway, feed)
    await media.publish(OFFER, f"P{feed}")
    fake.webrtc_up(ROOM, feed)
    assert media.publisher is not None
    await until(media.publisher.webrtc_up.is_set, "webrtcup")
    return media


async def test_a_subscriber_receives_a_publisher_and_loses_it_when_it_hangs_up(
        gateway: MediaGateway, fake_janus: FakeJanus) -> None:
    await publishing(gateway, fake_janus, "1")
    listener, offers = await joined(gateway, "2")
    await listener.reconcile({"1"})
    assert offers.feeds == {"1"} and {s.kind for s in offers.got[-1][1]} == {"audio", "video"}
    await listener.answer("v=0 the client's answer")
    assert [h.feeds for h in fake_janus.subscribers(ROOM)] == [{"1"}]

    fake_janus.hangup(ROOM, "1")  # Janus renegotiates every subscription by itself
    await until(lambda: len(offers.got) == 2, "Janus's offer without the feed")
    assert offers.feeds == set() and listener.subscribed == set()
    await listener.answer("v=0 again")
    assert fake_janus.subscribers(ROOM)[0].started


async def test_a_stale_publisher_with_the_same_id_is_kicked_before_the_new_one_joins(
        gateway: MediaGateway, fake_janus: FakeJanus) -> None:
    old = await publishing(gateway, fake_janus, "7")
    stale = fake_janus.publisher(ROOM, "7")
    again, _ = await joined(gateway, "7")  # the seat's old connection is not gone yet
    await again.publish(OFFER, "P7")  # Janus would refuse the id (436) without the kick
    assert stale is not None and stale.kicked
    assert old.publisher is not None and not old.publisher.webrtc_up.is_set(), "hung up"
    new = fake_janus.publisher(ROOM, "7")
    assert new is not None and new is not stale and new.published
    asked = [r["request"] for r in fake_janus.requests]
    assert asked[-3:] == ["kick", "join", "publish"]


async def test_a_second_offer_replaces_the_peerconnection_on_the_same_handle(
        gateway: MediaGateway, fake_janus: FakeJanus) -> None:
    media = await publishing(gateway, fake_janus, "1")
    first = fake_janus.publisher(ROOM, "1")
    await media.publish(OFFER, "P1")
    assert fake_janus.publisher(ROOM, "1") is first, "one publisher for the session"
    asked = [r["request"] for r in fake_janus.requests]
    assert asked[-2:] == ["unpublish", "publish"] and asked.count("join") == 1
    assert not fake_janus.forwarded(ROOM, "1", "audio"), "not up until its new PeerConnection"
    fake_janus.webrtc_up(ROOM, "1")
    assert fake_janus.forwarded(ROOM, "1", "audio")


async def test_a_kicked_handle_publishes_again_on_a_fresh_one(
        gateway: MediaGateway, fake_janus: FakeJanus) -> None:
    media = await publishing(gateway, fake_janus, "1")
    kicked = fake_janus.publisher(ROOM, "1")
    await gateway.server_for(ROOM).kick(ROOM, "1")  # e.g. by another connection's seat
    assert media.publisher is not None
    await until(lambda: not media.publisher.published, "the kick's hangup")  # type: ignore[union-attr]
    await media.publish(OFFER, "P1")
    fresh = fake_janus.publisher(ROOM, "1")
    assert fresh is not None and fresh is not kicked and fresh.published


async def test_moderate_stops_a_stream_at_the_sfu(
        gateway: MediaGateway, fake_janus: FakeJanus) -> None:
    media = await publishing(gateway, fake_janus, "1")
    assert media.publisher is not None
    video = next(s.mid for s in media.publisher.streams if s.kind == "video")
    await gateway.moderate(ROOM, "1", video, mute=True)
    assert not fake_janus.forwarded(ROOM, "1", "video")
    assert fake_janus.forwarded(ROOM, "1", "audio")
    await gateway.moderate(ROOM, "1", video, mute=False)
    assert fake_janus.forwarded(ROOM, "1", "video")


async def test_a_participant_hears_only_of_its_own_talking(
        gateway: MediaGateway, fake_janus: FakeJanus) -> None:
    one = await publishing(gateway, fake_janus, "1")
    two = await publishing(gateway, fake_janus, "2")
    heard: dict[str, list[bool]] = {"1": [], "2": []}
    one.on_talking, two.on_talking = heard["1"].append, heard["2"].append
    fake_janus.talking(ROOM, "2")
    fake_janus.talking(ROOM, "2", talking=False)
    await until(lambda: len(heard["2"]) == 2, "talking events")
    assert heard == {"1": [], "2": [True, False]}


async def test_a_vanished_feed_costs_no_subscription(
        gateway: MediaGateway, fake_janus: FakeJanus) -> None:
    listener, offers = await joined(gateway, "2")
    await listener.reconcile({"404"})  # left between the roster and the request
    assert offers.got == [] and listener.subscriber is None


async def test_a_failed_receiving_side_gets_a_fresh_subscription(
        gateway: MediaGateway, fake_janus: FakeJanus) -> None:
    await publishing(gateway, fake_janus, "1")
    listener, offers = await joined(gateway, "2")
    await listener.reconcile({"1"})
    first = listener.subscriber
    await listener.restart_subscriber()
    assert listener.subscriber is not first and len(offers.got) == 2
    assert [h.feeds for h in fake_janus.subscribers(ROOM)] == [{"1"}]


async def test_the_gateway_finds_janus_again_after_it_went_away(
        gateway: MediaGateway, fake_janus: FakeJanus) -> None:
    media = await publishing(gateway, fake_janus, "1")
    backs = []

    async def server_back(server: object) -> None:
        backs.append(server)

    gateway.on_server_back = server_back
    secret = fake_janus.rooms[ROOM].secret
    await fake_janus.go_away()
    server = gateway.server_for(ROOM)
    await until(lambda: not server.up.is_set(), "the lost connection")
    assert not media.alive
    with pytest.raises(MediaUnavailable):  # Janus's own error stays behind the gateway
        await gateway.open_media(ROOM, "3", "P3", Offers())

    fake_janus.come_back()
    await until(lambda: backs == [server], "the gateway back on Janus")
    assert fake_janus.rooms[ROOM].secret == secret, "the room made again, as it was"
    again = await publishing(gateway, fake_janus, "1")  # the old session died with Janus
    assert again.alive and fake_janus.forwarded(ROOM, "1", "audio")


async def test_a_subscriber_asks_janus_for_the_simulcast_layer_of_each_video(
        gateway: MediaGateway, fake_janus: FakeJanus) -> None:
    await publishing(gateway, fake_janus, "1")
    listener, offers = await joined(gateway, "2")
    await listener.reconcile({"1"})
    await listener.answer("v=0 the client's answer")
    video = next(s.mid for s in offers.got[-1][1] if s.kind == "video")
    audio = next(s.mid for s in offers.got[-1][1] if s.kind == "audio")
    await listener.set_layers({video: "low", audio: "low", "99": "high"})
    handle = fake_janus.subscribers(ROOM)[0]
    assert handle.substreams == {video: 0}, "only subscribed video m-lines are configured"
    await listener.set_layers({video: "high"})
    assert handle.substreams == {video: 2} and listener.layers.forwarded == {video: "high"}


async def test_loss_on_a_viewers_link_caps_the_layer_janus_forwards_until_the_link_is_quiet(
        gateway: MediaGateway, fake_janus: FakeJanus) -> None:
    await publishing(gateway, fake_janus, "1")
    listener, offers = await joined(gateway, "2")
    listener.layers.ceiling = ReceiveCeiling(probe_after_s=5.0)
    await listener.reconcile({"1"})
    await listener.answer("v=0 the client's answer")
    video = next(s.mid for s in offers.got[-1][1] if s.kind == "video")
    handle = fake_janus.subscribers(ROOM)[0]

    fake_janus.slow_link(handle)
    await until(lambda: handle.substreams.get(video) == 1, "the medium layer on a lossy link",
                timeout=5)
    await listener.set_layers({video: "low"})  # a small tile: below the ceiling, as asked
    assert handle.substreams[video] == 0
    await listener.set_layers({video: "high"})  # a large one: no more than the link carries
    assert handle.substreams[video] == 1 and listener.layers.asked[video] == "high"

    await publishing(gateway, fake_janus, "3")  # a new video starts under the ceiling too
    await listener.reconcile({"1", "3"})
    await listener.answer("v=0 the client's answer")
    new_video = next(s.mid for s in offers.got[-1][1] if s.kind == "video" and s.mid != video)
    assert handle.substreams.get(new_video) == 1

    await until(lambda: handle.substreams == {video: 2, new_video: 2},
                "the asked layer back once the link was quiet", timeout=15)


async def test_loss_on_the_publishers_uplink_leaves_its_viewers_ceiling_alone(
        gateway: MediaGateway, fake_janus: FakeJanus) -> None:
    # Janus forwards the gaps of what it lost from a publisher: its viewers' receiver
    # reports count them, but their own links are fine.
    await publishing(gateway, fake_janus, "1")
    listener, _ = await joined(gateway, "2")
    await listener.reconcile({"1"})
    await listener.answer("v=0 the client's answer")
    handle = fake_janus.subscribers(ROOM)[0]
    fake_janus.uplink_loss(ROOM, "1")
    fake_janus.slow_link(handle)
    await asyncio.sleep(UPSTREAM_GRACE_S + 0.5)
    assert listener.layers.ceiling.layer == "high" and handle.substreams == {}
    await asyncio.sleep(UPSTREAM_MEMORY_S)  # later loss, none at the publisher: its own
    fake_janus.slow_link(handle)
    await until(lambda: listener.layers.ceiling.layer == "medium", "the viewer's own loss",
                timeout=5)
