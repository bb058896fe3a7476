"""Typed requests of the Janus VideoRoom plugin (multistream API of Janus 1.x)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.janus.client import JanusError, JanusHandle, JanusSession

PLUGIN = "janus.plugin.videoroom"
ERR_NO_SUCH_ROOM = 426
ERR_ROOM_EXISTS = 427
ERR_NO_SUCH_FEED = 428
ERR_UNAUTHORIZED = 433  # e.g. a publisher handle that was kicked
ERR_ALREADY_PUBLISHED = 434
ERR_NOT_PUBLISHED = 435
ERR_ID_EXISTS = 436  # a publisher with this id is in the room
ROOM_BITRATE = 2_500_000  # what Janus tells each publisher it may send (REMB), bit/s

# Talking detection: Janus averages the audio-level extension (dBov: 0 loudest, 127
# silence) over this many packets (20 ms each) and calls it talking below the threshold.
# A short window notices a beep or a syllable (a 1 s window averaged a 20 ms beep with
# 49 packets of silence and never fired); the bridge holds "talking" over pauses.
TALK_WINDOW_PACKETS = 5
TALK_LEVEL_DBOV = 50


@dataclass(frozen=True)
class SubscribedStream:
    """One m-line of a subscriber PeerConnection and the publisher stream it carries
    (``feed`` is None for an m-line that carries nothing any more)."""

    mid: str
    kind: str
    feed: str | None
    feed_mid: str
    active: bool
    simulcast: bool = False  # the publisher sends it in layers (a browser's camera)

    @property
    def carries_media(self) -> bool:
        return self.active and self.feed is not None


def parse_streams(data: dict[str, Any]) -> list[SubscribedStream]:
    """Every audio/video m-line Janus reports, including those it has just emptied."""
    streams = []
    for s in data.get("streams", []):
        if s.get("type") not in ("audio", "video"):
            continue
        feed = s.get("feed_id")
        streams.append(SubscribedStream(
            mid=str(s["mid"]), kind=str(s["type"]), feed=None if feed is None else str(feed),
            feed_mid=str(s.get("feed_mid", "")), active=bool(s.get("active", True)),
            simulcast="simulcast" in s,
        ))
    return streams


class RoomControl:
    """Room-level requests (create, destroy, moderate, kick) on a dedicated handle."""

    def __init__(self, handle: JanusHandle, admin_key: str | None) -> None:
        self.handle = handle
        self.admin_key = admin_key

    @classmethod
    async def attach(cls, session: JanusSession, admin_key: str | None) -> RoomControl:
        return cls(await session.attach(PLUGIN), admin_key)

    async def ensure_room(self, room: str, secret: str, description: str,
                          max_publishers: int = 200) -> None:
        # Clients never reach Janus's API (only the bridge does), so a subscriber needs no
        # publisher's private id; the room's secret guards moderation.
        body: dict[str, Any] = {
            "request": "create", "room": room, "description": description[:100],
            "secret": secret, "is_private": True, "publishers": max_publishers,
            "audiocodec": "opus", "videocodec": "h264,vp8",
            "h264_profile": "42e01f",
            "audiolevel_event": True, "audio_active_packets": TALK_WINDOW_PACKETS,
            "audio_level_average": TALK_LEVEL_DBOV,
            "notify_joining": False, "require_pvtid": False, "permanent": False,
            "bitrate": ROOM_BITRATE, "fir_freq": 10,
            # Audio first on bad links: Opus in-band FEC negotiated with every publisher
            # (Janus's default, said here so it stays so); no DTX (steady talking levels).
            "opus_fec": True, "opus_dtx": False,
        }
        if self.admin_key:
            body["admin_key"] = self.admin_key
        try:
            await self.handle.send(body)
        except JanusError as exc:
            if exc.code != ERR_ROOM_EXISTS:
                raise

    async def destroy_room(self, room: str, secret: str) -> None:
        try:
            await self.handle.send({"request": "destroy", "room": room, "secret": secret})
        except JanusError as exc:
            if exc.code != ERR_NO_SUCH_ROOM:
                raise

    async def moderate(self, room: str, secret: str, feed: str, mid: str, mute: bool) -> None:
        await self.handle.send({
            "request": "moderate", "room": room, "secret": secret, "id": feed,
            "mid": mid, "mute": mute,
        })

    async def kick(self, room: str, secret: str, feed: str) -> None:
        try:
            await self.handle.send({"request": "kick", "room": room, "secret": secret, "id": feed})
        except JanusError as exc:
            if exc.code != ERR_NO_SUCH_FEED:
                raise


@dataclass(frozen=True)
class PublishedStream:
    mid: str
    kind: str
    mindex: int = 0  # its m-line's place in the publisher's SDP
    codec: str = ""  # as Janus negotiated it ("opus", "vp8", "h264")
    simulcast: bool = False  # sent in several layers (a browser's camera)


def streams_json(streams: list[PublishedStream]) -> list[dict[str, Any]]:
    """A feed's source streams as the live announcement carries them to other bridge
    processes (``streams_from_json`` reads them; the one place of that format,
    bridge/live.py LiveParticipant.announced sends it)."""
    return [{"mid": s.mid, "kind": s.kind, "mindex": s.mindex, "codec": s.codec,
             "simulcast": s.simulcast} for s in streams]


def streams_from_json(raw: Any) -> list[PublishedStream] | None:
    """Announced source streams, or None if absent or not as ``streams_json`` writes
    them (another version's process: its feeds are then not relayed here)."""
    if not isinstance(raw, list) or not raw:
        return None
    streams = []
    for s in raw:
        if not (isinstance(s, dict) and isinstance(s.get("mid"), str)
                and s.get("kind") in ("audio", "video") and type(s.get("mindex")) is int
                and isinstance(s.get("codec"), str) and isinstance(s.get("simulcast"), bool)):
            return None
        streams.append(PublishedStream(s["mid"], s["kind"], s["mindex"], s["codec"],
                                       s["simulcast"]))
    return streams


MediaCallback = Callable[[str, str, bool], None]  # (kind, mid, receiving)


class Publisher:
    """A participant's one publisher handle for its whole Janus session: joined once,
    then publish, unpublish and publish again on the same handle, so the room never
    holds two publishers with the participant's id."""

    def __init__(self, handle: JanusHandle, room: str, feed: str) -> None:
        self.handle = handle
        self.room = room
        self.feed = feed
        self.private_id: int | None = None
        self.streams: list[PublishedStream] = []
        # Janus refuses subscriptions to a feed until its PeerConnection is up.
        self.webrtc_up = asyncio.Event()
        self.pc_gone = asyncio.Event()  # Janus freed the last PeerConnection (or had none)
        self.pc_gone.set()
        self.on_pc: Callable[[bool], None] | None = None  # webrtcup / hangup
        self.on_media: MediaCallback | None = None  # Janus receives a stream, or stopped
        # slowlink: Janus lost this many packets of one of its streams in a second
        self.on_uplink_loss: Callable[[int], None] | None = None
        # per mid of the current PeerConnection: Janus has had a packet of it (media event)
        self.packets_seen: dict[str, asyncio.Event] = {}
        self.sending: frozenset[str] = frozenset()  # kinds the client said it sends at once
        handle.on_core = self._on_core

    def _on_core(self, msg: dict[str, Any]) -> None:
        kind = msg.get("janus")
        if kind == "webrtcup":
            self.webrtc_up.set()
            if self.on_pc is not None:
                self.on_pc(True)
        elif kind == "hangup":
            self.webrtc_up.clear()
            self.pc_gone.set()
            self.packets_seen = {}
            if self.on_pc is not None:
                self.on_pc(False)
        elif kind == "media":
            if msg.get("receiving"):
                self.packets_seen.setdefault(str(msg.get("mid")), asyncio.Event()).set()
            if self.on_media is not None:
                self.on_media(str(msg.get("type")), str(msg.get("mid")), bool(msg.get("receiving")))
        elif kind == "slowlink" and self.on_uplink_loss is not None:
            self.on_uplink_loss(int(msg.get("lost") or 0))

    async def first_packet(self, mid: str, within: float) -> None:
        """Wait until Janus has had a packet of ``mid`` (its media event comes after the
        videoroom saw that packet), or ``within`` seconds have passed."""
        seen = self.packets_seen.setdefault(mid, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(seen.wait(), within)

    @property
    def published(self) -> bool:
        return not self.pc_gone.is_set()

    @classmethod
    async def join(cls, session: JanusSession, room: str, feed: str, display: str) -> Publisher:
        pub = cls(await session.attach(PLUGIN), room, feed)
        try:
            data, _ = await pub.handle.send({
                "request": "join", "ptype": "publisher", "room": room, "id": feed,
                "display": display[:64],
            })
        except BaseException:
            await pub.handle.detach()
            raise
        pub.private_id = data.get("private_id")
        return pub

    async def publish(self, offer_sdp: str, display: str,
                      sending: frozenset[str] = frozenset()) -> str:
        self.pc_gone.clear()
        self.packets_seen = {}
        self.sending = sending
        try:
            data, jsep = await self.handle.send(
                {"request": "publish", "display": display[:64]},
                {"type": "offer", "sdp": offer_sdp},
            )
        except BaseException:
            self.pc_gone.set()
            raise
        if jsep is None:
            raise JanusError(0, "Janus returned no answer to the publish offer")
        self.streams = [
            PublishedStream(mid=str(s["mid"]), kind=str(s["type"]),
                            mindex=int(s.get("mindex", 0)), codec=str(s.get("codec", "")),
                            simulcast=bool(s.get("simulcast")))
            for s in data.get("streams", []) if s.get("type") in ("audio", "video")
        ]
        return str(jsep["sdp"])

    async def unpublish(self, timeout: float = 3.0) -> bool:
        """Hang up the current PeerConnection and wait until Janus has freed it: an
        offer sent earlier would be taken for a renegotiation of the dying one (Janus
        closes a PeerConnection asynchronously). False if it was not freed in time."""
        if self.pc_gone.is_set():
            return True
        try:
            await self.handle.send({"request": "unpublish"})
        except JanusError as exc:
            if exc.code != ERR_NOT_PUBLISHED:  # already hung up: its hangup is on its way
                raise
        try:
            await asyncio.wait_for(self.pc_gone.wait(), timeout)
        except TimeoutError:
            return False
        self.streams = []
        return True

    async def request_keyframe(self) -> None:
        await self.handle.send({"request": "configure", "keyframe": True})

    async def set_display(self, display: str) -> None:
        await self.handle.send({"request": "configure", "display": display[:64]})

    async def set_bitrate(self, bitrate: int | None) -> None:
        """What Janus tells the publisher it may send (REMB, now and every 5 s);
        None: the room's bitrate again."""
        await self.handle.send({"request": "configure", "bitrate": bitrate or ROOM_BITRATE})


SUBSTREAMS = {"low": 0, "medium": 1, "high": 2}  # Janus's simulcast substream numbers


class Subscriber:
    """One multistream subscriber handle, updated as publishers come and go."""

    def __init__(self, handle: JanusHandle, room: str) -> None:
        self.handle = handle
        self.room = room

    @classmethod
    async def join(
        cls, session: JanusSession, room: str, private_id: int | None, feeds: list[str]
    ) -> tuple[Subscriber, str, list[SubscribedStream]]:
        sub = cls(await session.attach(PLUGIN), room)
        body: dict[str, Any] = {
            "request": "join", "ptype": "subscriber", "room": room,
            "streams": [{"feed": f} for f in feeds],
        }
        if private_id is not None:
            body["private_id"] = private_id
        data, jsep = await sub.handle.send(body)
        if jsep is None:
            raise JanusError(0, "Janus returned no offer for the subscription")
        return sub, str(jsep["sdp"]), parse_streams(data)

    async def change(
        self, add: list[str], remove: list[str]
    ) -> tuple[str | None, list[SubscribedStream]]:
        """Add and remove feeds in one renegotiation; returns Janus's new offer, if any."""
        body: dict[str, Any] = {"request": "update"}
        if add:
            body["subscribe"] = [{"feed": f} for f in add]
        if remove:
            body["unsubscribe"] = [{"feed": f} for f in remove]
        data, jsep = await self.handle.send(body)
        return (str(jsep["sdp"]) if jsep else None), parse_streams(data)

    async def start(self, answer_sdp: str) -> None:
        await self.handle.send({"request": "start"}, {"type": "answer", "sdp": answer_sdp})

    async def set_layers(self, layers: dict[str, str]) -> None:
        """Which simulcast substream each video m-line forwards ("low" 0 … "high" 2),
        all temporal layers. Janus switches at the layer's next keyframe (it asks the
        publisher for one) and falls back to a lower one that stops arriving."""
        await self.handle.send({"request": "configure", "streams": [
            {"mid": mid, "substream": SUBSTREAMS[layer], "temporal": 2}
            for mid, layer in layers.items()]})
