"""Signalling capacity of bridge processes (issues 3 and 19): N protocol-only clients join
an open room, chat and answer a poll; report messages delivered per second and delivery
latency (sender's clock to each receiver's, same machine) for N = 50, 200, 500, and the
CPU each part spent in the joins and in the chat (bridges, PostgreSQL, NATS, Janus and the
bench's own client, from /proc via psutil).

    scripts/in-netns .venv/bin/python tests/bench/bench_signalling.py [--sizes 50,200,500]
        [--processes 0,1,2,3] [--profile DIR]

``--processes K``: K bridges on one PostgreSQL and NATS (0: one bridge, SQLite, embedded).
``--profile DIR``: py-spy records every bridge for the whole run (raw collapsed stacks in
DIR) and the functions its samples are in are summarised.
Prints a table on stderr and one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from tests.bench.pyspy_summary import Profiler
from tests.support.procs import BridgeProcess

CHATTERS = 40  # clients that each send CHAT_EACH messages to everyone (1/s: the rate limit)
CHAT_EACH = 5


class CpuMeter:
    """CPU seconds of this process and its descendants, by part, between two readings."""

    def __init__(self, bridges: list[int]) -> None:
        self.bridges = set(bridges)

    def part(self, proc: psutil.Process) -> str:
        if proc.pid == psutil.Process().pid:
            return "client"
        if proc.pid in self.bridges:
            return "bridges"
        name = proc.name()
        return {"postgres": "postgresql", "nats-server": "nats", "janus": "janus",
                "py-spy": "profiler"}.get(
            name, "other")

    def read(self) -> dict[int, tuple[str, float]]:
        me = psutil.Process()
        seen: dict[int, tuple[str, float]] = {}
        for proc in [me, *me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                seen[proc.pid] = (self.part(proc), times.user + times.system)
        return seen

    @staticmethod
    def spent(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
              ) -> dict[str, float]:
        parts: dict[str, float] = {}
        for pid, (part, cpu) in after.items():
            parts[part] = parts.get(part, 0.0) + cpu - before.get(pid, (part, 0.0))[1]
        return {part: round(cpu, 2) for part, cpu in sorted(parts.items())}


class Client:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.latencies: list[float] = []
        self.received = 0
        self.pid = ""
        self.polls: asyncio.Queue[int] = asyncio.Queue()
        self.results: asyncio.Queue[int] = asyncio.Queue()
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            self.received += 1
            data = json.loads(msg.data)
            kind = data.get("type")
            if kind == "chat" and data["text"].startswith("t="):
                self.latencies.append(time.time() - float(data["text"][2:]))
            elif kind == "poll" and data["state"] == "open":
                self.polls.put_nowait(data["id"])
            elif kind == "poll_results":
                self.results.put_nowait(data["total"])
            elif kind == "error":
                print(f"  refused: {data}", file=sys.stderr, flush=True)

    async def send(self, body: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(body))


async def join(http: aiohttp.ClientSession, url: str, name: str, room: str = "bench",
               **auth: str) -> Client:
    ws = await http.ws_connect(url, max_msg_size=0)
    await ws.send_str(json.dumps({"type": "join", "protocol": 1, "room": room,
                                  "client": "bot", **(auth if auth else {"name": name})}))
    while True:
        first = json.loads((await ws.receive()).data)
        if first["type"] == "welcome":
            break
    client = Client(ws)
    client.pid = first["you"]["id"]
    return client


async def run_size(urls: list[str], n: int, host_password: str, meter: CpuMeter
                   ) -> dict[str, Any]:
    """``urls``: the bridges' WebSocket URLs; clients are dealt out over them in turn."""
    # limit=0: a session's default pool holds 100 connections, and WebSockets keep theirs.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        cpu0 = meter.read()
        t0 = time.perf_counter()
        host = await join(http, urls[0], "", user="host", password=host_password)
        clients: list[Client] = []
        for start in range(0, n, 25):  # join in waves, as a class arriving
            clients += await asyncio.gather(*(join(http, urls[i % len(urls)], f"Katılımcı {i}")
                                              for i in range(start, min(n, start + 25))))
            print(f"  {len(clients)} joined after {time.perf_counter() - t0:.1f}s",
                  file=sys.stderr, flush=True)
        join_s = time.perf_counter() - t0
        await asyncio.sleep(1.0)
        cpu1 = meter.read()
        before = sum(c.received for c in clients)
        t1 = time.perf_counter()
        for _ in range(CHAT_EACH):
            await asyncio.gather(*(c.send({"type": "chat", "text": f"t={time.time()!r}"})
                                   for c in clients[:CHATTERS]))
            await asyncio.sleep(1.0)  # within the chat rate limit (1/s sustained)
        expected = CHATTERS * CHAT_EACH * n
        deadline = time.perf_counter() + 60
        while sum(len(c.latencies) for c in clients) < expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        chat_s = time.perf_counter() - t1
        cpu2 = meter.read()
        delivered = sum(c.received for c in clients) - before
        lat = sorted(x for c in clients for x in c.latencies)

        await host.send({"type": "poll_create", "id": 9001, "question": "Hazır mısınız?",
                         "options": ["Evet", "Hayır"]})
        await host.send({"type": "poll_open", "id": 9002, "poll": 1})
        # Behind a chat backlog (several processes on 2 shared cores) the poll comes late.
        poll_id = await asyncio.wait_for(clients[0].polls.get(), 120)
        t2 = time.perf_counter()
        await asyncio.gather(*(c.send({"type": "poll_answer", "poll": poll_id, "option": i % 2})
                               for i, c in enumerate(clients)))
        total = 0
        with contextlib.suppress(TimeoutError):  # reported as the count the host saw
            while total < n:
                total = await asyncio.wait_for(host.results.get(), 60)
        poll_s = time.perf_counter() - t2
        for c in [host, *clients]:
            c.reader.cancel()
            await c.ws.close()
    return {
        "n": n, "join_all_s": round(join_s, 2),
        "chat_messages_delivered": delivered, "chat_expected": expected,
        "chat_deliveries_per_s": round(delivered / chat_s, 1),
        "chat_latency_p50_ms": round(1000 * statistics.median(lat), 1) if lat else None,
        "chat_latency_p99_ms": round(1000 * lat[int(0.99 * (len(lat) - 1))], 1) if lat else None,
        "poll_all_answers_counted_s": round(poll_s, 2),
        "poll_answers_per_s": round(n / poll_s, 1) if total >= n else None,
        "poll_answers_counted": total,
        "cpu_s_joining": meter.spent(cpu0, cpu1), "cpu_s_chat": meter.spent(cpu1, cpu2),
        "chat_s": round(chat_s, 2),
    }


