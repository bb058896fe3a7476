"""The room's device check, at start and before each scheduled join: a camera frame, the
microphone's level, and a tone from the speaker heard back by the microphone.

The tone goes the way remote voices go — a source in the remote-audio mixer, so the
very chunks the speaker is handed are the echo canceller's far-end reference (the
check confirms they carried it) — and is listened for on the microphone array itself,
before echo cancellation (which exists to remove it). A simulated microphone has no
acoustic path to a speaker: its speaker result says "simulated", not "ok".

Results are ("camera" | "microphone" | "speaker", "ok" | "failed" | "simulated" |
"skipped", detail). A failed part is named on the standby screen and in /healthz; the
room still joins with what works (the camera's own supervision puts the room into
audio only if the camera fails for real).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from appliance.devices.audio import SAMPLE_RATE, Microphone, SimulatedMicrophone
from appliance.devices.camera import Camera, EncodedFrame
from appliance.media.audio import RemoteAudioMixer, audio_frame

log = logging.getLogger("salon.devicecheck")
CHECK_HZ = 1500.0  # apart from the simulated microphone's usual tones (440, 1000 Hz)
TONE_S = 1.0
HEARD_DB = 10.0
CAMERA_TIMEOUT_S = 5.0
FRAME_SAMPLES = SAMPLE_RATE // 50  # 20 ms


@dataclass(frozen=True)
class PartResult:
    part: str
    state: str
    detail: str = ""

    def row(self) -> tuple[str, str, str]:
        return self.part, self.state, self.detail


def tone_db(samples: npt.NDArray[Any], hz: float, rate: int = SAMPLE_RATE) -> float:
    """Energy near `hz` over the spectrum's median (about the same bandwidth), in dB."""
    if samples.size < rate // 10:
        return float("-inf")
    x = samples.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    band = spectrum[(freqs > hz - 20) & (freqs < hz + 20)].sum()
    return float(10 * np.log10(band / (np.median(spectrum) * 40 + 1e-9) + 1e-12))


class _FirstFrame:
    def __init__(self) -> None:
        self.got = threading.Event()

    def output_frame(self, frame: EncodedFrame) -> None:
        self.got.set()


def _always() -> bool:
    return True


async def check_camera(camera: Camera | None, mine: Callable[[], bool] = _always
                       ) -> PartResult:
    if camera is None:
        return PartResult("camera", "skipped", "no camera configured")
    if camera.running:
        return PartResult("camera", "skipped", "in use")
    first = _FirstFrame()
    try:
        camera.start(first)
        got = await asyncio.to_thread(first.got.wait, CAMERA_TIMEOUT_S)
    except Exception as exc:  # any back-end's failure is the result, not a crash
        return PartResult("camera", "failed", str(exc) or type(exc).__name__)
    finally:
        if mine():  # a join meanwhile took the camera over: it is the meeting's now
            with contextlib.suppress(Exception):
                camera.stop()
    if not got:
        return PartResult("camera", "failed", f"no picture within {CAMERA_TIMEOUT_S:.0f} s")
    return PartResult("camera", "ok", "a frame")


async def _record(microphone: Microphone, seconds: float) -> npt.NDArray[np.int16]:
    chunks = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        chunks.append(await asyncio.wait_for(microphone.read(), 2.0))
    return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


async def check_microphone(microphone: Microphone | None,
                           mine: Callable[[], bool] = _always) -> PartResult:
    if microphone is None:
        return PartResult("microphone", "skipped", "no microphone configured")
    if microphone.running:
        return PartResult("microphone", "skipped", "in use")
    try:
        microphone.start()
        samples = await _record(microphone, 0.5)
    except Exception as exc:
        return PartResult("microphone", "failed", str(exc) or type(exc).__name__)
    finally:
        if mine():
            with contextlib.suppress(Exception):
                microphone.stop()
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0
    if rms == 0.0:  # a real room is never digitally silent: a dead or muted input
        return PartResult("microphone", "failed", "digital silence")
    return PartResult("microphone", "ok", f"{20 * np.log10(rms / 32768):.0f} dBFS")


class ToneTrack(MediaStreamTrack):
    """A sine as an audio track, paced in real time (the mixer reads it like a voice)."""

    kind = "audio"

    def __init__(self, hz: float, seconds: float, level: float = 0.3) -> None:
        super().__init__()
        n = np.arange(int(seconds * SAMPLE_RATE))
        self.samples = (level * 32767 * np.sin(2 * np.pi * hz * n / SAMPLE_RATE)).astype(np.int16)
        self.sent = 0
        self._start = time.monotonic()

    async def recv(self) -> av.AudioFrame:
        if self.sent >= self.samples.size:
            self.stop()
            raise MediaStreamError
        due = self._start + self.sent / SAMPLE_RATE
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        chunk = self.samples[self.sent:self.sent + FRAME_SAMPLES]
        frame = audio_frame(chunk, self.sent)
        self.sent += FRAME_SAMPLES
        return frame


async def check_speaker(microphone: Microphone | None, mixer: RemoteAudioMixer,
                        mine: Callable[[], bool] = _always) -> PartResult:
    """Play the tone through the mixer; it must be on the echo canceller's reference (what
    the speaker is handed) and, through the air, at the microphone array."""
    array = getattr(microphone, "microphone", microphone)  # under the echo canceller
    if array is None or array.running:
        return PartResult("speaker", "skipped", "no microphone to listen" if array is None
                          else "microphone in use")
    played: list[npt.NDArray[np.int16]] = []
    listen = played.append
    mixer.add_playback_listener(listen)
    key = mixer.add_track(ToneTrack(CHECK_HZ, TONE_S), key="device-check")
    try:
        array.start()
        heard = await _record(array, TONE_S + 0.3)
    except Exception as exc:
        return PartResult("speaker", "failed", f"microphone: {exc}")
    finally:
        mixer.remove_track(key)
        mixer.remove_playback_listener(listen)
        if mine():
            with contextlib.suppress(Exception):
                array.stop()
    reference = tone_db(np.concatenate(played), CHECK_HZ) if played else float("-inf")
    if reference < HEARD_DB:
        return PartResult("speaker", "failed", "the tone did not reach the speaker path")
    if isinstance(array, SimulatedMicrophone):
        return PartResult("speaker", "simulated", "tone played; no acoustic path to hear it")
    level = tone_db(heard, CHECK_HZ)
    if level < HEARD_DB:
        return PartResult("speaker", "failed", f"the tone was not heard ({level:.0f} dB)")
    return PartResult("speaker", "ok", f"tone heard, {level:.0f} dB over the noise")


async def check_devices(camera: Camera | None, microphone: Microphone | None,
                        mixer: RemoteAudioMixer, mine: Callable[[], bool] = _always
                        ) -> tuple[PartResult, ...]:
    """All three, one after the other; `mine()` false means the room has joined
    meanwhile and the devices are the meeting's: the check leaves them open."""
    results = (await check_camera(camera, mine), await check_microphone(microphone, mine),
               await check_speaker(microphone, mixer, mine))
    for r in results:
        log.log(logging.WARNING if r.state == "failed" else logging.INFO,
                "device check: %s %s (%s)", r.part, r.state, r.detail)
    return results
