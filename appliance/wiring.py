"""Device back-ends chosen by the provisioning file (like gpiozero's pin factories).
The only place that maps settings to concrete device classes.

Real back-ends are imported here but touch their hardware libraries
(picamera2, libasound) only when a device opens, so every configuration can
be built on any machine; a device that cannot open reports it (camera
health, microphone/speaker `fault`) instead of stopping the appliance.
"""

from __future__ import annotations

from pathlib import Path

from appliance.config import Settings
from appliance.devices.alsa import AlsaMicrophone, AlsaSpeaker
from appliance.devices.audio import (
    Microphone,
    NullSpeaker,
    SimulatedMicrophone,
    Speaker,
    WavSpeaker,
)
from appliance.devices.camera import BitrateBounds, Camera, SimulatedCamera
from appliance.devices.camera_packets import PacketReplayCamera
from appliance.devices.camera_picamera2 import Picamera2Camera
from appliance.devices.camera_v4l2 import V4l2Camera
from appliance.media.aec import EchoCancelledMicrophone, ProcessingStages
from appliance.media.audio import RemoteAudioMixer
from appliance.media.capture import ThreadedMicrophone


class DeviceUnavailable(RuntimeError):
    """A back-end named in the config cannot be opened on this machine."""


def build_camera(s: Settings) -> Camera | None:
    c = s.camera
    bounds = BitrateBounds(c.bitrate_min_kbps * 1000, c.bitrate_max_kbps * 1000)
    if c.backend == "none":
        return None
    if c.backend == "simulated":
        return SimulatedCamera(c.width, c.height, c.fps, bounds.maximum,
                               keyframe_interval=c.keyframe_interval_s, bounds=bounds)
    if c.backend == "packets":  # a simulated hardware encoder: nothing encoded at run time
        return PacketReplayCamera(
            c.width, c.height, c.fps, bounds.maximum, bounds=bounds,
            keyframe_interval=c.keyframe_interval_s,
            clip_path=Path(c.packet_clip) if c.packet_clip else None)
    if c.backend == "picamera2":
        return Picamera2Camera(
            c.width, c.height, c.fps, bounds.maximum, bounds=bounds,
            keyframe_interval=c.keyframe_interval_s, camera_index=c.camera_index,
            rotation=c.rotation, hflip=c.hflip, vflip=c.vflip, exposure=c.exposure)
    if c.backend == "v4l2":
        return V4l2Camera(
            c.device, c.width, c.height, c.fps, bounds.maximum, bounds=bounds,
            keyframe_interval=c.keyframe_interval_s, input_format=c.v4l2_format,
            rotation=c.rotation, hflip=c.hflip, vflip=c.vflip)
    raise DeviceUnavailable(f"camera back-end {c.backend!r} is not available in this build")


def build_microphone(s: Settings) -> Microphone | None:
    """The room microphone; an ALSA array goes through echo cancellation, NS and HPF
    as configured (attach the speaker's reference with `attach_echo_reference`)."""
    a = s.audio
    stages = ProcessingStages(echo_cancellation=a.software_aec,
                              noise_suppression=a.noise_suppression, high_pass=a.high_pass)
    if a.mic_backend == "simulated":  # a test signal: noise suppression would eat a tone
        simulated = SimulatedMicrophone(tone_hz=None if a.mic_wav else a.tone_hz,
                                        wav_path=a.mic_wav, ticks=a.mic_signal == "ticks")
        if a.simulated_mic_processing and stages.any:
            return EchoCancelledMicrophone(simulated, stages)
        return simulated
    if a.mic_backend == "alsa":
        array = AlsaMicrophone(a.mic_pcm, channels=a.mic_channels, sample_format=a.mic_format,
                               rate=a.mic_rate, channels_used=a.mic_channels_used)
        return EchoCancelledMicrophone(array, stages) if stages.any else array
    raise DeviceUnavailable(f"microphone back-end {a.mic_backend!r} is not available in this build")


def build_speaker(s: Settings, state_dir: Path) -> Speaker:
    a = s.audio
    if a.speaker_backend == "null":
        return NullSpeaker()
    if a.speaker_backend == "wav":
        return WavSpeaker(a.speaker_wav or state_dir / "speaker.wav")
    if a.speaker_backend == "alsa":
        return AlsaSpeaker(a.speaker_pcm, rate=a.speaker_rate)
    raise DeviceUnavailable(
        f"speaker back-end {a.speaker_backend!r} is not available in this build")


def build_room_audio(s: Settings, state_dir: Path) -> tuple[Microphone | None, RemoteAudioMixer]:
    """The room microphone, read on its own capture thread (`ThreadedMicrophone`), and the
    mixer playing the remote participants into the speaker, with the echo canceller's
    far-end reference wired: exactly the PCM the speaker is handed (the mixer is not
    started)."""
    microphone = build_microphone(s)
    mixer = RemoteAudioMixer(build_speaker(s, state_dir), volume=s.audio.volume / 100)
    attach_echo_reference(microphone, mixer)
    return (ThreadedMicrophone(microphone) if microphone is not None else None), mixer


def attach_echo_reference(microphone: Microphone | None, mixer: RemoteAudioMixer) -> None:
    """Give an echo-cancelled microphone exactly what the mixer hands the speaker."""
    if isinstance(microphone, EchoCancelledMicrophone):
        microphone.speaker = mixer.speaker
        mixer.add_playback_listener(microphone.feed_playback)
