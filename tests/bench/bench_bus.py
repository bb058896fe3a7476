"""Which message bus carries room events between bridge processes: NATS, Redis pub/sub
or PostgreSQL LISTEN/NOTIFY, each from its Debian package on 127.0.0.1, measured the
same way (issue 19).

One publisher and SUBSCRIBERS subscriber processes (bridge processes stand-ins), a
room event of EVENT_BYTES (a chat message with its envelope):

- latency: RATE events/s for SECONDS, sender's clock to each subscriber's, p50/p99;
- throughput: BURST events as fast as the publisher can, until every subscriber has all;
- the engine's CPU per 1,000 events delivered to all subscribers.

    scripts/in-netns .venv/bin/python tests/bench/bench_bus.py [--engines nats,redis,postgres]

Prints a table on stderr and one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.postgres import postgres_cluster
from tests.support.procs import free_port, wait_until

SUBSCRIBERS = 3
RATE = 2000
SECONDS = 4.0
BURST = 20_000
EVENT_BYTES = 400
CHANNEL = "room.bench"

Publish = Callable[[bytes], Awaitable[None]]


# ---- the engines -----------------------------------------------------------------------

@contextlib.contextmanager
def nats_server() -> Iterator[tuple[str, int]]:
    port = free_port()
    proc = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _connects(port), 10, "nats-server")
        yield f"nats://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[str, int]]:
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="salon-redis-")
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", tmp],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _connects(port), 10, "redis-server")
        yield f"redis://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def postgres() -> Iterator[tuple[str, int]]:
    with postgres_cluster() as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        server = next(p for p in psutil.process_iter(["name", "cmdline"])
                      if p.info["name"] == "postgres" and str(port) in " ".join(
                          p.info["cmdline"] or []))
        yield url.replace("postgresql+psycopg", "postgresql"), server.pid


def _connects(port: int) -> bool:
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def engine_cpu(pid: int) -> float:
    """CPU seconds of the engine: the server and its children (PostgreSQL's backends)."""
    proc = psutil.Process(pid)
    t = proc.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system  # ended backends too
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            c = child.cpu_times()
            total += c.user + c.system
    return total


# ---- clients -----------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def publisher(engine: str, url: str) -> AsyncIterator[Publish]:
    if engine == "nats":
        import nats
        nc = await nats.connect(url)
        try:
            async def publish(data: bytes) -> None:
                await nc.publish(CHANNEL, data)
            yield publish
            await nc.flush()
        finally:
            await nc.close()
    elif engine == "redis":
        import redis.asyncio as aioredis
        rc = aioredis.from_url(url)
        try:
            async def publish(data: bytes) -> None:
                await rc.publish(CHANNEL, data)
            yield publish
        finally:
            await rc.aclose()
    else:
        import psycopg
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        try:
            async def publish(data: bytes) -> None:
                await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, data.decode()))
            yield publish
        finally:
            await conn.close()


async def subscribe(engine: str, url: str, expect: int, ready: Any, out: Any) -> None:
    """Receive ``expect`` events; put (latencies, seconds from the first to the last)."""
    latencies: list[float] = []
    first = last = 0.0

    def got(data: bytes | str) -> None:
        nonlocal first, last
        now = time.time()
        first = first or now
        last = now
        latencies.append(now - float(json.loads(data)["t"]))

    if engine == "nats":
        import nats
        nc = await nats.connect(url, pending_size=512 * 1024 * 1024)
        sub = await nc.subscribe(CHANNEL, pending_msgs_limit=10 * BURST,
                                 pending_bytes_limit=512 * 1024 * 1024)
        await nc.flush()
        ready.set()
        async for msg in sub.messages:
            got(msg.data)
            if len(latencies) == expect:
                break
        await nc.close()
    elif engine == "redis":
        import redis.asyncio as aioredis
        rc = aioredis.from_url(url)
        ps = rc.pubsub()
        await ps.subscribe(CHANNEL)
        await ps.get_message(timeout=1.0)  # the subscribe confirmation
        ready.set()
        while len(latencies) < expect:
            msg = await ps.get_message(ignore_subscribe_messages=True, timeout=5.0)
            if msg is not None:
                got(msg["data"])
        await ps.aclose()
        await rc.aclose()
    else:
        import psycopg
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        await conn.execute(f'LISTEN "{CHANNEL}"')
        ready.set()
        async for note in conn.notifies():
            got(note.payload)
            if len(latencies) == expect:
                break
        await conn.close()
    out.put((latencies, last - first))


