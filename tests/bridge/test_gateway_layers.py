"""Layers and ceilings on the fake Janus (bridge/janus/layers.py): what Janus forwards a
viewer is the layer it asks for, capped by what its link carries (Janus's slowlink); a
publisher without simulcast is told to send less when a viewer's link cannot carry it;
loss on a publisher's own uplink counts against neither. No Janus process, no network;
the same on real Janus and Chromium: tests/e2e/test_bad_links.py."""

from __future__ import annotations

import asyncio

from bridge.gateway import MediaGateway
from bridge.janus.ceiling import SEND_CAPS_BPS, ReceiveCeiling, SendCeiling
from bridge.janus.fake import FakeJanus
from bridge.janus.layers import UPSTREAM_GRACE_S, UPSTREAM_MEMORY_S
from bridge.janus.videoroom import ROOM_BITRATE
from tests.support.fake_janus import ROOM, publishing, until, watching
from tests.support.janus_scenario import SIMULCAST_OFFER


async def test_a_subscriber_asks_janus_for_the_simulcast_layer_of_each_video(
        gateway: MediaGateway, fake_janus: FakeJanus) -> None:
    await publishing(gateway, fake_janus, "1", SIMULCAST_OFFER)
    listener, offers = await watching(gateway, "2", {"1"})
    video = next(s.mid for s in offers.got[-1][1] if s.kind == "video")
    audio = next(s.mid for s in offers.got[-1][1] if s.kind == "audio")
    await listener.set_layers({video: "low", audio: "low", "99": "high"})
    handle = fake_janus.subscribers(ROOM)[0]
    assert handle.substreams == {video: 0}, "only subscribed video m-lines are configured"
    await listener.set_layers({video: "high"})
    assert handle.substreams == {video: 2} and listener.layers.forwarded == {video: "high"}


async def test_loss_on_a_viewers_link_caps_the_layer_janus_forwards_until_the_link_is_quiet(
        gateway: MediaGateway, fake_janus: FakeJanus) -> None:
    await publishing(gateway, fake_janus, "1", SIMULCAST_OFFER)
    listener, offers = await watching(gateway, "2", {"1"})
    listener.layers.clock.ceiling = ReceiveCeiling(probe_after_s=5.0)
    video = next(s.mid for s in offers.got[-1][1] if s.kind == "video")
    handle = fake_janus.subscribers(ROOM)[0]

    fake_janus.slow_link(handle)
    await until(lambda: handle.substreams.get(video) == 1, "the medium layer on a lossy link",
                timeout=5)
    await listener.set_layers({video: "low"})  # a small tile: below the ceiling, as asked
    assert handle.substreams[video] == 0
    await listener.set_layers({video: "high"})  # a large one: no more than the link carries
    assert handle.substreams[video] == 1 and listener.layers.asked[video] == "high"

    # a new video starts under the ceiling too
    await publishing(gateway, fake_janus, "3", SIMULCAST_OFFER)
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
    await publishing(gateway, fake_janus, "1", SIMULCAST_OFFER)
    listener, _ = await watching(gateway, "2", {"1"})
    handle = fake_janus.subscribers(ROOM)[0]
    fake_janus.uplink_loss(ROOM, "1")
    fake_janus.slow_link(handle)
    await asyncio.sleep(UPSTREAM_GRACE_S + 0.5)
    assert listener.layers.ceiling.layer == "high" and handle.substreams == {}
    await asyncio.sleep(UPSTREAM_MEMORY_S)  # later loss, none at the publisher: its own
    fake_janus.slow_link(handle)
    await until(lambda: listener.layers.ceiling.layer == "medium", "the viewer's own loss",
                timeout=5)


async def test_a_viewer_that_loses_a_single_stream_video_lowers_what_its_publisher_sends(
        gateway: MediaGateway, fake_janus: FakeJanus) -> None:
    # The room appliance sends one stream: a slow viewer has no smaller layer to get,
    # so the room is told (REMB) to send less, and more again once the link is quiet.
    room = await publishing(gateway, fake_janus, "1")
    listener, _ = await watching(gateway, "2", {"1"})
    cap = gateway.server_for(ROOM).send_caps[(ROOM, "1")]
    cap.clock.ceiling = SendCeiling(probe_after_s=4.0)
    sender = fake_janus.publisher(ROOM, "1")
    assert sender is not None and sender.bitrate == 0
    handle = fake_janus.subscribers(ROOM)[0]

    fake_janus.slow_link(handle)
    await until(lambda: sender.bitrate == SEND_CAPS_BPS[-2], "a lower send cap", timeout=5)
    assert listener.layers.ceiling.layer == "high", "no layer to lower: the ceiling stays"
    await until(lambda: sender.bitrate == ROOM_BITRATE, "the room's bitrate again", timeout=10)

    await room.close()  # a publisher that left has no cap to keep
    assert (ROOM, "1") not in gateway.server_for(ROOM).send_caps


async def test_with_every_layer_at_its_lowest_a_lossy_viewer_lowers_the_single_streams_too(
        gateway: MediaGateway, fake_janus: FakeJanus) -> None:
    await publishing(gateway, fake_janus, "1", SIMULCAST_OFFER)  # a browser
    await publishing(gateway, fake_janus, "2")  # the room
    listener, _ = await watching(gateway, "3", {"1", "2"})
    listener.layers.clock.ceiling.level = 0  # already at the lowest layer
    sender = fake_janus.publisher(ROOM, "2")
    assert sender is not None
    fake_janus.slow_link(fake_janus.subscribers(ROOM)[0])
    await until(lambda: sender.bitrate == SEND_CAPS_BPS[-2], "a lower send cap", timeout=5)



async def test_a_minority_of_lossy_viewers_does_not_take_the_rooms_picture_down_for_all(
        gateway: MediaGateway, fake_janus: FakeJanus) -> None:
    await publishing(gateway, fake_janus, "1")  # the room: one stream
    handles = []
    for feed in ("2", "3", "4"):
        await watching(gateway, feed, {"1"})
        handles.append(fake_janus.subscribers(ROOM)[-1])
    sender = fake_janus.publisher(ROOM, "1")
    assert sender is not None
    fake_janus.slow_link(handles[0])  # one of three: the others see the room as it is
    await asyncio.sleep(UPSTREAM_GRACE_S + 0.5)
    assert sender.bitrate == 0
    fake_janus.slow_link(handles[1])  # two of three: most cannot carry it
    await until(lambda: sender.bitrate == SEND_CAPS_BPS[-2], "a lower send cap", timeout=5)
