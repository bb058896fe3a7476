"""The room's microphone sent as Opus encoded on its capture thread, as the camera's
H.264 is sent: aiortc only packs what it is given.

Through aiortc's own path (`MicrophoneTrack`), every 20 ms frame waits on the
event loop, has its audio level computed there in pure Python (960 samples, one
at a time) and then hops to an executor thread for the Opus encoder and back:
three loop turns per packet, on the loop that is already late on a Pi's core, so
the room's packets left in bursts and Chromium's jitter buffer for them grew to
1.5–2 s. `OpusMicrophoneTrack` installs a frame sink on the `ThreadedMicrophone`'s
capture thread, which there measures the level (RFC 6465, as aiortc does) and
encodes the frame with libopus (PyAV); the event loop gets ready packets, one
wake-up per packet, and `recv()` returns them as `av.Packet`s.

aiortc writes the audio-level RTP header extension only for frames it encodes
itself; Janus's talking detection (`audiolevel_event`, bridge/janus/videoroom.py)
reads nothing else. `add_encoded_audio_track` therefore also hands each packet's
level to the sender (`send_levels_of_encoded_audio`), and offers Opus only: a
pre-encoded Opus packet must never go out as PCMU.

The encoder is set for speech on bad links (issue 17): mono, 32 kbit/s,
`application=voip`, in-band FEC on (each packet carries a low-rate copy of the one
before, which a receiver that lost that one decodes instead, as Chromium does), tuned
for an expected 10 % loss (libopus spends on FEC only as much as that needs), DTX off
(the far end's concealment and Janus's talking detection expect a steady stream).
aiortc's own Opus encoder sends 96 kbit/s of upmixed stereo without FEC: on a 1 Mbit/s
link that is a tenth of it for one mono microphone, and a lost packet is simply lost.

Privacy is as `MicrophoneTrack`'s: the device is open only while live; muted, the
track keeps its timing with Opus silence packets, and what was captured while
live but not yet sent when the room muted is dropped.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fractions
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamError

from appliance.devices.audio import SAMPLE_RATE, Samples
from appliance.media.audio import FRAME_SAMPLES, SILENCE_MAX_LATE_S
from appliance.media.capture import ThreadedMicrophone

log = logging.getLogger(__name__)

VOICE_BITRATE = 32_000  # mono speech with FEC; aiortc's own sends 96 kbit/s of upmixed stereo
EXPECTED_LOSS_PERCENT = 10
OPUS_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
SILENT_DBOV = -127
# Packets waiting for the event loop beyond this (0.5 s) are stale: the oldest go,
# as a device overruns, rather than let the room's latency grow.
MAX_QUEUED_PACKETS = 25


def audio_level_dbov(samples: Samples) -> int:
    """The frame's level in dBov (RFC 6465 appendix A: 0 loudest, -127 silence), as
    aiortc's `compute_audio_level_dbov` gives it for a frame it encodes."""
    mean_square = float(np.mean(np.square(samples, dtype=np.float64))) / 32767**2
    if mean_square <= 0:
        return SILENT_DBOV
    return round(max(SILENT_DBOV, min(0.0, 10 * math.log10(mean_square))))


class OpusFrameEncoder:
    """20 ms of 48 kHz mono s16 in, Opus packets out (libopus through PyAV). It keeps
    libopus' state between frames: use it from one thread at a time."""

    def __init__(self, bitrate: int = VOICE_BITRATE,
                 expected_loss_percent: int = EXPECTED_LOSS_PERCENT) -> None:
        self._codec = av.CodecContext.create("libopus", "w")
        self._codec.format = "s16"
        self._codec.layout = "mono"
        self._codec.sample_rate = SAMPLE_RATE
        self._codec.bit_rate = bitrate
        self._codec.options = {"application": "voip", "fec": "1",
                               "packet_loss": str(expected_loss_percent), "dtx": "0",
                               "frame_duration": "20"}
        self._codec.time_base = OPUS_TIME_BASE
        self._pts = 0

    def encode(self, samples: Samples) -> list[bytes]:
        if samples.shape != (FRAME_SAMPLES,) or samples.dtype != np.int16:
            raise ValueError(f"Opus frames are {FRAME_SAMPLES} int16 samples, "
                             f"got {samples.dtype}{samples.shape}")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, self._pts, OPUS_TIME_BASE
        self._pts += FRAME_SAMPLES
        return [bytes(packet) for packet in self._codec.encode(frame)]


def opus_silence() -> bytes:
    """An Opus packet of 20 ms of digital silence: libopus' own (three bytes, the CELT
    silence flag), decodable on its own, so one packet serves every muted frame."""
    return OpusFrameEncoder().encode(np.zeros(FRAME_SAMPLES, np.int16))[-1]


@dataclass(frozen=True)
class OpusPacket:
    data: bytes
    level_dbov: int


