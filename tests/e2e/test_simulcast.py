"""Simulcast and layer choice through real parts (bridge, Janus, Debian's Chromium, a
simulated appliance): a browser publishes three layers; a viewer receives the layer
that fits the size it draws that video at, and switches when the tile shrinks or grows;
a room appliance whose layout gives the browser a small tile asks for the low layer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import (
    chromium,
    draw_at,
    join_room,
    sent_layers,
    tile_video_state,
    width_at,
)
from tests.support.media_files import write_solid_y4m, write_tone_wav
from tests.support.procs import Appliance, BridgeProcess, wait_until

pytestmark = [pytest.mark.netns, pytest.mark.slow]
SENDER, VIEWER, ROOM_NAME = "Simulcast Sender", "Viewer", "SMALL SCREEN ROOM"



async def test_a_viewer_gets_the_layer_that_fits_its_tile_and_switches_with_it(
        bridge: BridgeProcess, tmp_path: Path) -> None:
    camera = write_solid_y4m(tmp_path / "hd.y4m", (40, 160, 220), 1280, 720, frames=10)
    tone = write_tone_wav(tmp_path / "tone.wav", 440)
    async with chromium(video=camera, audio=tone) as browser:
        sender = await join_room(browser, bridge.room_url("testbim"), SENDER)
        viewer = await join_room(browser, bridge.room_url("testbim"), VIEWER)
        for _ in range(160):  # the sender's tile at the viewer, with pictures
            state = await tile_video_state(viewer, SENDER)
            if state and state["frames"] > 0:
                break
            await asyncio.sleep(0.25)
        layers: dict[str, Any] = {}
        for _ in range(80):
            layers = await sent_layers(sender)
            if len([r for r in layers.values() if r["frames"] > 0]) == 3:
                break
            await asyncio.sleep(0.25)
        assert sorted(layers) == ["h", "l", "m"], layers
        assert sorted(r["width"] for r in layers.values()) == [320, 640, 1280], layers
        assert await draw_at(viewer, SENDER, 120) <= 240  # a tile of a full grid
        await width_at(viewer, SENDER, 320, 60)

        await draw_at(viewer, SENDER, 600)  # the active speaker's large tile
        await width_at(viewer, SENDER, 1280)
        await draw_at(viewer, SENDER, 360)
        await width_at(viewer, SENDER, 640)
        assert await draw_at(viewer, SENDER, 120) <= 240  # a tile of a full grid
        await width_at(viewer, SENDER, 320)


async def test_a_room_whose_layout_draws_the_browser_small_asks_for_the_low_layer(
        bridge: BridgeProcess, tmp_path: Path) -> None:
    camera = write_solid_y4m(tmp_path / "hd.y4m", (40, 160, 220), 1280, 720, frames=10)
    tone = write_tone_wav(tmp_path / "tone.wav", 440)
    room = Appliance(tmp_path, bridge, ROOM_NAME, display=(640, 360))
    try:
        await asyncio.to_thread(room.wait_in_meeting, 60)
        async with chromium(video=camera, audio=tone) as browser:
            await join_room(browser, bridge.room_url("testbim"), SENDER)

            def received_width() -> int:
                return int(((room.video_from(SENDER) or {}).get("size") or [0])[0])

            await asyncio.to_thread(wait_until, lambda: received_width() == 320, 60,
                                    "the room receiving the low layer for its small tile")
    finally:
        room.stop()
