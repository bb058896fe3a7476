"""An in-process call between two aiortc peers for the media benchmarks (not a benchmark itself).

The sending side is the appliance's own media: the simulated camera's H.264
through `EncodedVideoTrack`, and microphones through `MicrophoneTrack` — one
that clicks once a second (for mouth-to-ear timing) and others humming quietly
with their sample clocks off by ±ppm, as other participants' would be. The
receiving side is the appliance's receive path: `FrameSlot` per video track,
`RemoteAudioMixer` for all audio into a speaker. Needs `scripts/in-netns`.

Mouth to ear: the time a click's chunk left the microphone's `read()` to the
time the mixer handed the chunk where it starts to the speaker (plus the
speaker's output latency, zero for the simulated one). Video: capture time
drawn into the picture to the moment the receiving slot stored the decoded frame.

`udp_loss(percent)` drops that share of the netns' UDP packets at random
(nftables), as a lossy network would.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aiortc import MediaStreamTrack

from appliance.conference.ice import IceChoice
from appliance.devices.audio import (
    CHUNK_SAMPLES,
    SAMPLE_RATE,
    Microphone,
    NullSpeaker,
    RealtimePacer,
    Samples,
    SimulatedMicrophone,
    Speaker,
)
from appliance.devices.camera_simulated import SimulatedCamera
from appliance.devices.testpattern import read_timestamp
from appliance.media.audio import MicrophoneTrack, RemoteAudioMixer
from appliance.media.jitter import hand_audio_packets_on
from appliance.media.loopback import connect
from appliance.media.slots import FrameSlot
from appliance.media.video import EncodedVideoTrack, add_encoded_video_track

CLICK_LEVEL = 12_000
DETECT_LEVEL = 4_000


class ClickMicrophone(Microphone):
    """Silence with a 5 ms 2 kHz burst every `interval` seconds; remembers when each left."""

    def __init__(self, interval: float = 1.0) -> None:
        super().__init__()
        self.every = round(interval * 100)
        self.emitted: list[float] = []
        self._pacer = RealtimePacer()
        burst = np.sin(2 * np.pi * 2000 * np.arange(240) / SAMPLE_RATE) * CLICK_LEVEL
        self._click = np.zeros(CHUNK_SAMPLES, np.int16)
        self._click[:240] = np.rint(burst).astype(np.int16)

    def start(self) -> None:
        if not self.running:
            self._pacer.reset()
        super().start()

    async def _read_chunk(self) -> Samples:
        await self._pacer.wait()
        if self.chunks_read % self.every == 0:
            self.emitted.append(time.monotonic())
            return self._click.copy()
        return np.zeros(CHUNK_SAMPLES, np.int16)


class ClickDetector:
    """The mixer's playback listener: when did each click reach the speaker?"""

    def __init__(self, speaker: Speaker) -> None:
        self.speaker = speaker
        self.heard: list[float] = []
        self._quiet_since = 0.0

    def __call__(self, chunk: Samples) -> None:
        now = time.monotonic()
        loud = np.flatnonzero(np.abs(chunk) > DETECT_LEVEL)
        if loud.size and now - self._quiet_since > 0.3:
            self.heard.append(now + loud[0] / SAMPLE_RATE + self.speaker.output_latency)
        if loud.size:
            self._quiet_since = now


