"""The room's content source as an aiortc track: `recv()` returns encoded `av.Packet`s.

A `ContentSource` (appliance/devices/content.py) delivers H.264 access units as a
camera does, so the content track is the camera's `EncodedVideoTrack` over it:
capture runs only while the track is wanted and `set_sending(True)` (the room
presents), keyframe requests and REMB from the far end reach the source's encoder,
and nothing is encoded twice. Publish it with `add_content_track(pc, track)` on the
peer connection that carries the room's content stream (H.264 only).
"""

from __future__ import annotations

from aiortc import RTCPeerConnection, RTCRtpSender

from appliance.devices.content import ContentSource
from appliance.media.video import EncodedVideoTrack, add_encoded_video_track


class ContentTrack(EncodedVideoTrack):
    """An aiortc video track of the room's content; starts not sending (not presenting)."""

    def __init__(self, source: ContentSource, *, sending: bool = False) -> None:
        super().__init__(source)
        self.source = source
        self.set_sending(sending)


def add_content_track(pc: RTCPeerConnection, track: ContentTrack) -> RTCRtpSender:
    """Add the content track to `pc` (before the offer), offering H.264 only."""
    return add_encoded_video_track(pc, track)
