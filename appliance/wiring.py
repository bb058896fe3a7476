"""The room's audio put together: the microphone the provisioning file names
(devices/registry.py picks every back-end) with echo cancellation on top, and the
mixer that plays the remote participants into the speaker, the canceller's reference."""

from __future__ import annotations

from pathlib import Path

from appliance.devices import registry
from appliance.devices.audio import Microphone
from appliance.media.aec import EchoCancelledMicrophone, ProcessingStages
from appliance.media.audio import RemoteAudioMixer
from appliance.media.capture import ThreadedMicrophone
from appliance.provisioning.loader import Settings


def build_microphone(s: Settings) -> Microphone:
    """The room microphone; a real capture goes through echo cancellation, NS and HPF as
    configured. A simulated test signal does only when `simulated_mic_processing` says so
    (noise suppression would eat a tone)."""
    a = s.audio
    microphone = registry.microphone(a)
    stages = ProcessingStages(echo_cancellation=a.software_aec,
                              noise_suppression=a.noise_suppression, high_pass=a.high_pass)
    if a.mic_backend == "simulated" and not a.simulated_mic_processing:
        return microphone
    return EchoCancelledMicrophone(microphone, stages) if stages.any else microphone


def build_room_audio(s: Settings, state_dir: Path) -> tuple[Microphone | None, RemoteAudioMixer]:
    """The room microphone, read on its own capture thread (`ThreadedMicrophone`), and the
    mixer playing the remote participants into the speaker, with the echo canceller's
    far-end reference wired: exactly the PCM the speaker plays (the mixer is not
    started)."""
    microphone = build_microphone(s)
    mixer = RemoteAudioMixer(registry.speaker(s.audio, state_dir), volume=s.audio.volume / 100)
    attach_echo_reference(microphone, mixer)
    return ThreadedMicrophone(microphone), mixer


def attach_echo_reference(microphone: Microphone | None, mixer: RemoteAudioMixer) -> None:
    """Give an echo-cancelled microphone exactly what the speaker plays."""
    if isinstance(microphone, EchoCancelledMicrophone):
        microphone.speaker = mixer.speaker
        mixer.add_playback_listener(microphone.feed_playback)
