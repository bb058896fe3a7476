"""The room's sending on bad links, part by part: Opus with in-band FEC, the pacer that
keeps video behind voice, the rate controller and the camera's ladder of sizes."""

from __future__ import annotations

import asyncio
import ctypes
import glob
import struct
from pathlib import Path

import av
import numpy as np
import pytest

from appliance.devices.camera import BitrateBounds
from appliance.devices.camera_simulated import SimulatedCamera
from appliance.devices.ladder import QualityLadder, Rung
from appliance.media.audio_send import OpusFrameEncoder
from appliance.media.congestion import SendRateController
from appliance.media.pacer import STALE_QUEUE_S, SendPacer, path_loss

# ---- Opus: in-band FEC ----------------------------------------------------------------


def libopus() -> ctypes.CDLL | None:
    """The libopus PyAV ships (1.5: it can say whether a packet carries FEC)."""
    for path in glob.glob(str(Path(av.__file__).parent.parent / "av.libs" / "libopus*")):
        lib = ctypes.CDLL(path)
        if hasattr(lib, "opus_packet_has_lbrr"):
            lib.opus_packet_has_lbrr.argtypes = [ctypes.c_char_p, ctypes.c_int32]
            return lib
    return None


def encoded(encoder: OpusFrameEncoder, frames: int = 25) -> list[bytes]:
    rng = np.random.default_rng(7)
    out = []
    for _ in range(frames):
        speechlike = (rng.standard_normal(960) * 3000).astype(np.int16)
        out += encoder.encode(speechlike)
    return out


def test_the_voice_carries_in_band_fec_and_fits_a_slow_link() -> None:
    lib = libopus()
    if lib is None:
        pytest.skip("this libopus cannot inspect FEC (opus_packet_has_lbrr: 1.5+)")
    packets = encoded(OpusFrameEncoder())
    with_fec = [bool(lib.opus_packet_has_lbrr(p, len(p))) for p in packets]
    assert sum(with_fec[1:]) >= len(packets) - 3, with_fec  # all but the very first
    kbit_s = 8 * sum(map(len, packets)) / (len(packets) * 0.020) / 1000
    assert kbit_s < 48, kbit_s  # aiortc's own: 96 kbit/s stereo, no FEC
    plain = encoded(OpusFrameEncoder(expected_loss_percent=0))
    assert not any(lib.opus_packet_has_lbrr(p, len(p)) for p in plain), \
        "FEC without expected loss: the check cannot fail"


# ---- the pacer ----------------------------------------------------------------------


def rtp(ssrc: int, seq: int, size: int = 1200) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, seq, 0, ssrc) + bytes(size - 12)


VIDEO, AUDIO = 1111, 2222


async def test_voice_is_sent_at_once_while_a_keyframe_waits_in_the_pacer() -> None:
    sent: list[int] = []

    async def send(packet: bytes) -> None:
        sent.append(struct.unpack_from("!I", packet, 8)[0])

    pacer = SendPacer(send, rate_bps=300_000)
    pacer.paced_ssrcs = {VIDEO}
    for seq in range(60):  # a 72 kB keyframe: two seconds at 300 kbit/s
        await pacer.send_rtp(rtp(VIDEO, seq))
    await pacer.send_rtp(rtp(AUDIO, 0, 100))
    assert sent[-1] == AUDIO and sent.count(VIDEO) < 10, sent
    await asyncio.sleep(0.3)
    assert 0 < sent.count(VIDEO) < 60, "the pacer sent nothing, or everything at once"
    pacer.close()


async def test_a_keyframe_too_big_for_the_rate_is_sent_whole_and_faster() -> None:
    sent: list[int] = []
    asked: list[bool] = []

    async def send(packet: bytes) -> None:
        sent.append(struct.unpack_from("!H", packet, 2)[0])

    # The floor's pacing rate (300 kbit/s target) and a 360p keyframe of 42 kB: 0.75 s
    # at that rate. It must all go out, in order, in about the queue limit, with no
    # keyframe asked for (the earlier pacer dropped it and asked for another).
    pacer = SendPacer(send, rate_bps=450_000, on_overflow=lambda: asked.append(True))
    pacer.paced_ssrcs = {VIDEO}
    assert pacer.drain_bps == 450_000
    for seq in range(35):
        await pacer.send_rtp(rtp(VIDEO, seq))
    assert pacer.drain_bps > 450_000, "a long queue is not drained faster"
    for _ in range(100):
        if len(sent) == 35:
            break
        await asyncio.sleep(0.05)
    assert sent == list(range(35)) and pacer.dropped == 0 and not asked, (sent, asked)
    pacer.close()


