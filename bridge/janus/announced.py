"""What the other bridge processes announced of the members they hold, as the cascade
needs it (bridge/janus/cascade.py): the server each receives on (placement counts them)
and the source streams of their feeds that are up (a relay declares them on the edge).
It comes with their live state over the bus (bridge/live.py LiveRoom.remote_update)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bridge.janus.videoroom import PublishedStream, streams_from_json


class Announced:
    def __init__(self) -> None:
        self.streams: dict[tuple[str, str], list[PublishedStream]] = {}  # (room, feed)
        self.views: dict[tuple[str, str], str] = {}  # (room, member) -> server name
        self.viewing: Counter[tuple[str, str]] = Counter()  # (room, server) -> members

    def listeners(self, room: str, server: str) -> int:
        return self.viewing[(room, server)]

    def set_view(self, room: str, member: str, view: Any) -> str | None:
        """Where a member receives now (None or "": unknown, or it left); the server's
        name if that changed."""
        old = self.views.pop((room, member), None)
        if old is not None:
            self.viewing[(room, old)] -= 1
            if self.viewing[(room, old)] <= 0:
                del self.viewing[(room, old)]
        if not isinstance(view, str) or not view:
            return None
        self.views[(room, member)] = view
        self.viewing[(room, view)] += 1
        return view if view != old else None

    def set_streams(self, room: str, feed: str, raw: Any) -> bool:
        """A feed's streams as announced now (absent: not up); whether streams known
        before stopped or changed (relays of the old ones are void)."""
        new = streams_from_json(raw)
        old = self.streams.pop((room, feed), None)
        if new:
            self.streams[(room, feed)] = new
        return old is not None and old != new