def _subscriber(engine: str, url: str, expect: int, ready: Any, out: Any) -> None:
    asyncio.run(asyncio.wait_for(subscribe(engine, url, expect, ready, out), 120))


def event(seq: int) -> bytes:
    body = {"t": repr(time.time()), "seq": seq, "room": "bench", "effects": []}
    pad = EVENT_BYTES - len(json.dumps(body)) - 10
    body["text"] = "x" * max(0, pad)
    return json.dumps(body).encode()


async def send(engine: str, url: str, count: int, rate: float | None) -> float:
    async with publisher(engine, url) as publish:
        t0 = time.perf_counter()
        for seq in range(count):
            if rate is not None:
                due = t0 + seq / rate
                if (wait := due - time.perf_counter()) > 0:
                    await asyncio.sleep(wait)
            await publish(event(seq))
        return time.perf_counter() - t0


def run_phase(engine: str, url: str, count: int, rate: float | None) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    readies = [ctx.Event() for _ in range(SUBSCRIBERS)]
    subs = [ctx.Process(target=_subscriber, args=(engine, url, count, r, out)) for r in readies]
    for s in subs:
        s.start()
    for r in readies:
        r.wait(30)
    sent_s = asyncio.run(send(engine, url, count, rate))
    results = [out.get(timeout=180) for _ in subs]
    for s in subs:
        s.join(30)
    lat = sorted(x for latencies, _ in results for x in latencies)
    spans = [span for _, span in results]
    return {"sent_s": sent_s, "lat": lat, "received_s": max(spans), "received": len(lat)}


def measure(engine: str) -> dict[str, Any]:
    servers = {"nats": nats_server, "redis": redis_server, "postgres": postgres}
    binary = {"nats": "nats-server", "redis": "redis-server", "postgres": None}[engine]
    if binary is not None and shutil.which(binary) is None:
        return {"engine": engine, "skipped": f"{binary} is not installed"}
    with servers[engine]() as (url, pid):
        paced = run_phase(engine, url, int(RATE * SECONDS), RATE)
        cpu0 = engine_cpu(pid)
        burst = run_phase(engine, url, BURST, None)
        cpu = engine_cpu(pid) - cpu0
    lat = paced["lat"]
    return {
        "engine": engine,
        "paced_rate": RATE, "subscribers": SUBSCRIBERS, "event_bytes": EVENT_BYTES,
        "p50_ms": round(1000 * statistics.median(lat), 2),
        "p99_ms": round(1000 * lat[int(0.99 * (len(lat) - 1))], 2),
        "burst_events": BURST,
        "burst_publish_per_s": round(BURST / burst["sent_s"]),
        "burst_delivered_per_s": round(burst["received"] / max(burst["received_s"],
                                                                burst["sent_s"])),
        "engine_cpu_ms_per_1000": round(1000 * cpu / (BURST / 1000), 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", default="nats,redis,postgres")
    results = []
    for engine in ap.parse_args().engines.split(","):
        r = measure(engine)
        results.append(r)
        if "skipped" in r:
            print(f"{engine:9s} skipped: {r['skipped']}", file=sys.stderr)
            continue
        print(f"{engine:9s} paced {RATE}/s p50 {r['p50_ms']} ms p99 {r['p99_ms']} ms | burst "
              f"publish {r['burst_publish_per_s']}/s delivered {r['burst_delivered_per_s']}/s"
              f" | engine CPU {r['engine_cpu_ms_per_1000']} ms per 1000 events",
              file=sys.stderr, flush=True)
    print(json.dumps({"benchmark": "bus", "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