def run_one_process(n: int, profile: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="salon-bench-signalling-") as tmp:
        secret = Path(tmp) / "host.pw"
        secret.write_text("bench-host-password\n")
        secret.chmod(0o600)
        # All clients come from one address: lift the per-address connection cap.
        bridge = BridgeProcess(Path(tmp), rooms=[("bench", "Bench")], extra_toml=(
            '[security]\nmax_connections_per_address = 100000\n'
            f'[[users]]\nname = "host"\nrole = "host"\npassword_file = "{secret}"\n'))
        try:
            with Profiler(profile, [bridge.pid], f"n{n}-embedded"):
                return {**asyncio.run(run_size([bridge.ws_url], n, "bench-host-password",
                                               CpuMeter([bridge.pid]))), "processes": 0}
        finally:
            bridge.stop()


def run_processes(n: int, processes: int, profile: Path | None) -> dict[str, Any]:
    """Several bridge processes on one PostgreSQL, NATS and Janus (tests/support/cluster.py),
    the clients dealt out over them directly (no proxy in the measurement)."""
    from tests.support.cluster import bridge_cluster
    from tests.support.procs import RoomSpec, UserSpec
    with tempfile.TemporaryDirectory(prefix="salon-bench-cluster-") as tmp:
        host = UserSpec("host", "bench-host-password", role="host")
        with bridge_cluster(Path(tmp), (RoomSpec("bench", "Bench", moderated=False),),
                            processes, users=(host,),
                            extra='[security]\nmax_connections_per_address = 100000\n') as c:
            pids = [b.pid for b in c.bridges]
            with Profiler(profile, pids, f"n{n}-p{processes}"):
                return {**asyncio.run(run_size([b.ws_url for b in c.bridges], n,
                                               "bench-host-password", CpuMeter(pids))),
                        "processes": processes}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="50,200,500")
    ap.add_argument("--processes", default="0",
                    help="bridge processes on PostgreSQL and NATS, comma-separated "
                         "(0: one, SQLite, embedded)")
    ap.add_argument("--profile", type=Path, default=None,
                    help="py-spy every bridge into this directory and summarise")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    results = []
    for n in sizes:
        for k in (int(x) for x in args.processes.split(",")):
            results.append(run_processes(n, k, args.profile) if k
                           else run_one_process(n, args.profile))
            r = results[-1]
            # Each result as it comes: kept if a later run fails.
            print(f"RESULT {json.dumps(r)}", file=sys.stderr, flush=True)
            print(f"K={k} CPU s joining {r['cpu_s_joining']}  chat {r['cpu_s_chat']}",
                  file=sys.stderr, flush=True)
            print(f"K={k} N={n:4d}  join {r['join_all_s']:6.2f}s"
                  f"  chat {r['chat_deliveries_per_s']:8.1f} msg/s"
                  f"  p50 {r['chat_latency_p50_ms']} ms  p99 {r['chat_latency_p99_ms']} ms"
                  f"  poll {r['poll_answers_per_s']} answers/s"
                  f" ({r['poll_answers_counted']} counted)", file=sys.stderr, flush=True)
    print(json.dumps({"benchmark": "signalling", "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
