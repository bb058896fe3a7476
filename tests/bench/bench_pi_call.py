"""The room appliance on a Pi's CPU budget beside two Chromium participants, in one call.

    scripts/in-netns .venv/bin/python tests/bench/bench_pi_call.py [--board pi4|none]
        [--steady S] [--latency S] [--audio S] [--pyspy S] [--baseline DIR [--same-config]]
        [--senders 8] [--soak-minutes N]

One room, three participants at 1280×720@30: two Debian Chromiums, each its own
browser (its own process tree, measured apart), publishing the test pattern and
ticking microphones (tests/bench/bench_call.py's pages: 2 kHz on the second, 3 kHz
half a second later), and the appliance held to `--board`'s budget
(tests/bench/pi_budget.py: every thread one Pi core, the process four) with the
whole appliance running: the camera as a Pi 4's hardware encoder hands it over
(`backend = "packets"`, a clip encoded here before the appliance starts), the
simulated microphone through the echo canceller and high-pass filter (noise
suppression would remove the ticks), the mixer into the WAV speaker, the headless
1280×720 screen showing both browsers. Measured, in this order:

1. start → first remote frame shown on the appliance's screen;
2. steady state: CPU (% of one core here) and PSS of the appliance and of each
   Chromium; pictures received and shown per second per tile on each side; audio
   concealed both ways (the page's inbound-rtp from the appliance; the appliance's
   mixer for both browsers); the appliance's time throttled by the budget;
3. glass-to-glass both ways (the packet camera's stamps are in loop time:
   `camera_packets.loop_latency_ms`);
4. mouth-to-ear (bench_call.audio_latency: appliance→browser, browser→browser,
   browser→appliance);
5. with --pyspy S: py-spy on the appliance for S seconds, by component.

With --soak-minutes N the call is first held N minutes, the appliance's PSS, threads,
open fds, event-loop lateness, CPU, pictures shown and audio concealment sampled each
minute (tests/bench/pi_call_soak.py), before the measurements above.

`--senders 8` is the 9-tile variant: eight remote senders at 640×360@30 (aiortc peers
in one child process publishing pre-encoded H.264 and Opus through the bridge's protocol:
tests/bench/pi_call_senders.py) and one Chromium (publishing 1280×720, receiving all),
so the appliance shows nine remote tiles (a grid: 311×174 each on its 1280×720 screen).
Everything above is measured per tile; mouth-to-ear is left out (it needs two browsers).

`--baseline DIR` runs the appliance from another checkout's `appliance/` (e.g. `git
archive <commit> appliance | tar -x -C DIR`) as that code could: the x264 camera, no
echo canceller — the "before" of a before/after; with `--same-config` the baseline
gets the packets camera and the echo canceller as well (for a baseline that has
them: main from 2026-12-05 on). The machine is shared: its own
load is reported beside the figures. Prints a table on stderr, JSON on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from playwright.async_api import Page

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from appliance.devices.camera_packets import PacketClip
from tests.bench import bench_call as bc
from tests.bench.pi_budget import CpuLimit, budget, limited
from tests.bench.pi_call_senders import FPS as SENDER_FPS
from tests.bench.pi_call_senders import SIZE as SENDER_SIZE
from tests.bench.pi_call_senders import Senders
from tests.bench.pi_call_soak import soak, soak_table
from tests.bench.pyspy_components import by_component
from tests.support.browser import chromium, tile_video_state
from tests.support.procs import Appliance, BridgeProcess

A, B, ROOM_APP = bc.BROWSER_NAME, bc.PEER_NAME, bc.APPLIANCE_NAME
CLIP_SECONDS = 2.0


def log(message: str) -> None:
    print(f"[bench_pi_call] {message}", file=sys.stderr, flush=True)


def browser_trees() -> list[list[psutil.Process]]:
    """Each Chromium's processes (its browser process and descendants), oldest first."""
    procs = bc.chromium_tree()
    pids = {p.pid for p in procs}
    roots = sorted((p for p in procs if p.ppid() not in pids), key=lambda p: p.create_time())
    trees = []
    for root in roots:
        tree = [root]
        for child in root.children(recursive=True):
            if child.pid in pids:
                tree.append(child)
        trees.append(tree)
    return trees


def tree_of(index: int) -> list[psutil.Process]:
    trees = browser_trees()
    return trees[index] if index < len(trees) else []


async def tile_frames(page: Page, name: str) -> int:
    state = await tile_video_state(page, name)
    return int(state["frames"]) if state else 0


