"""How many bridge processes, PostgreSQL cores and Janus servers a number of concurrent
classrooms needs (issue 19), from the signalling bench's measured CPU per part.

    .venv/bin/python tests/bench/capacity_model.py RESULTS.json [RESULTS.json ...]
        [--processes 1] [--class-size 31] [--actions 0.2] [--broadcasts 1.0]
        [--join-window 120] [--busy 0.7] [--video-mbit 1.5] [--janus-nic-mbit 9000]
        [--video-pps 200] [--audio-pps 50] [--janus-us-per-packet 43] [--janus-cores 8]

RESULTS.json: the stdout (or the stderr's `RESULT` lines) of
`tests/bench/bench_signalling.py --sizes 500,2000 --processes K` (several files are
merged). From the runs with ``--processes`` K at two sizes N1 < N2 it solves, per
bridge process (all CPU seconds summed over processes):

- joining: N joins into one room cost  N·j0 + j1·N²/2  (a welcome carries everyone
  present, and every arrival is broadcast to everyone present);
- chatting: M messages delivered to N each cost  M·a + M·N·d  (a: the action — room
  lock, numbered event, rate bucket; d: one delivery);
- PostgreSQL: its CPU per join and per action, from the same runs;
- e: what an event costs each further process that applies it from the bus: from
  `tests/bench/bench_classes.py` results if given (the bridges' chat CPU with round robin
  beyond that with room affinity, per event and further process: a direct measurement),
  else from the signalling run with the most processes (its chat CPU beyond the
  one-process run's: a difference of two noisy totals).

A classroom of S members then costs, per second of a lesson: A·a + B·S·d + (A+B)·(k-1)·e
(A actions/s such as a hand, a chat line or a right; B broadcasts/s, talking changes
included; k = min(processes, S), the processes its members are spread over by a
round-robin balancer, or 1 with ``--room-affinity``), and
its arrival S·j0 + j1·S²/2 spread over the join window (everyone arrives within it at
the start of the hour). A process is given ``--busy`` of a core (headroom for bursts).

Janus: the teacher's camera and microphone forwarded to S - 1 listeners and one speaking
student's microphone to S - 1: (S - 1)·(video + 2 audio) packets/s out per class, bounded
by the NIC (video at ``--video-mbit``) and by CPU at ``--janus-us-per-packet`` (default
from docs/performance.md's two-party 720p call on this machine: Janus at 4.3 % of a core
for ~1 000 packets/s in and out, i.e. ~43 µs a packet — an upper bound from a loaded
2-core VM; measure the servers you buy). With several bridge processes rooms are placed
on Janus servers by rendezvous hashing, not by load (docs/architecture.md): the servers
are counted so that the fullest one fits, the fullest being the 98th percentile over 200
draws of the classes spread uniformly at random (what a hash of room addresses does).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

CHAT_MESSAGES = 200  # bench_signalling.py: CHATTERS × CHAT_EACH


def results(paths: list[str]) -> list[dict[str, Any]]:
    """Every result line of the benches' outputs (stderr `RESULT` lines or stdout)."""
    found: list[dict[str, Any]] = []
    for path in paths:
        for line in Path(path).read_text().splitlines():
            if line.startswith("RESULT "):  # the bench's stderr, one result a line
                found.append(json.loads(line[len("RESULT "):]))
            elif line.startswith('{"benchmark"'):  # its stdout's last line
                found += json.loads(line)["results"]
    return found


def load(paths: list[str]) -> dict[tuple[int, int], dict[str, Any]]:
    """The signalling bench's results by (bridge processes, N)."""
    return {(int(r.get("processes", 0)), int(r["n"])): r
            for r in results(paths) if "n" in r}


def event_cost_from_classes(paths: list[str]) -> float | None:
    """e from bench_classes.py: round robin's chat CPU beyond room affinity's (means over
    its rounds), per event sent and per further process a class was spread over."""
    by_mode: dict[str, list[dict[str, Any]]] = {}
    for r in results(paths):
        if "mode" in r:
            by_mode.setdefault(r["mode"], []).append(r)
    if not by_mode.get("round-robin") or not by_mode.get("affinity"):
        return None

    def mean(mode: str, key: str) -> float:
        return sum(float(get(r, key)) for r in by_mode[mode]) / len(by_mode[mode])

    def get(r: dict[str, Any], key: str) -> float:
        return float(r["cpu_s_chat"].get("bridges", 0.0)) if key == "cpu" else float(r[key])

    extra = mean("round-robin", "cpu") - mean("affinity", "cpu")
    further = (mean("round-robin", "processes_per_class_mean")
               - mean("affinity", "processes_per_class_mean"))
    return max(0.0, extra / (mean("round-robin", "chat_sent") * further))


