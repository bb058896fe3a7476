"""A presentation through real parts, measured; prints JSON.

    scripts/in-netns .venv/bin/python tests/bench/bench_presentation.py [--seconds S]

A teacher's Chromium shares a 1080p tab whose slide changes 15 times a second (a QR
code, small text and a moving counter: content at its most expensive), and sends its
camera; a second participant's Chromium sends a camera too. The room appliance (this
process: aiortc, its decoders, its renderer at 1920x1080) and a viewer's Chromium (its
own browser, sending nothing) show the same: the slide large, the two people small.

Figures, side by side in one run:
- ``share_to_room_screen_s``: from the click on Ekranımı Paylaş to the first content
  frame drawn on the room's screen (and to the first on the viewer's page);
- ``room_cpu_percent`` / ``viewer_cpu_percent``: CPU time over wall time while showing it
  (100 = one core), the room's process against the viewer browser's processes;
- ``content_kbit_s``: what the content's video takes on the wire (the viewer's
  PeerConnection counts it; Janus forwards the same to every viewer), and the content's
  received size and frame rate at the room, at the viewer and as the presenter sent it
  (Chromium captures a tab only as fast as it paints it: on a loaded machine, slowly).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psutil

from appliance.content import receiver_sample
from appliance.screen.model import content_key
from tests.support.browser import chromium
from tests.support.controls_harness import (
    controls_toml,
    room_under_test,
    settings_from,
    wait_for,
)
from tests.support.meetings import join_as_guest, open_room
from tests.support.procs import BridgeProcess, RoomSpec
from tests.support.shared_slide import CONTENT_STATS, SLIDE_TITLE, open_slide

ROOM = "ders"
NO_CAMERA = """navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException("a viewer only", "NotAllowedError"));"""
SENT = """async () => {  // what the presenter's content PeerConnection sends
  const pc = window.salon.conference.contentPc;
  let frames = 0, bytes = 0;
  (await pc.getStats()).forEach((r) => {
    if (r.type === "outbound-rtp" && r.kind === "video") {
      frames += r.framesSent || 0;
      bytes += r.bytesSent || 0;
    }
  });
  return {frames, bytes};
}"""
FIFTEEN_FPS = """() => {  // the slide changes 15 times a second
  const box = document.createElement("div");
  box.style = "position:absolute;left:60px;top:900px;font-size:40px";
  document.body.append(box);
  let n = 0;
  setInterval(() => { box.textContent = `kare ${n++}`; box.style.left = `${60 + n % 800}px`; },
              1000 / 15);
}"""


def tree_cpu(root: psutil.Process) -> float:
    """CPU seconds of a process and all its descendants (those alive now)."""
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


def new_child(before: set[int]) -> psutil.Process:
    """The process this one started since ``before`` (a Playwright driver)."""
    fresh = [p for p in psutil.Process().children() if p.pid not in before]
    assert fresh, "no new Playwright driver"
    return fresh[0]


async def run(seconds: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-presentation-"))
    (tmp / "bridge").mkdir()
    bridge = await asyncio.to_thread(BridgeProcess, tmp / "bridge",
                                     room_specs=[RoomSpec(ROOM, "Ders", moderated=False)])
    try:
        text = controls_toml(bridge.url, ROOM, "SINIF 9-A").replace(
            "width = 640\nheight = 360", "width = 1920\nheight = 1080")
        async with room_under_test(settings_from(text), tmp / "room") as rut, \
                chromium(share_tab_titled=SLIDE_TITLE) as people:
            app = rut.app
            await wait_for(lambda: app.state.connection == "in_meeting", 30, "the meeting")
            before = {p.pid for p in psutil.Process().children()}
            async with chromium() as viewers:
                driver = new_child(before)
                viewer = await open_room(viewers, bridge.room_url(ROOM))
                await viewer.add_init_script(NO_CAMERA)
                await viewer.reload()
                await join_as_guest(viewer, "İZLEYİCİ – ANKARA")
                teacher = await open_room(people, bridge.room_url(ROOM))
                student = await open_room(people, bridge.room_url(ROOM))
                for page, name in ((teacher, "AYLA ÖĞRETMEN – ANKARA"),
                                   (student, "ALİ VELİ – ANKARA")):
                    # no fake media prompt with an automatic tab share: grant instead
                    await page.context.grant_permissions(["camera", "microphone"])
                    await join_as_guest(page, name)
                slide = await open_slide(teacher)
                await slide.evaluate(FIFTEEN_FPS)
                await wait_for(lambda: len(app.receivers.frames_by_participant()) >= 2, 30,
                               "two people on the room's screen")
                clicked = time.monotonic()
                await teacher.get_by_role("button", name="Share my screen").click()
                presenter = await wait_for(lambda: app.state.content_from, 30, "presenting")
                key = content_key(presenter)
                await wait_for(lambda: key in app.renderer._versions, 30, "room's screen")
                await slide.bring_to_front()  # a tab in the background is barely painted
                room_after = time.monotonic() - clicked
                await viewer.wait_for_function(
                    "() => document.querySelector('#content video')?.videoWidth > 0")
                viewer_after = time.monotonic() - clicked
                slot = app.receivers.frames_by_participant()[key]
                await wait_for(lambda: slot.size == (1920, 1080), 30, "1080p at the room")
                await asyncio.sleep(3)  # settle
                frames0, stats0 = slot.frames_received, await viewer.evaluate(CONTENT_STATS)
                sent0 = await teacher.evaluate(SENT)
                receiver = app.receivers.content_receiver
                assert receiver is not None
                link0 = await receiver_sample(receiver)
                room0, viewer0, t0 = time.process_time(), tree_cpu(driver), time.monotonic()
                await asyncio.sleep(seconds)
                wall = time.monotonic() - t0
                room_cpu = time.process_time() - room0
                viewer_cpu = tree_cpu(driver) - viewer0
                stats1 = await viewer.evaluate(CONTENT_STATS)
                sent1 = await teacher.evaluate(SENT)
                # a receiver rebuilt meanwhile (a new subscription) counts from zero again
                same = receiver is app.receivers.content_receiver
                link1 = await receiver_sample(receiver) if same else None
                frames = slot.frames_received - frames0
    finally:
        bridge.stop()
    return {
        "share_to_room_screen_s": round(room_after, 2),
        "share_to_viewer_page_s": round(viewer_after, 2),
        "content_received_at_room": list(slot.size or ()),
        "content_fps_at_room": round(frames / wall, 1),
        "room_cpu_percent": round(100 * room_cpu / wall, 1),
        "viewer_cpu_percent": round(100 * viewer_cpu / wall, 1),
        "content_kbit_s": round(8 * (stats1["bytes"] - stats0["bytes"]) / wall / 1000, 1),
        "content_fps_at_viewer": round((stats1["frames"] - stats0["frames"]) / wall, 1),
        "content_fps_sent": round((sent1["frames"] - sent0["frames"]) / wall, 1),
        "room_content_packets": None if not (link0 and link1) else {
            "received": link1.received - link0.received, "lost": link1.lost - link0.lost},
        "room_content_starved": app.state.content_starved,
        "seconds": round(wall, 1),
        "cores": os.cpu_count(),
        "load_1min": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    result = asyncio.run(run(args.seconds))
    print(json.dumps(result, ensure_ascii=False), file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
