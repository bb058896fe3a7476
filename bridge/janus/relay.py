"""One publisher relayed from its Janus to another with the VideoRoom's remote publishers
(Janus ≥ 1.1, "cascading"): a large meeting's listeners are spread over several Janus
servers, each receiving the teacher once.

On the target Janus, `add_remote_publisher` makes a publisher without a PeerConnection
in the same room, fed by plain RTP on one UDP port (plus one for RTCP, through which its
keyframe requests go back); on the source Janus, `publish_remotely` adds an RTP forwarder
per stream towards that port. What Janus 1.1.2 (Debian's) needs, read in its source:

- Streams are matched by SSRC, base + the *source* publisher's m-line index; the remote
  publisher numbers its streams 0, 1, … in the order given. So they are declared in the
  source's m-line order, and a source with gaps (a data channel first) cannot be relayed.
- `h264_profile` of a remote stream is checked as a boolean and read as a string: it is
  left out (the target room's profile applies).
- A simulcast stream is declared so: the source forwards its three layers (SSRCs one
  apart) and the target chooses one per viewer as for a local publisher.
- Plain RTP only (SRTP for remote publishers came in 1.3.0): Janus servers relay over a
  network of their own, never the internet.
- `add_remote_publisher` answers before the publisher is in the room: Janus's thread for
  the remote publisher adds it to the room's participants when it first runs, so on a
  busy server a listener subscribing at once finds no such feed. Removal is the same
  thread's, later too. `start_relay` returns once the target lists the publisher,
  `stop_relay` once it no longer does.
- A relay is named so that any bridge process can find it: on the target the remote
  publisher's id is the feed's, on the source the forwarding is ``relay-<target's
  name>`` (``remote_id``); `list_remotes` asks the source which it has for a feed.
  Janus keeps a publisher's forwardings across an unpublish and a publish on the same
  handle and re-creates them for the new streams, so a republish must drop them (the
  new streams may not match what the target declared).
- Only a local publisher can be relayed (no relay of a relay), and the source Janus does
  not forward what moderation mutes, so a right taken away at the source holds on every
  server; the target can moderate its remote publisher as well.
- Known problems fixed after 1.1.2: ports of removed remote publishers leaked (1.2.2),
  memory leaks and a broken `switch` (1.3.0), recordings (1.3.1), a rare crash (1.3.2).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from bridge.janus.client import JanusError
from bridge.janus.videoroom import (
    ERR_ID_EXISTS,
    ERR_NO_SUCH_FEED,
    ERR_NO_SUCH_ROOM,
    PublishedStream,
    RoomControl,
)

LISTED_WITHIN_S = 10.0  # the target's thread for the new publisher has run by then
LISTED_POLL_S = 0.05


class NotRelayable(ValueError):
    """The publisher's streams cannot be declared to a remote publisher (see above)."""


class TargetHasFeed(Exception):
    """The target has a publisher with the feed's id already (a relay another bridge
    process made, or a stale one): nothing was changed."""


class AlreadyForwarded(Exception):
    """The source forwards the feed under this relay's name already, to a remote
    publisher that is not the one just made (removed again): nothing was changed."""


def remote_id_of(target: str) -> str:
    """The source's name for the forwarding of a feed to the Janus named ``target``."""
    return f"relay-{target}"


def target_of(remote_id: str) -> str | None:
    """The Janus a forwarding named by ``remote_id_of`` goes to; None: not ours."""
    return remote_id.removeprefix("relay-") if remote_id.startswith("relay-") else None


@dataclass(frozen=True)
class RelayTarget:
    """A Janus the publisher is relayed to: its room control and the address its UDP
    ports are reached on from the source Janus."""

    control: RoomControl
    host: str
    name: str  # the target's server name: the forwarding's name on the source


@dataclass(frozen=True)
class Relay:
    room: str
    feed: str
    remote_id: str  # the forwarding's name on the source
    port: int = 0  # the target's RTP port for this publisher (0: made by another process)
    rtcp_port: int = 0


def remote_streams(streams: list[PublishedStream]) -> list[dict[str, Any]]:
    """The source's audio and video in m-line order, as `add_remote_publisher` takes them."""
    ordered = sorted(streams, key=lambda s: s.mindex)
    if [s.mindex for s in ordered] != list(range(len(ordered))):
        raise NotRelayable(f"m-lines {[s.mindex for s in ordered]} are not 0, 1, …")
    declared = []
    for s in ordered:
        if not s.codec:
            raise NotRelayable(f"stream {s.mid} has no codec")
        stream: dict[str, Any] = {"type": s.kind, "mid": s.mid, "mindex": s.mindex,
                                  "codec": s.codec}
        if s.simulcast:  # the source forwards all three layers: the target picks per viewer
            stream["simulcast"] = True
        declared.append(stream)
    return declared


