"""Two aiortc peers in one process, for tests and benchmarks.

aioice ignores loopback interfaces, so this needs a non-loopback address on
127.0.0.0/8: run under `scripts/in-netns`. No STUN server is configured
(aiortc's default would be a public one), so no traffic leaves the host.
"""

from __future__ import annotations

import asyncio

from aiortc import RTCConfiguration, RTCPeerConnection


def local_peer_connection() -> RTCPeerConnection:
    """A peer connection with no ICE servers: host candidates only."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def connect(
    offerer: RTCPeerConnection, answerer: RTCPeerConnection, timeout: float = 20.0
) -> None:
    """Offer/answer between two local peers and wait until both are connected."""
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)
    async with asyncio.timeout(timeout):
        while not (offerer.connectionState == answerer.connectionState == "connected"):
            if "failed" in (offerer.connectionState, answerer.connectionState):
                raise ConnectionError("local peer connection failed (outside scripts/in-netns?)")
            await asyncio.sleep(0.02)
