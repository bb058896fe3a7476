"""The room's content input between its device, the room state machine and the bridge.

The app owns one `RoomContentInput`: it turns the source's presence into the room's
`ContentPlugged`/`ContentUnplugged` events, and carries out `SetContentSending` by
publishing a `ContentTrack` over the source on the bridge client's content
PeerConnection (capture runs only then) or withdrawing it. What the bridge says about
presenting reaches the room through the conference adapter (appliance/conference/adapter.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from appliance import room
from appliance.devices.content import ContentSource, Presence
from appliance.media.content import ContentTrack
from appliance.media.video import EncodedVideoTrack

log = logging.getLogger("salon.content")

class ContentClient(Protocol):
    """The bridge client's side the content needs (BridgeClient.set_content)."""

    def set_content(self, track: EncodedVideoTrack | None) -> None: ...


class RoomContentInput:
    """The content source (or none), watched and published as the room says."""

    def __init__(self, source: ContentSource | None,
                 dispatch: Callable[[room.Event], None]) -> None:
        self.source = source
        self.dispatch = dispatch
        self.track: ContentTrack | None = None

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start watching for a laptop being plugged in (events arrive in `loop`)."""
        if self.source is not None:
            self.source.add_presence_listener(self._presence, loop)
            self.source.watch()

    def _presence(self, presence: Presence) -> None:
        self.dispatch(room.ContentPlugged() if presence.plugged else room.ContentUnplugged())

    def set_sending(self, sending: bool, client: ContentClient | None) -> None:
        """Publish the content (the room presents) or stop it and its capture."""
        if self.source is None:
            return
        if sending and self.track is None:
            self.track = ContentTrack(self.source, sending=True)
            if client is not None:
                client.set_content(self.track)
        elif not sending and self.track is not None:
            track, self.track = self.track, None
            if client is not None:
                client.set_content(None)
            track.stop()  # the source stops capturing

    def report(self) -> dict[str, object]:
        """For /healthz: what is plugged in and whether it is being sent."""
        if self.source is None:
            return {"backend": "none"}
        return {"plugged": self.source.presence.plugged, "detail": self.source.presence.detail,
                "sending": self.track is not None, "encoder": self.source.encoder_name,
                "frames": self.source.frames_captured, "fault": self.source.fault}

    def close(self) -> None:
        self.set_sending(False, None)
        if self.source is not None:
            self.source.close()
