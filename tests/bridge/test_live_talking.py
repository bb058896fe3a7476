"""What others are shown about a participant's talking, derived from Janus's talking
events (bridge/live.py): held over a pause in speech, ended at once by a mute or a
revoke, and reported to the domain (speaking time) in the order it changed. Janus's
events are fed in as its client would; the end-to-end side is tests/e2e/test_talking.py."""

from __future__ import annotations

import asyncio

from bridge import live
from bridge.gateway import MediaGateway
from bridge.live import LiveParticipant, LiveRoom
from salon import protocol as p


async def _room() -> tuple[LiveRoom, LiveParticipant, list[bool], list[p.ServerMessage]]:
    told: list[bool] = []
    sent: list[p.ServerMessage] = []

    async def on_talking(pid: str, talking: bool) -> None:
        told.append(talking)

    async def send_text(text: str) -> None:
        sent.append(p.parse_server_message(text))

    room = LiveRoom("oda", MediaGateway([]), on_talking=on_talking)
    lp = LiveParticipant(id="7", client="browser", send_text=send_text)
    room.roster["7"] = p.Participant(id="7", name="Ayşe", role="participant",
                                     audio_right=True, mic_muted=False)
    await room.add(lp)
    lp.publishing, lp.audio_muted = True, False  # as after webrtcup, with audio rights
    return room, lp, told, sent


async def settle() -> None:
    await asyncio.sleep(0.05)


async def test_a_pause_shorter_than_the_hold_is_still_talking() -> None:
    room, lp, told, _ = await _room()
    room.janus_talking(lp, True)
    await settle()
    assert lp.talking and told == [True]
    room.janus_talking(lp, False)  # a pause between words
    await asyncio.sleep(live.TALK_HOLD_S / 3)
    assert lp.talking
    room.janus_talking(lp, True)
    await asyncio.sleep(live.TALK_HOLD_S)
    assert lp.talking and told == [True]  # no flap, no speaking interval cut
    room.janus_talking(lp, False)
    await asyncio.sleep(live.TALK_HOLD_S + 0.3)
    assert not lp.talking and told == [True, False]


async def test_a_mute_ends_talking_at_once_and_janus_cannot_bring_it_back() -> None:
    room, lp, told, sent = await _room()
    room.janus_talking(lp, True)
    await settle()
    assert lp.talking
    await room.moderate("7", audio_muted=True, camera_muted=True)  # the domain's mute
    assert not lp.talking and told == [True, False]
    room.janus_talking(lp, True)  # Janus's verdict on a muted stream does not count
    await settle()
    assert not lp.talking and told == [True, False]
    last = sent[-1]
    assert isinstance(last, p.ParticipantUpdated) and last.participant.talking is False


async def test_the_update_carrying_a_mute_never_shows_talking() -> None:
    room, lp, _, _ = await _room()
    room.janus_talking(lp, True)
    await settle()
    seat = room.roster["7"]
    muted = room.augment(p.ParticipantUpdated(
        participant=seat.model_copy(update={"mic_muted": True})))
    assert isinstance(muted, p.ParticipantUpdated) and muted.participant.talking is False
    revoked = room.augment(p.ParticipantUpdated(
        participant=seat.model_copy(update={"mic_muted": False, "audio_right": False})))
    assert isinstance(revoked, p.ParticipantUpdated) and revoked.participant.talking is False


async def test_the_camera_is_on_only_while_janus_receives_video_it_may_forward() -> None:
    room, lp, _, _ = await _room()
    lp.camera_muted = False
    room.janus_media(lp, "video", "1", True)
    await settle()
    assert lp.camera_on
    room.janus_media(lp, "video", "1", False)  # the client stopped sending
    await settle()
    assert not lp.camera_on
    room.janus_media(lp, "video", "1", True)
    await settle()
    await room.moderate("7", audio_muted=False, camera_muted=True)  # camera rights revoked
    assert not lp.camera_on
