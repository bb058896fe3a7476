"""The media path's counters as Prometheus metrics, read when /metrics is scraped.

Nothing here counts: every value is a counter the media objects keep anyway (the
local tracks' frames, the remote video slots' frames, the mixer's sources, the
ALSA speaker), summed with the totals of the objects that have gone, so counters
never go back across a reconnect.

    health.registry.register(MediaMetrics(media.frames_sent, receivers.frames_received,
                                          mixer))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from appliance.devices.alsa import AlsaSpeaker
from appliance.devices.audio import SAMPLE_RATE
from appliance.media.audio import RemoteAudioMixer

FrameCounts = Callable[[], Mapping[str, int]]  # kind ("video", "audio") -> frames


class MediaMetrics(Collector):
    def __init__(self, frames_sent: FrameCounts, frames_received: FrameCounts,
                 mixer: RemoteAudioMixer) -> None:
        self.frames_sent = frames_sent
        self.frames_received = frames_received
        self.mixer = mixer

    def collect(self) -> Iterator[Metric]:
        yield _by_kind("salon_frames_sent",
                       "Media frames the room handed aiortc to send (audio: 20 ms each)",
                       self.frames_sent())
        yield _by_kind("salon_frames_received",
                       "Media frames received and decoded (video: pictures; audio: packets "
                       "the mixer placed, not those too late to play)", self.frames_received())
        totals = self.mixer.totals
        underruns = CounterMetricFamily(
            "salon_audio_underruns", "Audio running dry: stage mixer, a remote participant's "
            "jitter buffer; stage speaker, the ALSA device (recovered)", labels=["stage"])
        underruns.add_metric(["mixer"], totals.underruns)
        speaker = self.mixer.speaker
        if isinstance(speaker, AlsaSpeaker):
            underruns.add_metric(["speaker"], speaker.underruns)
        yield underruns
        for name, doc, samples in (
            ("concealed", "Remote audio lost or late, filled in", totals.concealed_samples),
            ("late", "Remote audio older than what was already placed (dropped)",
             totals.late_samples),
            ("dropped", "Remote audio dropped to keep latency bounded (bursts)",
             totals.dropped_samples),
        ):
            yield CounterMetricFamily(f"salon_audio_{name}_seconds", doc,
                                      value=samples / SAMPLE_RATE)


def _by_kind(name: str, documentation: str, counts: Mapping[str, int]) -> Metric:
    family = CounterMetricFamily(name, documentation, labels=["kind"])
    for kind in ("video", "audio"):
        family.add_metric([kind], counts.get(kind, 0))
    return family