def appliance_counts(appliance: Appliance, names: list[str]) -> dict[str, Any]:
    h = bc.health(appliance)
    video = h.get("media", {}).get("video", {})
    shown = (h.get("diagnostics") or {}).get("remote_video", {})
    mixer = h.get("audio", {}).get("mixer", {})
    return {"drawn": {"screen": int((h.get("diagnostics") or {}).get("frames_drawn", 0))},
            "received": {n: int((video.get(n) or {}).get("frames", 0)) for n in names},
            # None: an appliance too old to count them (a --baseline)
            "shown": {n: (shown.get(n) or {}).get("frames_shown") for n in names},
            "size": {n: (shown.get(n) or {}).get("size") for n in names},
            "passed_over": {n: (shown.get(n) or {}).get("frames_passed_over") for n in names},
            "decoder_dropped": {n: (shown.get(n) or {}).get("decoder_dropped") for n in names},
            "concealed_ms": float(mixer.get("concealed_ms") or 0.0),
            "chunks_played": int(mixer.get("chunks_played") or 0),
            "sources": int(mixer.get("sources") or 0)}


async def page_counts(pages: dict[str, Page], names: list[str]) -> dict[str, Any]:
    """Per page: frames of each remote tile, and inbound audio from the appliance."""
    out: dict[str, Any] = {}
    for name, page in pages.items():
        others = [n for n in (ROOM_APP, *names) if n != name]
        audio = await bc.call_audio.audio_stats(page, ROOM_APP)
        out[name] = {"frames": {n: await tile_frames(page, n) for n in others},
                     "audio_in_from_room": audio.get("inbound", {}),
                     "audio_in": {n: (await bc.call_audio.audio_stats(page, n)).get(
                         "inbound", {}) for n in others if n != ROOM_APP}}
    return out


def thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds per thread name (threads of one name summed; ended ones not counted)."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        name = "main (event loop)" if tid == str(pid) else name.rstrip("0123456789_-")
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def fps(d1: dict[str, Any], d0: dict[str, Any], wall: float) -> dict[str, float | None]:
    return {k: None if d1[k] is None or d0.get(k) is None else round((d1[k] - d0[k]) / wall, 1)
            for k in d1}


def concealed_percent(i1: dict[str, Any], i0: dict[str, Any]) -> float | None:
    return bc.per_unit(i1, i0, "concealedSamples", "totalSamplesReceived", 100.0)


async def steady_state(pages: dict[str, Page], appliance: Appliance, bridge: BridgeProcess,
                       limit: CpuLimit | None, seconds: float, names: list[str],
                       senders: Senders | None = None) -> dict[str, Any]:
    """`names`: the appliance's remote participants (its tiles)."""
    janus = psutil.Process(int(bridge.health()["janus_pid"]))
    app = psutil.Process(appliance.pid)
    groups = [bc.Group("appliance", lambda: [app]),
              *(bc.Group(f"chromium ({name})", functools.partial(tree_of, i))
                for i, name in enumerate(pages)),
              bc.Group("janus", lambda: [janus])]
    if senders is not None:
        groups.append(bc.Group(f"senders (aiortc, {senders.count})", senders.procs))
    app_0, pages_0 = appliance_counts(appliance, names), await page_counts(pages, names)
    throttled_0 = limit.throttled_s() if limit else None
    threads_0 = thread_cpu_s(appliance.pid)
    machine_0, load_0 = psutil.cpu_times(), os.getloadavg()
    for g in groups:
        g.begin()
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        for g in groups:
            g.sample()
        await asyncio.sleep(1.0)
    wall = time.monotonic() - start
    cpu = {g.name: g.cpu_percent(wall) for g in groups}
    busy = bc.machine_busy_s(psutil.cpu_times()) - bc.machine_busy_s(machine_0)
    threads_1 = thread_cpu_s(appliance.pid)
    app_1, pages_1 = appliance_counts(appliance, names), await page_counts(pages, names)
    result: dict[str, Any] = {g.name: {"cpu_percent_of_one_core": cpu[g.name], **g.memory()}
                              for g in groups}
    played_ms = 10.0 * (app_1["chunks_played"] - app_0["chunks_played"]) * app_1["sources"]
    result["appliance"] |= {
        "fps_received": fps(app_1["received"], app_0["received"], wall),
        "fps_shown": fps(app_1["shown"], app_0["shown"], wall),
        "size_shown": app_1["size"],
        # per second: decoded pictures a newer one overtook; frames dropped undecoded
        "fps_passed_over": fps(app_1["passed_over"], app_0["passed_over"], wall),
        "fps_decoder_dropped": fps(app_1["decoder_dropped"], app_0["decoder_dropped"], wall),
        "screen_pictures_per_s": fps(app_1["drawn"], app_0["drawn"], wall)["screen"],
        "event_loop_lateness": bc.health(appliance).get("loop"),
        "audio_concealed_percent": round(100 * (app_1["concealed_ms"] - app_0["concealed_ms"])
                                         / played_ms, 2) if played_ms else None,
        "threads_percent_of_one_core": dict(sorted(
            ((k, round(100 * (v - threads_0.get(k, 0.0)) / wall, 1))
             for k, v in threads_1.items()), key=lambda kv: -kv[1])),
        "throttled_s": None if limit is None else round(
            (limit.throttled_s() or 0.0) - (throttled_0 or 0.0), 2)}
    for i, name in enumerate(pages):
        p0, p1 = pages_0[name], pages_1[name]
        result[f"chromium ({name})"] |= {
            "fps_shown": fps(p1["frames"], p0["frames"], wall),
            "audio_concealed_percent_from_room": concealed_percent(
                p1["audio_in_from_room"], p0["audio_in_from_room"]),
            # the others' audio as this browser receives it: a control for the room's mix
            "audio_concealed_percent_from_others": {
                n: concealed_percent(i1, p0["audio_in"].get(n, {}))
                for n, i1 in p1["audio_in"].items()},
            "audio_packets_per_s_from_room": round(
                (p1["audio_in_from_room"].get("packetsReceived", 0)
                 - p0["audio_in_from_room"].get("packetsReceived", 0)) / wall, 1),
            "tree_index": i}
    result["interval_s"] = round(wall, 1)
    result["machine"] = {"cores": psutil.cpu_count(),
                         "busy_percent_of_one_core": round(100 * busy / wall, 1),
                         "others_percent_of_one_core": round(100 * busy / wall - sum(
                             cpu.values()), 1),
                         "loadavg_1m_start_end": [round(load_0[0], 2),
                                                  round(os.getloadavg()[0], 2)]}
    return result


