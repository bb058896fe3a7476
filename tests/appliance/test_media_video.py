"""The camera's H.264 through real aiortc peers: passthrough, keyframe requests, REMB, pause.

Two RTCPeerConnections in one process exchange media over the netns veth
address (aioice skips loopback); run with
`scripts/in-netns .venv/bin/pytest tests/appliance/test_media_video.py`.
The track's own behaviour (packets, pause, camera hand-over) is tested directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import av
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError

from appliance.devices.camera import BitrateBounds
from appliance.devices.camera_simulated import SimulatedCamera
from appliance.devices.testpattern import read_timestamp
from appliance.media.loopback import connect, local_peer_connection
from appliance.media.slots import FrameSlot, receiver_keyframe_requester
from appliance.media.video import (
    MAX_QUEUED_FRAMES,
    EncodedVideoTrack,
    add_encoded_video_track,
    h264_preferences,
)

netns = pytest.mark.netns
needs_netns = pytest.mark.skipif(
    os.environ.get("SALON_IN_NETNS") != "1", reason="needs scripts/in-netns (aioice skips lo)"
)

FPS = 30


@dataclass
class Received:
    """Every decoded frame: (wall-clock arrival, keyframe?, capture time from the picture)."""

    track: MediaStreamTrack
    frames: list[tuple[float, bool, float | None]] = field(default_factory=list)
    sizes: set[tuple[int, int]] = field(default_factory=set)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await self.track.recv()
                assert isinstance(frame, av.VideoFrame)
                self.sizes.add((frame.width, frame.height))
                small = frame.to_ndarray(format="rgb24", width=320, height=180)
                self.frames.append(
                    (time.time() * 1000, bool(frame.key_frame), read_timestamp(small))
                )

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.frames) < count:
                await asyncio.sleep(0.01)


@dataclass
class Call:
    camera: SimulatedCamera
    track: EncodedVideoTrack
    sender_pc: RTCPeerConnection
    receiver_pc: RTCPeerConnection
    received: Received


@pytest.fixture
async def call() -> AsyncIterator[Call]:
    camera = SimulatedCamera(
        1280, 720, FPS, 1_000_000, keyframe_interval=30.0, bounds=BitrateBounds(200_000, 1_200_000)
    )
    track = EncodedVideoTrack(camera)
    sender_pc, receiver_pc = local_peer_connection(), local_peer_connection()
    add_encoded_video_track(sender_pc, track)
    remote: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
    receiver_pc.on("track", remote.set_result)
    await connect(sender_pc, receiver_pc)
    received = Received(await asyncio.wait_for(remote, 5))
    received.start()
    yield Call(camera, track, sender_pc, receiver_pc, received)
    await sender_pc.close()
    await receiver_pc.close()
    assert not camera.running  # closing the connection stops the camera


@netns
@needs_netns
async def test_receiver_decodes_the_camera_frames_with_their_capture_time(call: Call) -> None:
    await call.received.wait_for(30)
    assert call.received.sizes == {(1280, 720)}
    answer = call.receiver_pc.localDescription.sdp
    assert "H264/90000" in answer and "VP8" not in answer
    latencies = [arrived - captured for arrived, _, captured in call.received.frames if captured]
    assert len(latencies) == len(call.received.frames)  # every frame's time reads back
    assert all(0 < lat < 5000 for lat in latencies)  # real capture times, causal
    # (a sender scheduled late may drop stale pictures and restart from a keyframe: the
    # frames above all decoded, so nothing undecodable was sent)
    assert call.track.frames_sent >= 30


@netns
@needs_netns
async def test_pli_from_the_receiver_produces_a_keyframe_within_one_frame_interval(
    call: Call, monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[float] = []  # when (wall clock, ms) the camera's encoder was asked
    encoder = call.camera._encoder
    ask = encoder.request_keyframe

    def request_keyframe() -> None:
        asked.append(time.time() * 1000)
        ask()

    monkeypatch.setattr(encoder, "request_keyframe", request_keyframe)
    received = call.received
    await received.wait_for(2 * FPS)
    # Control: with a 30 s keyframe interval nothing but the first frame is a keyframe
    # (unless a sender scheduled late dropped stale pictures: it restarts from one).
    keys = [i for i, (_, key, _) in enumerate(received.frames) if key]
    assert keys == [0] or call.track.dropped_frames > 0, keys

    receiver = call.receiver_pc.getTransceivers()[0].receiver
    sender = call.sender_pc.getTransceivers()[0].sender
    pli_sent_ms = time.time() * 1000
    await receiver._send_rtcp_pli(sender._ssrc)
    count = len(received.frames)
    async with asyncio.timeout(10):
        while not any(key for _, key, _ in received.frames[count:]):
            await asyncio.sleep(0.005)

    assert call.track.keyframe_requests == 1
    # The keyframe is the first picture captured after the request reached the camera
    # (however long a busy machine took to carry it there): at most one picture,
    # already being captured, precedes it. (Capture times are whole ms: allow that.)
    reached = next(t for t in asked if t >= pli_sent_ms)
    captured_after = [(key, t) for _, key, t in received.frames if t and t > reached - 1]
    first_key = next(i for i, (key, _) in enumerate(captured_after) if key)
    assert first_key <= 1, captured_after[:4]


@netns
@needs_netns
async def test_remb_from_the_receiver_sets_the_camera_bitrate_within_bounds(call: Call) -> None:
    async with asyncio.timeout(10):
        while call.track.last_bitrate_estimate is None:
            await asyncio.sleep(0.05)
    estimate = call.track.last_bitrate_estimate
    assert call.camera.bitrate == call.camera.bounds.clamp(estimate)


@netns
@needs_netns
async def test_camera_off_captures_nothing_and_resumes_with_a_keyframe(call: Call) -> None:
    received = call.received
    await received.wait_for(10)
    call.track.set_sending(False)
    assert not call.camera.running
    await asyncio.sleep(0.3)  # frames already in flight land
    captured, count = call.camera.frames_captured, len(received.frames)
    await asyncio.sleep(1.0)
    assert call.camera.frames_captured == captured
    assert len(received.frames) == count

    resumed_ms = time.time() * 1000
    call.track.set_sending(True)
    await received.wait_for(count + 10)
    # (aiortc's receiver completes a frame when the next one starts, so the
    # last picture from before the pause arrives now: select by capture time.)
    after = [key for _, key, captured in received.frames if captured and captured > resumed_ms - 1]
    assert after[0] and not any(after[1:])  # resuming starts with a keyframe


@netns
@needs_netns
async def test_frame_slot_shows_a_live_track_and_survives_its_end() -> None:
    camera = SimulatedCamera(640, 360, FPS, 500_000)
    sender_pc, receiver_pc = local_peer_connection(), local_peer_connection()
    add_encoded_video_track(sender_pc, EncodedVideoTrack(camera))
    slots: list[FrameSlot] = []

    @receiver_pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        slots.append(FrameSlot(track, name="camera"))
        slots[-1].start()

    try:
        await connect(sender_pc, receiver_pc)
        async with asyncio.timeout(5):
            while not slots:
                await asyncio.sleep(0.01)
        slot = slots[0]
        await slot.wait_for_frames(15, timeout=10)
        assert slot.size == (640, 360)
        image = slot.rgb(320, 180)
        assert image is not None and image.shape == (180, 320, 3)
        captured = read_timestamp(image)
        assert captured is not None and 0 < time.time() * 1000 - captured < 5000
    finally:
        await sender_pc.close()
        await receiver_pc.close()
    async with asyncio.timeout(5):
        while not slot.ended:
            await asyncio.sleep(0.01)
    assert slot.rgb() is not None  # the last frame stays readable


class HeldTrack(MediaStreamTrack):
    """The camera track, with a hand that can stop the sender mid-stream."""

    kind = "video"

    def __init__(self, inner: EncodedVideoTrack) -> None:
        super().__init__()
        self.inner = inner
        self.flowing = asyncio.Event()
        self.flowing.set()

    async def recv(self) -> av.Packet:
        await self.flowing.wait()
        return await self.inner.recv()

    def stop(self) -> None:
        super().stop()
        self.inner.stop()


@netns
@needs_netns
@pytest.mark.parametrize("wired", [True, False], ids=["with-requester", "without"])
async def test_a_receiver_whose_pictures_stop_asks_the_sender_for_a_keyframe(wired: bool) -> None:
    camera = SimulatedCamera(320, 180, FPS, 300_000, keyframe_interval=30.0)
    inner = EncodedVideoTrack(camera)
    held = HeldTrack(inner)
    sender_pc, receiver_pc = local_peer_connection(), local_peer_connection()
    transceiver = sender_pc.addTransceiver(held, direction="sendonly")
    transceiver.setCodecPreferences(h264_preferences())
    inner.bind_sender(transceiver.sender)
    slots: list[FrameSlot] = []

    @receiver_pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        receiver = next(t.receiver for t in receiver_pc.getTransceivers()
                        if t.receiver.track is track)
        requester = receiver_keyframe_requester(receiver) if wired else None
        slots.append(FrameSlot(track, request_keyframe=requester, stall_after=0.5))
        slots[-1].start()

    try:
        await connect(sender_pc, receiver_pc)
        async with asyncio.timeout(5):
            while not slots:
                await asyncio.sleep(0.01)
        slot = slots[0]
        await slot.wait_for_frames(10, timeout=10)
        # (a busy machine may have paused the pictures before: count from here)
        before, stalls = inner.keyframe_requests, slot.stalls
        held.flowing.clear()  # the far end's pictures stop arriving
        await asyncio.sleep(1.5)
        assert slot.stalls == stalls + 1
        if wired:  # an RTCP PLI went over the wire and reached the camera's track
            assert slot.keyframe_requests >= 1 and inner.keyframe_requests > before
        else:  # aiortc itself stays silent: nothing else would have asked
            assert slot.keyframe_requests == 0 and inner.keyframe_requests == before
        held.flowing.set()
        await slot.wait_for_frames(slot.frames_received + 5, timeout=10)
    finally:
        await sender_pc.close()
        await receiver_pc.close()
        for slot in slots:
            await slot.stop()


# -- the track on its own ----------------------------------------------------


async def test_track_yields_h264_packets_and_waits_while_camera_is_off() -> None:
    camera = SimulatedCamera(320, 180, FPS, 300_000)
    track = EncodedVideoTrack(camera)
    assert not camera.running  # nothing is captured before someone pulls
    packets = [await asyncio.wait_for(track.recv(), 5) for _ in range(5)]
    assert camera.running
    assert packets[0].is_keyframe and not any(p.is_keyframe for p in packets[1:])
    assert all(p.time_base == fractions.Fraction(1, 90_000) for p in packets)
    pts = [p.pts for p in packets]
    assert pts == sorted(pts) and pts[-1] - pts[0] >= 3 * 90_000 / FPS * 0.9

    track.set_sending(False)
    assert not camera.running
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(track.recv(), 0.3)
    track.set_sending(True)
    resumed = await asyncio.wait_for(track.recv(), 5)
    assert resumed.is_keyframe and resumed.pts > pts[-1]
    track.stop()
    assert not camera.running
    with pytest.raises(MediaStreamError):
        await track.recv()


async def test_a_stalled_consumer_gets_a_keyframe_not_a_backlog() -> None:
    camera = SimulatedCamera(320, 180, FPS, 300_000, keyframe_interval=30.0)
    track = EncodedVideoTrack(camera)
    await asyncio.wait_for(track.recv(), 5)
    await asyncio.sleep(1.0)  # aiortc not pulling: ~30 frames pile up
    after_stall = await asyncio.wait_for(track.recv(), 5)
    assert track.dropped_frames >= 30 - 2 * MAX_QUEUED_FRAMES
    assert after_stall.is_keyframe  # resumes decodable, at most a queue's length behind
    track.stop()


async def test_a_replacement_track_takes_the_camera_over() -> None:
    # Rebuilding a peer connection makes a new track on the same camera; the
    # old one may be stopped after the new one started.
    camera = SimulatedCamera(320, 180, FPS, 300_000)
    old, new = EncodedVideoTrack(camera), EncodedVideoTrack(camera)
    await asyncio.wait_for(old.recv(), 5)
    first = await asyncio.wait_for(new.recv(), 5)
    assert first.is_keyframe  # the new receiver starts decodable
    old.stop()
    assert camera.running
    for _ in range(3):
        await asyncio.wait_for(new.recv(), 5)
    new.stop()
    assert not camera.running
