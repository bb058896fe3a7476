"""Video that falls behind skips ahead to a keyframe instead of staying behind.

Two places in aiortc's receive path wait without a bound, and on a Pi's budget both
were seen holding a room's tile 20 s behind its sender
(tests/bench/bench_pi_call.py --senders 8 on the Pi 4 budget):

- Its video jitter buffer (512 packets) hands out a frame only when every packet of
  it is there. A packet that is lost and not retransmitted (NACKs go late from a late
  event loop) stops every later frame until 512 packets have come — for a 320×180
  layer, tens of seconds — and then releases the frames behind the hole, all of them
  old. A frame not complete within `STUCK_S` of media time of the newest packet is
  given up and a keyframe asked for; the frames behind it go on to the decoder.
- Its decoder thread takes complete frames from an unbounded `queue.Queue`. When
  the thread cannot keep up, nothing is dropped: delay grows as long as the call.
  When more than `MAX_BACKLOG` frames wait, those waiting go — up to the newest
  keyframe among them, if there is one, else all, and then every frame until a
  keyframe comes, with a keyframe request.

A P-frame is never decoded without its reference, so the picture jumps ahead
instead of smearing. `DecoderBacklogGuard` wraps the receiver's jitter buffer, the
one place every packet and every complete frame passes (on the event loop); aiortc
sends the PLI itself when `add` says so. aiortc 1.16 has no API for this:
`guard_decoder_backlog` is the one place that touches its private `__jitter_buffer`,
`__decoder_queue`, `__codecs` and `__kind`.
"""

from __future__ import annotations

import logging
import queue
from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

log = logging.getLogger(__name__)

MAX_BACKLOG = 10  # frames waiting for the decoder (a third of a second at 30 fps)
STUCK_S = 0.5  # media time a frame may stay incomplete while newer packets come
KEYFRAME_EVERY_S = 1.0  # a stuck buffer asks for a keyframe at most this often
VIDEO_CLOCK_HZ = 90_000
H264_IDR, H264_SPS = 5, 7


def is_keyframe(codec: str, data: bytes) -> bool:
    """Whether an encoded frame (as aiortc's depayloader gives it) starts a picture
    that decodes on its own: H.264 with an IDR (or SPS) NAL unit, a VP8 key frame."""
    name = codec.lower()
    if name == "vp8":
        return bool(data) and not data[0] & 0x01  # RFC 6386 9.1: P bit 0 = key frame
    if name == "h264":
        return any(nal in (H264_IDR, H264_SPS) for nal in _h264_nal_types(data))
    return True  # another codec: never dropped for lack of a keyframe


def _h264_nal_types(data: bytes) -> list[int]:
    """NAL unit types of an Annex B byte stream (start codes 00 00 01)."""
    types = []
    start = data.find(b"\x00\x00\x01")
    while start != -1 and start + 3 < len(data):
        types.append(data[start + 3] & 0x1F)
        start = data.find(b"\x00\x00\x01", start + 3)
    return types


