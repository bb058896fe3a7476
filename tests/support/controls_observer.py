"""For the appliance-controls end-to-end tests and benchmark: a protocol client that
keeps everyone's latest state (the "host"), a real aiortc participant that measures
what Janus forwards, and media checks at a browser."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from playwright.async_api import Page

from appliance.conference import client as conf
from tests.support.browser import tile_video_state
from tests.support.media_files import tone_ratio_db
from tests.support.wsclient import RawClient

Person = dict[str, Any]


class Observer:
    """A participant over the raw protocol that tracks every participant's state."""

    def __init__(self, client: RawClient, welcome: dict[str, Any]) -> None:
        assert welcome.get("type") == "welcome", welcome
        self.client = client
        self.me: Person = welcome["you"]
        self.people: dict[str, Person] = {x["id"]: x for x in welcome["participants"]}
        self.lobby: list[dict[str, Any]] = list(welcome.get("lobby") or [])
        self.seen: list[tuple[float, dict[str, Any]]] = []  # (loop time, message)

    @classmethod
    async def guest(cls, ws_url: str, room: str, name: str) -> Observer:
        client = await RawClient.connect(ws_url)
        return cls(client, await client.join(room, name))

    @classmethod
    async def account(cls, ws_url: str, room: str, user: str, password: str) -> Observer:
        client = await RawClient.connect(ws_url)
        return cls(client, await client.sign_in(room, user, password, client="bot"))

    def _take(self, message: dict[str, Any]) -> None:
        self.seen.append((asyncio.get_running_loop().time(), message))
        kind = message.get("type")
        if kind in ("participant_joined", "participant_updated"):
            person = message["participant"]
            self.people[person["id"]] = person
        elif kind == "participant_left":
            self.people.pop(message["id"], None)
        elif kind == "lobby":
            self.lobby = list(message["waiting"])

    def person(self, name: str) -> Person | None:
        return next((x for x in self.people.values() if x["name"] == name), None)

    async def pump(self, until: Callable[[], Any], timeout: float, what: str) -> Any:
        """Read messages until `until()` is truthy; its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = until()
            if value:
                return value
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"the observer saw no {what} within {timeout}s")
            try:
                self._take(await asyncio.wait_for(self.client.inbox.get(), left))
            except TimeoutError:
                continue

    async def settle(self, seconds: float) -> None:
        """Take every message that arrives within `seconds`."""
        with contextlib.suppress(TimeoutError):
            await self.pump(lambda: False, seconds, "nothing")

    async def until(self, name: str, check: Callable[[Person], bool], timeout: float = 10.0,
                    what: str = "change") -> Person:
        """Wait until participant `name` passes `check`; their state."""
        def found() -> Person | None:
            person = self.person(name)
            return person if person is not None and check(person) else None
        result: Person = await self.pump(found, timeout, f"{what} of {name}")
        return result

    async def admit(self, name: str, rid: int, timeout: float = 20.0) -> None:
        """As the host: let a guest in from the lobby."""
        entry = await self.pump(lambda: next((x for x in self.lobby if x["name"] == name),
                                             None), timeout, f"{name} in the lobby")
        await self.client.send({"type": "admit", "participant": entry["id"], "id": rid})

    async def set_right(self, name: str, right: str, granted: bool, rid: int) -> None:
        person = self.person(name)
        assert person is not None, f"{name} is not in the room"
        await self.client.send({"type": "set_right", "participant": person["id"],
                                "right": right, "granted": granted, "id": rid})

    async def close(self) -> None:
        await self.client.close()


async def video_frames(page: Page, name: str) -> int:
    state = await tile_video_state(page, name)
    return int(state["frames"]) if state else 0


async def frames_grow(page: Page, name: str, by: int = 8, within: float = 8.0) -> bool:
    """True once the page has decoded `by` more frames of `name`'s video."""
    loop = asyncio.get_running_loop()
    base = await video_frames(page, name)
    deadline = loop.time() + within
    while loop.time() < deadline:
        if await video_frames(page, name) >= base + by:
            return True
        await asyncio.sleep(0.2)
    return False


class _NoMedia:
    """Publishes nothing: a listener only receives."""

    def new_tracks(self) -> tuple[MediaStreamTrack | None, MediaStreamTrack | None]:
        return None, None


class MediaListener:
    """A participant on the appliance's own bridge client (aiortc) that keeps what Janus
    forwards: every decoded audio chunk with its arrival time, and a count of decoded
    video frames, per participant name."""

    RATE = 48000

    def __init__(self, bridge_url: str, room: str, credentials: conf.Credentials) -> None:
        self.client = conf.BridgeClient(bridge_url, room, credentials, _NoMedia(),
                                        self._on_event, client_kind="bot")
        self.names: dict[str, str] = {}  # participant id -> name
        self.audio: dict[str, deque[tuple[float, np.ndarray]]] = {}
        self.video_frames: dict[str, int] = {}
        self.joined = False
        self._readers: dict[MediaStreamTrack, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.client.run())

    def _on_event(self, event: conf.ConferenceEvent) -> None:
        if isinstance(event, conf.Joined):
            self.joined = True
        elif isinstance(event, conf.ParticipantsChanged):
            self.names.update({pid: x.name for pid, x in event.participants.items()})
        elif isinstance(event, conf.RemoteMediaChanged):
            for stream in event.streams:
                if stream.track not in self._readers:
                    reader = self._read_audio if stream.kind == "audio" else self._read_video
                    self._readers[stream.track] = asyncio.get_running_loop().create_task(
                        reader(stream.track, stream.participant))

    async def _read_audio(self, track: MediaStreamTrack, pid: str) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=self.RATE)
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                chunks = self.audio.setdefault(pid, deque(maxlen=500))  # 10 s of 20 ms
                for out in resampler.resample(frame):  # type: ignore[arg-type]
                    samples = out.to_ndarray().reshape(-1).astype(np.float64)
                    chunks.append((time.monotonic(), samples))

    async def _read_video(self, track: MediaStreamTrack, pid: str) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                self.video_frames[pid] = self.video_frames.get(pid, 0) + 1

    def pid(self, name: str) -> str | None:
        return next((pid for pid, n in self.names.items() if n == name), None)

    def tone_db(self, name: str, hz: float, seconds: float = 1.0) -> float:
        """Energy at `hz` over the spectrum's median in what arrived from `name` in the
        last `seconds`; -inf when nothing arrived (Janus forwards nothing)."""
        pid = self.pid(name)
        since = time.monotonic() - seconds
        chunks = [c for at, c in self.audio.get(pid or "", ()) if at >= since]
        if not chunks:
            return float("-inf")
        return tone_ratio_db(np.concatenate(chunks), self.RATE, hz)

    def frames(self, name: str) -> int:
        return self.video_frames.get(self.pid(name) or "", 0)

    async def frames_grow(self, name: str, by: int = 8, within: float = 8.0) -> bool:
        base = self.frames(name)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.frames(name) >= base + by:
                return True
            await asyncio.sleep(0.1)
        return False

    async def close(self) -> None:
        for task in [*self._readers.values(), *([self._task] if self._task else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client._close_peers()  # a cancelled run() leaves its peers open
