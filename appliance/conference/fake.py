"""A fake bridge for fast tests of the conference client, in the way gpiozero ships
``MockFactory``: ``FakeBridge.dial`` stands where aiohttp's WebSocket stands
(``BridgeClient(dial=)``), so the client runs as in production up to the socket.

Everything it sends is a checked protocol message (salon/protocol.py), everything the
appliance sends is parsed with the bridge's own schema and kept in ``sent`` (a message
the bridge would refuse fails the test). It answers what a bridge answers at once —
join (welcome, or the lobby), ping, publish, companion_link, any request with an id —
and the test tells it the rest: participants coming and going, rights granted and
revoked, notices, bye, a dropped connection, a bridge that is down.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import aiohttp

from salon import protocol as p

ROOM = p.RoomInfo(address="testbim", title="Test BİM")


class FakeBridgeSocket:
    """The appliance's end of one connection to the fake bridge."""

    def __init__(self, bridge: FakeBridge) -> None:
        self.bridge = bridge
        self._inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._closed = False
        self.close_code: int | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    async def send_str(self, data: str) -> None:
        if self._closed:
            raise ConnectionResetError("the fake bridge socket is closed")
        self.bridge.received(self, data)

    async def close(self, code: int = 1000) -> bool:
        if not self._closed:
            self._closed, self.close_code = True, code
            self._inbox.put_nowait(None)
        return True

    def push(self, text: str) -> None:
        if not self._closed:
            self._inbox.put_nowait(text)

    def exception(self) -> BaseException | None:
        return None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default  # no TLS: a pinned certificate cannot be checked here

    def __aiter__(self) -> AsyncIterator[aiohttp.WSMessage]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[aiohttp.WSMessage]:
        while (text := await self._inbox.get()) is not None:
            yield aiohttp.WSMessage(aiohttp.WSMsgType.TEXT, text, None)

    async def __aenter__(self) -> FakeBridgeSocket:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()


