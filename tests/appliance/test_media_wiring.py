"""Settings to device back-ends: the one mapping, for every back-end the file can name."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appliance.devices import registry
from appliance.devices.alsa import AlsaMicrophone, AlsaSpeaker
from appliance.devices.audio import NullSpeaker, SimulatedMicrophone, WavSpeaker
from appliance.devices.camera_packets import PacketReplayCamera
from appliance.devices.camera_picamera2 import Picamera2Camera
from appliance.devices.camera_simulated import SimulatedCamera
from appliance.devices.camera_v4l2 import V4l2Camera
from appliance.media.aec import EchoCancelledMicrophone, ProcessingStages
from appliance.media.audio import RemoteAudioMixer
from appliance.wiring import attach_echo_reference, build_microphone
from tests.support.provisioned import settings


def test_simulated_devices_for_tests_and_demos(tmp_path: Path) -> None:
    s = settings('[camera]\nbackend = "simulated"\nwidth = 640\nheight = 360\n'
                 'bitrate_min_kbps = 100\nbitrate_max_kbps = 900\n'
                 '[audio]\nmic_backend = "simulated"\nspeaker_backend = "wav"\n'
                 f'speaker_wav = "{tmp_path / "out.wav"}"\n')
    camera = registry.camera(s.camera)
    assert isinstance(camera, SimulatedCamera) and (camera.width, camera.height) == (640, 360)
    assert (camera.bounds.minimum, camera.bounds.maximum) == (100_000, 900_000)
    mic = build_microphone(s)
    assert isinstance(mic, SimulatedMicrophone) and not mic.ticks  # a tone is not processed
    ticking = build_microphone(settings('[audio]\nmic_backend = "simulated"\ntone_hz = 2000\n'
                                        'mic_signal = "ticks"\n'))
    assert isinstance(ticking, SimulatedMicrophone) and ticking.ticks
    assert ticking.tone_hz == 2000
    speaker = registry.speaker(s.audio, tmp_path)
    assert isinstance(speaker, WavSpeaker) and speaker.path == tmp_path / "out.wav"
    assert registry.camera(settings('[camera]\nbackend = "none"\n').camera) is None


def test_the_benchmarks_whole_appliance_packet_camera_and_processed_simulated_mic(
        tmp_path: Path) -> None:
    clip = tmp_path / "clip.npz"
    clip.touch()  # check-config wants the file there; the camera reads it when it starts
    s = settings(f'[camera]\nbackend = "packets"\nkeyframe_interval_s = 1.5\n'
                 f'packet_clip = "{clip}"\n'
                 '[audio]\nmic_backend = "simulated"\nsimulated_mic_processing = true\n'
                 'noise_suppression = false\n')
    camera = registry.camera(s.camera)
    assert isinstance(camera, PacketReplayCamera)
    assert camera.clip_path == clip and camera.keyframe_interval == 1.5
    mic = build_microphone(s)
    assert isinstance(mic, EchoCancelledMicrophone)
    assert isinstance(mic.microphone, SimulatedMicrophone)
    assert mic.stages == ProcessingStages(echo_cancellation=True, noise_suppression=False,
                                          high_pass=True)


def test_pi_camera_and_usb_camera_get_their_tuning() -> None:
    pi = registry.camera(settings('[camera]\nbackend = "picamera2"\ncamera_index = 1\n'
                                  'rotation = 180\nhflip = true\nexposure = "short"\n'
                                  'fps = 25\n').camera)
    assert isinstance(pi, Picamera2Camera)
    assert (pi.camera_index, pi.rotation, pi.hflip, pi.vflip, pi.exposure, pi.fps) == (
        1, 180, True, False, "short", 25)
    usb = registry.camera(settings('[camera]\nbackend = "v4l2"\ndevice = "/dev/video2"\n'
                                   'v4l2_format = "mjpeg"\nkeyframe_interval_s = 4.0\n').camera)
    assert isinstance(usb, V4l2Camera)
    assert (usb.device, usb.input_format, usb.keyframe_interval) == ("/dev/video2", "mjpeg", 4.0)
    assert not usb.running and not pi.running  # nothing opens before the camera is wanted


@pytest.mark.parametrize(
    ("audio", "stages"),
    [
        ("", ProcessingStages(True, True, True)),
        ("array_has_aec = true\necho_cancellation = false\n", ProcessingStages(False, True, True)),
        ("noise_suppression = false\nhigh_pass = false\n", ProcessingStages(True, False, False)),
    ],
)
def test_an_alsa_array_goes_through_the_configured_processing(
    audio: str, stages: ProcessingStages
) -> None:
    s = settings('[audio]\nmic_backend = "alsa"\nmic_pcm = "hw:CARD=ArrayUAC10,DEV=0"\n'
                 'mic_channels = 6\nmic_format = "S24_LE"\nmic_rate = 16000\n'
                 f'mic_channels_used = [0]\n{audio}')
    mic = build_microphone(s)
    assert isinstance(mic, EchoCancelledMicrophone) and mic.stages == stages
    array = mic.microphone
    assert isinstance(array, AlsaMicrophone)
    assert (array.pcm, array.channels, array.sample_format, array.rate, array.channels_used) == (
        "hw:CARD=ArrayUAC10,DEV=0", 6, "S24_LE", 16000, (0,))


def test_an_array_without_any_processing_is_used_as_it_is() -> None:
    s = settings('[audio]\nmic_backend = "alsa"\narray_has_aec = true\n'
                 'echo_cancellation = false\nnoise_suppression = false\nhigh_pass = false\n')
    assert isinstance(build_microphone(s), AlsaMicrophone)


async def test_the_echo_canceller_hears_exactly_what_the_mixer_plays(tmp_path: Path) -> None:
    s = settings('[audio]\nmic_backend = "alsa"\nspeaker_backend = "alsa"\n'
                 'speaker_pcm = "hw:0"\nspeaker_rate = 44100\n')
    speaker = registry.speaker(s.audio, tmp_path)
    assert isinstance(speaker, AlsaSpeaker) and (speaker.pcm, speaker.rate) == ("hw:0", 44100)
    mic = build_microphone(s)
    assert isinstance(mic, EchoCancelledMicrophone)
    mixer = RemoteAudioMixer(NullSpeaker())
    attach_echo_reference(mic, mixer)
    assert mic.speaker is mixer.speaker
    mixer.start()
    await asyncio.sleep(0.1)
    assert mic.processor is not None and mic.processor.reverse_chunks == 0  # mic closed
    mic.start()  # no sound card here: the array reports a fault, the reference still flows
    await asyncio.sleep(0.3)
    mic.stop()
    await mixer.stop()
    assert mic.processor.reverse_chunks >= 15
