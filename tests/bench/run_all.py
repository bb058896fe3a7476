"""Run every benchmark in tests/bench, keep their results, print a summary (`make bench`).

    scripts/in-netns .venv/bin/python tests/bench/run_all.py [NAME ...] [--timeout S]

Each `tests/bench/bench_*.py` runs in its own process (one at a time: the
figures are CPU-bound) and prints one JSON object as the last line of its
stdout; its stderr (progress, its own tables) passes straight through. NAMEs
pick benchmarks by file name (`call` or `bench_call.py`). All results go to
`var/bench/results-<UTC date and time>.json` with the machine's conditions
(cores, load average before and after). Nothing is asserted: a benchmark that
fails or prints no JSON is reported as failed and the exit status says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parents[1]
RESULTS_DIR = REPO / "var" / "bench"


def discover(names: list[str]) -> list[Path]:
    found = sorted(BENCH_DIR.glob("bench_*.py"))
    if not names:
        return found
    wanted = {n.removeprefix("bench_").removesuffix(".py") for n in names}
    picked = [p for p in found if p.stem.removeprefix("bench_") in wanted]
    missing = wanted - {p.stem.removeprefix("bench_") for p in picked}
    if missing:
        raise SystemExit(f"run_all: no benchmark named {', '.join(sorted(missing))} "
                         f"(have: {', '.join(p.stem for p in found)})")
    return picked


def last_json_object(stdout: str) -> dict[str, Any] | None:
    """The JSON object on the last line, or (older benchmarks) the last pretty-printed one."""
    lines = stdout.rstrip().splitlines()
    for start in range(len(lines) - 1, -1, -1):
        if not lines[start].startswith("{"):
            continue
        try:
            value = json.loads("\n".join(lines[start:]))
        except ValueError:
            continue
        return value if isinstance(value, dict) else None
    return None


def run_one(path: Path, timeout: float) -> dict[str, Any]:
    print(f"== {path.name}", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        proc = subprocess.run(  # stderr inherited: progress shows as it happens
            [sys.executable, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True,
            timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s",
                "seconds": round(time.monotonic() - started, 1)}
    seconds = round(time.monotonic() - started, 1)
    result = last_json_object(proc.stdout)
    if proc.returncode != 0 or result is None:
        tail = proc.stdout.strip().splitlines()[-3:]
        return {"ok": False, "seconds": seconds,
                "error": f"exit status {proc.returncode}" + ("" if result else ", no JSON"),
                "stdout_tail": tail}
    return {"ok": True, "seconds": seconds, "result": result}


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"node": platform.node(), "machine": platform.machine(), "cpu": model,
            "cores": os.cpu_count(), "python": platform.python_version(),
            "kernel": platform.release()}


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Leaf values by dotted path; short lists of scalars stay whole (sizes, pairs)."""
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in flatten(v, f"{prefix}{k}.")]
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return [kv for i, v in enumerate(value) for kv in flatten(v, f"{prefix}{i}.")]
    return [(prefix.rstrip("."), value)]


def summary(runs: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, run in runs.items():
        if not run["ok"]:
            lines.append(f"{name}: FAILED ({run['error']}) after {run['seconds']} s")
            lines += [f"    {line}" for line in run.get("stdout_tail", [])]
            continue
        lines.append(f"{name} ({run['seconds']} s)")
        pairs = flatten(run["result"])
        width = min(64, max((len(k) for k, _ in pairs), default=0))
        lines += [f"  {k:<{width}}  {json.dumps(v, ensure_ascii=False)}" for k, v in pairs]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--timeout", type=float, default=600, help="per benchmark, seconds")
    args = parser.parse_args()
    benches = discover(args.names)
    load_before = os.getloadavg()
    started = time.time()
    runs = {path.stem: run_one(path, args.timeout) for path in benches}
    document: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "in_netns": os.environ.get("SALON_IN_NETNS") == "1",
        "machine": machine(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "benchmarks": runs,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / time.strftime("results-%Y-%m-%dT%H%M%SZ.json", time.gmtime(started))
    out.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    print(summary(runs))
    m = document["machine"]
    print(f"\n{m['cores']} cores ({m['cpu']}), load average {document['loadavg_before']} before, "
          f"{document['loadavg_after']} after; results in {out.relative_to(REPO)}")
    return 0 if all(run["ok"] for run in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