async def start_relay(source: RoomControl, target: RelayTarget, room: str, secret: str,
                      feed: str, streams: list[PublishedStream]) -> Relay:
    """Make ``feed`` a publisher of ``room`` on the target too (same id) and forward its
    streams there. The room must exist on both with the same secret."""
    try:
        data, _ = await target.control.handle.send({
            "request": "add_remote_publisher", "room": room, "secret": secret, "id": feed,
            "display": feed, "streams": remote_streams(streams)})
    except JanusError as exc:
        if exc.code == ERR_ID_EXISTS:
            raise TargetHasFeed(exc.reason) from exc
        raise
    relay = Relay(room, feed, remote_id=remote_id_of(target.name),
                  port=int(data["port"]), rtcp_port=int(data["rtcp_port"]))
    try:
        await _until_listed(target.control, room, feed, listed=True)
    except BaseException:
        await remove_remote(target.control, room, secret, feed)
        raise
    body: dict[str, Any] = {
        "request": "publish_remotely", "room": room, "secret": secret,
        "publisher_id": feed, "remote_id": relay.remote_id, "host": target.host,
        "port": relay.port, "rtcp_port": relay.rtcp_port}
    if source.admin_key:
        body["admin_key"] = source.admin_key
    try:
        await source.handle.send(body)
    except BaseException as exc:
        await remove_remote(target.control, room, secret, feed)
        if isinstance(exc, JanusError) and exc.code == ERR_ID_EXISTS:
            raise AlreadyForwarded(exc.reason) from exc
        raise
    return relay


async def list_remotes(source: RoomControl, room: str, secret: str, feed: str
                       ) -> list[str] | None:
    """The names of the feed's forwardings to remote publishers on the source (Janus
    1.1.2 `listremotes`); None: the feed is no publisher there (it left)."""
    try:
        data, _ = await source.handle.send({"request": "listremotes", "room": room,
                                            "secret": secret, "publisher_id": feed})
    except JanusError as exc:
        if exc.code == ERR_NO_SUCH_FEED:
            return None
        raise
    return [str(r.get("remote_id")) for r in data.get("list", [])]


async def stop_relay(source: RoomControl, target: RelayTarget, relay: Relay, secret: str
                     ) -> None:
    """Stop forwarding and remove the remote publisher (either may be gone already)."""
    await stop_forwarding(source, relay, secret)
    await remove_remote(target.control, relay.room, secret, relay.feed)
    await _until_listed(target.control, relay.room, relay.feed, listed=False)


async def stop_forwarding(source: RoomControl, relay: Relay, secret: str) -> None:
    """The source's half of ``stop_relay`` (the target is gone)."""
    body: dict[str, Any] = {"request": "unpublish_remotely", "room": relay.room,
                            "secret": secret, "publisher_id": relay.feed,
                            "remote_id": relay.remote_id}
    if source.admin_key:
        body["admin_key"] = source.admin_key
    try:
        await source.handle.send(body)
    except JanusError as exc:
        if exc.code != ERR_NO_SUCH_FEED:
            raise


async def listed(target: RoomControl, room: str, feed: str) -> bool:
    """Whether the target's room lists ``feed`` (a room it does not have lists none)."""
    try:
        data, _ = await target.handle.send({"request": "listparticipants", "room": room})
    except JanusError as exc:
        if exc.code != ERR_NO_SUCH_ROOM:
            raise
        return False
    return feed in {str(p.get("id")) for p in data.get("participants", [])}


async def until_unlisted(target: RoomControl, room: str, feed: str) -> None:
    await _until_listed(target, room, feed, listed=False)


async def _until_listed(target: RoomControl, room: str, feed: str, *, listed: bool
                        ) -> None:
    """Wait until the target's room lists ``feed`` (or no longer does): Janus adds and
    removes a remote publisher on its own thread (see the module's notes)."""
    async with asyncio.timeout(LISTED_WITHIN_S):
        while True:
            data, _ = await target.handle.send({"request": "listparticipants", "room": room})
            ids = {str(p.get("id")) for p in data.get("participants", [])}
            if (feed in ids) == listed:
                return
            await asyncio.sleep(LISTED_POLL_S)


async def remove_remote(target: RoomControl, room: str, secret: str, feed: str) -> bool:
    """Remove the feed's remote publisher from the target; whether there was one."""
    try:
        await target.handle.send({"request": "remove_remote_publisher", "room": room,
                                  "secret": secret, "id": feed})
    except JanusError as exc:
        if exc.code != ERR_NO_SUCH_FEED:
            raise
        return False
    return True
