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
from pathlib import Path

import av
import pytest
import zxingcpp
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from appliance.conference import client as conf
from appliance.devices.content import SimulatedContentSource
from appliance.devices.slides import fine_qr_payload, qr_payload
from tests.appliance.controls_harness import (
    RoomUnderTest,
    controls_toml,
    room_under_test,
    settings_from,
    wait_for,
)
from tests.appliance.controls_observer import Observer
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

    # holding it again stops
    rut.press("camera", hold_s=2.0)
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
