"""Device back-ends chosen by the provisioning file (like gpiozero's pin factories).
The only place that maps settings to concrete device classes."""

from __future__ import annotations

from pathlib import Path

from appliance.config import Settings
from appliance.devices.audio import (
    Microphone,
    NullSpeaker,
    SimulatedMicrophone,
    Speaker,
    WavSpeaker,
)
from appliance.devices.camera import BitrateBounds, Camera, SimulatedCamera


class DeviceUnavailable(RuntimeError):
    """A back-end named in the config cannot be opened on this machine."""


def build_camera(s: Settings) -> Camera | None:
    c = s.camera
    if c.backend == "none":
        return None
    if c.backend == "simulated":
        return SimulatedCamera(
            c.width, c.height, c.fps, c.bitrate_max_kbps * 1000,
            keyframe_interval=c.keyframe_interval_s,
            bounds=BitrateBounds(c.bitrate_min_kbps * 1000, c.bitrate_max_kbps * 1000),
        )
    raise DeviceUnavailable(f"camera back-end {c.backend!r} is not available in this build")


def build_microphone(s: Settings) -> Microphone | None:
    a = s.audio
    if a.mic_backend == "simulated":
        return SimulatedMicrophone(tone_hz=None if a.mic_wav else a.tone_hz, wav_path=a.mic_wav)
    raise DeviceUnavailable(f"microphone back-end {a.mic_backend!r} is not available in this build")


def build_speaker(s: Settings, state_dir: Path) -> Speaker:
    a = s.audio
    if a.speaker_backend == "null":
        return NullSpeaker()
    if a.speaker_backend == "wav":
        return WavSpeaker(a.speaker_wav or state_dir / "speaker.wav")
    raise DeviceUnavailable(
        f"speaker back-end {a.speaker_backend!r} is not available in this build")
