"""Where a bridge process's CPU goes, from py-spy samples (issue 19's benches).

    with Profiler(out_dir, [pid, ...], "label"):   # py-spy records each pid meanwhile
        ...
    .venv/bin/python tests/bench/pyspy_summary.py out.txt [...]

py-spy's raw format is one line per distinct stack, outermost frame first, frames
separated by ";" and the sample count last. A stack goes to the part its innermost frame
that names one belongs to (the code that was running, not the handler that called it).
py-spy's idle filter misses a thread blocked in C (the event loop in epoll, a database
thread waiting for PostgreSQL's answer): stacks ending there are counted as waiting and
the parts are shares of the rest (the CPU).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

PY_SPY = Path(sys.executable).with_name("py-spy")

# (part, substrings of a frame "function (path:line)"), checked on each frame from the
# innermost outwards; the first frame naming any part decides.
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("socket writes and reads (asyncio transports)", ("selector_events.py", "sslproto.py")),
    ("event loop (asyncio)", ("asyncio/",)),
    ("database (SQLAlchemy, psycopg, sqlite3)", ("sqlalchemy/", "psycopg", "sqlite3/")),
    ("protocol messages (pydantic: build, check, dump)", ("pydantic", "salon/protocol")),
    ("JSON", ("json/",)),
    ("bus client (nats-py)", ("nats/",)),
    ("WebSocket framing (aiohttp)", ("aiohttp/",)),
    ("Janus gateway", ("bridge/gateway", "bridge/janus/")),
    ("meetings domain", ("bridge/meetings/",)),
    ("live rooms, fan-out, web handlers", ("bridge/live.py", "bridge/fanout.py",
                                          "bridge/web/", "bridge/bus.py")),
]


WAITING = ("EpollSelector.select", "Connection.wait (psycopg", "_worker (concurrent/futures",
           "Condition.wait (threading", "_wait_for_tstate_lock")


def part_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for name, needles in PARTS:
            if any(n in frame for n in needles):
                return name
    return "other"


def summarise(raw: str, top: int = 12) -> dict[str, Any]:
    """Share of samples per part and the innermost functions with most samples, in %."""
    parts: dict[str, int] = {}
    leaves: dict[str, int] = {}
    total = waiting = 0
    for line in raw.splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count, stack = int(count_text), stack_text.split(";")
        if any(stack[-1].startswith(w) for w in WAITING):
            waiting += count
            continue
        parts[part_of(stack)] = parts.get(part_of(stack), 0) + count
        leaves[stack[-1]] = leaves.get(stack[-1], 0) + count
        total += count

    def share(counts: dict[str, int], limit: int) -> dict[str, float]:
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
        return {k: round(100 * v / total, 1) for k, v in ranked} if total else {}

    return {"busy_samples": total, "waiting_samples": waiting,
            "parts_pct": share(parts, len(PARTS) + 1), "top_functions_pct": share(leaves, top)}


class Profiler:
    """py-spy on each of ``pids`` while the block runs (nothing if ``out`` is None)."""

    def __init__(self, out: Path | None, pids: list[int], label: str) -> None:
        self.out, self.pids, self.label = out, pids, label
        self.spies: list[tuple[Path, subprocess.Popen[bytes]]] = []
        self.summaries: list[dict[str, Any]] = []

    def __enter__(self) -> Profiler:
        if self.out is None:
            return self
        self.out.mkdir(parents=True, exist_ok=True)
        for i, pid in enumerate(self.pids, start=1):
            path = self.out / f"{self.label}-bridge{i}.txt"
            self.spies.append((path, subprocess.Popen(
                [str(PY_SPY), "record", "--pid", str(pid), "--rate", "50", "--nonblocking",
                 "--format", "raw", "-o", str(path)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        for path, spy in self.spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
            spy.wait(60)
            if path.exists():
                summary = {"file": str(path), **summarise(path.read_text())}
                self.summaries.append(summary)
                print(json.dumps(summary, ensure_ascii=False, indent=1), file=sys.stderr)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(json.dumps({"file": name, **summarise(Path(name).read_text())},
                         ensure_ascii=False, indent=1))
