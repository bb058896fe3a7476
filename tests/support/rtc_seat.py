"""A participant of the bridge on aiortc, for tests with many people and no browser:
it answers every subscription offer, counts the frames it receives per participant
and kind, publishes a small test picture and tone when told, and after a media_reset
builds both PeerConnections anew (publishing again if it was) as a client must.

It sees the RawClient's messages first (its ``tap``); every one still reaches
``client.inbox``, so the test waits on the client as usual."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiortc import (
    AudioStreamTrack,
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from av import VideoFrame

from tests.support.cluster import HOST
from tests.support.procs import BridgeProcess
from tests.support.wsclient import RawClient

NO_ICE_SERVERS = RTCConfiguration(iceServers=[])  # nothing leaves the test's namespace


class SmallPicture(VideoStreamTrack):
    """320×180 at 30 fps (aiortc's pacing): a cheap picture to encode on a busy machine."""

    async def recv(self) -> VideoFrame:
        pts, _ = await self.next_timestamp()
        frame = VideoFrame(width=320, height=180)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.pts, frame.time_base = pts, fractions.Fraction(1, 90000)
        return frame


class RtcSeat:
    def __init__(self, client: RawClient, name: str) -> None:
        self.client, self.name = client, name
        client.tap = self._on_message
        self.receiving: RTCPeerConnection | None = None
        self.sending: RTCPeerConnection | None = None
        self.content: RTCPeerConnection | None = None
        self.sends: tuple[str, ...] = ()
        # mid -> (participant, kind): "audio", "video", or "content-video" for a share
        self.by_mid: dict[str, tuple[str, str]] = {}
        self.frames: Counter[tuple[str, str]] = Counter()
        self.resets = 0
        self._rid = 9000
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- what a test asks ------------------------------------------------------------

    async def publish(self, kinds: tuple[str, ...] = ("audio", "video")) -> None:
        """Publish anew (a new PeerConnection) the given kinds; until Janus answers."""
        self.sends = kinds
        if self.sending is not None:
            await self.sending.close()
        pc = self.sending = RTCPeerConnection(NO_ICE_SERVERS)
        if "audio" in kinds:
            pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        if "video" in kinds:
            pc.addTransceiver(SmallPicture(), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        self._rid += 1
        answer = await self.client.request({"type": "publish", "sdp": pc.localDescription.sdp,
                                            "sending": list(kinds)}, self._rid)
        assert answer["type"] == "publish_answer", answer
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    async def publish_content(self) -> None:
        """A shared screen (a small picture) on its own PeerConnection; shown to the
        others once the seat presents (``present``) and may."""
        if self.content is not None:
            await self.content.close()
        pc = self.content = RTCPeerConnection(NO_ICE_SERVERS)
        pc.addTransceiver(SmallPicture(), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        self._rid += 1
        answer = await self.client.request({"type": "publish_content",
                                            "sdp": pc.localDescription.sdp}, self._rid)
        assert answer["type"] == "publish_answer", answer
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    async def packets_received(self) -> int:
        """RTP packets that reached its receiving PeerConnection (aiortc's stats)."""
        if self.receiving is None:
            return 0
        report = await self.receiving.getStats()
        return sum(int(getattr(s, "packetsReceived", 0)) for s in report.values()
                   if getattr(s, "type", "") == "inbound-rtp")

    def count(self, participant: str, kind: str) -> int:
        return self.frames[(participant, kind)]

    async def more(self, participant: str, kind: str, frames: int = 10,
                   timeout: float = 60.0) -> None:
        """Until ``frames`` more of the participant's ``kind`` have arrived."""
        start = self.count(participant, kind)
        async with asyncio.timeout(timeout):
            while self.count(participant, kind) < start + frames:
                await asyncio.sleep(0.1)

    async def close(self) -> None:
        self.client.tap = None
        for task in list(self._tasks):
            task.cancel()
        for pc in (self.sending, self.content, self.receiving):
            if pc is not None:
                await pc.close()
        await self.client.close()

    # ---- what the bridge sends -------------------------------------------------------

    async def _on_message(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "subscribe_offer":
            await self._answer(msg)
        elif kind == "media_reset":
            await self._reset()

    async def _answer(self, offer: dict[str, Any]) -> None:
        if self.receiving is None:
            self.receiving = RTCPeerConnection(NO_ICE_SERVERS)
            self.receiving.on("track", self._on_track)
        self.by_mid = {s["mid"]: (s["participant"], s["kind"] if s.get("source") != "content"
                                  else f"content-{s['kind']}") for s in offer["streams"]}
        pc = self.receiving
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await self.client.send({"type": "subscribe_answer", "sdp": pc.localDescription.sdp})

    def _on_track(self, track: MediaStreamTrack) -> None:
        pc = self.receiving
        mid = next((t.mid for t in pc.getTransceivers() if t.receiver.track is track), None) \
            if pc is not None else None
        if mid is not None:
            self._spawn(self._read(mid, track))

    async def _read(self, mid: str, track: MediaStreamTrack) -> None:
        with contextlib.suppress(Exception):
            while True:
                await track.recv()
                owner = self.by_mid.get(mid)  # the m-line may carry another feed later
                if owner is not None:
                    self.frames[owner] += 1

    async def _reset(self) -> None:
        """The bridge lost our media session: both PeerConnections go; publish again."""
        self.resets += 1
        if self.receiving is not None:
            await self.receiving.close()
        self.receiving, self.by_mid = None, {}
        if self.sends:
            self._spawn(self.publish(self.sends))

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def seat_in(bridge: BridgeProcess, room: str, name: str, host: Seat | None = None
                  ) -> Seat:
    """The host (tests/support/cluster.py HOST) signs in when ``host`` is None; a guest
    joins and the host admits it from the lobby."""
    client = await RawClient.connect(bridge.ws_url)
    rtc = RtcSeat(client, name)
    if host is None:
        welcome = await client.sign_in(room, HOST.name, HOST.password, client="bot")
    else:
        waiting = await client.join(room, name)
        assert waiting["type"] == "lobby_waiting", waiting
        host.rid += 1
        answer = await host.rtc.client.request(
            {"type": "admit", "participant": waiting["you"]["id"]}, host.rid)
        assert answer["type"] == "ok", answer
        welcome = await client.expect("welcome")
    assert welcome["type"] == "welcome", welcome
    return Seat(rtc, str(welcome["you"]["id"]))


@dataclass
class Seat:
    rtc: RtcSeat
    id: str
    rid: int = 100

    async def set_right(self, who: Seat, right: str, granted: bool) -> None:
        self.rid += 1
        answer = await self.rtc.client.request({"type": "set_right", "participant": who.id,
                                                "right": right, "granted": granted},
                                               self.rid)
        assert answer["type"] == "ok", answer
