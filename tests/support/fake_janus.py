"""The bridge's media side on the fake Janus (bridge/janus/fake.py): a gateway connected
to it, and waiting for what the event loop will do next."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bridge.gateway import MediaGateway, ParticipantMedia
from bridge.janus.fake import FakeJanus
from bridge.janus.server import JanusEndpoint
from salon import protocol as p
from tests.support.janus_scenario import OFFER

ADMIN_KEY = "room-admin-key"
URL = "ws://fake-janus/"
ROOM = "testbim"


def endpoint(fake: FakeJanus, name: str = "fake") -> JanusEndpoint:
    return JanusEndpoint(URL, fake.api_secret, fake.admin_key, name, fake.dial)


async def until(check: Callable[[], object], what: str, timeout: float = 2.0) -> None:
    """Let the event loop run until ``check()`` holds (the fake answers at once, so
    this is a few turns of the loop, never the timeout)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.002)


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
    """A participant's media session in ROOM (no publisher yet)."""
    offers = Offers()
    return await gateway.open_media(ROOM, feed, f"P{feed}", offers), offers


async def watching(gateway: MediaGateway, feed: str, feeds: set[str]
                   ) -> tuple[ParticipantMedia, Offers]:
    """A participant receiving ``feeds``: subscribed, and its client's answer given."""
    media, offers = await joined(gateway, feed)
    await media.reconcile(feeds)
    await media.answer("v=0 the client's answer")
    return media, offers


async def publishing(gateway: MediaGateway, fake: FakeJanus, feed: str,
                     offer: str = OFFER) -> ParticipantMedia:
    """A participant whose offer the fake Janus took and whose PeerConnection is up."""
    media, _ = await joined(gateway, feed)
    await media.publish(offer, f"P{feed}")
    fake.webrtc_up(ROOM, feed)
    assert media.publisher is not None
    await until(media.publisher.webrtc_up.is_set, "webrtcup")
    return media
