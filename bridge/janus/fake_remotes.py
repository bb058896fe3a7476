"""The fake Janus's remote publishers (bridge/janus/fake.py): the VideoRoom requests of
"cascading" as Janus 1.1.2 answers them (src/plugins/janus_videoroom.c), without RTP.

On the target, `add_remote_publisher` makes a publisher of the given id without a
PeerConnection (436 if the id is taken), listed by `listparticipants` with
``remote: true``; `remove_remote_publisher` takes it away (428 if there is none). On
the source, `publish_remotely` adds a named forwarding to a local publisher (428 if no
such publisher, 436 "Remotization already exists" if the name is taken),
`unpublish_remotely` removes one (428 if either is unknown) and `listremotes` lists
them. A publisher's forwardings outlive an unpublish and go when it leaves the room
(Janus frees them with the publisher). Janus adds and removes a remote publisher on a
thread of its own, a little later; the fake does it at once."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]

ERR_NO_SUCH_FEED = 428
ERR_ID_EXISTS = 436
REQUESTS = frozenset({"add_remote_publisher", "remove_remote_publisher", "publish_remotely",
                      "unpublish_remotely", "listremotes"})
_ports = itertools.count(31_000, 2)


class Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass
class Remotes:
    """One room's remote publishers (on a target) and forwardings (on a source)."""

    publishers: dict[str, list[Json]] = field(default_factory=dict)  # id -> its streams
    forwards: dict[str, dict[str, Json]] = field(default_factory=dict)  # feed -> name -> to

    def listed(self) -> list[Json]:
        return [{"id": feed, "display": feed, "publisher": True, "remote": True}
                for feed in self.publishers]

    def request(self, room: str, request: str, body: Json, local: set[str]) -> Json:
        """One of REQUESTS (the room's secret checked already); ``local``: the ids of
        the room's publishers with a handle here."""
        if request == "add_remote_publisher":
            feed = str(body.get("id"))
            if feed in local or feed in self.publishers:
                raise Refused(ERR_ID_EXISTS, f"User ID {feed} already exists")
            self.publishers[feed] = list(body.get("streams", []))
            port = next(_ports)
            return {"videoroom": "success", "room": room, "id": feed, "port": port,
                    "rtcp_port": port + 1}
        if request == "remove_remote_publisher":
            feed = str(body.get("id"))
            if self.publishers.pop(feed, None) is None:
                raise Refused(ERR_NO_SUCH_FEED, f"No such remote publisher ({feed})")
            return {"videoroom": "success", "room": room}
        feed = str(body.get("publisher_id"))
        if feed not in local:
            raise Refused(ERR_NO_SUCH_FEED, f"No such publisher ({feed})")
        forwards = self.forwards.setdefault(feed, {})
        name = str(body.get("remote_id"))
        if request == "publish_remotely":
            if name in forwards:
                raise Refused(ERR_ID_EXISTS, "Remotization already exists")
            forwards[name] = {"host": body.get("host"), "port": body.get("port"),
                              "rtcp_port": body.get("rtcp_port")}
            return {"videoroom": "success", "room": room, "id": feed, "remote_id": name}
        if request == "unpublish_remotely":
            if forwards.pop(name, None) is None:
                raise Refused(ERR_NO_SUCH_FEED, f"No such remotization ({name})")
            return {"videoroom": "success", "room": room, "id": feed, "remote_id": name}
        return {"videoroom": "success", "room": room, "id": feed,
                "list": [{"remote_id": n, **to} for n, to in forwards.items()]}

    def left(self, feed: str) -> None:
        """A local publisher left the room: its forwardings go with it."""
        self.forwards.pop(feed, None)
