"""A sign-in flood against one bridge (issue 12, item 5): 100 sign-ins with distinct
unknown user names at once from one address, while another client in a meeting pings
the bridge every 20 ms and a host signs in from a third address. Reports the other
client's ping round trip (p50, p95, max) before and during the flood, how long the flood
took, what the bridge answered, and how long the host's sign-in took meanwhile.

    scripts/in-netns .venv/bin/python tests/bench/bench_sign_in_flood.py [--flood 100]

The bridge runs with its defaults (argon2id's RFC 9106 parameters, the default sign-in
limits). Prints a table on stderr and one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.procs import BridgeProcess, UserSpec
from tests.support.wsclient import RawClient

PING_EVERY_S = 0.02
BASELINE_S = 3.0
FLOOD_FROM, HOST_FROM = "127.0.0.2", "127.0.0.3"
HOST, HOST_PW = "ogretmen", "ogretmen-parola-1"


def figures(rtts_ms: list[float]) -> dict[str, float]:
    if not rtts_ms:
        return {"pings": 0}
    ordered = sorted(rtts_ms)
    return {"pings": len(ordered), "p50_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
            "max_ms": round(ordered[-1], 2)}


async def ping_until(client: RawClient, stop: asyncio.Event, rtts: list[float]) -> None:
    rid = 1000
    while not stop.is_set():
        rid += 1
        started = time.perf_counter()
        await client.request({"type": "ping"}, rid, timeout=30)
        rtts.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(PING_EVERY_S)


async def timed_sign_in(url: str, source: str, user: str, password: str,
                        rid: int = 1) -> tuple[str, float]:
    client = await RawClient.connect(url, source=source)
    try:
        started = time.perf_counter()
        reply = await client.sign_in("bench", user, password, rid=rid, client="bot", timeout=120)
        answer = reply["type"] if reply["type"] != "error" else reply["code"]
        return str(answer), time.perf_counter() - started
    finally:
        await client.close()


async def run(flood: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        bridge = await asyncio.to_thread(BridgeProcess, Path(tmp), rooms=[("bench", "Bench")],
                                         users=[UserSpec(HOST, HOST_PW, "host")])
        try:
            other = await RawClient.connect(bridge.ws_url)
            assert (await other.join("bench", "Diğer Katılımcı"))["type"] == "welcome"
            baseline: list[float] = []
            stop = asyncio.Event()
            pinger = asyncio.create_task(ping_until(other, stop, baseline))
            await asyncio.sleep(BASELINE_S)
            stop.set()
            await pinger

            during: list[float] = []
            stop = asyncio.Event()
            pinger = asyncio.create_task(ping_until(other, stop, during))
            clients = [await RawClient.connect(bridge.ws_url, source=FLOOD_FROM)
                       for _ in range(flood)]
            started = time.perf_counter()
            replies = asyncio.gather(*(
                c.sign_in("bench", f"yok{i}", "parola-1234", client="bot", timeout=300)
                for i, c in enumerate(clients)))
            await asyncio.sleep(0.5)
            host_answer, host_s = await timed_sign_in(bridge.ws_url, HOST_FROM, HOST, HOST_PW)
            answers = Counter(r["type"] if r["type"] != "error" else r["code"]
                              for r in await replies)
            flood_s = time.perf_counter() - started
            stop.set()
            await pinger
            for c in clients:
                await c.close()
            await other.close()
        finally:
            bridge.stop()
    return {"flood": flood, "flood_from_one_address": True,
            "ping_before": figures(baseline), "ping_during_flood": figures(during),
            "flood_answered_s": round(flood_s, 2), "answers": dict(answers),
            "host_sign_in_during_flood": {"answer": host_answer, "seconds": round(host_s, 2)}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood", type=int, default=100)
    args = parser.parse_args()
    result = asyncio.run(run(args.flood))
    before, during = result["ping_before"], result["ping_during_flood"]
    print(f"ping before: p50 {before.get('p50_ms')} ms, max {before.get('max_ms')} ms; "
          f"during {result['flood']} sign-ins: p50 {during.get('p50_ms')} ms, "
          f"p95 {during.get('p95_ms')} ms, max {during.get('max_ms')} ms; "
          f"flood answered in {result['flood_answered_s']} s {result['answers']}; "
          f"host sign-in meanwhile {result['host_sign_in_during_flood']}", file=sys.stderr)
    print(json.dumps({"benchmark": "sign_in_flood", "result": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