class FakeBridge:
    """One room on a bridge, and the appliance's seat in it."""

    def __init__(self, you: p.Participant | None = None, room: p.RoomInfo = ROOM,
                 others: list[p.Participant] | None = None, lobby: bool = False) -> None:
        self.you = you or p.Participant(id="7", name="ODA 1", client="appliance",
                                        role="device")
        self.room = room
        self.others = {x.id: x for x in others or []}
        self.lobby = lobby  # a guest waits until ``admit``
        self.up = True
        self.silent = False  # the link is down: nothing arrives either way, nothing closes
        self.sent: list[p.ClientMessage] = []  # what the appliance sent, in order
        self.socket: FakeBridgeSocket | None = None  # the connection now, if any
        self.connections = 0
        self.dialled: list[str] = []  # the socket addresses asked for, in order
        self.tokens: set[str] = set()  # seats that may be resumed
        self._tokens = (f"seat-token-{n:08d}" for n in itertools.count(1))
        self._sent_event = asyncio.Event()

    # ---- the seam -----------------------------------------------------------------

    async def dial(self, url: str) -> FakeBridgeSocket:
        if not self.up:
            raise ConnectionRefusedError(f"fake bridge at {url} is down")
        self.socket = FakeBridgeSocket(self)
        self.connections += 1
        self.dialled.append(url)
        return self.socket

    def received(self, socket: FakeBridgeSocket, text: str) -> None:
        if self.silent:
            return  # lost on the way
        message = p.parse_client_message(text)  # the bridge's own check
        self.sent.append(message)
        self._sent_event.set()
        self._answer(socket, message)

    def _answer(self, socket: FakeBridgeSocket, m: p.ClientMessage) -> None:
        if isinstance(m, p.Join):
            self._join(socket, m)
        elif isinstance(m, p.Ping):
            self._send(socket, p.Pong(re=m.id))
        elif isinstance(m, p.Publish):
            self._send(socket, p.PublishAnswer(re=m.id, sdp=_answer(m.sdp)))
        elif isinstance(m, p.CompanionLinkRequest):
            self._send(socket, p.CompanionLink(re=m.id, path="/c/fake-code?room=testbim",
                                               expires_in_s=900))
        elif m.id is not None:
            self._send(socket, p.Ok(re=m.id))

    def _join(self, socket: FakeBridgeSocket, m: p.Join) -> None:
        if m.token is not None and m.token not in self.tokens:
            self._send(socket, p.Error(re=m.id, code="bad_token",
                                       message="join: that seat is gone"))
            return
        token = next(self._tokens)
        self.tokens.discard(m.token or "")
        self.tokens.add(token)
        if self.lobby and m.token is None:
            self._send(socket, p.LobbyWaiting(re=m.id, token=token, you=p.LobbyEntry(
                id=self.you.id, name=self.you.name)))
            return
        self._send(socket, self.welcome(re=m.id, token=token))

    def welcome(self, re: p.RequestId = None, token: str | None = None) -> p.Welcome:
        return p.Welcome(re=re, token=token, you=self.you, room=self.room,
                         participants=[self.you, *self.others.values()])

    def _send(self, socket: FakeBridgeSocket | None, message: p.Outbound) -> None:
        text = p.dump(message)
        p.parse_server_message(text)  # what the bridge sends is always in the schema
        if socket is not None and not self.silent:
            socket.push(text)

    # ---- what the test makes the bridge say ------------------------------------------

    def say(self, message: p.Outbound) -> None:
        """Send the appliance any server message (checked against the schema)."""
        self._send(self.socket, message)

    def admit(self) -> None:
        """The host admits the waiting room: its welcome."""
        self.lobby = False
        self.say(self.welcome())

    def join(self, person: p.Participant) -> None:
        self.others[person.id] = person
        self.say(p.ParticipantJoined(participant=person))

    def leave(self, pid: str) -> None:
        self.others.pop(pid, None)
        self.say(p.ParticipantLeft(id=pid))

    def update(self, pid: str, **fields: Any) -> p.Participant:
        """A participant's record changed (the appliance's own when ``pid`` is its id)."""
        if pid == self.you.id:
            self.you = self.you.model_copy(update=fields)
            person = self.you
        else:
            person = self.others[pid] = self.others[pid].model_copy(update=fields)
        self.say(p.ParticipantUpdated(participant=person))
        return person

    def grant(self, right: str) -> p.Participant:
        """The host grants the room ``audio`` or ``camera`` rights."""
        return self.update(self.you.id, **{f"{right}_right": True})

    def revoke(self, right: str) -> p.Participant:
        fields: dict[str, Any] = {f"{right}_right": False}
        if right == "audio":
            fields["mic_muted"] = True
        else:
            fields["camera_on"] = False
        return self.update(self.you.id, **fields)

    async def bye(self, reason: str, code: int = 1000) -> None:
        """Say bye and close, as the bridge does (``restarting``, ``removed``...)."""
        self.say(p.Bye(reason=reason))
        if reason in ("removed", "denied", "meeting_ended"):
            self.tokens.clear()
        await self.drop(code)

    async def drop(self, code: int = 1006) -> None:
        """The connection ends without a word (a cut network, a killed bridge)."""
        if self.socket is not None:
            await self.socket.close(code)
            self.socket = None

    async def go_down(self) -> None:
        self.up = False
        await self.drop()

    def come_up(self) -> None:
        self.up = True

    def go_silent(self, silent: bool = True) -> None:
        """An outage on the way: the connection stays open, nothing passes (True) until
        the link is back (False)."""
        self.silent = silent

    # ---- what the test looks at ---------------------------------------------------

    def sent_of(self, kind: type[p.ClientMessage]) -> list[Any]:
        return [m for m in self.sent if isinstance(m, kind)]

    async def wait_sent(self, kind: type[p.ClientMessage], count: int = 1,
                        timeout: float = 2.0) -> list[Any]:
        """Wait until the appliance has sent ``count`` messages of ``kind``."""
        async with asyncio.timeout(timeout):
            while len(self.sent_of(kind)) < count:
                self._sent_event.clear()
                await self._sent_event.wait()
        return self.sent_of(kind)


def _answer(offer: str) -> str:
    """A minimal answer accepting each offered m-line to receive (no media flows)."""
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=Fake bridge", "t=0 0"]
    for line in offer.splitlines():
        if line.startswith("m="):
            kind, _, _, *formats = line[2:].split()
            lines += [f"m={kind} 9 UDP/TLS/RTP/SAVPF {formats[0] if formats else 0}",
                      "c=IN IP4 127.0.0.1", "a=recvonly", "a=setup:active"]
        elif line.startswith(("a=mid:", "a=rtpmap:", "a=ice-ufrag:", "a=ice-pwd:",
                              "a=fingerprint:")):
            lines.append(line)
    return "\r\n".join([*lines, ""])
