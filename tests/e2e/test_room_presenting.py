"""The room presents its HDMI input, end to end: an appliance in this process with the
simulated slide deck as its content input, the real bridge and Janus, a host's protocol
client and a participant on aiortc that decodes what Janus forwards.

The open floor gives the room the right. Holding the camera button presents the deck
(plugged in since boot, so not shown until asked): the host sees the room presenting,
and the participant receives a stream marked `content`, apart from the room's camera,
whose pictures are 1920×1080 and whose two QR codes (the fine one with 2 px modules)
read back. Holding it again stops; plugging in during the meeting presents again, and
unplugging stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path
from typing import Any

import av
import numpy as np
import pygame
import pytest
import zxingcpp
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from playwright.async_api import Page

from appliance.conference import client as conf
from appliance.devices.content import SimulatedContentSource
from appliance.devices.slides import fine_qr_payload, qr_payload
from tests.support.browser import chromium
from tests.support.controls_harness import (
    RoomUnderTest,
    controls_toml,
    room_under_test,
    settings_from,
    wait_for,
)
from tests.support.controls_observer import Observer
from tests.support.meetings import close, eventually, in_meeting, join_as_guest, open_room
from tests.support.procs import BridgeProcess

pytestmark = [pytest.mark.netns, pytest.mark.slow]

CONTENT = """
[content]
backend = "simulated"
fps = 5
slide_s = 4
bitrate_max_kbps = 1500
encoder = "x264"
"""


class NoMedia:
    def new_tracks(self) -> tuple[None, None]:
        return None, None


class ContentViewer:
    """A participant (aiortc) keeping the newest content picture each presenter sends."""

    def __init__(self, bridge_url: str, room: str) -> None:
        self.client = conf.BridgeClient(bridge_url, room, conf.Credentials(name="İzleyen Ali"),
                                        NoMedia(), self._on_event, client_kind="bot")
        self.names: dict[str, str] = {}
        self.latest: dict[str, av.VideoFrame] = {}
        self.camera_streams: set[str] = set()
        self._readers: dict[MediaStreamTrack, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.client.run())

    def _on_event(self, event: conf.ConferenceEvent) -> None:
        if isinstance(event, conf.ParticipantsChanged):
            self.names.update({pid: x.name for pid, x in event.participants.items()})
        elif isinstance(event, conf.RemoteMediaChanged):
            for s in event.streams:
                if s.kind == "video" and s.source == "camera":
                    self.camera_streams.add(s.participant)
                if s.kind == "video" and s.source == "content" and s.track not in self._readers:
                    self._readers[s.track] = asyncio.get_running_loop().create_task(
                        self._read(s.track, s.participant))

    async def _read(self, track: MediaStreamTrack, pid: str) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.VideoFrame)
                self.latest[pid] = frame

    def picture(self, name: str) -> av.VideoFrame | None:
        pid = next((pid for pid, n in self.names.items() if n == name), None)
        return self.latest.get(pid or "")

    def forget(self) -> None:
        self.latest.clear()

    async def close(self) -> None:
        for task in [*self._readers.values(), *([self._task] if self._task else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def slide_read_back(picture: av.VideoFrame | None) -> bool:
    """Both QR codes of one slide decode from the picture, at 1920×1080."""
    if picture is None or (picture.width, picture.height) != (1920, 1080):
        return False
    codes = {r.text for r in zxingcpp.read_barcodes(picture.to_ndarray(format="rgb24"))}
    return any(codes == {qr_payload(i, 4), fine_qr_payload(i, 4)} for i in range(4))


async def test_the_rooms_hdmi_input_reaches_a_participant_decodably(
        bridge: BridgeProcess, tmp_path: Path) -> None:
    settings = settings_from(controls_toml(bridge.url, "testbim", "ROOM A", extra=CONTENT))
    host = await Observer.guest(bridge.ws_url, "testbim", "Gözlemci Hülya")
    viewer = ContentViewer(bridge.url, "testbim")
    viewer.start()
    try:
        async with room_under_test(settings, tmp_path / "room") as rut:
            await presenting_scenario(rut, host, viewer)
    finally:
        await viewer.close()
        await host.close()


async def presenting_scenario(rut: RoomUnderTest, host: Observer,
                              viewer: ContentViewer) -> None:
    source = rut.app.content.source
    assert isinstance(source, SimulatedContentSource)
    await wait_for(lambda: rut.state.connection == "in_meeting", 60, "ROOM A joined")
    # plugged in since boot: nothing is shown until someone asks in the meeting
    await wait_for(lambda: rut.state.content.present_right, 30, "the open floor's right")
    assert rut.state.content.plugged and not rut.state.content.wanted

    # holding the camera button presents
    rut.press("camera", hold_s=2.0)
    await wait_for(lambda: rut.state.content.presenting, 30,
                   f"the bridge to give ROOM A the presentation ({rut.state.content})")
    await host.until("ROOM A", lambda x: x["presenting"], 30, what="presenting")
    await wait_for(lambda: slide_read_back(viewer.picture("ROOM A")), 60,
                   "a legible 1080p slide from the room", interval=0.5)
    assert not rut.state.camera_on  # the content is not the camera

    # holding it again stops (once the first hold is let go: a press needs an edge)
    await rut.released("camera")
    rut.press("camera", hold_s=2.0)
    await wait_for(lambda: not rut.state.content.wanted, 10,
                   f"the long press to be taken ({rut.state.content}, "
                   f"{rut.app.controls.presses if rut.app.controls else None})")
    await host.until("ROOM A", lambda x: not x["presenting"], 30, what="stopped by the button")
    await wait_for(lambda: not source.running, 10, "capture to stop")

    # plugging the laptop in during the meeting presents; unplugging stops
    source.unplug()
    await wait_for(lambda: not rut.state.content.plugged, 10, "unplugged")
    viewer.forget()
    source.plug_in()
    await host.until("ROOM A", lambda x: x["presenting"], 30, what="presenting on plugging in")
    await wait_for(lambda: slide_read_back(viewer.picture("ROOM A")), 60,
                   "a legible slide after plugging in", interval=0.5)
    source.unplug()
    await host.until("ROOM A", lambda x: not x["presenting"], 30, what="stopped by unplugging")
    await wait_for(lambda: not source.running, 10, "capture to stop after unplugging")
    assert not rut.state.content.wanted


CONTENT_RECEIVED = """async () => {  // the content this page decodes, at its PeerConnection
  const c = window.salon.conference;
  if (!c.subPc) return null;
  const mids = new Set(c.streams.filter((s) => s.source === "content" && s.kind === "video")
    .map((s) => s.mid));
  let frames = 0, width = 0, height = 0;
  (await c.subPc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video" && mids.has(r.mid)) {
      frames += r.framesDecoded || 0;
      width = Math.max(width, r.frameWidth || 0);
      height = Math.max(height, r.frameHeight || 0);
    }
  });
  return {frames, width, height};
}"""


async def full_size_content(page: Page) -> dict[str, Any] | None:
    stats = await page.evaluate(CONTENT_RECEIVED)
    ok = stats and stats["frames"] > 0 and (stats["width"], stats["height"]) == (1920, 1080)
    return stats if ok else None


async def slide_on_page(page: Page) -> str | None:
    """The slide's large QR code, read from the content as the page shows it."""
    if await page.locator("#content video").count() == 0:
        return None
    shot = await page.locator("#content video").screenshot()
    rgb = pygame.surfarray.array3d(pygame.image.load(io.BytesIO(shot), "shot.png"))
    gray = np.ascontiguousarray(rgb.swapaxes(0, 1).mean(axis=2).astype(np.uint8))
    codes = {r.text for r in zxingcpp.read_barcodes(gray)}
    return next((c for c in codes if c.startswith("salon-slide:")), None)


async def test_a_browser_shows_the_rooms_hdmi_input_large_and_decodable(
        bridge: BridgeProcess, tmp_path: Path) -> None:
    settings = settings_from(controls_toml(bridge.url, "testbim", "ROOM A", extra=CONTENT))
    async with chromium() as browser, room_under_test(settings, tmp_path / "room") as rut:
        page = await open_room(browser, bridge.room_url("testbim"), viewport=(1600, 1000))
        try:
            await join_as_guest(page, "İzleyen Ayşe")
            await in_meeting(page)
            await wait_for(lambda: rut.state.content.present_right, 60, "the open floor's right")
            rut.press("camera", hold_s=2.0)  # present the HDMI input
            stats = await eventually(lambda: full_size_content(page), 60,
                                     what="the room's content at 1920x1080 in the browser")
            code = await eventually(lambda: slide_on_page(page), 30,
                                    what="a slide's QR code on the page")
            print(f"browser received {stats}; read {code}")
            assert code in {qr_payload(i, 4) for i in range(4)}
            box = await page.locator("#content").bounding_box()
            assert box is not None and box["width"] > 1000  # content large, people small
        finally:
            await close(page)