def solve(runs: dict[tuple[int, int], dict[str, Any]], processes: int) -> dict[str, float]:
    """Per-join and per-delivery coefficients from the smallest and largest N run with
    ``processes`` bridges; the cost of an event at each further process that applies it
    from the bus, from the run with the most processes at the largest N."""
    by_n = {n: r for (k, n), r in runs.items() if k == processes}
    if len(by_n) < 2:
        sys.exit(f"need results at two sizes with --processes {processes}, have {sorted(by_n)}")
    n1, n2 = min(by_n), max(by_n)
    r1, r2 = by_n[n1], by_n[n2]
    cpu = {n: r["cpu_s_joining"].get("bridges", 0.0) for n, r in ((n1, r1), (n2, r2))}
    # cpu(n) = n·j0 + j1·n²/2  →  two equations, two unknowns
    j1 = 2 * (cpu[n2] / n2 - cpu[n1] / n1) / (n2 - n1)
    j0 = cpu[n1] / n1 - j1 * n1 / 2
    chat = {n: r["cpu_s_chat"].get("bridges", 0.0) for n, r in ((n1, r1), (n2, r2))}
    delivered = {n: r["chat_messages_delivered"] for n, r in ((n1, r1), (n2, r2))}
    d = (chat[n2] - chat[n1]) / (delivered[n2] - delivered[n1])
    a = max(0.0, (chat[n1] - delivered[n1] * d) / CHAT_MESSAGES)
    pg_join = r2["cpu_s_joining"].get("postgresql", 0.0) / n2
    pg_action = r2["cpu_s_chat"].get("postgresql", 0.0) / CHAT_MESSAGES
    most = max((k for k, n in runs if n == n2 and k > processes), default=None)
    e = 0.0
    if most is not None:
        extra = runs[(most, n2)]["cpu_s_chat"].get("bridges", 0.0) - chat[n2]
        e = max(0.0, extra / (CHAT_MESSAGES * (most - processes)))
    return {"j0": j0, "j1": j1, "a": a, "d": d, "e": e, "pg_join": pg_join,
            "pg_action": pg_action, "n1": n1, "n2": n2}


def plan(c: dict[str, float], classes: int, args: argparse.Namespace) -> dict[str, Any]:
    s = args.class_size
    arrival = (s * c["j0"] + c["j1"] * s * s / 2) / args.join_window
    processes = 1
    for _ in range(20):  # a class's members land on up to min(P, S) processes (no stickiness)
        spread = 1 if args.room_affinity else min(processes, s)
        events = args.actions + args.broadcasts
        steady = (args.actions * c["a"] + args.broadcasts * s * c["d"]
                  + events * (spread - 1) * c["e"])  # core·s per s, per class
        per_class = steady + arrival
        needed = max(1, math.ceil(classes * per_class / args.busy))
        if needed == processes:
            break
        processes = needed
    pg = classes * (args.actions * c["pg_action"] + s * c["pg_join"] / args.join_window)
    packets = (s - 1) * (args.video_pps + 2 * args.audio_pps)  # per class, per second
    by_nic = args.janus_nic_mbit / ((s - 1) * args.video_mbit)  # classes a server carries
    by_cpu = args.janus_cores * args.busy / (packets * args.janus_us_per_packet * 1e-6)
    nic_servers, nic_spread = hashed_servers(classes, by_nic)
    cpu_servers, _ = hashed_servers(classes, by_cpu)
    return {"classes": classes, "bridge_core_per_class": round(per_class, 5),
            "bridge_processes": processes, "postgresql_cores": round(pg, 2),
            "janus_servers": max(nic_servers, cpu_servers), "janus_by_nic": nic_servers,
            "janus_by_cpu": cpu_servers, "janus_fullest_over_mean_by_nic": nic_spread}


def hashed_servers(classes: int, per_server: float) -> tuple[int, float]:
    """The fewest servers whose fullest (98th percentile of 200 uniform spreads) carries
    at most ``per_server`` classes; and that fullest over the mean."""
    rng = np.random.default_rng(19)
    servers = max(1, math.ceil(classes / per_server))
    while True:
        fullest = float(np.percentile(rng.multinomial(
            classes, [1 / servers] * servers, size=200).max(axis=1), 98))
        if fullest <= per_server or servers >= classes:
            return servers, round(fullest * servers / classes, 3)
        servers += 1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", nargs="+")
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--classes", default="100,1000,5000,20000")
    ap.add_argument("--class-size", type=int, default=31)
    ap.add_argument("--actions", type=float, default=0.2, help="per class per second")
    ap.add_argument("--broadcasts", type=float, default=1.0, help="per class per second")
    ap.add_argument("--join-window", type=float, default=120.0, help="seconds")
    ap.add_argument("--room-affinity", action="store_true",
                    help="the balancer sends a room's members to one process")
    ap.add_argument("--busy", type=float, default=0.7, help="share of a core to plan for")
    ap.add_argument("--video-mbit", type=float, default=1.5)
    ap.add_argument("--janus-nic-mbit", type=float, default=9000.0)
    ap.add_argument("--video-pps", type=float, default=200.0)
    ap.add_argument("--audio-pps", type=float, default=50.0)
    ap.add_argument("--janus-us-per-packet", type=float, default=43.0)
    ap.add_argument("--janus-cores", type=int, default=8)
    args = ap.parse_args()
    coefficients = solve(load(args.results), args.processes)
    measured_e = event_cost_from_classes(args.results)
    if measured_e is not None:
        coefficients["e"] = measured_e
    print(json.dumps({k: (round(v, 7) if isinstance(v, float) else v)
                      for k, v in coefficients.items()}))
    for classes in (int(x) for x in args.classes.split(",")):
        print(json.dumps(plan(coefficients, classes, args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
