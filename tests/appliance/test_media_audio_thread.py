"""The room's audio off the event loop (issue 15): the mix played from the audio
thread, and the microphone leaving as Opus encoded on its capture thread.

The pure tests block the event loop on purpose and look at what went on meanwhile;
the netns test sends the room's Opus through two real aiortc peers into the mixer
and reads the audio-level extension Janus's talking detection needs off the wire.
"""

from __future__ import annotations

import asyncio
import fractions
import os
import threading
import time
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest
from aiortc import RTCRtpReceiver
from aiortc.rtp import RtpPacket, compute_audio_level_dbov

from appliance.devices.audio import SAMPLE_RATE, NullSpeaker, Samples, SimulatedMicrophone
from appliance.media.audio import FRAME_SAMPLES, RemoteAudioMixer, audio_frame
from appliance.media.audio_send import (
    OpusMicrophoneTrack,
    add_encoded_audio_track,
    audio_level_dbov,
)
from appliance.media.capture import ThreadedMicrophone
from appliance.media.loopback import connect, local_peer_connection
from tests.support.media_tracks import ToneTrack

IN_NETNS = os.environ.get("SALON_IN_NETNS") == "1"
BLOCK_S = 0.2


def tone_level(samples: npt.NDArray[Any], hz: float) -> float:
    """Amplitude of one frequency (single-bin DFT), in sample units."""
    t = np.arange(samples.size) / SAMPLE_RATE
    return float(2 * np.abs(np.mean(samples * np.exp(-2j * np.pi * hz * t))))


class Played:
    """A playback listener noting each chunk, when and on which thread it was played."""

    def __init__(self) -> None:
        self.chunks: list[tuple[float, Samples]] = []
        self.threads: set[str] = set()

    def __call__(self, chunk: Samples) -> None:
        self.chunks.append((time.monotonic(), chunk.copy()))
        self.threads.add(threading.current_thread().name)

    def between(self, start: float, end: float) -> list[Samples]:
        return [c for at, c in list(self.chunks) if start <= at <= end]


def quiet(chunk: Samples) -> bool:
    return bool(np.abs(chunk.astype(np.int32)).max() <= 2)


async def until(condition: object, what: str, timeout: float = 20.0) -> None:
    """Wait for something to happen (a generous bound for a loaded machine)."""
    assert callable(condition)
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_the_speaker_gets_the_mix_while_the_event_loop_is_blocked() -> None:
    mixer = RemoteAudioMixer(NullSpeaker())
    played = Played()
    mixer.add_playback_listener(played)
    mixer.add_track(ToneTrack(500, rate=48_000, layout="stereo"), key="far")
    mixer.start()
    try:
        await until(lambda: sum(c.any() for _, c in played.chunks) >= 20, "the tone playing")
        start = time.monotonic()
        time.sleep(BLOCK_S)  # the event loop is stuck: no packet, no task runs
        end = time.monotonic()
    finally:
        await mixer.stop()
    during = played.between(start, end)
    # On the loop the speaker got nothing until it was free again; on its thread it
    # plays on: first what the jitter buffer held, then its concealment and silence.
    assert len(during) >= 5, f"{len(during)} chunks played while the loop was blocked"
    assert any(tone_level(c, 500) > 1000 for c in during), "the buffered mix was not played"
    assert threading.current_thread().name not in played.threads
    assert played.threads == {"audio-play"}


async def test_a_speaker_that_cannot_open_says_so_to_start() -> None:
    class Broken(NullSpeaker):
        def start(self) -> None:
            raise OSError("no such card")

    mixer = RemoteAudioMixer(Broken())
    with pytest.raises(OSError, match="no such card"):
        mixer.start()
    assert not mixer.playing


