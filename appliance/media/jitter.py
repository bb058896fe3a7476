"""One remote source's audio on its way to the speaker: packets in, 10 ms chunks out.

aiortc's own audio jitter buffer is taken out of the path (`hand_audio_packets_on`):
it holds every packet behind a lost one until 16 have queued and then hands on
one packet per packet received, so a single lost packet adds ~300 ms of
mouth-to-ear for the rest of the call. Here each packet is decoded as it comes
and `AudioJitterBuffer` places the samples by their RTP timestamp: a lost packet
becomes a short concealment in its place, a stall is bridged, a burst is dropped,
and the sender's clock is followed by resampling, so latency cannot grow.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

import numpy as np
from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_gt

from appliance.devices.audio import CHUNK_SAMPLES, SAMPLE_RATE, Samples
from appliance.media.conceal import Concealer


@dataclass
class SourceStats:
    frames_in: int = 0
    underruns: int = 0
    dropped_samples: int = 0
    concealed_samples: int = 0  # lost or late audio filled in
    late_samples: int = 0  # older than what was already placed (duplicate, reordered): dropped
    target_samples: int = 0
    buffered_samples: int = 0
    rate_adjust_ppm: float = 0.0  # drift compensation now: >0 plays faster than it arrives

    def accumulate(self, other: SourceStats) -> None:
        """Add `other`'s counters (the fields that only grow) to these."""
        self.frames_in += other.frames_in
        self.underruns += other.underruns
        self.dropped_samples += other.dropped_samples
        self.concealed_samples += other.concealed_samples
        self.late_samples += other.late_samples


#: Drift compensation. The sender's clock against the speaker's is measured
#: directly — sender samples (RTP timestamps) per sample played over the last
#: DRIFT_WINDOW_S — so bursts, stalls, losses and rebuffering cannot fake it
#: (within ±MAX_CLOCK_OFFSET). On top, a proportional term holds the fill level
#: at its set point, and a steeper one beyond CATCH_UP_BEYOND_S works off a
#: backlog (after a burst, at the start) in seconds. The rate never moves more
#: than MAX_RATE_ADJUST (0.5 %: 9 cents of pitch, unheard in speech); below
#: RATE_DEADBAND it is left alone.
DRIFT_WINDOW_S = 30
DRIFT_MIN_WINDOW_S = 5  # measure this long before trusting the estimate
DRIFT_GAIN = 0.05  # per second, per second of level error
CATCH_UP_BEYOND_S = 0.005
CATCH_UP_GAIN = 0.5
MAX_CLOCK_OFFSET = 5e-4  # no sound card's crystal is off by more than 500 ppm
MAX_RATE_ADJUST = 5e-3
RATE_DEADBAND = 2e-5
LEVEL_SMOOTHING = 100  # chunks (1 s) of fill-level averaging
LATE_PEAK_DECAY = 0.5 ** (1 / 1000)  # a stall is remembered with a half-life of 1000 arrivals
#: A timestamp gap up to this long is lost packets, concealed in place (and the
#: speaker is kept fed this long while the next packet is late); a longer one is
#: the sender pausing or restarting its clock: playing goes on from there.
MAX_CONCEAL_SAMPLES = 6 * 960


def cubic_resample(history: Samples, phase: float, ratio: float, count: int) -> Samples:
    """`count` samples read from `history` at positions 1 + phase + k·ratio (Catmull-Rom).

    `history[0]` is the sample before the current one; the caller makes sure
    `history` reaches two samples past the last position.
    """
    pos = 1 + phase + np.arange(count) * ratio
    i = pos.astype(np.int64)
    f = pos - i
    x = history.astype(np.float64)
    p0, p1, p2, p3 = x[i - 1], x[i], x[i + 1], x[i + 2]
    cubic = 3 * (p1 - p2) + p3 - p0
    y = p1 + 0.5 * f * (p2 - p0 + f * (2 * p0 - 5 * p1 + 4 * p2 - p3 + f * cubic))
    return np.clip(np.rint(y), -32768, 32767).astype(np.int16)


