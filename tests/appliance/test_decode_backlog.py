"""A video decoder that falls behind skips to a keyframe (appliance/media/decode_backlog.py):
real aiortc jitter buffer and decoder queue, real encoders' frames, no decoder thread
(the decoder that does not keep up is one that takes nothing)."""

from __future__ import annotations

import fractions
import queue
from typing import Any

import av
import numpy as np
from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from appliance.devices.camera import PTS_CLOCK_HZ, PTS_TIME_BASE
from appliance.devices.encoder import LibavH264Encoder
from appliance.media.decode_backlog import DecoderBacklogGuard, guard_decoder_backlog, is_keyframe

H264 = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=102)


def h264_frames(count: int, keyframe_every: int) -> list[bytes]:
    """``count`` access units of a moving picture, an IDR every ``keyframe_every``."""
    encoder = LibavH264Encoder(320, 180, 30, 300_000, keyframe_interval=keyframe_every / 30)
    frames = []
    for i in range(count):
        picture = np.full((270, 320), (i * 7) % 255, np.uint8)  # I420: Y then U, V
        frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
        frame.pts = round(i / 30 * PTS_CLOCK_HZ)
        frame.time_base = PTS_TIME_BASE
        frames += [unit.data for unit in encoder.encode(frame, i / 30)]
    return frames


def vp8_frames(count: int) -> list[tuple[bytes, bool]]:
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = 320, 180, "yuv420p"
    codec.time_base = fractions.Fraction(1, 30)
    codec.gop_size = 10
    out = []
    for i in range(count):
        frame = av.VideoFrame.from_ndarray(
            np.full((270, 320), (i * 7) % 255, np.uint8), format="yuv420p")
        frame.pts = i
        out += [(bytes(p), bool(p.is_keyframe)) for p in codec.encode(frame)]
    return out


def test_keyframes_are_told_apart_in_h264_and_vp8() -> None:
    h264 = h264_frames(12, keyframe_every=6)
    assert [is_keyframe("H264", f) for f in h264] == [i % 6 == 0 for i in range(12)]
    vp8 = vp8_frames(12)
    assert [is_keyframe("VP8", data) for data, _ in vp8] == [key for _, key in vp8]
    assert sum(key for _, key in vp8) >= 2


class Receiving:
    """aiortc's video jitter buffer behind the guard, one RTP packet per frame."""

    def __init__(self, max_backlog: int = 4) -> None:
        self.decoder: queue.Queue[Any] = queue.Queue()
        self.guard = DecoderBacklogGuard(JitterBuffer(capacity=128, is_video=True),
                                         self.decoder, {H264.payloadType: H264}, "test",
                                         max_backlog)
        self.seq = 0
        self.frames = 0
        self.plis = 0

    def receive(self, data: bytes, lose_half: bool = False) -> None:
        """One frame in two RTP packets (the second lost if ``lose_half``); aiortc
        completes a frame when a packet of the next one arrives, and the receiver puts
        it in the decoder's queue."""
        half = len(data) // 2
        for i, part in enumerate((data[:half], data[half:])):
            packet = RtpPacket(payload_type=H264.payloadType, sequence_number=self.seq,
                               timestamp=self.frames * 3000, marker=i)
            packet._data = part  # type: ignore[attr-defined]  # as aiortc's depayloader sets it
            self.seq += 1
            if lose_half and i == 1:
                continue
            pli, frame = self.guard.add(packet)
            self.plis += pli
            if frame is not None:
                self.decoder.put((H264, frame))
        self.frames += 1

    def waiting(self) -> list[bool]:
        """Whether each frame waiting for the decoder is a keyframe."""
        return [item is not None and is_keyframe("H264", item[1].data)
                for item in self.decoder.queue]


