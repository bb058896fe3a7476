"""The fake Janus keeps its contract with the real one: the same VideoRoom scenarios,
told through the bridge's own client, give the same observable results against both
(tests/support/janus_scenario.py). Without media: refusals and their codes. With media:
real aiortc peers against Janus, the fake's ``webrtc_up`` and ``hangup`` against the
fake. If Janus changes, this fails before the fast tests built on the fake can lie."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from bridge.janus.client import JanusConnection
from bridge.janus.fake import FakeJanus
from bridge.janus.supervisor import LocalJanus
from tests.support.fake_janus import ADMIN_KEY, URL
from tests.support.janus_scenario import OFFER, Media, media_scenario, scenario

Scenario = Callable[[JanusConnection, str | None], Awaitable[dict[str, Any]]]


class FakeMedia:
    """The fake's controls in place of media."""

    def __init__(self, fake: FakeJanus) -> None:
        self.fake = fake

    async def offer(self) -> str:
        return OFFER

    async def accept(self, answer: str) -> None:
        self.fake.webrtc_up("media", "1")

    async def answer(self, offer: str) -> str:
        return "v=0 an answer"

    async def hang_up(self) -> None:
        self.fake.hangup("media", "1")


class Peers:
    """A publisher and a subscriber aiortc PeerConnection (no STUN, no TURN: host
    candidates in the test's network namespace only)."""

    def __init__(self) -> None:
        self.publisher = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.subscriber = RTCPeerConnection(RTCConfiguration(iceServers=[]))

    async def offer(self) -> str:
        """A new publisher PeerConnection's offer (the previous one is closed)."""
        await self.publisher.close()
        self.publisher = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.publisher.addTransceiver(AudioStreamTrack(), direction="sendonly")
        self.publisher.addTransceiver(VideoStreamTrack(), direction="sendonly")
        await self.publisher.setLocalDescription(await self.publisher.createOffer())
        return str(self.publisher.localDescription.sdp)

    async def accept(self, answer: str) -> None:
        await self.publisher.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    async def answer(self, offer: str) -> str:
        await self.subscriber.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await self.subscriber.setLocalDescription(await self.subscriber.createAnswer())
        return str(self.subscriber.localDescription.sdp)

    async def hang_up(self) -> None:
        await self.publisher.close()

    async def close(self) -> None:
        await self.publisher.close()
        await self.subscriber.close()


async def on_fake(story: Callable[[JanusConnection, str | None, FakeJanus],
                                  Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    fake = FakeJanus(admin_key=ADMIN_KEY)
    conn = JanusConnection(URL, None, fake.dial)
    await conn.connect()
    try:
        return await story(conn, ADMIN_KEY, fake)
    finally:
        await conn.close()


async def refusals_on_fake() -> dict[str, Any]:
    return await on_fake(lambda conn, key, _fake: scenario(conn, key))


async def media_on_fake() -> dict[str, Any]:
    return await on_fake(lambda conn, key, fake: media_scenario(conn, key, FakeMedia(fake)))


@pytest.fixture
async def real_janus(tmp_path: Path) -> AsyncIterator[tuple[JanusConnection, str]]:
    janus = LocalJanus(tmp_path, os.environ.get("SALON_MEDIA_IP"))
    await janus.start()
    lay = janus.layout
    conn = JanusConnection(lay.ws_url, lay.api_secret)
    await conn.connect()
    yield conn, lay.room_admin_key
    await conn.close()
    await janus.stop()


async def test_the_fake_refuses_as_janus_does() -> None:
    seen = await refusals_on_fake()
    assert seen["the same user id again"] == 436
    assert seen["subscribe before its PeerConnection is up"] == 428
    assert seen["moderate, wrong secret"] == 433
    assert seen["publish on a kicked handle"] == 426  # what the gateway starts clean on


async def test_the_fake_tells_of_media_as_janus_does() -> None:
    seen = await media_on_fake()
    assert seen["participants when up"] == [("1", True)]
    assert seen["after the hangup"][2] == []
    assert seen["participants, republished on the same handle"] == [("1", True), ("2", False)]
    assert seen["participants after the kick"] == [("2", False)]


@pytest.mark.netns
@pytest.mark.slow
async def test_without_media_the_fake_answers_as_the_real_janus(
        real_janus: tuple[JanusConnection, str]) -> None:
    real = await scenario(*real_janus)
    assert await refusals_on_fake() == real


@pytest.mark.netns
@pytest.mark.slow
async def test_with_media_the_fake_answers_as_the_real_janus(
        real_janus: tuple[JanusConnection, str]) -> None:
    peers: Media = Peers()
    try:
        real = await media_scenario(*real_janus, peers)
    finally:
        await peers.close()  # type: ignore[attr-defined]
    print(real)
    assert await media_on_fake() == real
