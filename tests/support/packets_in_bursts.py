"""Received packets against the malloc heap, in miniature; prints one JSON object.

    python -m tests.support.packets_in_bursts appliance|asyncio [--mmap-threshold-kib N]

What grew the appliance's heap in a long call: datagrams from a real UDP socket on
127.0.0.1, queued by the protocol (as aioice queues them for aiortc's receiving task)
and handled in bursts of 50, a video-frame-sized block per burst, every 25th packet kept
alive (jitter buffers, retransmission history). `appliance` runs it on the appliance's
event loop (`run_event_loop`), `asyncio` on asyncio's own. Run it in a fresh interpreter
each time, so the heap starts the same. Used by tests/ops/test_event_loop.py and
tests/bench/bench_heap.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import time
from typing import Any

from appliance.service.runtime import run_event_loop
from tests.bench.memory_breakdown import fix_mmap_threshold, smaps_rss_mib

BURSTS, BURST, PAYLOAD_BYTES, KEEP_EVERY = 300, 50, 1200, 25


class Queueing(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: list[bytes] = []
        self.burst_in = asyncio.Event()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.append(data)
        if len(self.queue) == BURST:
            self.burst_in.set()


async def call_in_miniature() -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        Queueing, local_addr=("127.0.0.1", 0))
    transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    address = transport.get_extra_info("sockname")
    picture = bytes(1_400_000)
    del picture  # the first freed picture: glibc raises its mmap threshold past it
    payload, kept, received = os.urandom(PAYLOAD_BYTES), [], 0
    before, cpu = smaps_rss_mib()["heap_rss_mib"], time.process_time()
    for _ in range(BURSTS):
        protocol.burst_in.clear()
        for _ in range(BURST):
            sender.sendto(payload, address)
        await asyncio.wait_for(protocol.burst_in.wait(), 10)
        received += sum(len(p) for p in protocol.queue)
        kept += protocol.queue[::KEEP_EVERY]
        protocol.queue = []
        picture = bytes(1_400_000)  # a picture per burst, alive across the next
    cpu = time.process_time() - cpu
    transport.close()
    sender.close()
    return {"heap_growth_mib": round(smaps_rss_mib()["heap_rss_mib"] - before, 1),
            "cpu_us_per_datagram": round(cpu / (BURSTS * BURST) * 1e6, 2),
            "kept": len(kept), "received_bytes": received, "picture_bytes": len(picture),
            "loop": type(loop).__module__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("loop", choices=("appliance", "asyncio"))
    parser.add_argument("--mmap-threshold-kib", type=int, default=0)
    args = parser.parse_args()
    if args.mmap_threshold_kib:
        assert fix_mmap_threshold(args.mmap_threshold_kib * 1024)
    run = run_event_loop if args.loop == "appliance" else asyncio.run
    print(json.dumps(run(call_in_miniature())))


if __name__ == "__main__":
    main()