def test_behind_without_a_keyframe_waiting_it_drops_all_and_asks_for_one() -> None:
    frames = h264_frames(30, keyframe_every=20)
    r = Receiving(max_backlog=4)
    for data in frames[:6]:  # K P P P P P: the queue fills up to 4, then the 6th…
        r.receive(data)
    # frames 0–3 waited; frame 4 (completed when 5 came) found the decoder behind with
    # the keyframe too far back: everything goes, a keyframe is asked for
    assert r.decoder.qsize() == 0 and r.plis == 1 and r.guard.waiting_for_keyframe
    for data in frames[6:20]:  # P frames: skipped until a keyframe
        r.receive(data)
    assert r.decoder.qsize() == 0
    r.receive(frames[20])  # the IDR (its own frame completes at the next packet)
    r.receive(frames[21])
    assert r.waiting() == [True] and not r.guard.waiting_for_keyframe
    assert r.guard.dropped == 20 and r.guard.skips == 1  # frames 0–19: all before the IDR
    assert r.guard.flushes == 0


def test_behind_with_a_recent_keyframe_it_keeps_that_and_what_follows() -> None:
    frames = h264_frames(12, keyframe_every=4)  # IDR at 0, 4, 8
    r = Receiving(max_backlog=6)
    for data in frames[:8]:  # K P P P K P P: 7 frames, the 7th found 6 waiting
        r.receive(data)
    assert r.waiting() == [True, False, False]  # from the IDR at 4, frame 6 passed on
    assert r.plis == 0 and not r.guard.waiting_for_keyframe


def test_a_keyframe_arriving_while_behind_replaces_the_backlog() -> None:
    frames = h264_frames(10, keyframe_every=8)  # IDR at 0 and 8
    r = Receiving(max_backlog=4)
    r.decoder.put(None)  # the track ends: that must still reach the decoder
    for data in frames[:4]:
        r.receive(data)
    for data in frames[8:10]:
        r.receive(data)
    assert r.waiting() == [False, True]  # the end, then the IDR
    assert r.decoder.queue[0] is None


def test_a_frame_never_completed_holds_nothing_up_for_long() -> None:
    """aiortc's buffer waits for a lost packet until 512 packets have come; the guard
    gives the frame up after half a second of media time, lets the frames behind it
    on and asks for a keyframe (at most once a second)."""
    frames = h264_frames(70, keyframe_every=60)  # IDR at 0 and 60
    r = Receiving(max_backlog=100)  # a decoder that keeps up: only the buffer's doing
    for i, data in enumerate(frames[:20]):
        r.receive(data, lose_half=(i == 3))
        if i == 16:  # half a second after the last complete frame
            assert r.decoder.qsize() == 3 and r.plis == 0  # frames 0–2, then nothing
    assert r.guard.flushes == 1 and r.plis == 1
    for data in frames[20:25]:  # frames 4, 5, … come out again, one per packet arriving
        r.receive(data)
    assert r.decoder.qsize() == 3 + 14  # frames 4–17 by the 14th packet since
    behind = r.decoder.qsize()
    for data in frames[25:42]:
        r.receive(data, lose_half=(data is frames[25]))
    assert r.guard.flushes == 2 and r.plis == 1  # the second within a second: no new ask
    assert r.decoder.qsize() > behind + 5  # those behind frame 25 come out too
    assert not r.guard.waiting_for_keyframe


def test_a_pause_in_the_stream_is_not_a_stuck_frame() -> None:
    frames = h264_frames(10, keyframe_every=30)
    r = Receiving(max_backlog=100)
    for data in frames[:3]:
        r.receive(data)
    r.frames += 60  # two seconds with nothing sent (a camera paused), then on again
    for data in frames[3:6]:
        r.receive(data)
    assert r.guard.flushes == 0 and r.plis == 0 and r.decoder.qsize() == 5


async def test_it_goes_into_aiortc_video_receivers_only() -> None:
    pc = RTCPeerConnection()
    try:
        video = pc.addTransceiver("video", direction="recvonly").receiver
        audio = pc.addTransceiver("audio", direction="recvonly").receiver
        guard = guard_decoder_backlog(video, "tile")
        assert guard is not None
        private = vars(video)  # aiortc's name-mangled attributes
        assert private["_RTCRtpReceiver__jitter_buffer"] is guard
        assert guard.decoder_queue is private["_RTCRtpReceiver__decoder_queue"]
        assert guard_decoder_backlog(video) is guard  # once
        assert guard_decoder_backlog(audio) is None
    finally:
        await pc.close()
