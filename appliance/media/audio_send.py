"""The room's voice on the wire: Opus for lossy links, ahead of the video.

aiortc's own Opus encoder sends 96 kbit/s stereo without forward error correction:
on a 1 Mbit/s link that is a tenth of it for one mono microphone, and a lost packet
is simply lost. `VoiceOpusEncoder` is libopus (through PyAV, as aiortc's) set for
speech on bad links: mono, 32 kbit/s, `application=voip`, in-band FEC on (each
packet carries a low-rate copy of the one before, which a receiver that lost that
one decodes instead — Chromium does), tuned for an expected 10 % loss (libopus
spends on FEC only as much as that needs), DTX off (the far end's concealment and
talking detection expect a steady stream).

`use_voice_encoder(sender)` puts it in an aiortc audio sender before the sender
starts. aiortc 1.16 picks its encoder lazily (`get_encoder` when the first frame
comes, kept in the private `__encoder`) and has no API for encoder options; this is
the one place that sets it, like `hand_audio_packets_on` on the receiving side.
The packets stay frames aiortc encodes (not pre-encoded packets), so aiortc still
computes the audio level header that Janus's talking detection reads.
"""

from __future__ import annotations

import fractions

from aiortc import RTCRtpCodecCapability, RTCRtpSender
from aiortc.codecs.base import Encoder
from av import AudioFrame, AudioResampler, CodecContext
from av.frame import Frame
from av.packet import Packet

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
VOICE_BITRATE = 32_000
EXPECTED_LOSS_PERCENT = 10


class VoiceOpusEncoder(Encoder):
    """aiortc's Encoder interface over libopus: mono speech with in-band FEC."""

    def __init__(self, bitrate: int = VOICE_BITRATE,
                 expected_loss_percent: int = EXPECTED_LOSS_PERCENT) -> None:
        self.codec = CodecContext.create("libopus", "w")
        self.codec.bit_rate = bitrate
        self.codec.format = "s16"
        self.codec.layout = "mono"
        self.codec.sample_rate = SAMPLE_RATE
        self.codec.time_base = TIME_BASE
        self.codec.options = {"application": "voip", "fec": "1",
                              "packet_loss": str(expected_loss_percent), "dtx": "0",
                              "frame_duration": "20"}
        self.resampler = AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE,
                                        frame_size=FRAME_SAMPLES)
        self.first_pts: int | None = None

    def encode(self, frame: Frame, force_keyframe: bool = False
               ) -> tuple[list[bytes], int]:
        assert isinstance(frame, AudioFrame)
        packets: list[Packet] = []
        for chunk in self.resampler.resample(frame):
            packets += self.codec.encode(chunk)
        if not packets:
            return [], 0
        if self.first_pts is None:  # libopus starts at a negative pts (its pre-skip)
            self.first_pts = int(packets[0].pts or 0)
        return [bytes(p) for p in packets], int(packets[0].pts or 0) - self.first_pts

    def pack(self, packet: Packet) -> tuple[list[bytes], int]:
        raise NotImplementedError("the microphone track hands over frames, not packets")


def use_voice_encoder(sender: RTCRtpSender) -> bool:
    """Make an aiortc audio sender encode with `VoiceOpusEncoder`; True if it took
    (False: the sender already encodes, or an aiortc without that attribute)."""
    name = "_RTCRtpSender__encoder"
    if getattr(sender, "kind", None) != "audio" or not hasattr(sender, name):
        return False
    if getattr(sender, name) is not None:
        return False
    setattr(sender, name, VoiceOpusEncoder())
    return True


def opus_preferences() -> list[RTCRtpCodecCapability]:
    """Opus only, for the audio transceiver (the encoder above is Opus)."""
    return [c for c in RTCRtpSender.getCapabilities("audio").codecs
            if c.mimeType.lower() == "audio/opus"]