class _PacketQueue:
    """Packets from the capture thread into the event loop (bounded, newest kept)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: collections.deque[OpusPacket | Exception] = collections.deque()
        self._ready = asyncio.Event()
        self.dropped = 0

    def put(self, item: OpusPacket | Exception) -> None:  # capture thread
        with contextlib.suppress(RuntimeError):  # the loop closed while capture stopped
            self._loop.call_soon_threadsafe(self._append, item)

    def _append(self, item: OpusPacket | Exception) -> None:
        if len(self._items) >= MAX_QUEUED_PACKETS:
            self._items.popleft()
            self.dropped += 1
        self._items.append(item)
        self._ready.set()

    def clear(self) -> None:
        self._items.clear()

    def wake(self) -> None:
        """Let a waiting `get()` look again (muted, stopped)."""
        self._ready.set()

    async def get(self, still: Callable[[], bool]) -> OpusPacket | Exception | None:
        """The next packet, or None as soon as `still()` is false."""
        while not self._items:
            if not still():
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()


class OpusMicrophoneTrack(MediaStreamTrack):
    """The room microphone as an aiortc audio track of ready Opus packets (20 ms each).

    Starts muted (`live=False`): the device opens only on `set_live(True)`. The level
    of the packet `recv()` returned last is `audio_level_dbov`, for the sender's
    audio-level extension. A failed read sends a frame of silence in its place.
    """

    kind = "audio"

    def __init__(self, microphone: ThreadedMicrophone, live: bool = False) -> None:
        super().__init__()
        self.microphone = microphone
        self._encoder = OpusFrameEncoder()  # used on the capture thread only
        self._silence_packet = opus_silence()
        self._queue = _PacketQueue(asyncio.get_running_loop())
        self._live = False
        self._samples_sent = 0
        self._silence_anchor: tuple[float, int] | None = None  # (monotonic, samples)
        self.audio_level_dbov: int | None = None
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
        if live:
            self.microphone.set_frame_sink(self._on_frame)
            if not self.microphone.running:
                self.microphone.start()
            return
        self._queue.clear()  # captured while live, but muted before it was sent
        self._queue.wake()
        if self.microphone.frame_sink == self._on_frame:
            self.microphone.set_frame_sink(None)
        if self.microphone.running:
            self.microphone.stop()

    def stop(self) -> None:
        super().stop()
        if self._live:  # a muted track leaves a microphone shared with its successor alone
            self.set_live(False)
        self._queue.wake()

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        data, level = await self._next_packet()
        if self.readyState != "live":
            raise MediaStreamError
        packet = av.Packet(data)
        packet.pts = packet.dts = self._samples_sent
        packet.time_base = OPUS_TIME_BASE
        self.audio_level_dbov = level
        self._samples_sent += FRAME_SAMPLES
        return packet

    # -- the capture thread --------------------------------------------------------

    def _on_frame(self, item: Samples | Exception) -> None:
        if isinstance(item, Exception):
            self._queue.put(item)
        elif self._live:
            level = audio_level_dbov(item)
            for data in self._encoder.encode(item):
                self._queue.put(OpusPacket(data, level))

    # -- the event loop ------------------------------------------------------------

    async def _next_packet(self) -> tuple[bytes, int]:
        if self._live:
            if not self.microphone.running:  # closed by a replaced track: reopen
                self.set_live(True)
            item = await self._queue.get(lambda: self._live and self.readyState == "live")
            if isinstance(item, OpusPacket) and self._live:
                self._silence_anchor = None
                return item.data, item.level_dbov
            if isinstance(item, Exception):  # a failing device must not end the call
                self.read_errors += 1
                if self.read_errors in (1, 10, 100) or self.read_errors % 1000 == 0:
                    log.warning("microphone read failed (%d times): %s", self.read_errors, item)
        await self._silence()
        return self._silence_packet, SILENT_DBOV

    async def _silence(self) -> None:
        """Wait until the next frame of silence is due (real time from the first)."""
        now = time.monotonic()
        if self._silence_anchor is None:
            self._silence_anchor = (now, self._samples_sent)
        start, base = self._silence_anchor
        deadline = start + (self._samples_sent + FRAME_SAMPLES - base) / SAMPLE_RATE
        if deadline - now < -SILENCE_MAX_LATE_S:  # stalled for long: re-anchor
            self._silence_anchor = (now, self._samples_sent)
            deadline = now
        await asyncio.sleep(max(0.0, deadline - now))


def send_levels_of_encoded_audio(sender: RTCRtpSender) -> None:
    """Make one aiortc sender write the audio-level extension for pre-encoded packets.

    aiortc 1.16 computes the level only for the `AudioFrame`s it encodes and has no
    hook for packets; `_run_rtp` takes each frame from `_next_encoded_frame` on this
    instance, so that one method is wrapped: the level is the one the sender's track
    gave the packet it has just returned (`audio_level_dbov`). Tracks without one are
    left as aiortc has them.
    """
    original: Callable[..., Awaitable[object]] = sender._next_encoded_frame

    async def next_encoded_frame(codec: object) -> object:
        frame = await original(codec)
        level = getattr(sender.track, "audio_level_dbov", None)
        if frame is not None and level is not None and getattr(frame, "audio_level", 0) is None:
            frame.audio_level = level  # type: ignore[attr-defined]
        return frame

    sender._next_encoded_frame = next_encoded_frame  # type: ignore[method-assign,assignment]


def add_encoded_audio_track(pc: RTCPeerConnection, track: OpusMicrophoneTrack,
                            direction: str = "sendonly") -> RTCRtpSender:
    """Add the room's Opus track to a peer connection before the offer: Opus only, and
    the sender writes each packet's audio level."""
    transceiver = pc.addTransceiver(track, direction=direction)
    opus = [c for c in RTCRtpSender.getCapabilities("audio").codecs
            if c.mimeType.lower() == "audio/opus"]
    transceiver.setCodecPreferences(opus)
    send_levels_of_encoded_audio(transceiver.sender)
    return transceiver.sender