def unloop(samples: list[float], loop_ms: float | None) -> list[float]:
    """Page-measured latencies of the packet camera's loop-time stamps, as latencies."""
    if loop_ms is None:
        return samples
    return [ms % loop_ms if ms > 1e9 else ms for ms in samples]


async def glass_to_glass(page: Page, appliance: Appliance, seconds: float,
                         loop_ms: float | None) -> dict[str, Any]:
    in_page = asyncio.ensure_future(page.evaluate(bc.PAGE_LATENCY, [ROOM_APP, seconds * 1000]))
    shown: dict[float, float] = {}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        seen = await asyncio.to_thread(bc.browser_video_at, appliance)
        if seen.get("capture_to_shown_ms") is not None:
            shown[seen["shown_at"]] = seen["capture_to_shown_ms"]
        await asyncio.sleep(0.1)
    result = await in_page or {}
    room_to_page = unloop([float(ms) for _, ms in result.get("shown", [])], loop_ms)
    return {"room_to_browser_ms": bc.stats(room_to_page),
            "room_to_browser_received_ms": bc.stats(unloop(result.get("received", []),
                                                           loop_ms)),
            "unreadable_frames": result.get("unreadable"),
            "browser_to_room_ms": bc.stats(list(shown.values()))}


def pyspy(pid: int, seconds: float, out: Path, rate: int = 100) -> dict[str, Any]:
    py_spy = Path(sys.executable).with_name("py-spy")
    cmd = [str(py_spy), "record", "--pid", str(pid), "--duration", str(int(seconds)),
           "--rate", str(rate), "--nonblocking", "--format", "raw", "--output", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not out.exists():
        return {"error": (done.stderr or done.stdout).strip()[-300:]}
    result = by_component(out.read_text())
    result["cores_sampled"] = round(result["samples"] / (rate * seconds), 3)
    return result


async def join(browser: Any, bridge: BridgeProcess, name: str,
               tick: tuple[float, int]) -> Page:
    return await bc.join_ticking(browser, bridge, name, tick, pattern=True)


def appliance_args(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    baseline = {"env": {"PYTHONPATH": str(Path(args.baseline).resolve())}} \
        if args.baseline else {}
    if args.baseline and not args.same_config:
        return baseline
    clip = tmp / "clip.npz"
    log("encoding the packet camera's clip")
    PacketClip.encode(*bc.SIZE, bc.FPS, CLIP_SECONDS).save(clip)
    return {"camera": f'backend = "packets"\npacket_clip = "{clip}"\n'
                      f"keyframe_interval_s = {CLIP_SECONDS}",
            "audio": "simulated_mic_processing = true\necho_cancellation = true\n"
                     "noise_suppression = false\nhigh_pass = true", **baseline}


async def start_senders(args: argparse.Namespace, bridge: BridgeProcess, tmp: Path,
                        stack: contextlib.AsyncExitStack) -> Senders:
    clip = tmp / "senders.npz"
    log(f"encoding the senders' clip ({SENDER_SIZE[0]}x{SENDER_SIZE[1]}@{SENDER_FPS:g})")
    PacketClip.encode(*SENDER_SIZE, SENDER_FPS, CLIP_SECONDS).save(clip)
    senders = Senders(bridge.ws_url, bc.ROOM, args.senders, clip, tmp / "senders.log")
    stack.enter_context(bc.stopping(senders))
    await senders.ready()
    log(f"{args.senders} senders publishing")
    return senders


async def call(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    board = None if args.board == "none" else budget(args.board, args.kernel_ms)
    extra = appliance_args(args, tmp)
    loop_ms = None if args.baseline and not args.same_config else CLIP_SECONDS * 1000
    bridge = BridgeProcess(tmp, rooms=[(bc.ROOM, "Bench room")])
    with bc.stopping(bridge):
        async with contextlib.AsyncExitStack() as stack:
            browsers = [await stack.enter_async_context(chromium())
                        for _ in range(1 if args.senders else 2)]
            pages = {A: await join(browsers[0], bridge, A, bc.PAGE_TICK)}
            if not args.senders:
                pages[B] = await join(browsers[1], bridge, B, bc.PEER_TICK)
            senders = await start_senders(args, bridge, tmp, stack) if args.senders else None
            names = [A, *(senders.names if senders else [B])]
            log(f"{len(names)} remote participants in the room; launching the appliance")
            with limited(board, "appliance") as limit:
                launched = time.time()
                appliance = Appliance(tmp, bridge, ROOM_APP, room=bc.ROOM,
                                      tone_hz=bc.APPLIANCE_TICK_HZ, mic_signal="ticks",
                                      nice=args.appliance_nice,
                                      wrap=limit.command_prefix() if limit else None, **extra)
                if limit:
                    limit.watch(appliance.pid)
                with bc.stopping(appliance):
                    first = await bc.poll(lambda: bc.diagnostics(appliance).get(
                        "first_remote_frame_shown_at"), 90, "the appliance showing a browser")
                    start_s = round(float(first) - launched, 3)
                    log(f"first remote frame shown {start_s} s after launch")
                    await bc.poll(lambda: len(bc.diagnostics(appliance).get(
                        "remote_video") or {}) >= len(names), 90, "every remote tile shown")
                    await bc.poll(lambda: len(bc.health(appliance).get("audio", {})
                                              .get("mixer", {}).get("buffered_ms") or {})
                                  >= len(names), 60, "the appliance mixing everyone")
                    await asyncio.sleep(args.settle)

                    def window(seconds: float) -> Any:
                        return steady_state(pages, appliance, bridge, limit, seconds, names,
                                            senders)

                    soaked = (await soak(args.soak_minutes, appliance.pid, window)
                              if args.soak_minutes else None)
                    log(f"steady state for {args.steady:.0f} s")
                    resources = await window(args.steady)
                    log(f"glass-to-glass for {args.latency:.0f} s")
                    g2g = await glass_to_glass(pages[A], appliance, args.latency, loop_ms)
                    audio = None
                    if B in pages:
                        log(f"mouth-to-ear for {args.audio:.0f} s")
                        audio = await bc.audio_latency(pages[A], pages[B], appliance,
                                                       args.audio)
                    spy = (pyspy(appliance.pid, args.pyspy, tmp / "pyspy.txt")
                           if args.pyspy else None)
    return {"board": board.describe() if board else None, "remote": names,
            "senders": None if not args.senders else
            f"{args.senders} aiortc peers, H.264 {SENDER_SIZE[0]}x{SENDER_SIZE[1]}@"
            f"{SENDER_FPS:g} pre-encoded + Opus",
            "start_to_first_remote_frame_s": start_s, "resources": resources,
            "glass_to_glass": g2g, "audio": audio and {k: v for k, v in audio.items()
                                                       if k != "samples_ms"}, "pyspy": spy,
            "soak": soaked}


def table(r: dict[str, Any]) -> str:
    res = r["resources"]
    who = (f"{r['senders']} + 1 Chromium at {bc.SIZE[0]}x{bc.SIZE[1]}" if r.get("senders")
           else f"2 Chromium at {bc.SIZE[0]}x{bc.SIZE[1]}@{bc.FPS}")
    rows = [f"call: room + {who}, board {(r['board'] or {}).get('board', 'none')}",
            f"  start -> first remote frame shown {r['start_to_first_remote_frame_s']} s",
            "  side                        CPU %core   PSS MiB   fps shown per tile"
            "   audio concealed %"]
    app = res["appliance"]
    many = len(app["fps_shown"]) > 2
    shown = app["fps_shown"] if not many else "per tile below"
    rows.append(f"    appliance               {app['cpu_percent_of_one_core']:>10}"
                f"  {app['pss_end_mib']!s:>8}   {shown}"
                + ("" if many else f" (received {app['fps_received']})")
                + f"   {app['audio_concealed_percent']}")
    for key in (k for k in res if k.startswith("chromium (")):
        c = res[key]
        rows.append(f"    chromium {key[-4:-1]:<14} {c['cpu_percent_of_one_core']:>10}"
                    f"  {c['pss_end_mib']!s:>8}   {c['fps_shown']}   from room "
                    f"{c['audio_concealed_percent_from_room']} "
                    f"({c['audio_packets_per_s_from_room']} packets/s)")
        rows.append(f"      its audio concealed from the others: "
                    f"{c.get('audio_concealed_percent_from_others')}")
    for key in (k for k in res if k.startswith("senders")):
        rows.append(f"    {key:<23} {res[key]['cpu_percent_of_one_core']:>10}"
                    f"  {res[key]['pss_end_mib']!s:>8}")
    if many:
        rows.append("    appliance per tile       received/s   shown/s   decoded size")
        for name in app["fps_shown"]:
            rows.append(f"      {name:<24} {app['fps_received'][name]!s:>8}"
                        f"  {app['fps_shown'][name]!s:>8}   {app['size_shown'].get(name)}")
    rows.append(f"    appliance threads: {app['threads_percent_of_one_core']}; screen "
                f"{app['screen_pictures_per_s']} pictures/s")
    rows.append(f"    appliance event loop lateness (last minute): {app['event_loop_lateness']}")
    rows.append(f"    janus {res['janus']['cpu_percent_of_one_core']} %; appliance throttled "
                f"{app['throttled_s']} s; machine {res['machine']}")
    g = r["glass_to_glass"]
    rows.append(f"  glass-to-glass room->browser {g['room_to_browser_ms']}")
    rows.append(f"                 browser->room {g['browser_to_room_ms']}")
    a = r["audio"] or {}
    for key in ("appliance_to_browser_ms", "browser_to_browser_ms", "browser_to_appliance_ms"):
        if key in a:
            rows.append(f"  mouth-to-ear {key[:-3]:<22} {a[key]}")
    if a:
        rows.append(f"  page receive {a['page_receive']}")
    if r["pyspy"]:
        rows.append(f"  py-spy {json.dumps(r['pyspy'], ensure_ascii=False)}")
    if r.get("soak"):
        rows.append(soak_table(r["soak"]))
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="pi4", help="pi4, pi4-1.8, pi5 or none")
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--steady", type=float, default=30.0)
    parser.add_argument("--latency", type=float, default=15.0)
    parser.add_argument("--audio", type=float, default=30.0)
    parser.add_argument("--pyspy", type=float, default=20.0, help="0: no py-spy")
    parser.add_argument("--senders", type=int, default=0,
                        help="the 9-tile variant: N aiortc senders at 640x360@30 and one "
                             "Chromium instead of two (tests/bench/pi_call_senders.py)")
    parser.add_argument("--soak-minutes", type=int, default=0,
                        help="first hold the call N minutes, sampling the appliance each "
                             "minute (tests/bench/pi_call_soak.py)")
    parser.add_argument("--appliance-nice", type=int, default=-5)
    parser.add_argument("--baseline", help="run the appliance from this checkout's code")
    parser.add_argument("--kernel-ms", type=float, default=None,
                        help="take the calibration kernel's time as this (ms) instead of "
                             "measuring it: the same budget for runs compared side by side")
    parser.add_argument("--same-config", action="store_true",
                        help="give the --baseline the packets camera and the echo canceller "
                             "too (a baseline that has them)")
    args = parser.parse_args()
    if os.environ.get("SALON_IN_NETNS") != "1":
        sys.exit("bench_pi_call: run inside scripts/in-netns")
    with tempfile.TemporaryDirectory(prefix="salon-bench-pi-") as tmp:
        measured = asyncio.run(call(Path(tmp), args))
    result = {"benchmark": f"pi_call_{args.senders}_senders" if args.senders else "pi_call",
              "baseline": args.baseline,
              "loadavg_1m": round(os.getloadavg()[0], 2), **measured}
    print(table(result), file=sys.stderr)
    print(json.dumps(result, default=lambda o: float(o) if isinstance(o, np.floating) else str(o)))


if __name__ == "__main__":
    main()
