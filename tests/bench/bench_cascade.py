"""One teacher to N listeners with two Janus servers (issue 19), side by side in one run:
every listener on the meeting's Janus (A) against half of them placed on a second one
(B) through a relay (bridge/janus/cascade.py). Reports each Janus's and the bridge's
CPU over the same window, what the listeners received (frames per second of the
teacher's video and audio), and the relays B holds: the cost of a listener and of a
relay at Janus, for the capacity model (docs/performance.md).

    scripts/in-netns .venv/bin/python tests/bench/bench_cascade.py [--listeners 16]
                                                                    [--seconds 20]

The teacher and the listeners are aiortc participants in this process (the teacher a
320x180 picture and a tone); their decoding shares the machine's cores with Janus, so
compare the two layouts of one run, not runs on different days. Prints a table on
stderr and one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support import cluster as cl
from tests.support.procs import BridgeProcess, RoomSpec
from tests.support.rtc_seat import Seat, seat_in

ROOM = "konferans"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


async def relays_on(janus: cl.JanusProcess) -> int:
    room = cl.JanusRoom(janus, ROOM)
    await room.open()
    try:
        return len(await room.remote_publishers())
    finally:
        await room.close()


async def layout(root: Path, listeners: int, per_server: int, seconds: float
                 ) -> dict[str, Any]:
    a, b = cl.JanusProcess(root / "janus-a"), cl.JanusProcess(root / "janus-b")
    (root / "bridge").mkdir()
    bridge = BridgeProcess(root / "bridge", room_specs=(RoomSpec(ROOM, "Büyük Sınıf"),),
                           users=(cl.HOST,),
                           janus_toml=(f'mode = "remote"\nlisteners_per_server = {per_server}\n'
                                       + a.server_toml("a") + b.server_toml("b")))
    seats: list[Seat] = []
    try:
        teacher = await seat_in(bridge, ROOM, "Öğretmen")
        seats.append(teacher)
        await teacher.rtc.publish(("audio", "video"))
        for i in range(listeners):
            seats.append(await seat_in(bridge, ROOM, f"Öğrenci {i + 1}", teacher))
        crowd = seats[1:]
        for seat in crowd:
            await seat.rtc.more(teacher.id, "video", 10, timeout=120)
        await asyncio.sleep(3)  # past the start: keyframes, jitter buffers
        pids = {"janus_a": a.pid, "janus_b": b.pid, "bridge": bridge.pid}
        before = {k: cpu_seconds(p) for k, p in pids.items()}
        frames = [(s.rtc.count(teacher.id, "video"), s.rtc.count(teacher.id, "audio"))
                  for s in crowd]
        packets = [await s.rtc.packets_received() for s in crowd]
        started = time.monotonic()
        await asyncio.sleep(seconds)
        took = time.monotonic() - started
        cpu_s = {k: cpu_seconds(p) - before[k] for k, p in pids.items()}
        cpu = {k: round(100 * v / took, 1) for k, v in cpu_s.items()}
        delivered = [await s.rtc.packets_received() - n for s, n in zip(crowd, packets,
                                                                        strict=True)]
        # Janus's CPU per packet it sent a listener (packets in, a relay's and the
        # RTCP are in that CPU too: an upper bound, for the capacity model).
        per_packet_us = round(1e6 * (cpu_s["janus_a"] + cpu_s["janus_b"])
                              / max(1, sum(delivered)), 1)
        fps = [(s.rtc.count(teacher.id, "video") - v) / took for s, (v, _) in zip(crowd, frames,
                                                                                    strict=True)]
        aps = [(s.rtc.count(teacher.id, "audio") - au) / took
               for s, (_, au) in zip(crowd, frames, strict=True)]
        return {"listeners": listeners, "listeners_per_server": per_server,
                "on_b": max(0, listeners + 1 - per_server), "cpu_pct": cpu,
                "relays_on_b": await relays_on(b),
                "packets_to_listeners_per_s": round(sum(delivered) / took),
                "janus_us_per_packet_out": per_packet_us,
                "video_fps_min": round(min(fps), 1),
                "video_fps_median": round(statistics.median(fps), 1),
                "audio_frames_per_s_median": round(statistics.median(aps), 1)}
    finally:
        for seat in seats:
            await seat.rtc.close()
        for proc in (bridge, b, a):
            proc.stop()


def table(rows: list[dict[str, Any]]) -> str:
    out = ["| layout | on A / on B | Janus A % | Janus B % | bridge % | relays on B "
           "| packets/s to listeners | Janus µs per packet | video fps min / median "
           "| audio frames/s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = "all on A" if r["on_b"] == 0 else "split"
        out.append(f"| {name} | {r['listeners'] - r['on_b']} / {r['on_b']} "
                   f"| {r['cpu_pct']['janus_a']} | {r['cpu_pct']['janus_b']} "
                   f"| {r['cpu_pct']['bridge']} | {r['relays_on_b']} "
                   f"| {r['packets_to_listeners_per_s']} | {r['janus_us_per_packet_out']} "
                   f"| {r['video_fps_min']} / {r['video_fps_median']} "
                   f"| {r['audio_frames_per_s_median']} |")
    return "\n".join(out)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listeners", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-cascade-") as tmp:
        # The teacher counts as a viewer of the meeting's server too (it opens media).
        for name, per_server in (("all", args.listeners + 1),
                                 ("split", args.listeners // 2 + 1)):
            print(f"-- {name}: {args.listeners} listeners, listeners_per_server = "
                  f"{per_server}", file=sys.stderr, flush=True)
            rows.append(await layout(Path(tmp) / name, args.listeners, per_server,
                                     args.seconds))
    print(table(rows), file=sys.stderr)
    print(json.dumps({"bench": "cascade", "runs": rows}))


if __name__ == "__main__":
    asyncio.run(main())
