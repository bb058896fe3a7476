"""Audio between the devices and aiortc: the microphone track and the remote mix.

`MicrophoneTrack` sends the room's microphone as 20 ms 48 kHz mono frames,
but only while live: otherwise the device is closed and the track sends
digital silence, so no room sound can leave the box without audio rights.

`RemoteAudioMixer` (appliance.media.mixer, re-exported here) plays every remote
participant through one speaker, on an audio thread of its own. The room's
microphone on its capture thread, Opus encoded there, is appliance.media.audio_send.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from appliance.devices.audio import CHUNK_SAMPLES, SAMPLE_RATE, Microphone, Samples
from appliance.media.mixer import RemoteAudioMixer, samples_pts

__all__ = ["FRAME_SAMPLES", "MicrophoneTrack", "RemoteAudioMixer", "audio_frame", "samples_pts"]

log = logging.getLogger(__name__)

FRAME_SAMPLES = 2 * CHUNK_SAMPLES  # 20 ms per RTP packet, Opus' usual frame
# A late consumer catches up (as from a device buffer) rather than losing the time.
SILENCE_MAX_LATE_S = 0.5
AUDIO_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


def audio_frame(samples: Samples, pts: int) -> av.AudioFrame:
    """48 kHz mono s16 samples as an av.AudioFrame with pts in samples."""
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pts
    frame.time_base = AUDIO_TIME_BASE
    return frame


class MicrophoneTrack(MediaStreamTrack):
    """The microphone as an aiortc audio track (48 kHz mono s16, 20 ms frames).

    Starts muted (`live=False`): the microphone device is opened only by
    `set_live(True)` and closed again by `set_live(False)`; while not live the
    track keeps its timing and sends zeros, so the far end hears silence
    rather than a gap. A read that fails (no audio in time, a failing device)
    sends silence too, but what was read before it is kept for the next frame:
    a late device loses no samples.
    """

    kind = "audio"

    def __init__(self, microphone: Microphone, live: bool = False) -> None:
        super().__init__()
        self.microphone = microphone
        self._live = False
        self._samples_sent = 0
        self._partial: list[Samples] = []  # chunks read towards the next frame
        self._silence_anchor: tuple[float, int] | None = None  # (monotonic, samples)
        self.read_errors = 0
        self.set_live(live)

    @property
    def live(self) -> bool:
        return self._live

    @property
    def frames_sent(self) -> int:
        """Frames handed to aiortc so far (silence too)."""
        return self._samples_sent // FRAME_SAMPLES

    def set_live(self, live: bool) -> None:
        """Open (True) or close (False) the microphone; only live audio leaves the box."""
        self._live = live
        if not live:
            self._partial.clear()  # read while live, but muted before it was sent
        if live and not self.microphone.running:
            self.microphone.start()
        elif not live and self.microphone.running:
            self.microphone.stop()

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        samples = await self._next_samples()
        frame = audio_frame(samples, self._samples_sent)
        self._samples_sent += FRAME_SAMPLES
        return frame

    def stop(self) -> None:
        super().stop()
        if self._live:  # a muted track leaves a microphone shared with its successor alone
            self.set_live(False)

    async def _next_samples(self) -> Samples:
        if self._live:
            samples = await self._read_live()
            # Muted while we were reading: what was read must not leave.
            if samples is not None and self._live:
                self._silence_anchor = None
                return samples
        return await self._silence()

    async def _read_live(self) -> Samples | None:
        """The next frame of the microphone, None if it is not live or a read failed
        (the chunks read so far stay for the next frame)."""
        try:
            while len(self._partial) < FRAME_SAMPLES // CHUNK_SAMPLES:
                if not self._live:
                    return None
                if not self.microphone.running:  # closed by a replaced track: reopen
                    self.microphone.start()
                chunk = await self.microphone.read()
                if self._live:
                    self._partial.append(chunk)
        except Exception as exc:  # a failing device must not end the call
            self.read_errors += 1
            if self.read_errors in (1, 10, 100) or self.read_errors % 1000 == 0:
                log.warning("microphone read failed (%d times): %s", self.read_errors, exc)
            return None
        samples = np.concatenate(self._partial)
        self._partial.clear()
        return samples

    async def _silence(self) -> Samples:
        now = time.monotonic()
        if self._silence_anchor is None:
            self._silence_anchor = (now, self._samples_sent)
        start, base = self._silence_anchor
        deadline = start + (self._samples_sent + FRAME_SAMPLES - base) / SAMPLE_RATE
        if deadline - now < -SILENCE_MAX_LATE_S:  # stalled for long: re-anchor
            self._silence_anchor = (now, self._samples_sent)
            deadline = now
        await asyncio.sleep(max(0.0, deadline - now))
        return np.zeros(FRAME_SAMPLES, np.int16)