async def test_a_stale_queue_is_dropped_for_a_keyframe() -> None:
    asked: list[bool] = []

    async def send(packet: bytes) -> None:
        await asyncio.sleep(3600)  # a transport that takes nothing more

    pacer = SendPacer(send, rate_bps=100_000, on_overflow=lambda: asked.append(True))
    pacer.paced_ssrcs = {VIDEO}
    for seq in range(40):  # 48 kB: ~4 s at 100 kbit/s
        await pacer.send_rtp(rtp(VIDEO, seq))
    assert asked and pacer.dropped > 0 and pacer.overflows == len(asked)
    assert pacer.queued_ms <= STALE_QUEUE_S * 1000
    pacer.close()


def test_the_pacers_own_drops_are_not_read_as_the_paths_loss() -> None:
    # 100 numbered packets, 40 dropped by the pacer: the far end reports 40 % lost.
    assert path_loss(0.40, sent=60, dropped=40) == 0.0
    assert path_loss(0.46, sent=60, dropped=40) == pytest.approx(0.10)  # 6 of 60 on the wire
    assert path_loss(0.05, sent=100, dropped=0) == 0.05


# ---- the rate controller ----------------------------------------------------------------


def test_loss_cuts_the_target_and_a_clean_link_raises_it_again() -> None:
    now = [0.0]
    rate = SendRateController(300_000, 2_500_000, clock=lambda: now[0])
    for _ in range(8):
        now[0] += 1
        rate.on_report(0.30, 0.02)  # a link far too slow: 30 % lost
    low = rate.target
    assert low < 1_000_000
    for _ in range(40):
        now[0] += 1
        rate.on_report(0.0, 0.02)
    assert rate.target == 2_500_000 > low


def test_a_growing_round_trip_cuts_before_loss_and_remb_caps() -> None:
    now = [0.0]
    rate = SendRateController(300_000, 2_500_000, clock=lambda: now[0])
    for rtt in (0.02, 0.02, 0.25):
        now[0] += 1
        rate.on_report(0.0, rtt)
    assert rate.target < 2_500_000 and rate.decision == "cut: queue"
    rate.on_remb(500_000)
    for _ in range(10):
        now[0] += 1
        rate.on_report(0.0, 0.02)
    assert rate.target == 500_000


def test_the_target_never_leaves_the_provisioned_bounds() -> None:
    rate = SendRateController(300_000, 900_000)
    for _ in range(30):
        rate.on_report(1.0, None)
    assert rate.target == 300_000


# ---- the camera's ladder ----------------------------------------------------------------


def test_the_ladder_lowers_size_then_rate_and_climbs_back_with_a_margin() -> None:
    ladder = QualityLadder(1280, 720, 30)
    top = ladder.top
    assert ladder.rung_for(2_000_000, top) == top
    half = ladder.rung_for(600_000, top)
    assert (half.width, half.height, half.fps) == (640, 360, 30)
    slow = ladder.rung_for(150_000, half)
    assert (slow.height, slow.fps) == (360, 15)
    just_enough = int(ladder.need(top)) + 1
    assert ladder.rung_for(just_enough, half) == half  # not yet: the margin
    assert ladder.rung_for(int(ladder.need(top) * 1.3), half) == top


def test_the_ladder_keeps_to_the_provisioned_minimum() -> None:
    ladder = QualityLadder(1280, 720, 30, min_height=360, min_fps=30)
    assert ladder.rungs == [Rung(1280, 720, 30), Rung(640, 360, 30)]
    assert ladder.rung_for(1, ladder.top) == Rung(640, 360, 30)


class Units:
    def __init__(self) -> None:
        self.frames: list[tuple[bytes, bool]] = []

    def output_frame(self, frame: object) -> None:
        self.frames.append((frame.data, frame.keyframe))  # type: ignore[attr-defined]


def decoded_size(units: list[tuple[bytes, bool]]) -> tuple[int, int]:
    codec = av.CodecContext.create("h264", "r")
    size = (0, 0)
    for data, _ in units:
        for frame in codec.decode(av.Packet(data)):
            size = (frame.width, frame.height)
    return size


async def test_the_simulated_camera_sends_smaller_pictures_when_the_rate_falls() -> None:
    camera = SimulatedCamera(640, 360, 15, 1_000_000,
                             bounds=BitrateBounds(100_000, 1_000_000))
    out = Units()
    camera.start(out)
    try:
        for _ in range(100):
            if len(out.frames) >= 5:
                break
            await asyncio.sleep(0.05)
        assert decoded_size(out.frames) == (640, 360)
        camera.set_bitrate(100_000)
        assert camera.rung.height < 360
        mark = len(out.frames)
        for _ in range(100):
            if len(out.frames) >= mark + 5:
                break
            await asyncio.sleep(0.05)
        after = out.frames[mark:]
        assert after and after[0][1], "the new size did not start with a keyframe"
        assert decoded_size(after) == (camera.rung.width, camera.rung.height)
        camera.set_bitrate(1_000_000)
        assert camera.rung == camera.ladder.top
    finally:
        camera.stop()