def test_the_audio_level_is_aiortcs() -> None:
    t = np.arange(FRAME_SAMPLES) / SAMPLE_RATE
    for peak in (0, 30, 3000, 30000):
        samples = np.rint(peak * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
        assert audio_level_dbov(samples) == compute_audio_level_dbov(audio_frame(samples, 0))


async def test_opus_is_encoded_on_the_capture_thread_and_decodes_to_the_tone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    encoded_on: set[str] = set()
    original = OpusMicrophoneTrack._on_frame

    def spy(self: OpusMicrophoneTrack, item: Samples | Exception) -> None:
        encoded_on.add(threading.current_thread().name)
        original(self, item)

    monkeypatch.setattr(OpusMicrophoneTrack, "_on_frame", spy)
    mic = ThreadedMicrophone(SimulatedMicrophone(tone_hz=600.0, level=0.3))
    track = OpusMicrophoneTrack(mic, live=True)
    decoder = av.CodecContext.create("libopus", "r")
    to_mono = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    decoded: list[Samples] = []
    levels: list[int | None] = []
    try:
        for _ in range(50):
            packet = await asyncio.wait_for(track.recv(), 10)
            assert isinstance(packet, av.Packet)
            assert packet.time_base == fractions.Fraction(1, SAMPLE_RATE)
            levels.append(track.audio_level_dbov)
            for frame in decoder.decode(packet):
                decoded.extend(f.to_ndarray().reshape(-1).astype(np.int16)
                               for f in to_mono.resample(frame))
        assert track.frames_sent == 50 and packet.pts == 49 * FRAME_SAMPLES
        tone = np.concatenate(decoded[10:]).astype(np.float64)
        assert tone_level(tone, 600) == pytest.approx(0.3 * 32767, rel=0.15)
        assert levels[-1] == -13  # RFC 6465: a sine at 0.3 of full scale, 13.5 dB down
        assert encoded_on == {"mic-capture"}

        track.set_live(False)  # muted: the device closes, silence packets keep the time
        assert not mic.running and not mic.microphone.running
        reads = mic.microphone.chunks_read
        silent = [await asyncio.wait_for(track.recv(), 5) for _ in range(10)]
        assert track.audio_level_dbov == -127 and len({bytes(p) for p in silent}) == 1
        assert mic.microphone.chunks_read == reads
        out = np.concatenate([m.to_ndarray().reshape(-1) for p in silent
                              for f in decoder.decode(p) for m in to_mono.resample(f)])
        assert np.abs(out[-FRAME_SAMPLES:].astype(np.int32)).max() <= 2
    finally:
        track.stop()
    assert not mic.running


async def test_a_blocked_loop_loses_no_frame_of_the_room() -> None:
    """Frames encoded while the loop was stuck wait for it (up to half a second)."""
    mic = ThreadedMicrophone(SimulatedMicrophone(tone_hz=600.0, level=0.3))
    track = OpusMicrophoneTrack(mic, live=True)
    try:
        await asyncio.wait_for(track.recv(), 10)
        time.sleep(BLOCK_S)
        started = time.monotonic()
        while time.monotonic() - started < 0.05:  # what is queued comes at once
            await asyncio.wait_for(track.recv(), 10)
        assert track.frames_sent >= BLOCK_S / 0.02 - 2
        assert track.audio_level_dbov is not None and track.audio_level_dbov > -20
    finally:
        track.stop()


class AudioLevels:
    """Wraps a receiver's RTP input and keeps each packet's audio-level extension."""

    def __init__(self, receiver: RTCRtpReceiver) -> None:
        self.levels: list[tuple[bool, int] | None] = []
        self.deliver = receiver._handle_rtp_packet
        receiver._handle_rtp_packet = self  # type: ignore[method-assign]

    async def __call__(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        self.levels.append(packet.extensions.audio_level)
        await self.deliver(packet, arrival_time_ms)


@pytest.mark.netns
@pytest.mark.skipif(not IN_NETNS, reason="needs scripts/in-netns (aioice skips lo)")
async def test_the_rooms_opus_reaches_a_peer_with_its_level_and_mute_is_silence() -> None:
    mic = ThreadedMicrophone(SimulatedMicrophone(tone_hz=600.0, level=0.3))
    track = OpusMicrophoneTrack(mic, live=True)
    sender_pc, receiver_pc = local_peer_connection(), local_peer_connection()
    add_encoded_audio_track(sender_pc, track)
    mixer = RemoteAudioMixer(NullSpeaker())
    played = Played()
    mixer.add_playback_listener(played)
    taps: list[AudioLevels] = []

    def on_track(remote: object) -> None:
        taps.append(AudioLevels(receiver_pc.getTransceivers()[0].receiver))
        mixer.add_track(remote, key="room")  # type: ignore[arg-type]

    receiver_pc.on("track", on_track)
    mixer.start()
    try:
        await connect(sender_pc, receiver_pc)
        offered = [line for line in sender_pc.localDescription.sdp.splitlines()
                   if line.startswith("a=rtpmap:")]
        assert offered and all("opus/48000" in line for line in offered)  # never as PCMU
        await until(lambda: sum(tone_level(c, 600) > 0.25 * 32767 for _, c in played.chunks)
                    >= 50, "half a second of the room's tone at the far speaker")
        track.set_live(False)
        # Silence as Opus decodes it: within ±2 of zero (not always exactly zero), for
        # 0.3 s in a row: one quiet chunk may be a late packet bridged, not the mute.
        await until(lambda: all(quiet(c) for _, c in played.chunks[-30:]),
                    "the muted room falling silent")
        muted_from = len(played.chunks) - 30
        await asyncio.sleep(0.5)
    finally:
        await sender_pc.close()
        await receiver_pc.close()
        await mixer.stop()
    levels = [x for x in taps[0].levels if x is not None]
    assert len(levels) == len(taps[0].levels)  # every packet carries the extension
    # RFC 6465: the level as -dBov, 0 loudest; the tone at 0.3 of full scale is 13 dB down.
    assert 12 <= min(level for _, level in levels) <= 14
    assert levels[-1][1] == 127  # muted: silence
    muted = np.concatenate([c for _, c in played.chunks[muted_from:]])
    assert muted.size >= 0.3 * SAMPLE_RATE and quiet(muted)
