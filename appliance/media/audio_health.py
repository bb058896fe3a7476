"""/healthz "audio": how the microphone, the speaker, the remote mix and the echo
canceller are doing, read from the counters the devices keep themselves.

    health.sections["audio"] = lambda: audio_report(microphone, mixer, settings.audio)
    watch_audio_faults(health, microphone, mixer)  # devices.microphone / .speaker

Nothing here counts anything: a figure appears only where a device knows it
(an ALSA capture knows its overruns, a WAV file has none), so a missing key
means "not measurable with this back-end", never zero.
"""

from __future__ import annotations

from typing import Any

from appliance.devices.alsa import AlsaMicrophone, AlsaSpeaker
from appliance.devices.audio import (
    SAMPLE_RATE,
    Microphone,
    NullSpeaker,
    SimulatedMicrophone,
    Speaker,
    WavSpeaker,
)
from appliance.health import HealthSink
from appliance.media.aec import EchoCancelledMicrophone
from appliance.media.audio import RemoteAudioMixer
from appliance.media.capture import unthreaded
from appliance.provisioning.schema import AudioSettings

Report = dict[str, Any]


def audio_report(microphone: Microphone | None, mixer: RemoteAudioMixer,
                 settings: AudioSettings) -> Report:
    return {
        "microphone": microphone_report(microphone),
        "speaker": speaker_report(mixer.speaker),
        "mixer": mixer_report(mixer),
        "echo_canceller": echo_canceller_report(microphone, settings),
    }


def microphone_report(microphone: Microphone | None) -> Report | None:
    microphone = unthreaded(microphone)
    if microphone is None:
        return None
    device = microphone.microphone if isinstance(microphone, EchoCancelledMicrophone) \
        else microphone
    report: Report = {"backend": _backend(device), "open": device.running,
                      "chunks_read": device.chunks_read}
    if isinstance(device, AlsaMicrophone):
        report |= {
            "pcm": device.pcm, "fault": device.fault,
            "overruns": device.overruns,  # ALSA xruns: audio lost before it was read
            "read_errors": device.read_errors,  # no audio in time: silence was sent
            "dropped_chunks": device.dropped_chunks,  # the reader fell 100 ms behind
            "reopens": device.reopens, "granted": _granted(device.granted),
        }
    elif isinstance(device, SimulatedMicrophone):
        report["source"] = "file" if device.tone_hz is None else "ticks" if device.ticks else "tone"
    return report


def speaker_report(speaker: Speaker) -> Report:
    report: Report = {"backend": _backend(speaker), "chunks_played": speaker.chunks_played,
                      "output_latency_ms": round(speaker.output_latency * 1000, 1)}
    if isinstance(speaker, AlsaSpeaker):
        report |= {
            "pcm": speaker.pcm, "open": speaker.running, "fault": speaker.fault,
            "underruns": speaker.underruns,  # ALSA xruns, recovered
            "starved": speaker.starved,  # periods of silence while the mix was late
            "discarded": speaker.discarded,  # chunks dropped while the device was failing
            "reopens": speaker.reopens, "granted": _granted(speaker.granted),
        }
    elif isinstance(speaker, WavSpeaker):
        report["path"] = str(speaker.path)
    return report


def mixer_report(mixer: RemoteAudioMixer) -> Report:
    """Totals since start, over every source the mixer has played (gone ones too)."""
    sources = mixer.sources
    totals = mixer.totals
    return {
        "sources": len(sources),
        "underruns": totals.underruns,
        "dropped_ms": _ms(totals.dropped_samples),  # a burst beyond the buffer's room
        "concealed_ms": _ms(totals.concealed_samples),  # lost or late audio filled in
        "late_ms": _ms(totals.late_samples),  # came after its place was concealed
        "chunks_played": mixer.chunks_played,
        "clipped_samples": mixer.clipped_samples,
        "buffered_ms": {key: _ms(s.buffered_samples) for key, s in sources.items()},
    }


def watch_audio_faults(health: HealthSink, microphone: Microphone | None,
                       mixer: RemoteAudioMixer) -> None:
    """/healthz "devices": the microphone and the speaker are "error" while they fail."""
    health.watch_fault("microphone", lambda: audio_fault(microphone))
    health.watch_fault("speaker", lambda: audio_fault(mixer.speaker))


def audio_fault(device: Microphone | Speaker | None) -> str | None:
    """Why the room's microphone or speaker is not working, None while it works (only
    ALSA devices know; a file or a test tone cannot fail this way)."""
    if isinstance(device, Microphone):
        device = unthreaded(device)
    if isinstance(device, EchoCancelledMicrophone):
        device = device.microphone
    return device.fault if isinstance(device, AlsaMicrophone | AlsaSpeaker) else None


def _ms(samples: int) -> float:
    return round(samples * 1000 / SAMPLE_RATE, 1)


def echo_canceller_report(microphone: Microphone | None, settings: AudioSettings) -> Report:
    """The processing stages as they run. "echo_cancellation" is "on", "off" (by the
    file, or a simulated microphone, which is never processed) or "array" (off because
    the array cancels echo itself)."""
    microphone = unthreaded(microphone)
    processor = microphone.processor if isinstance(microphone, EchoCancelledMicrophone) \
        else None
    is_array = isinstance(microphone, EchoCancelledMicrophone | AlsaMicrophone)
    if processor is not None and processor.stages.echo_cancellation:
        aec = "on"
    else:
        aec = "array" if settings.array_has_aec and is_array else "off"
    report: Report = {
        "echo_cancellation": aec,
        "noise_suppression": processor is not None and processor.stages.noise_suppression,
        "high_pass": processor is not None and processor.stages.high_pass,
    }
    if processor is not None:
        done = processor.chunks_processed
        report |= {
            "delay_hint_ms": processor.delay_ms,
            "reference_chunks": processor.reverse_chunks,  # 10 ms the speaker was handed
            "chunks_processed": done,
            # Both streams' work per 10 ms of microphone audio.
            "cpu_us_per_10ms": round(processor.cpu_seconds / done * 1e6, 1) if done else None,
        }
    return report


def _backend(device: Microphone | Speaker) -> str:
    if isinstance(device, (AlsaMicrophone, AlsaSpeaker)):
        return "alsa"
    if isinstance(device, SimulatedMicrophone):
        return "simulated"
    if isinstance(device, WavSpeaker):
        return "wav"
    if isinstance(device, NullSpeaker):
        return "null"
    return type(device).__name__


def _granted(granted: tuple[int, str, int, int, int] | None) -> Report | None:
    """What the device settled on, once it has opened."""
    if granted is None:
        return None
    channels, sample_format, rate, period, buffer = granted
    return {"channels": channels, "format": sample_format, "rate": rate,
            "period_ms": round(period * 1000 / rate, 1),
            "buffer_ms": round(buffer * 1000 / rate, 1)}

