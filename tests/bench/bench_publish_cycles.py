"""How often a participant's media is lost in the publish sequence (issue 12, item 2):
a guest enters, gets audio rights, presses Sesimi Bağla, a few seconds later gets camera
rights, presses Web Kameramı Başlat and Paylaşımı Başlat; a cycle counts as lost when
the host does not both hear the guest's tone and see its picture within 30 s. Run
side by side against the bridge (and so the web client) of the commit before the fix
and of this tree, while `stress-ng --cpu 2` keeps the cores busy.

    scripts/in-netns .venv/bin/python tests/bench/bench_publish_cycles.py [--cycles 30]
        [--before REF] [--no-before] [--no-load]

Counts per side: cycles lost, of them with Janus's "User ID ... already exists" (436)
in the bridge log, and client republishes. Prints a table on stderr and one JSON
object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.browser import chromium
from tests.support.media_files import write_solid_y4m, write_tone_wav
from tests.support.meetings import open_room, sign_in
from tests.support.procs import BridgeProcess, RoomSpec, UserSpec
from tests.support.publish_cycles import CycleResult, browser_cycle

REPO = Path(__file__).resolve().parents[2]
BEFORE_REF = "69f7921"  # main when the fix began (one publisher handle per session)
HOST, HOST_PW = "ogretmen", "ogretmen-parola-1"
GUEST_HZ = 700


@contextlib.contextmanager
def tree_at(ref: str) -> Iterator[Path]:
    """The repository's files at ``ref`` in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="salon-before-") as tmp:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", ref],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield Path(tmp)


@contextlib.contextmanager
def cpu_hog(enabled: bool) -> Iterator[None]:
    stress = shutil.which("stress-ng")
    if not enabled or stress is None:
        yield
        return
    proc = subprocess.Popen([stress, "--cpu", "2", "--quiet"])
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(10)


async def run_side(label: str, tree: Path | None, cycles: int, work: Path) -> dict[str, Any]:
    """``tree``: run that checkout's bridge (its web client too); None: this tree's."""
    prefix = ["env", f"PYTHONPATH={tree}"] if tree is not None else []
    (work / label).mkdir()
    bridge = await asyncio.to_thread(
        BridgeProcess, work / label, room_specs=[RoomSpec("dongu", "Döngü")],
        users=[UserSpec(HOST, HOST_PW, "host", "Ayla Öğretmen")], prefix=prefix)
    results: list[CycleResult] = []
    with urllib.request.urlopen(f"{bridge.url}/static/conference.js", timeout=5) as resp:
        # which web client that bridge serves: the one with publisher slots is the fix
        client = "slots" if b"pubSlots" in resp.read() else "republish"
    print(f"  {label}: its web client publishes with {client}", file=sys.stderr, flush=True)
    try:
        video = write_solid_y4m(work / f"{label}.y4m", (40, 200, 60), 320, 180)
        audio = write_tone_wav(work / f"{label}.wav", GUEST_HZ)
        async with chromium() as host_browser, chromium(video, audio) as guest_browser:
            host = await open_room(host_browser, bridge.room_url("dongu"), "tr")
            await sign_in(host, HOST, HOST_PW, "tr")
            for i in range(cycles):
                try:
                    r = await browser_cycle(host, guest_browser, bridge.room_url("dongu"),
                                            f"MİSAFİR {i + 1}", GUEST_HZ, i + 1)
                except Exception as exc:  # a step that never became possible: lost too
                    r = CycleResult(i + 1, problems=[f"{type(exc).__name__}: {exc}"[:200]])
                results.append(r)
                print(f"  {label}: {r.describe()}", file=sys.stderr, flush=True)
    finally:
        bridge.stop()
    log = bridge.log_tail(10**8)
    took = [r.seconds_to_media for r in results if r.seconds_to_media is not None]
    return {
        "web_client": client,
        "cycles": len(results),
        "lost": sum(not r.ok for r in results),
        "id_exists_436": log.count("already exists"),
        "republished": sum(any("publishing again" in p for p in r.problems) for r in results),
        "median_s_to_media": round(statistics.median(took), 2) if took else None,
        "max_s_to_media": round(max(took), 2) if took else None,
    }


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=30)
    ap.add_argument("--before", default=BEFORE_REF, help="the commit to compare with")
    ap.add_argument("--no-before", action="store_true", help="only this tree")
    ap.add_argument("--no-load", action="store_true", help="without stress-ng --cpu 2")
    args = ap.parse_args()
    out: dict[str, Any] = {"cycles": args.cycles, "load": not args.no_load}
    with tempfile.TemporaryDirectory(prefix="salon-cycles-") as tmp, \
            cpu_hog(not args.no_load):
        work = Path(tmp)
        if not args.no_before:
            with tree_at(args.before) as before:
                out["before"] = {"ref": args.before,
                                 **await run_side("before", before, args.cycles, work)}
        out["after"] = await run_side("after", None, args.cycles, work)
    print(f"{'side':8} {'lost':>6} {'436':>5} {'republished':>12} {'median s':>9} {'max s':>7}",
          file=sys.stderr)
    for side in ("before", "after"):
        if side in out:
            s = out[side]
            print(f"{side:8} {s['lost']:>3}/{s['cycles']:<2} {s['id_exists_436']:>5} "
                  f"{s['republished']:>12} {s['median_s_to_media']!s:>9} "
                  f"{s['max_s_to_media']!s:>7}", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