@dataclass
class AudioJitterBuffer:
    """Samples from one remote source, bounded so it can never add latency.

    Plays only after buffering `target` samples; `target` follows the
    measured arrival jitter and the longest recent stall, remembered with a
    20-second half-life (for 20 ms packets) so a recurring one is bridged
    (between min and max). While playing, the average fill level is held at
    `set_point` by resampling each chunk very slightly, at the measured ratio
    of the sender's clock to the speaker's plus a correction for the level
    (drift compensation); audio beyond target + headroom (a burst) is dropped
    from the oldest end. Samples pushed with their timestamp (`pts`, in samples)
    keep their place: a gap left by lost packets is concealed, and a buffer that
    runs dry feeds the speaker a fading concealment while it rebuffers (`_run_dry`).
    """

    min_target: int
    max_target: int
    headroom: int
    data: Samples = field(default_factory=lambda: np.zeros(0, np.int16))
    playing: bool = False
    jitter: float = 0.0  # smoothed arrival jitter, samples
    late_peak: float = 0.0  # the longest recent arrival delay, decaying, samples
    stats: SourceStats = field(default_factory=SourceStats)
    _last: tuple[float, int] | None = None  # (arrival time, sender time) of the last push
    _level: float = 0.0  # smoothed fill level while playing, samples
    _phase: float = 0.0  # fractional read position into `data`
    _previous: int = 0  # the sample just before `data` (for interpolation)
    _ticks: int = 0  # take() calls: the speaker's clock
    _sent: int = 0  # where the sender's clock stood at the end of the last push, samples
    _next_pts: int | None = None  # the timestamp of the sample after `data`'s last
    _gap_filler: Concealer = field(default_factory=Concealer)  # fills gaps as they arrive
    _expander: Concealer = field(default_factory=Concealer)  # plays on when running dry
    _expanded: int = 0  # samples played by the expander since the last push
    _arrivals: collections.deque[tuple[float, int]] = field(  # (arrival, sender time)
        default_factory=lambda: collections.deque(maxlen=DRIFT_WINDOW_S * 100))
    _takes: collections.deque[tuple[float, int]] = field(  # (time, ticks)
        default_factory=lambda: collections.deque(maxlen=DRIFT_WINDOW_S * 100))
    _offset: float = 0.0  # clock_offset, refreshed once a second

    @property
    def target(self) -> int:
        want = CHUNK_SAMPLES + int(max(3 * self.jitter, self.late_peak))
        return max(self.min_target, min(self.max_target, want))

    @property
    def set_point(self) -> int:
        """The fill level drift compensation holds (measured before each take): a
        chunk above `target`, so the saw-tooth of 20 ms arrivals against 10 ms
        takes never touches bottom while the controller learns a sender's clock."""
        return self.target + CHUNK_SAMPLES

    def push(self, samples: Samples, arrival: float, pts: int | None = None) -> None:
        """Add what arrived at `arrival`; `pts` is its first sample's timestamp in samples
        (None: it simply follows what came before)."""
        self._follow_sender(samples.size, pts)
        self._update_jitter(arrival)
        self._arrivals.append((arrival, self._sent))
        samples = self._place(samples, pts)
        if samples.size == 0:
            return
        self.data = np.concatenate([self.data, samples])
        bound = self.target + self.headroom
        if self.data.size > bound:
            excess = self.data.size - min(bound, self.set_point)
            self.data = self.data[excess:]
            self._previous, self._level = 0, float(self.data.size)
            self.stats.dropped_samples += excess
        self.stats.frames_in += 1

    def _follow_sender(self, size: int, pts: int | None) -> None:
        """Advance the sender's clock to the end of these samples; a jump beyond what
        could be lost packets is a new start (nothing measured before it counts)."""
        if pts is None:
            self._sent += size
        elif self._next_pts is None or abs(pts - self._sent) > MAX_CONCEAL_SAMPLES:
            self._arrivals.clear()
            self._last = None
            self._next_pts = pts  # the timeline starts (over) here
            self._sent = pts + size
        else:
            self._sent = max(self._sent, pts + size)  # a late packet does not wind it back

    def _place(self, samples: Samples, pts: int | None) -> Samples:
        """What to append for samples stamped `pts`: a concealment for a gap before them,
        without anything older than what is already there (a duplicate, a reordered
        packet); nothing if all of it is."""
        filler = samples[:0]
        if pts is not None and self._next_pts is not None:
            gap = pts - self._next_pts
            if gap < 0:
                late = min(-gap, samples.size)
                self.stats.late_samples += late
                samples = samples[late:]
            elif gap > 0:  # lost packets: conceal what the expander has not yet played
                unplayed = gap - min(gap, self._expanded)
                self.stats.concealed_samples += unplayed
                if unplayed:
                    filler = self._gap_filler.fill(unplayed)
            self._next_pts += max(0, gap) + samples.size
        self._expanded = 0
        if samples.size == 0:
            return samples
        samples = self._gap_filler.resume(samples)
        self._gap_filler.heard(samples)
        return np.concatenate([filler, samples])

    def take(self, now: float | None = None) -> Samples | None:
        """The next 10 ms; None while buffering (a concealment while rebuffering, see
        `_run_dry`). Call it every 10 ms of the speaker; `now` is the time on the clock
        `push()` arrivals use (default: monotonic)."""
        self._ticks += 1
        self._takes.append((time.monotonic() if now is None else now, self._ticks))
        if self._ticks % 100 == 0:
            self._offset = self._measure_clock_offset()
        if not self.playing:
            if self.data.size < self.target:
                return self._expand()
            self.playing = True
            self._level, self._phase, self._previous = float(self.data.size), 0.0, 0
        self._level += (self.data.size - self._level) / LEVEL_SMOOTHING
        ratio = self._rate_ratio()
        advance = self._phase + CHUNK_SAMPLES * ratio
        consumed = int(advance)
        if self.data.size < CHUNK_SAMPLES:
            return self._run_dry()
        if self.data.size < consumed:  # a hair short for the resampler: play it as it is
            ratio, self._phase, advance, consumed = 1.0, 0.0, CHUNK_SAMPLES, CHUNK_SAMPLES
        chunk = self._read(ratio, advance, consumed)
        return self._expander.resume(chunk)

    def _read(self, ratio: float, advance: float, consumed: int) -> Samples:
        """The next chunk out of `data`, resampled by `ratio` unless it is exactly 1."""
        exact = ratio == 1.0 and self._phase == 0.0
        if exact:
            chunk = self.data[:CHUNK_SAMPLES]
        else:
            # Two samples of look-ahead past the last position; at the very end of
            # the buffer the last one is held (a sub-sample error, not a gap).
            reach = int(1 + self._phase + (CHUNK_SAMPLES - 1) * ratio) + 2
            history = np.concatenate([[self._previous], self.data[:reach]]).astype(np.int16)
            history = np.pad(history, (0, reach + 1 - history.size), mode="edge")
            chunk = cubic_resample(history, self._phase, ratio, CHUNK_SAMPLES)
            self._phase = advance - consumed
        self._previous = int(self.data[consumed - 1])
        self.data = self.data[consumed:]
        return chunk

    def _run_dry(self) -> Samples:
        """Less than a chunk left: play it and go on with a concealment (`_expand`) while
        rebuffering; the real sound then cross-fades back in. If the packet awaited was
        lost, the expansion has played (part of) its place: the next packet's gap is
        filled only beyond that, so a loss costs no latency; if it was only late, the
        expansion has added its length, which drift compensation then works off."""
        have = self.data[:CHUNK_SAMPLES]
        self.data, self._phase = self.data[:0], 0.0
        self.stats.underruns += 1
        self.playing = False
        # Dry, the last sample pushed is the last played: repeat what the gap filler heard.
        self._expander.history = self._gap_filler.history
        missing = CHUNK_SAMPLES - have.size
        self.stats.concealed_samples += missing
        self._expanded += missing
        chunk = np.concatenate([have, self._expander.fill(missing)])
        self._previous = int(chunk[-1])
        return chunk

    def _expand(self) -> Samples | None:
        """While rebuffering after running dry: more concealment (fading out), for at most
        MAX_CONCEAL_SAMPLES; None before the first sound and after that."""
        if not self._expander.concealing or self._expander.run >= MAX_CONCEAL_SAMPLES:
            return None
        self.stats.concealed_samples += CHUNK_SAMPLES
        self._expanded += CHUNK_SAMPLES
        return self._expander.fill(CHUNK_SAMPLES)

    @property
    def clock_offset(self) -> float:
        """How much faster the sender's clock runs than the speaker's (0 until measured)."""
        return self._offset

    def _measure_clock_offset(self) -> float:
        """Sender samples per second over speaker samples per second, both measured on
        the local clock over the window (least-squares slopes: packet-sized steps, a
        burst or a stall inside the window barely move them). Too short a window since
        the sender (re)started keeps the last estimate."""
        if len(self._arrivals) < 3 or len(self._takes) < DRIFT_MIN_WINDOW_S * 100:
            return self._offset
        arrivals = np.array(self._arrivals, dtype=np.float64).T
        takes = np.array(self._takes, dtype=np.float64).T
        if np.ptp(arrivals[0]) < DRIFT_MIN_WINDOW_S or np.ptp(takes[0]) == 0:
            return self._offset
        sent_rate = np.polyfit(arrivals[0], arrivals[1], 1)[0]
        played_rate = np.polyfit(takes[0], takes[1], 1)[0] * CHUNK_SAMPLES
        offset = float(sent_rate / played_rate) - 1
        return max(-MAX_CLOCK_OFFSET, min(MAX_CLOCK_OFFSET, offset))

    def _rate_ratio(self) -> float:
        """Input samples per output sample: >1 drains a buffer that is filling up."""
        error = (self._level - self.set_point) / SAMPLE_RATE  # seconds too full
        excess = max(0.0, abs(error) - CATCH_UP_BEYOND_S) * (1 if error > 0 else -1)
        adjust = self.clock_offset + DRIFT_GAIN * error + CATCH_UP_GAIN * excess
        adjust = max(-MAX_RATE_ADJUST, min(MAX_RATE_ADJUST, adjust))
        if abs(adjust) < RATE_DEADBAND:
            adjust = 0.0
        self.stats.rate_adjust_ppm = adjust * 1e6
        return 1.0 + adjust

    def _update_jitter(self, arrival: float) -> None:
        # RFC 3550 interarrival jitter, against the sender's clock (timestamps: a lost
        # packet is no deviation): immune to clock drift between the ends.
        if self._last is not None:
            previous_arrival, previous_sent = self._last
            sent = self._sent - previous_sent
            deviation = abs((arrival - previous_arrival) * SAMPLE_RATE - sent)
            if deviation < 4 * self.max_target:  # a longer gap is a pause, not jitter
                self.jitter += (deviation - self.jitter) / 16
                # Stalls recur (a busy network or CPU): remember the longest for a while,
                # so the next one is bridged instead of played as a gap, then dropped.
                self.late_peak = max(self.late_peak * LATE_PEAK_DECAY, deviation)
        self._last = (arrival, self._sent)


