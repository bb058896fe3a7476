"""Many classrooms on several bridge processes behind HAProxy, side by side in one run:
the balancer dealing sockets out in turn (round robin) against keeping each room's
people on one process (room affinity: the clients name their room in the socket's
address, HAProxy hashes it; docs/deployment.md 9b). Measures what the capacity model
(tests/bench/capacity_model.py) predicts from the one-room bench: every process holding
members of a room handles each of its events, so with round robin a class costs more.

    scripts/in-netns .venv/bin/python tests/bench/bench_classes.py [--classes 16]
        [--class-size 31] [--processes 2] [--actions 1.0] [--seconds 30]
        [--modes round-robin,affinity] [--rounds 1]

Each class: ``--class-size`` guests join an open room through the proxy; then for
``--seconds`` each class sends ``--actions`` chat lines a second (from its members in
turn), every line delivered to all its members. Reported per mode: the bridges' CPU
seconds while joining and while chatting (summed, and per process), PostgreSQL's and
NATS's, the members each process held, chat delivery latency p50/p99 (sender's clock to
each receiver's) and the deliveries made. Prints a table on stderr and one JSON object as
the last line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.bench.bench_signalling import Client, CpuMeter, join
from tests.support.cluster import Cluster, bridge_cluster
from tests.support.procs import RoomSpec, UserSpec, get_json


def room_name(i: int) -> str:
    return f"sinif-{i:03d}"


def bridge_cpu(pids: list[int]) -> list[float]:
    times = [psutil.Process(pid).cpu_times() for pid in pids]
    return [t.user + t.system for t in times]


async def run_mode(c: Cluster, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    assert c.proxy is not None
    proxy = c.proxy
    pids = [b.pid for b in c.bridges]
    meter = CpuMeter(pids)

    def url(room: str) -> str:
        return proxy.room_url(room) if mode == "affinity" else proxy.ws_url

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        classes: list[list[Client]] = []
        cpu0, each0, t0 = meter.read(), bridge_cpu(pids), time.perf_counter()
        for i in range(args.classes):  # class after class, as their lessons begin
            room = room_name(i)
            classes.append(list(await asyncio.gather(*(
                join(http, url(room), f"Öğrenci {k}", room=room)
                for k in range(args.class_size)))))
        join_s = time.perf_counter() - t0
        await asyncio.sleep(2.0)  # the last arrivals' announcements settle
        rooms = [get_json(b.url + "/healthz")["rooms"] for b in c.bridges]  # per process
        held = [sum(r.values()) for r in rooms]
        spread = [sum(1 for r in rooms if r.get(room_name(i))) for i in range(args.classes)]
        cpu1, each1, t1 = meter.read(), bridge_cpu(pids), time.perf_counter()
        sent = 0
        turn = 0
        while time.perf_counter() - t1 < args.seconds:
            tick = time.perf_counter()
            for members in classes:
                sender = members[turn % len(members)]
                await sender.send({"type": "chat", "text": f"t={time.time()!r}"})
                sent += 1
            turn += 1
            await asyncio.sleep(max(0.0, 1.0 / args.actions - (time.perf_counter() - tick)))
        expected = sent * args.class_size
        deadline = time.perf_counter() + 60
        while (sum(len(m.latencies) for ms in classes for m in ms) < expected
               and time.perf_counter() < deadline):
            await asyncio.sleep(0.05)
        chat_s = time.perf_counter() - t1
        cpu2, each2 = meter.read(), bridge_cpu(pids)
        lat = sorted(x for ms in classes for m in ms for x in m.latencies)
        for ms in classes:
            for m in ms:
                m.reader.cancel()
                await m.ws.close()
    await wait_empty(c)
    return {
        "mode": mode, "classes": args.classes, "class_size": args.class_size,
        "processes": len(pids), "join_all_s": round(join_s, 2),
        "members_held": held, "processes_per_class_mean": statistics.mean(spread),
        "chat_sent": sent, "chat_expected": expected,
        "chat_delivered": sum(len(m.latencies) for ms in classes for m in ms),
        "chat_s": round(chat_s, 2),
        "latency_p50_ms": round(1000 * statistics.median(lat), 1) if lat else None,
        "latency_p99_ms": round(1000 * lat[int(0.99 * (len(lat) - 1))], 1) if lat else None,
        "cpu_s_joining": meter.spent(cpu0, cpu1), "cpu_s_chat": meter.spent(cpu1, cpu2),
        "bridge_cpu_s_chat_each": [round(b - a, 2) for a, b in zip(each1, each2, strict=True)],
        "bridge_cpu_s_joining_each": [round(b - a, 2)
                                      for a, b in zip(each0, each1, strict=True)],
    }


async def wait_empty(c: Cluster, timeout: float = 60.0) -> None:
    """Every room empty on every process before the next mode starts."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if not any(get_json(b.url + "/healthz")["rooms"] for b in c.bridges):
            return
        await asyncio.sleep(0.5)
    print("  rooms not empty after the mode", file=sys.stderr, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--classes", type=int, default=16)
    ap.add_argument("--class-size", type=int, default=31)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--actions", type=float, default=1.0, help="chat lines per class a second")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--modes", default="round-robin,affinity")
    ap.add_argument("--rounds", type=int, default=1, help="the modes, alternating, this often")
    args = ap.parse_args()
    rooms = tuple(RoomSpec(room_name(i), f"Sınıf {i}", moderated=False)
                  for i in range(args.classes))
    results = []
    with tempfile.TemporaryDirectory(prefix="salon-bench-classes-") as tmp, bridge_cluster(
            Path(tmp), rooms, args.processes,
            users=(UserSpec("host", "bench-host-password", role="host"),),
            extra='[security]\nmax_connections_per_address = 100000\n') as c:
        for _ in range(args.rounds):
            for mode in args.modes.split(","):
                r = asyncio.run(run_mode(c, mode, args))
                results.append(r)
                print(f"RESULT {json.dumps(r)}", file=sys.stderr, flush=True)
                print(f"{mode:12s} {r['classes']}×{r['class_size']} on {r['processes']}: "
                      f"join {r['join_all_s']} s, bridges CPU joining "
                      f"{r['cpu_s_joining'].get('bridges')} s, chatting "
                      f"{r['cpu_s_chat'].get('bridges')} s {r['bridge_cpu_s_chat_each']}, "
                      f"PostgreSQL {r['cpu_s_chat'].get('postgresql')} s, "
                      f"latency p50/p99 {r['latency_p50_ms']}/{r['latency_p99_ms']} ms, "
                      f"delivered {r['chat_delivered']}/{r['chat_expected']}, "
                      f"processes a class {r['processes_per_class_mean']:.2f}",
                      file=sys.stderr, flush=True)
    print(json.dumps({"benchmark": "classes", "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