class DecoderBacklogGuard:
    """aiortc's video jitter buffer, with frames dropped while the decoder is behind."""

    def __init__(self, inner: JitterBuffer, decoder_queue: queue.Queue[Any],
                 codec_names: dict[int, Any], name: str = "",
                 max_backlog: int = MAX_BACKLOG) -> None:
        self.inner = inner
        self.decoder_queue = decoder_queue
        self.codec_names = codec_names  # payload type -> RTCRtpCodecParameters
        self.name = name
        self.max_backlog = max_backlog
        self.waiting_for_keyframe = False
        self.dropped = 0  # frames the decoder never saw
        self.skips = 0  # times the decoder was found behind
        self.flushes = 0  # times an incomplete frame held the buffer up: emptied
        self._last_out: int | None = None  # RTP timestamp of the last frame out of `inner`
        self._asked_at: int | None = None  # RTP timestamp when a stuck buffer last asked

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.inner, attribute)  # what else aiortc may ask of its buffer

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        flushed = self._flush_if_stuck(packet.timestamp)
        pli, frame = self.inner.add(packet)
        pli = pli or flushed
        if frame is None:
            return pli, None
        self._last_out = frame.timestamp
        codec = self.codec_names.get(packet.payload_type)
        key = is_keyframe(codec.name if codec is not None else "", frame.data)
        if key:
            self.waiting_for_keyframe = False
        elif self.waiting_for_keyframe:
            self.dropped += 1
            return pli, None
        if self.decoder_queue.qsize() < self.max_backlog:
            return pli, frame
        ask, forward = self._skip(key)
        return pli or ask, (frame if forward else None)

    def _flush_if_stuck(self, timestamp: int) -> bool:
        """Give up the frame the buffer waits for if it is `STUCK_S` older than this
        packet while later frames wait behind it; whether to ask for a keyframe."""
        if self._last_out is None:
            self._last_out = timestamp
            return False
        ahead = (timestamp - self._last_out) % 2**32
        if not STUCK_S * VIDEO_CLOCK_HZ < ahead < 2**31:
            return False
        self._last_out = timestamp
        held = {p.timestamp for p in self.inner._packets if p is not None}
        if len(held) < 2:
            # a pause in the stream: at most the last frame waits, whole or not, for
            # the next one to release it; nothing is held up behind it
            return False
        # Only the incomplete frame goes (aiortc's own remedy when its buffer is full):
        # the frames behind it come out and are decoded, their references missing
        # until the keyframe. Emptying the buffer and waiting for a keyframe instead
        # left nine tiles on a Pi 4's budget with no picture at all: there, the
        # keyframes asked for lost a packet too.
        self.inner.smart_remove(1)
        self.flushes += 1
        self.dropped += 1
        since = None if self._asked_at is None else (timestamp - self._asked_at) % 2**32
        asked = since is None or KEYFRAME_EVERY_S * VIDEO_CLOCK_HZ <= since < 2**31
        if asked:
            self._asked_at = timestamp
        log.info("video %r: a frame incomplete for %.1f s, given up%s", self.name,
                 ahead / VIDEO_CLOCK_HZ, ", asking for a keyframe" if asked else "")
        return asked

    def _skip(self, key: bool) -> tuple[bool, bool]:
        """Drop what waits for the decoder, before a new frame (a keyframe if ``key``):
        all of it for a keyframe; else from the newest keyframe waiting on, if the rest
        is short, or all and the new frame with it, asking for a keyframe. Returns
        (ask for a keyframe, pass the new frame on)."""
        with self.decoder_queue.mutex:
            waiting = self.decoder_queue.queue
            frames = [item for item in waiting if item is not None]
            ended = len(frames) < len(waiting)
            newest_key = next((i for i in range(len(frames) - 1, -1, -1)
                               if is_keyframe(frames[i][0].name, frames[i][1].data)), None)
            kept = []
            if not key and newest_key is not None and len(frames) - newest_key < self.max_backlog:
                kept = frames[newest_key:]
            waiting.clear()
            waiting.extend(kept)
            if ended:
                waiting.append(None)  # the track's end still reaches the decoder
        forward = key or bool(kept)
        dropped = len(frames) - len(kept) + (0 if forward else 1)
        self.dropped += dropped
        self.skips += 1
        self.waiting_for_keyframe = not forward
        log.info("video %r: decoder %d frames behind, %d dropped%s", self.name,
                 len(frames), dropped, "" if forward else ", asking for a keyframe")
        return not forward, forward


def guard_decoder_backlog(receiver: RTCRtpReceiver, name: str = "",
                          max_backlog: int = MAX_BACKLOG) -> DecoderBacklogGuard | None:
    """Put a `DecoderBacklogGuard` in a video receiver (None for audio, or an aiortc
    without those attributes). Any time: the guard replaces only the jitter buffer,
    which aiortc reads at every packet; the decoder thread keeps its queue."""
    prefix = "_RTCRtpReceiver__"
    names = ("kind", "jitter_buffer", "decoder_queue", "codecs")
    if not all(hasattr(receiver, prefix + n) for n in names) or getattr(
            receiver, prefix + "kind") != "video":
        return None
    inner = getattr(receiver, prefix + "jitter_buffer")
    if isinstance(inner, DecoderBacklogGuard):
        return inner
    guard = DecoderBacklogGuard(inner, getattr(receiver, prefix + "decoder_queue"),
                                getattr(receiver, prefix + "codecs"), name, max_backlog)
    setattr(receiver, prefix + "jitter_buffer", guard)
    return guard
