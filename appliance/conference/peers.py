"""The two aiortc PeerConnections of a participant: one publishing, one receiving.

aiortc has no ICE restart, so a failed connection is closed and built again; the
bridge is asked for a new subscription offer through ``resubscribe``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
    sdp,
)

from appliance.media.video import EncodedVideoTrack, add_encoded_video_track

log = logging.getLogger("salon.peers")


def new_peer_connection() -> RTCPeerConnection:
    """A PeerConnection for talking to Janus.

    No STUN/TURN: aiortc's default would reach out to a public STUN server, and the
    media server is reachable directly (host candidates). MAX_BUNDLE because Janus
    bundles everything, and aiortc 1.16 under its default BALANCED policy strands the
    second video m-line of an offer on a transport that BUNDLE then abandons.
    """
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


class PublisherPeer:
    def __init__(self, on_failed: Callable[[], None]) -> None:
        self.pc = new_peer_connection()
        self._on_failed = on_failed

        @self.pc.on("connectionstatechange")
        def _state() -> None:
            log.info("publisher connection %s", self.pc.connectionState)
            if self.pc.connectionState == "failed":
                self._on_failed()

    async def offer(self, video: MediaStreamTrack | None, audio: MediaStreamTrack | None) -> str:
        """Add the tracks and return the offer SDP with all candidates gathered."""
        if audio is not None:
            self.pc.addTransceiver(audio, direction="sendonly")
        if isinstance(video, EncodedVideoTrack):
            add_encoded_video_track(self.pc, video)  # H.264 only: packets pass through
        elif video is not None:
            self.pc.addTransceiver(video, direction="sendonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))

    async def close(self) -> None:
        await self.pc.close()


def pin_remote_ssrcs(pc: RTCPeerConnection, offer_sdp: str) -> None:
    """Route every SSRC an offer announces to its m-line's receiver.

    aiortc 1.16 registers a receiver's SSRCs only when the receiver starts, and until
    then learns unknown SSRCs by payload type. Janus gives every video m-line of a
    subscription the same payload type, so a stream that arrives early can be bound
    to another participant's receiver for good. Pinning the SSRCs from the SDP (the
    router's own table, the one place aiortc offers no API for) removes the race.
    """
    by_mid = {t.mid: t for t in pc.getTransceivers() if t.mid is not None}
    for media in sdp.SessionDescription.parse(offer_sdp).media:
        transceiver = by_mid.get(media.rtp.muxId)
        if transceiver is None or transceiver.receiver.transport is None:
            continue
        table = transceiver.receiver.transport._rtp_router.ssrc_table
        for entry in media.ssrc:
            table[entry.ssrc] = transceiver.receiver


class SubscriberPeer:
    """Receives everyone else's media on one PeerConnection, renegotiated by Janus."""

    def __init__(
        self, on_track: Callable[[str, MediaStreamTrack], None], on_failed: Callable[[], None]
    ) -> None:
        self.pc = new_peer_connection()

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
        pin_remote_ssrcs(self.pc, offer_sdp)  # after the answer: only then is BUNDLE applied
        return self.pc.localDescription.sdp

    def receivers_by_mid(self) -> dict[str, RTCRtpReceiver]:
        return {t.mid: t.receiver for t in self.pc.getTransceivers()
                if t.mid is not None and t.receiver.track is not None}

    async def close(self) -> None:
        await self.pc.close()
