"""A teacher relayed from one real Janus to a second with the VideoRoom's remote publishers
(bridge/janus/relay.py, Debian's Janus 1.1.2): a listener on the second Janus receives
the teacher's audio and video; a right taken away at the source holds on the second
server, the second server can mute its copy itself, and the relay is removed cleanly.
Two Janus processes and aiortc peers in the test's network namespace (issue 19)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiortc import (
    AudioStreamTrack,
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)

from bridge.janus.client import JanusConnection, JanusSession
from bridge.janus.relay import RelayTarget, start_relay, stop_relay
from bridge.janus.supervisor import LocalJanus
from bridge.janus.videoroom import Publisher, RoomControl, Subscriber

pytestmark = [pytest.mark.netns, pytest.mark.slow]

ROOM, SECRET, TEACHER = "ders-1", "oda-parolasi", "ogretmen"
MEDIA_IP = os.environ.get("SALON_MEDIA_IP", "127.1.0.1")


@dataclass
class Server:
    janus: LocalJanus
    conn: JanusConnection
    session: JanusSession
    control: RoomControl


@contextlib.asynccontextmanager
async def janus_server(root: Path) -> AsyncIterator[Server]:
    janus = LocalJanus(root, MEDIA_IP, rtp_port_range="30000-34000")
    await janus.start()
    conn = JanusConnection(janus.layout.ws_url, janus.layout.api_secret)
    try:
        await conn.connect()
        session = await conn.create_session()
        control = await RoomControl.attach(session, janus.layout.room_admin_key)
        await control.ensure_room(ROOM, SECRET, "Sınıf 5-A")
        yield Server(janus, conn, session, control)
    finally:
        await conn.close()
        await janus.stop()


@dataclass
class Listener:
    """An aiortc subscriber counting the frames it decodes, by kind."""

    pc: RTCPeerConnection = field(
        default_factory=lambda: RTCPeerConnection(RTCConfiguration(iceServers=[])))
    frames: dict[str, int] = field(default_factory=lambda: {"audio": 0, "video": 0})
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pc.on("track", lambda track: self.readers.append(
            asyncio.ensure_future(self._read(track))))

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(Exception):
            while True:
                await track.recv()
                self.frames[track.kind] += 1

    async def answer(self, offer: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    async def more(self, kind: str, count: int, what: str, timeout: float = 60.0) -> None:
        """Wait until ``count`` more frames of ``kind`` were decoded."""
        target = self.frames[kind] + count
        deadline = asyncio.get_running_loop().time() + timeout
        while self.frames[kind] < target:
            assert asyncio.get_running_loop().time() < deadline, \
                f"{what}: {self.frames[kind]} of {target} {kind} frames"
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        await self.pc.close()


async def still(listener: Listener, kind: str, settle: float = 3.0, watch: float = 3.0
                ) -> tuple[int, int]:
    """Frames of ``kind`` and of the other kind decoded while watching, after a settle
    (packets in flight and the jitter buffer drain first)."""
    other = "audio" if kind == "video" else "video"
    await asyncio.sleep(settle)
    before = dict(listener.frames)
    await asyncio.sleep(watch)
    return listener.frames[kind] - before[kind], listener.frames[other] - before[other]


async def participants(control: RoomControl) -> set[str]:
    data, _ = await control.handle.send({"request": "listparticipants", "room": ROOM})
    return {str(p["id"]) for p in data.get("participants", [])}


async def test_a_teacher_relayed_to_a_second_janus_reaches_its_listener(tmp_path: Path
                                                                       ) -> None:
    async with janus_server(tmp_path / "a") as a, janus_server(tmp_path / "b") as b:
        teacher_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        teacher_pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        teacher_pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        listener = Listener()
        try:
            teacher = await Publisher.join(a.session, ROOM, TEACHER, "Öğretmen")
            await teacher_pc.setLocalDescription(await teacher_pc.createOffer())
            answer = await teacher.publish(teacher_pc.localDescription.sdp, "Öğretmen")
            await teacher_pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            await asyncio.wait_for(teacher.webrtc_up.wait(), 30)

            target = RelayTarget(b.control, MEDIA_IP, "b")
            relay = await start_relay(a.control, target, ROOM, SECRET, TEACHER,
                                      teacher.streams)
            assert TEACHER in await participants(b.control), "the teacher is on B too"

            sub, offer, streams = await Subscriber.join(b.session, ROOM, None, [TEACHER])
            assert {s.kind for s in streams if s.carries_media} == {"audio", "video"}
            await sub.start(await listener.answer(offer))
            await listener.more("video", 10, "video relayed through B")
            await listener.more("audio", 10, "audio relayed through B")

            video = next(s.mid for s in teacher.streams if s.kind == "video")
            # The camera right taken away at the source: nothing of it reaches B.
            await a.control.moderate(ROOM, SECRET, TEACHER, video, mute=True)
            video_frames, audio_frames = await still(listener, "video")
            assert video_frames == 0 and audio_frames > 0, (video_frames, audio_frames)
            await a.control.moderate(ROOM, SECRET, TEACHER, video, mute=False)
            await listener.more("video", 10, "video again once the source allows it")

            # B mutes its own copy (the relayed publisher's m-line index is its mid).
            relayed_video = str(next(s.mindex for s in teacher.streams if s.kind == "video"))
            await b.control.moderate(ROOM, SECRET, TEACHER, relayed_video, mute=True)
            video_frames, audio_frames = await still(listener, "video")
            assert video_frames == 0 and audio_frames > 0, (video_frames, audio_frames)
            await b.control.moderate(ROOM, SECRET, TEACHER, relayed_video, mute=False)
            await listener.more("video", 10, "video again once B allows it")

            await stop_relay(a.control, target, relay, SECRET)
            assert TEACHER not in await participants(b.control), "the relay is gone from B"
            assert TEACHER in await participants(a.control), "the teacher still on A"
            await stop_relay(a.control, target, relay, SECRET)  # twice: nothing left to do
        finally:
            await listener.close()
            await teacher_pc.close()