class AudioPacketsAsTheyCome:
    """Stands in for aiortc's audio JitterBuffer: every Opus packet is a whole frame, so
    each is handed to the decoder the moment it arrives; one older than a packet already
    handed on is dropped (aiortc's timestamp mapper takes any step back for a wrap).
    Reordering, loss and jitter are `AudioJitterBuffer`'s job, by timestamp."""

    def __init__(self) -> None:
        self._newest: int | None = None
        self.late_packets = 0

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        if self._newest is not None and not uint16_gt(packet.sequence_number, self._newest):
            self.late_packets += 1
            return False, None
        self._newest = packet.sequence_number
        data: bytes = getattr(packet, "_data", b"")  # the receiver's depayloaded payload
        return False, JitterFrame(data=data, timestamp=packet.timestamp)


def hand_audio_packets_on(receiver: RTCRtpReceiver) -> bool:
    """Replace an aiortc audio receiver's jitter buffer by `AudioPacketsAsTheyCome`;
    True if it took (False for video or an aiortc without that attribute).

    aiortc 1.16 has no API for it; this is the one place that touches its private
    `__jitter_buffer`. Done before the first packet arrives (on the "track" event).
    """
    name = "_RTCRtpReceiver__jitter_buffer"
    if receiver.track.kind != "audio" or not hasattr(receiver, name):
        return False
    setattr(receiver, name, AudioPacketsAsTheyCome())
    return True
