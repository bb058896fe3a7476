"""Live rooms on the fake Janus: rights are enforced at the SFU before anyone subscribes,
a grant unmutes there (with a keyframe), talking reaches the roster and the domain, and
a participant who leaves leaves everyone's subscription. No Janus process, no network."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.gateway import MediaGateway, OfferSink
from bridge.janus.fake import FakeJanus
from bridge.live import TALK_HOLD_S, LiveParticipant, LiveRoom
from salon import protocol as p
from tests.support.fake_janus import until
from tests.support.janus_scenario import OFFER

ROOM = "testbim"


class Inbox:
    """What one participant's client is sent."""

    def __init__(self) -> None:
        self.got: list[p.Outbound] = []

    async def __call__(self, text: str) -> None:
        self.got.append(p.parse_server_message(text))

    def updates(self, pid: str) -> list[p.Participant]:
        return [m.participant for m in self.got
                if isinstance(m, p.ParticipantUpdated) and m.participant.id == pid]


class Room:
    def __init__(self, gateway: MediaGateway, fake: FakeJanus) -> None:
        self.fake = fake
        self.talked: list[tuple[str, bool]] = []
        self.live = LiveRoom(ROOM, gateway, on_talking=self._talked)
        self.inbox: dict[str, Inbox] = {}

    async def _talked(self, pid: str, talking: bool) -> None:
        self.talked.append((pid, talking))

    async def enter(self, pid: str, audio: bool = True, camera: bool = True) -> LiveParticipant:
        """Admitted with these rights, the mic open with audio (the domain's roster says
        so: only an open mic is ever shown talking)."""
        self.inbox[pid] = Inbox()
        self.live.augment(p.ParticipantJoined(participant=p.Participant(
            id=pid, name=f"P{pid}", audio_right=audio, camera_right=camera,
            mic_muted=not audio)))
        lp = LiveParticipant(id=pid, client="browser", send_text=self.inbox[pid],
                             audio_muted=not audio, camera_muted=not camera)
        lp.media = await self.live.gateway.open_media(ROOM, pid, pid, self._answering(lp))
        await self.live.add(lp)
        return lp

    def _answering(self, lp: LiveParticipant) -> OfferSink:
        """A client that answers every subscription offer (as the web handler passes
        its answer on: after the offer was sent, never inside it)."""
        async def offer(sdp: str, streams: Any) -> None:
            assert lp.media is not None
            lp.spawn(lp.media.answer("v=0 answer"), "answer")
        return offer

    async def publish(self, lp: LiveParticipant) -> None:
        """What the web handler does: publish; the room follows Janus's webrtcup."""
        assert lp.media is not None
        await lp.media.publish(OFFER, f"P{lp.id}")
        self.fake.webrtc_up(ROOM, lp.id)
        await until(lambda: lp.publishing, f"{lp.id} publishing, as Janus said")


@pytest.fixture
def room(gateway: MediaGateway, fake_janus: FakeJanus) -> Room:
    return Room(gateway, fake_janus)


async def test_a_camera_without_the_right_is_muted_at_janus_before_anyone_subscribes(
        room: Room, fake_janus: FakeJanus) -> None:
    listener = await room.enter("1")
    speaker = await room.enter("2", audio=True, camera=False)
    await room.publish(speaker)  # a client that sends video anyway
    assert fake_janus.forwarded(ROOM, "2", "audio")
    assert not fake_janus.forwarded(ROOM, "2", "video"), "nobody sees it"
    assert listener.media is not None
    await until(lambda: listener.media is not None and listener.media.subscribed == {"2"},
                "the listener's subscription")
    asked = [r["request"] for r in fake_janus.requests]
    assert asked.index("moderate") < asked.index("join", asked.index("publish"))
    assert room.inbox["1"].updates("2")[-1].publishing


async def test_a_granted_camera_is_unmuted_at_janus_with_a_fresh_keyframe(
        room: Room, fake_janus: FakeJanus) -> None:
    speaker = await room.enter("2", audio=False, camera=False)
    await room.publish(speaker)
    assert not fake_janus.forwarded(ROOM, "2", "audio")
    await room.live.moderate("2", audio_muted=True, camera_muted=False)
    pub = fake_janus.publisher(ROOM, "2")
    assert pub is not None and pub.keyframes == 1
    assert fake_janus.forwarded(ROOM, "2", "video")
    assert not fake_janus.forwarded(ROOM, "2", "audio")
    await room.live.moderate("2", audio_muted=True, camera_muted=True)  # revoked
    assert not fake_janus.forwarded(ROOM, "2", "video") and pub.keyframes == 1


async def test_talking_reaches_the_roster_and_the_domain(
        room: Room, fake_janus: FakeJanus) -> None:
    await room.enter("1")
    speaker = await room.enter("2")
    await room.publish(speaker)
    fake_janus.talking(ROOM, "2")
    await until(lambda: room.talked == [("2", True)], "the domain told")
    assert room.inbox["1"].updates("2")[-1].talking
    later = room.live.augment(p.ParticipantUpdated(participant=p.Participant(
        id="2", name="P2", audio_right=True, mic_muted=False)))
    assert isinstance(later, p.ParticipantUpdated)
    assert later.participant.talking, "later roster messages say so"
    fake_janus.talking(ROOM, "2", talking=False)
    await until(lambda: room.talked[-1] == ("2", False), "stopped talking, after the hold",
                timeout=TALK_HOLD_S + 2)
    assert not room.inbox["1"].updates("2")[-1].talking


async def test_who_leaves_leaves_every_subscription(
        room: Room, fake_janus: FakeJanus) -> None:
    listener = await room.enter("1")
    await room.publish(await room.enter("2"))
    await room.publish(await room.enter("3"))
    media = listener.media
    assert media is not None
    await until(lambda: media.subscribed == {"2", "3"} and not media.awaiting_answer,
                "the listener receiving both")
    await room.live.remove("2")
    assert fake_janus.publisher(ROOM, "2") is None, "its Janus session ended"
    assert room.live.live_feeds == {"3"}
    await until(lambda: media.subscribed == {"3"} and not media.awaiting_answer,
                "Janus's renegotiation answered")
    assert sorted(map(sorted, (h.feeds for h in fake_janus.subscribers(ROOM)))) == [[], ["3"]]


async def test_a_hangup_clears_publishing(room: Room, fake_janus: FakeJanus) -> None:
    await room.enter("1")
    speaker = await room.enter("2")
    await room.publish(speaker)
    assert room.inbox["1"].updates("2")[-1].publishing
    fake_janus.hangup(ROOM, "2")
    await until(lambda: not speaker.publishing, "publishing cleared", timeout=0.5)
    await until(lambda: not room.inbox["1"].updates("2")[-1].publishing, "the room told")
    assert room.live.live_feeds == set()


async def test_a_publisher_without_rights_is_shown_publishing_and_then_not(
        room: Room, fake_janus: FakeJanus) -> None:
    """Neither its camera nor its talking changes, yet others see it publish and stop."""
    await room.enter("1")
    silent = await room.enter("2", audio=False, camera=False)
    await room.publish(silent)
    await until(lambda: any(u.publishing for u in room.inbox["1"].updates("2")),
                "the room told it publishes")
    assert not room.inbox["1"].updates("2")[-1].camera_on
    fake_janus.hangup(ROOM, "2")
    await until(lambda: not room.inbox["1"].updates("2")[-1].publishing, "the room told")