def match_clicks(emitted: list[float], heard: list[float]) -> list[float]:
    """Mouth-to-ear delays: each heard click against the latest click emitted before it.

    By bisection: this runs on the call's own event loop, and a scan of every click
    emitted so far, per click heard, stalled the loop for ~200 ms an hour into a soak."""
    delays = []
    for t in heard:
        i = bisect.bisect_right(emitted, t)
        if i and t - emitted[i - 1] < 0.9:
            delays.append(t - emitted[i - 1])
    return delays


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class MediaCall:
    """The two peers and what each side measures; `await start()`, `sample()`, `stop()`."""

    width: int = 1280
    height: int = 720
    fps: int = 30
    drifting_sources_ppm: tuple[float, ...] = (200.0, -200.0)
    # "appliance": packets straight to the mixer's jitter buffer (hand_audio_packets_on),
    # as the appliance does; "aiortc": aiortc's own audio jitter buffer in front of it.
    audio_packets: Literal["appliance", "aiortc"] = "appliance"
    speaker: Speaker = field(default_factory=NullSpeaker)
    slots: list[FrameSlot] = field(default_factory=list)
    video_delays_ms: list[float] = field(default_factory=list)
    loop_lag_ms: list[float] = field(default_factory=list)  # oversleep of the sampler's waits
    _seen_version: int = 0

    async def start(self) -> None:
        self.camera = SimulatedCamera(self.width, self.height, self.fps, 1_500_000,
                                      keyframe_interval=3.0)
        self.clicks = ClickMicrophone()
        # The appliance's own factory: no ICE servers, MAX_BUNDLE (several audio m-lines).
        self.sender = IceChoice().new_peer_connection()[0]
        self.receiver = IceChoice().new_peer_connection()[0]
        add_encoded_video_track(self.sender, EncodedVideoTrack(self.camera))
        microphones: list[Microphone] = [self.clicks] + [
            SimulatedMicrophone(tone_hz=300.0 + 100 * i, level=0.02, clock_ppm=ppm)
            for i, ppm in enumerate(self.drifting_sources_ppm)]
        for mic in microphones:
            self.sender.addTransceiver(MicrophoneTrack(mic, live=True), direction="sendonly")
        self.mixer = RemoteAudioMixer(self.speaker)
        self.detector = ClickDetector(self.speaker)
        self.mixer.add_playback_listener(self.detector)
        self.mixer.start()

        @self.receiver.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                slot = FrameSlot(track, name="far")
                slot.start()
                self.slots.append(slot)
            else:
                if self.audio_packets == "appliance":
                    receiver = next(t.receiver for t in self.receiver.getTransceivers()
                                    if t.receiver.track is track)
                    hand_audio_packets_on(receiver)
                self.mixer.add_track(track, key=f"source-{len(self.mixer.sources)}")

        await connect(self.sender, self.receiver)

    def sample_video(self) -> None:
        """Record the newest frame's capture→decoded delay if a new frame came."""
        if not self.slots:
            return
        slot = self.slots[0]
        if slot.version == self._seen_version or slot.received_at is None:
            return
        received_at, image = slot.received_at, slot.rgb(320, 180)
        self._seen_version = slot.version
        captured = read_timestamp(image) if image is not None else None
        if captured is not None:
            self.video_delays_ms.append(received_at * 1000 - captured)

    def audio_state(self) -> dict[str, Any]:
        sources = self.mixer.sources
        return {
            "buffered_ms": {k: round(s.buffered_samples / 48, 1) for k, s in sources.items()},
            "rate_adjust_ppm": {k: round(s.rate_adjust_ppm) for k, s in sources.items()},
            "underruns": self.mixer.underruns,
            "dropped_ms": round(self.mixer.dropped_samples / 48, 1),
            "concealed_ms": round(self.mixer.concealed_samples / 48, 1),
        }

    def mouth_to_ear_ms(self, since: int = 0) -> list[float]:
        """Delays of the clicks heard from the `since`-th on, in ms."""
        heard = self.detector.heard[since:]
        return [d * 1000 for d in match_clicks(self.clicks.emitted, heard)]

    async def stop(self) -> None:
        await self.mixer.stop()
        for slot in self.slots:
            await slot.stop()
        await self.sender.close()
        await self.receiver.close()


@contextlib.contextmanager
def udp_loss(percent: float) -> Iterator[None]:
    """Drop `percent` % of this network namespace's UDP packets at random while inside."""
    if percent <= 0:
        yield
        return
    rule = (f"add table inet salon_loss\n"
            f"add chain inet salon_loss out {{ type filter hook output priority 0; }}\n"
            f"add rule inet salon_loss out meta l4proto udp "
            f"numgen random mod 10000 lt {round(percent * 100)} drop\n")
    subprocess.run(["nft", "-f", "-"], input=rule, text=True, check=True)
    try:
        yield
    finally:
        subprocess.run(["nft", "delete", "table", "inet", "salon_loss"], check=True)


def stats(values: list[float]) -> dict[str, float | None]:
    p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
    return {"p50": None if p50 is None else round(p50, 1),
            "p95": None if p95 is None else round(p95, 1),
            "mean": round(statistics.fmean(values), 1) if values else None,
            "samples": len(values)}


async def sample_for(call: MediaCall, seconds: float, every: float = 0.05) -> None:
    """Sample the video delay every `every` s; the wait's oversleep is the event loop's lag
    (a busy machine shows here first: audio underruns and drops follow it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        call.sample_video()
        before = time.monotonic()
        await asyncio.sleep(every)
        call.loop_lag_ms.append((time.monotonic() - before - every) * 1000)
