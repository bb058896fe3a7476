"""The two aiortc PeerConnections of a participant: one publishing, one receiving.

aiortc has no ICE restart, so a failed connection is closed and built again; the
bridge is asked for a new subscription offer through ``resubscribe``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)

log = logging.getLogger("salon.peers")


def prefer_h264(transceiver: RTCRtpTransceiver) -> None:
    """Camera packets are H.264 already: offer nothing else, so aiortc never re-encodes."""
    caps = RTCRtpSender.getCapabilities("video")
    h264 = [c for c in caps.codecs if c.mimeType.lower() in ("video/h264", "video/rtx")]
    transceiver.setCodecPreferences(h264)


class PublisherPeer:
    def __init__(self, on_failed: Callable[[], None]) -> None:
        self.pc = RTCPeerConnection()
        self._on_failed = on_failed

        @self.pc.on("connectionstatechange")
        def _state() -> None:
            log.info("publisher connection %s", self.pc.connectionState)
            if self.pc.connectionState == "failed":
                self._on_failed()

    async def offer(
        self, video: MediaStreamTrack | None, audio: MediaStreamTrack | None,
        encoded_video: bool,
    ) -> tuple[str, RTCRtpSender | None]:
        """Add the tracks and return (offer SDP with all candidates, video sender)."""
        video_sender = None
        if audio is not None:
            self.pc.addTransceiver(audio, direction="sendonly")
        if video is not None:
            transceiver = self.pc.addTransceiver(video, direction="sendonly")
            if encoded_video:
                prefer_h264(transceiver)
            video_sender = transceiver.sender
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp, video_sender

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))

    async def close(self) -> None:
        await self.pc.close()


class SubscriberPeer:
    """Receives everyone else's media on one PeerConnection, renegotiated by Janus."""

    def __init__(
        self, on_track: Callable[[str, MediaStreamTrack], None], on_failed: Callable[[], None]
    ) -> None:
        self.pc = RTCPeerConnection()

        @self.pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            for t in self.pc.getTransceivers():
                if t.receiver.track is track and t.mid is not None:
                    on_track(t.mid, track)

        @self.pc.on("connectionstatechange")
        def _state() -> None:
            log.info("subscriber connection %s", self.pc.connectionState)
            if self.pc.connectionState == "failed":
                on_failed()

    async def answer(self, offer_sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    def tracks_by_mid(self) -> dict[str, MediaStreamTrack]:
        return {t.mid: t.receiver.track for t in self.pc.getTransceivers()
                if t.mid is not None and t.receiver.track is not None}

    async def close(self) -> None:
        await self.pc.close()
