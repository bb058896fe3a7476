"""A call across the small internet of tests/support/netlab.py, direct and relayed:
start-up, glass-to-glass, audio concealment and the server's CPU on each path.

    scripts/in-netns .venv/bin/python tests/bench/bench_deployment.py [--steady S]
        [--latency S] [--settle S]

The deployment of tests/e2e/test_deployment.py: the bridge over HTTPS with its Janus
and coturn on the server node, a laptop's Chromium behind the home NAT publishing the
test pattern (bench_call.py's page), the room appliance behind the school's NAT
(at the unit's nice value). Two runs of the same room, the laptop staying in:

- `direct`: the school lets UDP out; the room's media goes straight to Janus;
- `turn_tls`: the school lets only TCP 443 out; the room's media goes through coturn
  over TLS on 443 (its /healthz `media_path` says which, and is recorded).

For each: `start_to_first_remote_frame_s` (appliance launched → its screen shows the
laptop's video), `start_to_seen_in_page_s` (→ the laptop decodes the room's video);
glass-to-glass both ways (bench_call.latency: the pattern's timestamps); audio
concealment at each receiver over the steady window (the room's mixer `concealed_ms`,
the page's `concealedSamples` of the room's audio); and CPU (user+system over wall, %
of one core) of coturn, Janus, the bridge and the appliance over that window, with
what coturn relayed for the room (Mbit/s, from its own accounting when the room left).

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

import psutil
from playwright.async_api import Page

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import bench_call as bc
from tests.support import netlab
from tests.support.deployment import LabAppliance, SchoolServer, home_chromium

PAGE_AUDIO = """async (name) => {
  const conf = window.salon.conference;
  const fig = [...document.querySelectorAll('figure[data-participant]')]
      .find(f => f.querySelector('figcaption').textContent === name);
  const stream = fig && fig.querySelector('video').srcObject;
  const ids = new Set(stream ? stream.getAudioTracks().map(t => t.id) : []);
  for (const s of (await conf.subPc.getStats()).values()) {
    if (s.type === 'inbound-rtp' && s.kind === 'audio' && ids.has(s.trackIdentifier))
      return {concealed: s.concealedSamples, total: s.totalSamplesReceived,
              lost: s.packetsLost, received: s.packetsReceived};
  }
  return null;
}"""


def cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def mixer(appliance: LabAppliance) -> dict[str, Any]:
    return dict(bc.health(appliance).get("audio", {}).get("mixer", {}))


async def steady(page: Page, appliance: LabAppliance, server: SchoolServer,
                 seconds: float) -> dict[str, Any]:
    pids = {"coturn": server.coturn.pid, "janus": server.janus_pid(),
            "bridge": server.bridge.pid, "appliance": appliance.pid}
    cpu0 = {name: cpu_s(pid) for name, pid in pids.items()}
    mix0, page0, t0 = mixer(appliance), await page.evaluate(PAGE_AUDIO, bc.APPLIANCE_NAME), \
        time.monotonic()
    await asyncio.sleep(seconds)
    wall = time.monotonic() - t0
    mix1, page1 = mixer(appliance), await page.evaluate(PAGE_AUDIO, bc.APPLIANCE_NAME)
    cpu = {name: round(100 * (cpu_s(pid) - cpu0[name]) / wall, 1) for name, pid in pids.items()}
    at_room = None
    if mix0 and mix1:
        at_room = round(100 * (mix1["concealed_ms"] - mix0["concealed_ms"]) / (wall * 1000), 2)
    at_page = None
    if page0 and page1 and page1["total"] > page0["total"]:
        at_page = round(100 * (page1["concealed"] - page0["concealed"])
                        / (page1["total"] - page0["total"]), 2)
    return {"cpu_percent": cpu, "audio_concealed_percent": {
        "at_room": at_room, "at_laptop": at_page}, "window_s": round(wall, 1)}


async def one_path(name: str, lab: netlab.Lab, server: SchoolServer, page: Page, tmp: Path,
                   args: argparse.Namespace) -> dict[str, Any]:
    bc.log(f"[{name}] launching the appliance")
    launched = time.time()
    appliance = LabAppliance(lab, server, tmp / name, bc.APPLIANCE_NAME, room=bc.ROOM,
                             tone_hz=1000.0, nice=args.appliance_nice)
    with bc.stopping(appliance):
        first = await bc.poll(lambda: bc.diagnostics(appliance).get(
            "first_remote_frame_shown_at"), 90, "the appliance showing the laptop")
        start_s = round(float(first) - launched, 2)
        for _ in range(240):
            if await bc.frames_in_page(page) > bc.FPS:
                break
            await asyncio.sleep(0.25)
        in_page_s = round(time.time() - launched, 2)
        path = bc.health(appliance).get("media_path")
        bc.log(f"[{name}] media after {start_s} s at the room, {in_page_s} s at the laptop; "
               f"path {path}")
        await asyncio.sleep(args.settle)
        resources = await steady(page, appliance, server, args.steady)
        lat = await bc.latency(page, appliance, args.latency)
        seat = await page.evaluate("""(name) => {
          for (const p of window.salon.conference.participants.values())
            if (p.name === name) return p.id;
          return null; }""", bc.APPLIANCE_NAME)
        lived = time.time() - launched
    relayed = None
    if seat is not None and name != "direct":
        await asyncio.sleep(2)  # coturn accounts for an allocation when it closes
        mine = server.coturn.allocations_of(str(seat))
        relayed = {"to_janus_mbit_s": round(8 * sum(a["to_peers"] for a in mine) / lived / 1e6,
                                            2),
                   "from_janus_mbit_s": round(8 * sum(a["from_peers"] for a in mine) / lived
                                              / 1e6, 2),
                   "over_tls": all(a["tls"] for a in mine if a["to_peers"])}
    return {"start_to_first_remote_frame_s": start_s, "start_to_seen_in_page_s": in_page_s,
            "media_path": path, **resources, "relayed_by_coturn": relayed,
            "glass_to_glass_ms": {
                "room_to_laptop": lat["appliance_to_browser_ms"],
                "laptop_to_room": lat["browser_to_appliance_ms"]}}


async def run(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    lab = netlab.small_internet(tmp / "lab")
    try:
        bc.log("starting the bridge, Janus and coturn on the server")
        server = SchoolServer(lab, tmp / "server", room=bc.ROOM)
        with bc.stopping(server.bridge, server.coturn):
            async with home_chromium(lab, server, tmp) as browser:
                page = await bc.join_ticking(browser, server, bc.BROWSER_NAME,  # type: ignore[arg-type]
                                             bc.PAGE_TICK, pattern=True)
                results = {"direct": await one_path("direct", lab, server, page, tmp, args)}
                netlab.block_udp_and_all_but_https(lab["school-router"])
                results["turn_tls"] = await one_path("turn_tls", lab, server, page, tmp, args)
                results["udp_packets_dropped_at_school"] = netlab.udp_dropped(
                    lab["school-router"])
    finally:
        lab.close()
    return results


def table(result: dict[str, Any]) -> str:
    rows = [f"{'':32}{'direct':>14}{'TURN/TLS':>14}"]

    def row(label: str, get: Any) -> None:
        values = []
        for key in ("direct", "turn_tls"):
            try:
                values.append(get(result[key]))
            except (KeyError, TypeError):
                values.append(None)
        rows.append(f"{label:32}" + "".join(f"{'-' if v is None else v:>14}" for v in values))

    row("start → media at room (s)", lambda r: r["start_to_first_remote_frame_s"])
    row("start → media at laptop (s)", lambda r: r["start_to_seen_in_page_s"])
    row("room→laptop p50 (ms)", lambda r: r["glass_to_glass_ms"]["room_to_laptop"]["p50"])
    row("laptop→room p50 (ms)", lambda r: r["glass_to_glass_ms"]["laptop_to_room"]["p50"])
    row("audio concealed at room (%)", lambda r: r["audio_concealed_percent"]["at_room"])
    row("audio concealed at laptop (%)", lambda r: r["audio_concealed_percent"]["at_laptop"])
    for proc in ("coturn", "janus", "bridge", "appliance"):
        row(f"CPU {proc} (% of a core)", lambda r, p=proc: r["cpu_percent"][p])
    row("relayed to Janus (Mbit/s)",
        lambda r: r["relayed_by_coturn"]["to_janus_mbit_s"] if r["relayed_by_coturn"] else None)
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--steady", type=float, default=20.0, help="CPU/concealment window, s")
    parser.add_argument("--latency", type=float, default=15.0, help="glass-to-glass, s")
    parser.add_argument("--appliance-nice", type=int, default=-5)
    args = parser.parse_args()
    if os.environ.get("SALON_IN_NETNS") != "1":
        sys.exit("bench_deployment: run inside scripts/in-netns")
    reason = netlab.available()
    if reason:
        sys.exit(f"bench_deployment: {reason}")
    with tempfile.TemporaryDirectory(prefix="salon-bench-deploy-") as tmp:
        measured = asyncio.run(run(Path(tmp), args))
    result = {"benchmark": "deployment", "machine": platform.machine(),
              "cores": os.cpu_count(), "python": platform.python_version(), **measured}
    print(table(result), file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
