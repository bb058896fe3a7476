"""The room and a Chromium participant side by side on bad links (issue 17): for every
profile of tests/support/linkshape.py, what a viewer receives from each.

    scripts/in-netns .venv/bin/python tests/bench/bench_network.py [--profiles A,B]
        [--steady S] [--after S]

One call in the small internet (tests/support/netlab.py): the bridge over HTTPS with
its Janus on the server; the room appliance (simulated camera: the test pattern with
x264, 1280×720@30, at the unit's nice −5) behind the school's link; Debian's Chromium
at home with two pages: "Bench Browser" publishing the same test pattern from a canvas
(bench_call's init script; simulcast, as the web client publishes) and ticking audio,
and "Viewer", which receives both and draws both large (so it asks for the high
layer). Both links get the same profile at once. Per profile and sender, at the viewer:

- `fps`: frames shown per second (requestVideoFrameCallback) over the window;
- `freezes_per_min`, `freeze_total_s`: gaps between shown frames over 200 ms (the
  window's start and end count as frames: a video that stops for good is one freeze);
- `g2g_p95_ms`: glass-to-glass p95 (the pattern's time stamp read back in the page);
- `audio_concealed_percent`: Chromium's concealedSamples / totalSamplesReceived for
  that sender's audio over the window;
- `recovery_s`: for the outage, from the link's return to the first frame shown again;
  for the step, from the step back up to the first frame at full height (720);
- per profile, `ceilings`: how often the bridge moved a viewer's receive ceiling or a
  publisher's send ceiling down (loss) and up (quiet), from its log (docs/protocol.md).

Prints a table on stderr and one JSON object as the last line of stdout. Numbers only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from playwright.async_api import Page

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import bench_call as bc
from tests.support import linkshape, netlab
from tests.support.deployment import LabAppliance, SchoolServer, home_chromium

VIEWER = "Bench Viewer"
SENDERS = (bc.APPLIANCE_NAME, bc.BROWSER_NAME)
FREEZE_MS = 200

RECORD = """async ([names, ms]) => {
  const { readVideoTimestamp } = await import('/static/testpattern.js');
  const tiles = {};
  for (const fig of document.querySelectorAll('figure[data-participant]')) {
    const name = fig.querySelector('figcaption').textContent;
    if (names.includes(name)) tiles[name] = fig.querySelector('video');
  }
  const out = {};
  const end = performance.now() + ms;
  await Promise.all(Object.entries(tiles).map(([name, video]) => new Promise((resolve) => {
    const frames = out[name] = [];
    const onFrame = () => {
      const at = Date.now();
      const t = readVideoTimestamp(video, 640, 360);
      frames.push([at, video.videoWidth, video.videoHeight, t === null ? null : at - t]);
      if (performance.now() < end) video.requestVideoFrameCallback(onFrame);
      else resolve();
    };
    video.requestVideoFrameCallback(onFrame);
    setTimeout(resolve, ms + 2000);  // a video that never shows a frame again
  })));
  return out;
}"""

AUDIO = """async (names) => {
  const conf = window.salon.conference;
  const out = {};
  for (const fig of document.querySelectorAll('figure[data-participant]')) {
    const name = fig.querySelector('figcaption').textContent;
    if (!names.includes(name)) continue;
    const stream = fig.querySelector('video').srcObject;
    const ids = new Set(stream ? stream.getAudioTracks().map(t => t.id) : []);
    for (const s of (await conf.subPc.getStats()).values())
      if (s.type === 'inbound-rtp' && s.kind === 'audio' && ids.has(s.trackIdentifier))
        out[name] = [s.concealedSamples || 0, s.totalSamplesReceived || 0];
  }
  return out;
}"""

DRAW_LARGE = """(names) => {
  for (const fig of document.querySelectorAll('figure[data-participant]')) {
    if (!names.includes(fig.querySelector('figcaption').textContent)) continue;
    const video = fig.querySelector('video');
    video.style.height = '600px';
    video.style.width = '1067px';
  }
}"""


def figures(frames: list[list[Any]], start_ms: float, window_s: float,
            back_at_ms: float | None, full_height: bool) -> dict[str, Any]:
    # the window's start and end count as shown pictures: a video that stops for good
    # (or never starts) is one long freeze, not none
    times = np.array([start_ms, *(f[0] for f in frames), start_ms + window_s * 1000], float)
    gaps = np.diff(times)
    freezes = gaps[gaps > FREEZE_MS]
    g2g = [f[3] for f in frames if f[3] is not None and 0 <= f[3] < 10_000]
    recovery = None
    if back_at_ms is not None:
        after = [f for f in frames if f[0] >= back_at_ms and (not full_height or f[2] >= 720)]
        recovery = round((after[0][0] - back_at_ms) / 1000, 2) if after else None
    return {"fps": round(len(frames) / window_s, 1),
            "freezes_per_min": round(len(freezes) * 60 / window_s, 1),
            "freeze_total_s": round(float(freezes.sum()) / 1000, 2),
            "g2g_p95_ms": round(float(np.percentile(g2g, 95)), 1) if g2g else None,
            "recovery_s": recovery,
            "heights": sorted({int(f[2]) for f in frames})}


async def measure(profile: linkshape.Profile, net: linkshape.ShapedInternet, viewer: Page,
                  steady_s: float, after_s: float) -> dict[str, Any]:
    window_s = (profile.seconds + after_s) if len(profile.phases) > 1 else steady_s
    audio0 = await viewer.evaluate(AUDIO, list(SENDERS))
    recording = asyncio.ensure_future(viewer.evaluate(RECORD, [list(SENDERS), window_s * 1000]))
    start_ms = time.time() * 1000
    net.play(profile)
    frames = await recording
    audio1 = await viewer.evaluate(AUDIO, list(SENDERS))
    net.set(linkshape.Shape())
    back_at_ms = full = None
    if profile.name == "outage_10s":
        back_at_ms, full = start_ms + profile.phases[2].at_s * 1000, False
    elif profile.name == "step_down_up":
        back_at_ms, full = start_ms + profile.phases[2].at_s * 1000, True
    out = {}
    for name in SENDERS:
        fig = figures(frames.get(name, []), start_ms, window_s, back_at_ms, bool(full))
        a0, a1 = audio0.get(name, [0, 0]), audio1.get(name, [0, 0])
        fig["audio_concealed_percent"] = (round(100 * (a1[0] - a0[0]) / (a1[1] - a0[1]), 2)
                                          if a1[1] > a0[1] else None)
        out["room" if name == bc.APPLIANCE_NAME else "chromium"] = fig
    out["window_s"] = window_s
    return out


async def run(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    net = linkshape.shaped_small_internet(tmp / "lab")
    results: dict[str, Any] = {}
    try:
        server = SchoolServer(net.lab, tmp / "server", room=bc.ROOM)
        with bc.stopping(server.bridge, server.coturn):
            room = LabAppliance(net.lab, server, tmp / "room", bc.APPLIANCE_NAME, room=bc.ROOM,
                                tone_hz=1000.0, nice=args.appliance_nice)
            with bc.stopping(room):
                await bc.poll(lambda: room.health()["meeting"]["state"] == "in_meeting", 90,
                              "the room in the meeting")
                async with home_chromium(net.lab, server, tmp) as browser:
                    await bc.join_ticking(browser, server, bc.BROWSER_NAME,  # type: ignore[arg-type]
                                          bc.PAGE_TICK, pattern=True)
                    viewer = await bc.join_ticking(browser, server, VIEWER,  # type: ignore[arg-type]
                                                   bc.PEER_TICK, pattern=False)
                    for _ in range(240):
                        got = await viewer.evaluate(
                            "() => document.querySelectorAll('figure[data-participant] "
                            "video').length")
                        if got >= 2:
                            break
                        await asyncio.sleep(0.25)
                    await viewer.evaluate(DRAW_LARGE, list(SENDERS))
                    await asyncio.sleep(args.settle)
                    for name in args.profiles:
                        profile = linkshape.PROFILES[name]
                        bc.log(f"profile {name}: {profile.summary}")
                        log_at = server.bridge.log_path.stat().st_size
                        results[name] = await measure(profile, net, viewer, args.steady,
                                                      args.after)
                        results[name]["ceilings"] = ceiling_moves(server.bridge.log_path,
                                                                  log_at)
                        results[name]["room_send"] = room.health().get("send")
                        await asyncio.sleep(args.settle)  # back on a clean link
    finally:
        net.close()
    return results


def ceiling_moves(log: Path, since: int) -> dict[str, int]:
    """The bridge's ceiling moves logged after byte ``since`` (bridge/janus/layers.py)."""
    with log.open("rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    moves = {"receive_down": 0, "receive_up": 0, "send_down": 0, "send_up": 0}
    for line in text.splitlines():
        for kind in ("receive", "send"):
            if f"{kind} ceiling" in line:
                moves[f"{kind}_{'down' if 'lose' in line or 'loss' in line else 'up'}"] += 1
    return moves


def table(results: dict[str, Any]) -> str:
    rows = [f"{'profile':20}{'who':10}{'fps':>6}{'frz/min':>8}{'frz s':>7}{'g2g p95':>9}"
            f"{'concealed%':>11}{'recovery s':>11}  heights"]
    for name, r in results.items():
        for who in ("room", "chromium"):
            f = r[who]
            rows.append(f"{name:20}{who:10}{f['fps']:>6}{f['freezes_per_min']:>8}"
                        f"{f['freeze_total_s']:>7}{f['g2g_p95_ms']!s:>9}"
                        f"{f['audio_concealed_percent']!s:>11}{f['recovery_s']!s:>11}  "
                        f"{f['heights']}")
        if "ceilings" in r:
            rows.append(f"{'':20}ceilings  {r['ceilings']}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default=",".join(
        p for p in linkshape.PROFILES if p != "clean"))
    parser.add_argument("--steady", type=float, default=30.0, help="window, steady profiles")
    parser.add_argument("--after", type=float, default=20.0,
                        help="seconds measured after a profile's last phase begins")
    parser.add_argument("--settle", type=float, default=8.0)
    parser.add_argument("--appliance-nice", type=int, default=-5)
    parser.add_argument("--keep", type=Path, default=None,
                        help="run in this directory and keep it (the room's log, the bridge's)")
    args = parser.parse_args()
    args.profiles = [p for p in args.profiles.split(",") if p]
    if os.environ.get("SALON_IN_NETNS") != "1":
        sys.exit("bench_network: run inside scripts/in-netns")
    reason = netlab.available()
    if reason:
        sys.exit(f"bench_network: {reason}")
    started = time.time()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        measured = asyncio.run(run(args.keep, args))
    else:
        with tempfile.TemporaryDirectory(prefix="salon-bench-net-") as tmp:
            measured = asyncio.run(run(Path(tmp), args))
    result = {"benchmark": "network", "machine": platform.machine(), "cores": os.cpu_count(),
              "loadavg": [round(x, 2) for x in os.getloadavg()],
              "seconds": round(time.time() - started, 1), "profiles": measured}
    print(table(measured), file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
