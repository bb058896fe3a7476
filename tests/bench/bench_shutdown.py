"""How long the bridge takes to stop with people connected (issue 12, item 4): N protocol
clients and one Chromium join an open room, the bridge gets SIGTERM; report the time from
the signal to the process's exit, its exit status, and how many clients were told `bye`
(with which reason) before their socket closed. The unit's TimeoutStopSec is 20 s: a stop
slower than that ends in SIGKILL.

    scripts/in-netns .venv/bin/python tests/bench/bench_shutdown.py [--clients 20] [--rounds 3]
                                                                   [--no-browser]

Prints a table on stderr and one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.browser import chromium, join_room
from tests.support.procs import BridgeProcess

WAIT_FOR_EXIT_S = 60.0  # well past the unit's 20 s: the "before" figure must be measurable


class Client:
    """A joined protocol client that records the bye it gets and when its socket closed."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.bye: str | None = None
        self.closed_at: float | None = None
        self.close_code: int | None = None
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                data = json.loads(msg.data)
                if data.get("type") == "bye":
                    self.bye = str(data.get("reason"))
        self.closed_at = time.monotonic()
        self.close_code = self.ws.close_code


async def join(http: aiohttp.ClientSession, url: str, name: str) -> Client:
    ws = await http.ws_connect(url, max_msg_size=0)
    await ws.send_str(json.dumps({"type": "join", "protocol": 1, "room": "bench",
                                  "client": "bot", "name": name}))
    while json.loads((await ws.receive()).data)["type"] != "welcome":
        pass
    return Client(ws)


async def wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return proc.poll()


async def one_round(tmp: Path, n: int, with_browser: bool) -> dict[str, Any]:
    bridge = BridgeProcess(tmp, rooms=[("bench", "Bench")])
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            clients = await asyncio.gather(*(join(http, bridge.ws_url, f"Katılımcı {i}")
                                             for i in range(n)))
            if with_browser:
                async with chromium() as browser:
                    page = await join_room(browser, bridge.room_url("bench"), "Browser Bora")
                    result = await signal_and_wait(bridge, clients)
                    # what the person at the browser is told meanwhile
                    result["browser_status"] = await page.locator("#status").text_content()
            else:
                result = await signal_and_wait(bridge, clients)
            for c in clients:
                c.reader.cancel()
        return result
    finally:
        bridge.stop()


async def signal_and_wait(bridge: BridgeProcess, clients: list[Client]) -> dict[str, Any]:
    await asyncio.sleep(1.0)  # everyone settled in the room
    sent = time.monotonic()
    bridge.proc.send_signal(signal.SIGTERM)
    code = await wait_exit(bridge.proc, WAIT_FOR_EXIT_S)
    exit_s = time.monotonic() - sent
    await asyncio.sleep(0.2)  # the last close frames reach their readers
    closed = [c.closed_at - sent for c in clients if c.closed_at is not None]
    return {
        "exit_s": round(exit_s, 2) if code is not None else None,
        "exit_code": code,
        "byes": dict(Counter(c.bye or "none" for c in clients)),
        "close_codes": dict(Counter(str(c.close_code) for c in clients)),
        "sockets_closed_max_s": round(max(closed), 2) if closed else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    rounds = []
    for i in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="salon-bench-shutdown-") as tmp:
            r = asyncio.run(one_round(Path(tmp), args.clients, not args.no_browser))
        rounds.append(r)
        print(f"round {i + 1}: SIGTERM→exit {r['exit_s']} s (status {r['exit_code']}), "
              f"byes {r['byes']}, close codes {r['close_codes']}, "
              f"browser {r.get('browser_status')!r}", file=sys.stderr, flush=True)
    exits = [r["exit_s"] for r in rounds if r["exit_s"] is not None]
    print(json.dumps({
        "benchmark": "shutdown", "clients": args.clients, "browser": not args.no_browser,
        "exit_s_median": round(statistics.median(exits), 2) if exits else None,
        "exit_s_max": max(exits) if exits else None,
        "unit_timeout_stop_s": 20, "rounds": rounds,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
