"""The appliance's event loop keeps the malloc heap from growing under received packets.

asyncio's own loop reads every datagram into a fresh 256 KiB buffer and shrinks it to
the packet; with packets queued between aioice and aiortc, the survivors pin the space
around them and the heap grows. The appliance's loop (`run_event_loop`, uvloop) must
not. Through a real UDP socket, in fresh interpreters (tests/support/packets_in_bursts.py).
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def packets_in_bursts(loop: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "tests.support.packets_in_bursts", loop],
                          cwd=REPO, check=True, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's heap")
def test_received_packets_do_not_grow_the_heap() -> None:
    asyncio_loop, appliance = packets_in_bursts("asyncio"), packets_in_bursts("appliance")
    for run in (asyncio_loop, appliance):
        assert run["kept"] == 600 and run["received_bytes"] == 300 * 50 * 1200
    assert appliance["loop"].startswith("uvloop")
    # 600 kept packets are 0.7 MiB; asyncio's loop left ~14 MiB of heap behind them.
    assert asyncio_loop["heap_growth_mib"] > 9
    assert appliance["heap_growth_mib"] < 6
