"""Echo cancellation, noise suppression and high-pass filtering of the room microphone.

WebRTC's audio processing (AEC3, NS, HPF) through the `livekit` package's
AudioProcessingModule. It needs two streams in 10 ms frames: the far end —
exactly the PCM the speaker plays, which it (through `RemoteAudioMixer`) gives its
playback listeners — and the microphone. `EchoCancelledMicrophone` wraps any
`Microphone`, so `MicrophoneTrack` and everything above it stay unchanged:

    mic = EchoCancelledMicrophone(AlsaMicrophone(...), speaker=speaker)
    mixer.add_playback_listener(mic.feed_playback)

The far end is what the speaker reports it played, silence it bridged a late
mix with included. The delay hint given to AEC3 is the time from that report to
the sound (the speaker's reference latency) plus the microphone's input latency;
AEC3 refines it with its own delay estimator.

Both streams are processed on one thread of the microphone's own, in the order
they come, so the echo canceller's CPU (1–2 ms per 10 ms on a Pi 4's core)
does not hold up the event loop that moves the network and the mix.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from livekit import rtc

from appliance.devices.audio import CHUNK_SAMPLES, SAMPLE_RATE, Microphone, Samples, Speaker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessingStages:
    """Which stages run; all off means the microphone passes through untouched."""

    echo_cancellation: bool = True
    noise_suppression: bool = True
    high_pass: bool = True

    @property
    def any(self) -> bool:
        return self.echo_cancellation or self.noise_suppression or self.high_pass


class AudioProcessor:
    """One WebRTC AudioProcessingModule fed 10 ms 48 kHz mono frames."""

    def __init__(self, stages: ProcessingStages) -> None:
        self.stages = stages
        self._apm = rtc.AudioProcessingModule(
            echo_cancellation=stages.echo_cancellation,
            noise_suppression=stages.noise_suppression,
            high_pass_filter=stages.high_pass,
        )
        self.delay_ms = 0
        self.reverse_chunks = 0
        self.chunks_processed = 0
        self.cpu_seconds = 0.0  # thread CPU spent in the module, both streams

    def reverse(self, played: Samples) -> None:
        """Tell the echo canceller what the speaker plays now."""
        if not self.stages.echo_cancellation:
            return
        started = time.thread_time()
        self._apm.process_reverse_stream(self._frame(played))
        self.cpu_seconds += time.thread_time() - started
        self.reverse_chunks += 1

    def process(self, captured: Samples) -> Samples:
        """The microphone's chunk with echo, noise and rumble removed."""
        started = time.thread_time()
        frame = self._frame(captured)
        if self.stages.echo_cancellation:
            self._apm.set_stream_delay_ms(self.delay_ms)  # required before every frame
        self._apm.process_stream(frame)
        out = np.frombuffer(frame.data, np.int16).copy()
        self.cpu_seconds += time.thread_time() - started
        self.chunks_processed += 1
        return out

    @staticmethod
    def check(samples: Samples) -> None:
        if samples.shape != (CHUNK_SAMPLES,) or samples.dtype != np.int16:
            raise ValueError(f"audio processing takes {CHUNK_SAMPLES} int16 samples, "
                             f"got {samples.dtype}{samples.shape}")

    @classmethod
    def _frame(cls, samples: Samples) -> rtc.AudioFrame:
        cls.check(samples)
        return rtc.AudioFrame(bytearray(samples.tobytes()), SAMPLE_RATE, 1, CHUNK_SAMPLES)


class EchoCancelledMicrophone(Microphone):
    """A microphone whose chunks pass through `AudioProcessor` before anyone reads them.

    Only while the microphone runs does the far end go to the echo canceller,
    so a closed microphone costs nothing; its adaptation is kept for the next
    time it opens.
    """

    def __init__(
        self,
        microphone: Microphone,
        stages: ProcessingStages = ProcessingStages(),
        *,
        speaker: Speaker | None = None,
    ) -> None:
        super().__init__()
        self.microphone = microphone
        self.speaker = speaker
        self.processor = AudioProcessor(stages) if stages.any else None
        # One thread, first in first out: the far end always before the capture after it.
        self._worker = (ThreadPoolExecutor(1, thread_name_prefix="aec")
                        if self.processor is not None else None)
        microphone.add_discard_listener(self._process_discarded)

    @property
    def stages(self) -> ProcessingStages:
        return self.processor.stages if self.processor else ProcessingStages(False, False, False)

    @property
    def input_latency(self) -> float:
        return self.microphone.input_latency

    @property
    def echo_delay_ms(self) -> int:
        """Speaker (from its report) plus microphone input latency: where AEC3 starts
        looking."""
        output = self.speaker.reference_latency if self.speaker is not None else 0.0
        return round((output + self.microphone.input_latency) * 1000)

    def start(self) -> None:
        self.microphone.start()
        super().start()

    def stop(self) -> None:
        super().stop()
        self.microphone.stop()

    def feed_playback(self, chunk: Samples) -> None:
        """The speaker's playback listener: every 10 ms exactly as it played it."""
        if self.processor is not None and self._worker is not None and self.running:
            AudioProcessor.check(chunk)  # a wrong chunk is the caller's error, said here
            self._worker.submit(self.processor.reverse, chunk.copy())

    def _process_discarded(self, chunk: Samples) -> None:
        """A chunk the device dropped unread still goes through the echo canceller, so its
        pairing of microphone and speaker stays where it was (then it is dropped here too,
        as anyone reading this microphone fell behind as well)."""
        if self.processor is not None and self._worker is not None and self.running:
            self._worker.submit(self.processor.process, chunk.copy())  # in order, as read
        self._report_discarded(chunk)

    async def _read_chunk(self) -> Samples:
        if not self.microphone.running:  # closed underneath us (a replaced track): reopen
            self.microphone.start()
        chunk = await self.microphone.read()
        if self.processor is None or self._worker is None:
            return chunk
        self.processor.delay_ms = self.echo_delay_ms
        return await asyncio.get_running_loop().run_in_executor(
            self._worker, self.processor.process, chunk)
