"""The two aiortc PeerConnections of a participant: one publishing, one receiving.

aiortc has no ICE restart, so a failed connection is closed and built again; the
bridge is asked for a new subscription offer through ``resubscribe``. A connection
that does not reach "connected" within its bound (``connect_within_s``) counts as
failed too: aiortc may sit in "connecting" for a long time when no check gets
through, and the room must not stay unheard meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
    sdp,
)

from appliance.conference.ice import IceChoice
from appliance.media.audio_send import OpusMicrophoneTrack, add_encoded_audio_track
from appliance.media.video import EncodedVideoTrack, add_encoded_video_track

log = logging.getLogger("salon.peers")
# Closing waits for aiortc's own sender and receiver tasks to say they have exited; one
# that died another way never says so, and a room told to leave would wait forever.
CLOSE_WITHIN_S = 10.0


class _Peer:
    """A PeerConnection made as the room's ICE choice says; a failure before it ever
    connected moves the choice on to the next TURN URL."""

    def __init__(self, kind: str, ice: IceChoice, on_failed: Callable[[], None],
                 connect_within_s: float | None = None,
                 on_connected: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self.ice = ice
        self.on_failed = on_failed
        self.pc, self.turn_url = ice.new_peer_connection()
        self.connected_once = False
        self._watchdog: asyncio.TimerHandle | None = None
        if connect_within_s is not None:
            self._watchdog = asyncio.get_running_loop().call_later(
                connect_within_s, self._not_connected, connect_within_s)

        @self.pc.on("connectionstatechange")
        def _state() -> None:
            log.info("%s connection %s (TURN %s)", kind, self.pc.connectionState,
                     self.turn_url or "none")
            if self.pc.connectionState == "connected":
                self.connected_once = True
                self._stop_watchdog()
                if on_connected is not None:
                    on_connected()
            elif self.pc.connectionState == "failed":
                self._stop_watchdog()
                if not self.connected_once:
                    ice.never_connected(self.turn_url)
                on_failed()

    def _not_connected(self, bound_s: float) -> None:
        self._watchdog = None
        if self.connected_once or self.pc.connectionState in ("closed", "failed"):
            return
        log.warning("%s connection not up after %.0f s: building it again", self.kind,
                    bound_s, extra={"EVENT": "peer-stuck"})
        self.ice.never_connected(self.turn_url)
        self.on_failed()

    def _stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    async def close(self) -> None:
        self._stop_watchdog()
        try:
            async with asyncio.timeout(CLOSE_WITHIN_S):
                await self.pc.close()
        except TimeoutError:  # its sockets are closed by now; only a task is stuck
            log.warning("%s connection did not close within %.0f s: left behind", self.kind,
                        CLOSE_WITHIN_S, extra={"EVENT": "peer-close-stuck"})


class PublisherPeer(_Peer):
    def __init__(self, on_failed: Callable[[], None], ice: IceChoice | None = None,
                 connect_within_s: float | None = None,
                 on_connected: Callable[[], None] | None = None) -> None:
        super().__init__("publisher", ice or IceChoice(), on_failed, connect_within_s,
                         on_connected)

    async def offer(self, video: MediaStreamTrack | None, audio: MediaStreamTrack | None) -> str:
        """Add the tracks and return the offer SDP with all candidates gathered."""
        if isinstance(audio, OpusMicrophoneTrack):
            add_encoded_audio_track(self.pc, audio)  # Opus only, levels for Janus
        elif audio is not None:
            self.pc.addTransceiver(audio, direction="sendonly")
        if isinstance(video, EncodedVideoTrack):
            add_encoded_video_track(self.pc, video)  # H.264 only: packets pass through
        elif video is not None:
            self.pc.addTransceiver(video, direction="sendonly")
        self.ice.before_gathering(self.pc)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))


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


class SubscriberPeer(_Peer):
    """Receives everyone else's media on one PeerConnection, renegotiated by Janus."""

    def __init__(
        self, on_track: Callable[[str, MediaStreamTrack], None], on_failed: Callable[[], None],
        ice: IceChoice | None = None, connect_within_s: float | None = None,
        on_connected: Callable[[], None] | None = None,
    ) -> None:
        super().__init__("subscriber", ice or IceChoice(), on_failed, connect_within_s,
                         on_connected)

        @self.pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            for t in self.pc.getTransceivers():
                if t.receiver.track is track and t.mid is not None:
                    on_track(t.mid, track)

    async def answer(self, offer_sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        self.ice.before_gathering(self.pc)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        pin_remote_ssrcs(self.pc, offer_sdp)  # after the answer: only then is BUNDLE applied
        return self.pc.localDescription.sdp

    def receivers_by_mid(self) -> dict[str, RTCRtpReceiver]:
        return {t.mid: t.receiver for t in self.pc.getTransceivers()
                if t.mid is not None and t.receiver.track is not None}


class ContentPublisher:
    """The room's content on a PeerConnection of its own (`publish_content`), beside the
    camera's publisher: the bridge makes it a second publisher at Janus, so people and
    content reach the others as separate streams. `offer_to` sends an offer and returns
    the bridge's answer SDP; a connection that fails is built again while the track is
    still to be published."""

    def __init__(self, ice: IceChoice, offer_to: Callable[[str], Awaitable[str]]) -> None:
        self.ice, self.offer_to = ice, offer_to
        self.track: EncodedVideoTrack | None = None
        self.peer: PublisherPeer | None = None
        self.rebuilds = 0

    async def publish(self, track: EncodedVideoTrack | None) -> None:
        """Publish `track` (replacing what was published), or stop with None."""
        self.track = track
        await self.close_peer()
        if track is None:
            return
        peer = PublisherPeer(on_failed=lambda: self._failed(peer), ice=self.ice,
                             connect_within_s=12.0)
        self.peer = peer
        sdp = await peer.offer(track, None)
        await peer.accept(await self.offer_to(sdp))

    def _failed(self, peer: PublisherPeer) -> None:
        if peer is self.peer and self.track is not None:
            self.rebuilds += 1
            asyncio.get_running_loop().create_task(self.publish(self.track))

    async def close_peer(self) -> None:
        peer, self.peer = self.peer, None
        if peer is not None:
            await peer.close()
