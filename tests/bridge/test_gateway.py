"""The media gateway on the fake Janus: a participant's publisher and subscriber through
their life, rights enforced at the SFU with ``moderate``, talking, and the gateway
finding a Janus that went away and came back. No Janus process, no network. (The
layers and ceilings: test_gateway_layers.py.)"""

from __future__ import annotations

import pytest

from bridge.gateway import MediaGateway, MediaUnavailable
from bridge.janus.fake import FakeJanus
from tests.support.fake_janus import ROOM, Offers, joined, publishing, until
from tests.support.janus_scenario import OFFER


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
