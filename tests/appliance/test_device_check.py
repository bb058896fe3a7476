"""The device check: a camera frame, the microphone's level, and the speaker's tone on
the echo canceller's reference and heard back at the microphone array."""

from __future__ import annotations

import asyncio

import numpy as np

from appliance.device_check import (
    CHECK_HZ,
    check_camera,
    check_devices,
    check_microphone,
    check_speaker,
    tone_db,
)
from appliance.devices.audio import (
    CHUNK_SAMPLES,
    Microphone,
    NullSpeaker,
    Samples,
    SimulatedMicrophone,
    Speaker,
)
from appliance.devices.camera_simulated import SimulatedCamera
from appliance.media.aec import EchoCancelledMicrophone
from appliance.media.audio import RemoteAudioMixer


class Air:
    """A room's air between a speaker and a microphone array: what one plays, the other
    hears (quieter), over a little noise; `broken` cuts the speaker's cable."""

    def __init__(self, broken: bool = False) -> None:
        self.broken = broken
        self.queue: asyncio.Queue[Samples] = asyncio.Queue()
        self.rng = np.random.default_rng(1)


class AirSpeaker(Speaker):
    def __init__(self, air: Air) -> None:
        super().__init__()
        self.air = air

    async def _play_chunk(self, chunk: Samples) -> None:
        await asyncio.sleep(0.01)
        if not self.air.broken:
            self.air.queue.put_nowait((chunk // 4).astype(np.int16))
        self._report_played(chunk)  # a speaker tells what it played (the AEC's reference)


class AirMicrophone(Microphone):
    def __init__(self, air: Air) -> None:
        super().__init__()
        self.air = air

    async def _read_chunk(self) -> Samples:
        try:
            heard = await asyncio.wait_for(self.air.queue.get(), 0.05)
        except TimeoutError:
            heard = np.zeros(CHUNK_SAMPLES, np.int16)
        noise = self.air.rng.normal(0, 30, CHUNK_SAMPLES)
        return np.clip(heard + noise, -32768, 32767).astype(np.int16)


async def test_a_working_room_passes_and_leaves_its_devices_closed() -> None:
    air = Air()
    mic = EchoCancelledMicrophone(AirMicrophone(air))
    mixer = RemoteAudioMixer(AirSpeaker(air))
    mixer.add_playback_listener(mic.feed_playback)
    mixer.start()
    camera = SimulatedCamera(320, 180, 15, 300_000)
    try:
        results = await check_devices(camera, mic, mixer)
    finally:
        await mixer.stop()
    assert [(r.part, r.state) for r in results] == [
        ("camera", "ok"), ("microphone", "ok"), ("speaker", "ok")], results
    assert not camera.running and not mic.running and not mic.microphone.running


async def test_a_speaker_nobody_hears_is_named() -> None:
    air = Air(broken=True)
    mixer = RemoteAudioMixer(AirSpeaker(air))
    mixer.start()
    try:
        result = await check_speaker(AirMicrophone(air), mixer)
    finally:
        await mixer.stop()
    assert result.state == "failed" and "not heard" in result.detail


async def test_simulated_devices_say_so_and_a_dead_microphone_fails() -> None:
    mixer = RemoteAudioMixer(NullSpeaker())
    mixer.start()
    try:
        speaker = await check_speaker(SimulatedMicrophone(tone_hz=440.0), mixer)
    finally:
        await mixer.stop()
    assert speaker.state == "simulated"

    class Dead(Microphone):
        async def _read_chunk(self) -> Samples:
            await asyncio.sleep(0.01)
            return np.zeros(CHUNK_SAMPLES, np.int16)

    assert (await check_microphone(Dead())).detail == "digital silence"
    assert (await check_camera(None)).state == "skipped"
    camera = SimulatedCamera(320, 180, 15, 300_000)
    camera.unplug()
    try:
        assert (await check_camera(camera)).state == "failed"
    finally:
        camera.stop()


def test_tone_db_finds_the_tone() -> None:
    n = np.arange(48000)
    tone = 3000 * np.sin(2 * np.pi * CHECK_HZ * n / 48000)
    assert tone_db(tone, CHECK_HZ) > 30
    assert tone_db(np.random.default_rng(0).normal(0, 300, 48000), CHECK_HZ) < 10
