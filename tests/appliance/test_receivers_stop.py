"""Stopping the room's receivers while its streams change (Ctrl-C as the PeerConnections
close): every slot stops and nothing raises. It once raised "dictionary changed size
during iteration" from the room's shutdown (a stressed `make test`, test_demo.py)."""

from __future__ import annotations

import asyncio

from aiortc import VideoStreamTrack

from appliance.app import Receivers
from appliance.devices.audio import NullSpeaker
from appliance.media.audio import RemoteAudioMixer
from appliance.media.slots import FrameSlot


async def test_receivers_stop_every_slot_while_the_streams_go() -> None:
    receivers = Receivers(RemoteAudioMixer(NullSpeaker()))
    slots = [FrameSlot(VideoStreamTrack(), name=f"p{i}") for i in range(3)]
    for slot in slots:
        slot.start()
        receivers.slots[slot.track] = slot
    for _ in range(100):  # running: each has taken a frame (at most 10 s on a busy machine)
        if all(slot.frames_received > 0 for slot in slots):
            break
        await asyncio.sleep(0.1)
    assert all(slot.frames_received > 0 for slot in slots)
    # the PeerConnections close meanwhile: the bridge's last update says no streams
    asyncio.get_running_loop().call_soon(receivers.update, [])
    await receivers.stop()
    assert receivers.slots == {}
    stopped_at = [slot.frames_received for slot in slots]
    await asyncio.sleep(0.2)  # a running slot takes a frame every 33 ms
    assert [slot.frames_received for slot in slots] == stopped_at
