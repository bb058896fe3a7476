"""Lost, late and jumping audio packets on the way from aiortc to the mixer, and the
concealment that fills in for them.

Pure tests drive `AudioJitterBuffer` and `AudioPacketsAsTheyCome` directly; the
netns test sends a tone through two real aiortc peers, loses one RTP packet at
the receiver and counts what reaches the mixer, with the appliance's hook and
with aiortc's own audio jitter buffer.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import numpy as np
import pytest
from aiortc import RTCRtpReceiver
from aiortc.rtp import RtpPacket

from appliance.devices.audio import CHUNK_SAMPLES, SAMPLE_RATE, NullSpeaker
from appliance.media.audio import RemoteAudioMixer
from appliance.media.conceal import CROSS_FADE, FADE_OUT, Concealer, repetition_period
from appliance.media.jitter import (
    MAX_CONCEAL_SAMPLES,
    AudioJitterBuffer,
    AudioPacketsAsTheyCome,
    hand_audio_packets_on,
)
from appliance.media.loopback import connect, local_peer_connection
from tests.support.media_tracks import ToneTrack

IN_NETNS = os.environ.get("SALON_IN_NETNS") == "1"
FRAME = 960  # 20 ms


def tone_frame(index: int, hz: float = 440.0) -> np.ndarray:
    n = index * FRAME + np.arange(FRAME)
    return np.rint(8000 * np.sin(2 * np.pi * hz * n / SAMPLE_RATE)).astype(np.int16)


def play(buffer: AudioJitterBuffer, seconds: float, lost: set[int]) -> list[np.ndarray]:
    """20 ms frames arriving steadily (minus `lost`), the speaker taking 10 ms per tick."""
    out, pushed = [], 0
    for tick in range(int(seconds * 100)):
        while pushed * 0.02 + 0.005 <= tick / 100:
            if pushed not in lost:
                buffer.push(tone_frame(pushed), arrival=pushed * 0.02, pts=pushed * FRAME)
            pushed += 1
        chunk = buffer.take(tick / 100)
        out.append(np.zeros(CHUNK_SAMPLES, np.int16) if chunk is None else chunk)
    return out


def test_a_lost_packet_is_concealed_in_its_place_and_adds_no_latency() -> None:
    clean, lossy = AudioJitterBuffer(960, 5760, 2880), AudioJitterBuffer(960, 5760, 2880)
    play(clean, 60, lost=set())
    lost = set(range(100, 3000, 50))  # 2 % of the packets, one at a time
    out = play(lossy, 60, lost)

    # Each loss ran the buffer dry (it sits ~30 ms full): the expander played on, and
    # the next packet's gap was filled only beyond what it had played.
    assert lossy.stats.concealed_samples == len(lost) * FRAME
    assert clean.stats.underruns == 0 and lossy.stats.underruns <= len(lost)
    assert lossy.stats.dropped_samples == 0 and lossy.stats.late_samples == 0
    # Each gap was filled where it was: the buffer holds what the clean one holds.
    assert abs(lossy.data.size - clean.data.size) <= CHUNK_SAMPLES
    # Concealment repeats the sound and fades it: no silence step, no click.
    samples = np.concatenate(out[300:]).astype(np.int32)
    assert np.max(np.abs(np.diff(samples))) < 2 * 8000 * 2 * np.pi * 440 / SAMPLE_RATE + 200


def test_a_packet_arriving_after_its_place_was_concealed_is_dropped() -> None:
    buffer = AudioJitterBuffer(960, 5760, 2880)
    buffer.push(tone_frame(0), arrival=0.0, pts=0)
    buffer.push(tone_frame(2), arrival=0.04, pts=2 * FRAME)  # frame 1 is missing
    assert buffer.stats.concealed_samples == FRAME and buffer.data.size == 3 * FRAME
    buffer.push(tone_frame(1), arrival=0.05, pts=FRAME)  # too late: its place is taken
    assert buffer.stats.late_samples == FRAME and buffer.data.size == 3 * FRAME
    buffer.push(tone_frame(3), arrival=0.06, pts=3 * FRAME)
    assert buffer.data.size == 4 * FRAME and buffer.stats.concealed_samples == FRAME


def test_a_long_timestamp_jump_is_a_new_start_not_a_gap_to_fill() -> None:
    buffer = AudioJitterBuffer(960, 5760, 2880)
    buffer.push(tone_frame(0), arrival=0.0, pts=0)
    buffer.push(tone_frame(1), arrival=0.02, pts=MAX_CONCEAL_SAMPLES + 10 * FRAME)
    buffer.push(tone_frame(2), arrival=0.04, pts=MAX_CONCEAL_SAMPLES + 11 * FRAME)
    assert buffer.stats.concealed_samples == 0 and buffer.stats.late_samples == 0
    assert buffer.data.size == 3 * FRAME
    buffer.push(tone_frame(3), arrival=0.06, pts=0)  # the sender restarted its clock
    assert buffer.data.size == 4 * FRAME


def rtp(sequence_number: int, timestamp: int) -> RtpPacket:
    packet = RtpPacket(payload_type=111, sequence_number=sequence_number, timestamp=timestamp)
    packet._data = bytes([sequence_number % 256])  # type: ignore[attr-defined]
    return packet


def test_packets_are_handed_on_the_moment_they_come_and_never_backwards() -> None:
    gate = AudioPacketsAsTheyCome()
    handed = []
    for seq in (65533, 65534, 0, 2, 3, 1, 3, 4):  # a wrap, a loss, a late one, a duplicate
        _, frame = gate.add(rtp(seq, seq * 960))
        handed.append(None if frame is None else frame.data[0])
    assert handed == [65533 % 256, 65534 % 256, 0, 2, 3, None, None, 4]
    assert gate.late_packets == 2


class LoseOnePacket:
    """Wraps a receiver's RTP input and loses the `nth` packet, as a network would."""

    def __init__(self, receiver: RTCRtpReceiver, nth: int) -> None:
        self.receiver, self.nth, self.seen = receiver, nth, 0
        self.deliver = receiver._handle_rtp_packet
        receiver._handle_rtp_packet = self  # type: ignore[method-assign]

    async def __call__(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        self.seen += 1
        if self.seen != self.nth:
            await self.deliver(packet, arrival_time_ms)


async def frames_reaching_the_mixer(appliance_hook: bool) -> dict[str, Any]:
    """A 100-frame tone, then silence from the sender (no more packets); packet 20 lost."""
    tone = ToneTrack(700, rate=48_000, layout="stereo")
    tone.limit = 100
    sender_pc, receiver_pc = local_peer_connection(), local_peer_connection()
    sender_pc.addTransceiver(tone, direction="sendonly")
    mixer = RemoteAudioMixer(NullSpeaker())
    losses: list[LoseOnePacket] = []

    @receiver_pc.on("track")
    def on_track(track: Any) -> None:
        receiver = receiver_pc.getTransceivers()[0].receiver
        if appliance_hook:
            assert hand_audio_packets_on(receiver)
        losses.append(LoseOnePacket(receiver, nth=20))
        mixer.add_track(track, key="far")

    mixer.start()
    try:
        await connect(sender_pc, receiver_pc)
        stats = mixer.sources
        last, still = -1, 0
        while still < 20:  # until nothing new has come for 1 s (the tone lasts 2 s)
            await asyncio.sleep(0.05)
            stats = mixer.sources
            frames = stats["far"].frames_in if "far" in stats else 0
            still = still + 1 if frames == last else 0
            last = frames
        return {"frames_in": last, "concealed": stats["far"].concealed_samples,
                "packets_seen": losses[0].seen}
    finally:
        await sender_pc.close()
        await receiver_pc.close()
        await mixer.stop()


@pytest.mark.skipif(not IN_NETNS, reason="needs scripts/in-netns (aioice skips lo)")
async def test_after_a_lost_packet_the_rest_reach_the_speaker_at_once() -> None:
    appliance = await frames_reaching_the_mixer(appliance_hook=True)
    assert appliance["packets_seen"] == 100
    assert appliance["frames_in"] == 99  # every packet but the lost one, none held back
    # The lost one's 20 ms was filled in (so were any late arrivals on a busy machine,
    # and the fading end after the tone).
    assert appliance["concealed"] >= FRAME

    # aiortc's own audio jitter buffer, for contrast: it holds the packets behind the
    # lost one until 16 have queued, then hands on one per packet received — so 14
    # stay held (280 ms later than need be, for the rest of the call).
    stock = await frames_reaching_the_mixer(appliance_hook=False)
    assert stock["packets_seen"] == 100
    assert stock["frames_in"] < 99 - 10


# -- concealment -------------------------------------------------------------


def tone(hz: float, count: int, start: int = 0, level: float = 8000.0) -> np.ndarray:
    n = start + np.arange(count)
    return np.rint(level * np.sin(2 * np.pi * hz * n / SAMPLE_RATE)).astype(np.int16)


def largest_step(samples: np.ndarray) -> int:
    return int(np.max(np.abs(np.diff(samples.astype(np.int32)))))


def tone_step(hz: float, level: float = 8000.0) -> float:
    """The largest sample-to-sample step of a clean tone."""
    return level * 2 * np.pi * hz / SAMPLE_RATE


def test_the_repetition_period_is_found_in_a_voice_like_tone() -> None:
    assert repetition_period(tone(200, 1920)) in (240, 480, 720)  # 5 ms and its multiples
    lag = repetition_period(tone(440, 1920))  # 2.27 ms: not a whole number of samples
    assert min(abs(lag - k * SAMPLE_RATE / 440) for k in range(1, 7)) < 0.5


def test_a_concealment_continues_the_sound_and_fades_out_without_a_click() -> None:
    concealer = Concealer()
    heard = tone(440, 1920)
    concealer.heard(heard)
    filled = concealer.fill(FADE_OUT + 960)
    joined = np.concatenate([heard, filled])
    assert largest_step(joined) < tone_step(440) * 1.1 + 30
    # It sounds like what came before at first, and is silent once the fade is over.
    assert np.abs(filled[:240].astype(np.int32)).max() > 6000
    assert not filled[FADE_OUT:].any()


def test_the_real_sound_cross_fades_back_in() -> None:
    concealer = Concealer()
    concealer.heard(tone(300, 1920))
    filled = concealer.fill(480)
    back = concealer.resume(tone(300, 960, start=1920 + 480 + 37))  # not in phase
    assert not concealer.concealing
    assert largest_step(np.concatenate([filled, back])) < 2 * tone_step(300) + 100
    assert np.array_equal(back[CROSS_FADE:], tone(300, 960, start=1920 + 480 + 37)[CROSS_FADE:])
