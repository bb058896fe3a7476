"""The camera as an aiortc video track that sends encoded H.264 untouched.

`EncodedVideoTrack.recv()` returns `av.Packet`s; aiortc's RTCRtpSender then
only packetizes them (its `H264Encoder.pack`), so the appliance never runs a
second encoder.

Add the track with `add_encoded_video_track(pc, track)` before the offer: it
offers H.264 only and binds the sender, so the far end's feedback reaches
the camera instead of aiortc's (unused) encoder: PLI/FIR (Janus relays its
subscribers' requests) → `camera.request_keyframe()`; REMB (Janus: the room's cap)
and the receiver reports (loss, round-trip time) → `SendRateController`, whose
target goes to `camera.set_bitrate()` (bitrate, then size and frame rate, within
the camera's bounds) and to the transport's `SendPacer` (the camera's packets
paced, the microphone's never behind them). A rebuilt peer connection gets a new
track over the same camera, which hands itself over.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import weakref
from collections.abc import Callable

import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpCodecCapability, RTCRtpSender
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpSrPacket,
    unpack_remb_fci,
)

from appliance.devices.camera import PTS_TIME_BASE, Camera, EncodedFrame
from appliance.media.congestion import SendRateController
from appliance.media.pacer import SendPacer, pace_transport, path_loss

log = logging.getLogger(__name__)

# Access units waiting for aiortc beyond this are stale: drop them and start
# again from a keyframe rather than let latency grow (~0.25 s at 30 fps).
MAX_QUEUED_FRAMES = 8


def sender_rtt(sender: RTCRtpSender) -> float | None:
    """aiortc's smoothed round-trip time for a sender (from LSR/DLSR of the receiver's
    reports; private in aiortc 1.16, public only through the async getStats())."""
    rtt = getattr(sender, "_RTCRtpSender__rtt", None)
    return float(rtt) if rtt is not None else None


def observe_sender_feedback(
    sender: RTCRtpSender,
    on_keyframe_request: Callable[[], None],
    on_bitrate_estimate: Callable[[int], None],
    on_receiver_report: Callable[[float, float | None], None] = lambda loss, rtt: None,
) -> None:
    """Tap the RTCP feedback arriving at one aiortc sender.

    aiortc 1.16 acts on PLI/FIR and REMB only for frames it encodes itself
    (`_send_keyframe` sets a flag its encoder reads; REMB goes to the
    encoder's `target_bitrate`), and offers no public hook. Its DTLS
    transport delivers every RTCP packet for this sender's SSRC to
    `sender._handle_rtcp_packet`, so we wrap that one method on this one
    instance: observe, then let aiortc do its own handling (RTT, NACK, stats).
    """
    original = sender._handle_rtcp_packet

    async def handle_rtcp_packet(packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpPsfbPacket):
            if packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                on_keyframe_request()
            elif packet.fmt == RTCP_PSFB_APP:
                try:
                    bitrate, ssrcs = unpack_remb_fci(packet.fci)
                except ValueError:
                    pass  # an APP packet that is not REMB
                else:
                    if sender._ssrc in ssrcs:
                        on_bitrate_estimate(bitrate)
        await original(packet)  # aiortc updates its RTT estimate from the report first
        if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            for report in packet.reports:
                if report.ssrc == sender._ssrc:
                    on_receiver_report(report.fraction_lost / 256, sender_rtt(sender))

    sender._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]


def access_unit_packet(unit: EncodedFrame) -> av.Packet:
    """The av.Packet aiortc's H264Encoder.pack() expects (pts in the 90 kHz clock)."""
    packet = av.Packet(unit.data)
    packet.pts = unit.pts
    packet.dts = unit.pts
    packet.time_base = PTS_TIME_BASE
    packet.is_keyframe = unit.keyframe
    return packet


class _AccessUnitQueue:
    """Carries access units from the camera's thread into the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_overflow: Callable[[], None]) -> None:
        self._loop = loop
        self._frames: collections.deque[EncodedFrame] = collections.deque()
        self._ready = asyncio.Event()
        self._on_overflow = on_overflow
        self._closed = False
        self._awaiting_keyframe = False
        self.dropped = 0

    def output_frame(self, frame: EncodedFrame) -> None:  # camera thread
        # RuntimeError: the loop closed while the camera was still stopping.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._put, frame)

    def _put(self, frame: EncodedFrame) -> None:
        if len(self._frames) >= MAX_QUEUED_FRAMES:
            # Behind: drop the backlog, and anything that would depend on it.
            self.dropped += len(self._frames)
            self._frames.clear()
            self._awaiting_keyframe = True
            self._on_overflow()
        if self._awaiting_keyframe and not frame.keyframe:
            self.dropped += 1
            return
        self._awaiting_keyframe = False
        self._frames.append(frame)
        self._ready.set()

    def clear(self) -> None:
        """Forget queued frames; deliver again from the next keyframe (a camera start)."""
        self._frames.clear()
        self._ready.clear()
        self._awaiting_keyframe = True

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    async def get(self) -> EncodedFrame:
        while not self._frames:
            if self._closed:
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        return self._frames.popleft()


class EncodedVideoTrack(MediaStreamTrack):
    """An aiortc video track whose frames are the camera's H.264 access units.

    The camera runs only while the track is wanted: from the first `recv()`
    (aiortc starts pulling once the connection is up) until `stop()`, and not
    while `set_sending(False)`; then `recv()` waits and nothing is captured.
    """

    kind = "video"

    def __init__(self, camera: Camera) -> None:
        super().__init__()
        self.camera = camera
        self._sending = True
        self._wanted = False  # set by the first recv()
        self._queue: _AccessUnitQueue | None = None
        self._bound_senders: weakref.WeakSet[RTCRtpSender] = weakref.WeakSet()
        self.frames_sent = 0
        self.keyframes_sent = 0
        self.keyframe_requests = 0
        self.last_bitrate_estimate: int | None = None
        self.rate = SendRateController(camera.bounds.minimum, camera.bounds.maximum,
                                       start=camera.bitrate)
        self.pacer: SendPacer | None = None
        self._pacer_counted = (0, 0)  # the pacer's (sent, dropped) at the last report

    @property
    def sending(self) -> bool:
        return self._sending

    def set_sending(self, sending: bool) -> None:
        """Camera on/off. Off stops capture at the device; on resumes with a keyframe."""
        self._sending = sending
        self._sync_camera()

    def bind_sender(self, sender: RTCRtpSender) -> None:
        """Route this sender's PLI/FIR and REMB feedback to the camera (idempotent)."""
        if sender in self._bound_senders:
            return
        self._bound_senders.add(sender)
        observe_sender_feedback(sender, self.request_keyframe, self._on_bitrate_estimate,
                                self._on_receiver_report)

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        self.camera.request_keyframe()

    def _on_bitrate_estimate(self, bps: int) -> None:
        self.last_bitrate_estimate = bps
        self._apply_target(self.rate.on_remb(bps))

    def _on_receiver_report(self, fraction_lost: float, rtt: float | None) -> None:
        if self.pacer is not None:  # the pacer's own drops are not the path's loss
            sent, dropped = self.pacer.sent_paced, self.pacer.dropped
            sent0, dropped0 = self._pacer_counted
            self._pacer_counted = (sent, dropped)
            fraction_lost = path_loss(fraction_lost, sent - sent0, dropped - dropped0)
        self._apply_target(self.rate.on_report(fraction_lost, rtt))

    def _apply_target(self, bps: int) -> None:
        applied = self.camera.set_bitrate(bps)
        if self.pacer is not None:
            self.pacer.set_target(applied)
        log.debug("send target %d bps (%s) -> camera %d bps", bps, self.rate.decision, applied)

    def _pace(self) -> None:
        """Put the camera's packets behind the transport's pacer (once it exists)."""
        if self.pacer is not None:
            return
        for sender in self._bound_senders:
            if sender.transport is None:
                continue
            self.pacer = pace_transport(sender.transport, self.camera.bitrate)
            self.pacer.set_target(self.camera.bitrate)
            self.pacer.paced_ssrcs |= {sender._ssrc, sender._rtx_ssrc}
            self.pacer.on_overflow = self.camera.request_keyframe

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self._queue is None:
            self._queue = _AccessUnitQueue(asyncio.get_running_loop(), self.camera.request_keyframe)
        self._wanted = True
        self._sync_camera()
        self._pace()
        unit = await self._queue.get()
        packet = access_unit_packet(unit)
        self.frames_sent += 1
        self.keyframes_sent += unit.keyframe
        return packet

    def stop(self) -> None:
        super().stop()
        self._wanted = False
        self._sync_camera()
        if self._queue is not None:
            self._queue.close()

    @property
    def dropped_frames(self) -> int:
        return self._queue.dropped if self._queue else 0

    def _sync_camera(self) -> None:
        run = self._wanted and self._sending and self.readyState == "live"
        mine = self._queue is not None and self.camera.output is self._queue
        if run and self._queue is not None and not (mine and self.camera.running):
            self._queue.clear()
            self.camera.start(self._queue)  # also takes it over from a replaced track
        elif not run and mine:
            self.camera.stop()
        if not run and self._queue is not None:
            self._queue.clear()


def h264_preferences() -> list[RTCRtpCodecCapability]:
    """aiortc's H.264 codecs (constrained baseline first) plus RTX, for setCodecPreferences."""
    codecs = RTCRtpSender.getCapabilities("video").codecs
    h264 = [c for c in codecs if c.mimeType.lower() == "video/h264"]
    h264.sort(key=lambda c: c.parameters.get("profile-level-id") != "42e01f")
    rtx = [c for c in codecs if c.mimeType.lower() == "video/rtx"]
    return h264 + rtx


def add_encoded_video_track(
    pc: RTCPeerConnection, track: EncodedVideoTrack, direction: str = "sendonly"
) -> RTCRtpSender:
    """Add the camera track to a peer connection, offering H.264 only.

    The packets are H.264 already, so VP8 must never be negotiated; and the
    returned sender is bound so keyframe requests and REMB reach the camera.
    Call before createOffer().
    """
    transceiver = pc.addTransceiver(track, direction=direction)
    transceiver.setCodecPreferences(h264_preferences())
    track.bind_sender(transceiver.sender)
    return transceiver.sender
