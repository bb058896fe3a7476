"""Appliance controls through real parts; prints one JSON object (last line of stdout).

    scripts/in-netns .venv/bin/python tests/bench/bench_controls.py [--presses N]
        [--grants N] [--cuts N]

- press → LED: a gpiozero MockFactory button pin driven on an appliance running in
  this process, in a meeting with its media flowing (open-floor room); from the press
  edge to the mic LED pin changing (both times from the mock pins' own history).
- press → host sees the hand: from the press edge to the `participant_updated`
  carrying the hand reaching a protocol client in the room.
- host grant → mic live (moderated room, the appliance signed in with its device
  account): from the host sending `set_right` to the mic LED pin turning green, and
  to the first audio with the room's tone reaching another participant (a real
  aiortc peer: what Janus forwards once the bridge unmutes the room there).
- network cut: the appliance as its own process in a dedicated group, cut off by an
  nftables rule for at least 15 s (tests/support/netcut.py); the time it takes to
  notice, and from the network's return to being back in the meeting (its /healthz,
  polled every 50 ms) and to its video arriving at the other participant again.
All clocks are this machine's monotonic clock. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # keep stdout pure JSON
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from appliance.conference import client as conf
from tests.support.controls_harness import (
    MIC_GREEN,
    RoomUnderTest,
    controls_toml,
    room_under_test,
    settings_from,
    wait_for,
)
from tests.support.controls_observer import MediaListener, Observer
from tests.support.netcut import NetworkCut, SeparateUserAppliance, nft_available
from tests.support.procs import BridgeProcess, RoomSpec, UserSpec, free_port

TONE_HZ = 1000
MIN_CUT_S = 15.0


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def summary_ms(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)
    p95 = ordered[max(0, math.ceil(len(ordered) * 0.95) - 1)]  # nearest rank
    return {"n": len(samples), "p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(p95 * 1000, 2), "max_ms": round(ordered[-1] * 1000, 2)}


def first_change_at(pin: Any, cleared_at: float) -> float | None:
    """Absolute time of the pin's first change since `clear_states()` at `cleared_at`
    (MockPin keeps each state with the time since the previous change)."""
    return cleared_at + pin.states[1].timestamp if len(pin.states) > 1 else None


def hand_is(raised: bool) -> Callable[[dict[str, Any]], bool]:
    return lambda person: (person["hand_position"] is not None) == raised


def more_frames(listener: MediaListener, name: str, than: int) -> Callable[[], bool]:
    return lambda: listener.frames(name) > than


async def press_figures(bridge: BridgeProcess, tmp: Path, presses: int) -> dict[str, Any]:
    host = await Observer.guest(bridge.ws_url, "testbim", "Host")
    settings = settings_from(controls_toml(bridge.url, "testbim", "ROOM A"))
    led: list[float] = []
    hand: list[float] = []
    async with room_under_test(settings, tmp / "room") as rut:
        await wait_for(lambda: rut.state.connection == "in_meeting", 40, "joining")
        await wait_for(lambda: rut.mic_led() == "green", 10, "live")
        await asyncio.sleep(2.0)  # media flowing
        green = rut.pin(MIC_GREEN)
        for _ in range(presses):
            green.clear_states()
            cleared = time.monotonic()
            pressed = rut.press("mute", hold_s=0.05)
            await wait_for(lambda: len(green.states) > 1, 5, "the mic LED")
            changed = first_change_at(green, cleared)
            assert changed is not None
            led.append(changed - pressed)
            await asyncio.sleep(0.25)  # past the flood guard between presses
        log(f"press → LED: {summary_ms(led)}")
        for _ in range(presses):
            raised = not rut.state.hand_raised
            pressed = rut.press("hand", hold_s=0.05)
            await host.until("ROOM A", hand_is(raised), what="the hand")
            hand.append(host.seen[-1][0] - pressed)
            await asyncio.sleep(0.25)
        log(f"press → host sees the hand: {summary_ms(hand)}")
    await host.close()
    return {"press_to_led": summary_ms(led), "press_to_host_sees_hand": summary_ms(hand)}


def tone_onset(listener: MediaListener, name: str, since: float) -> float | None:
    """Arrival time of the first 20 ms chunk after `since` carrying the tone."""
    pid = listener.pid(name)
    for at, samples in listener.audio.get(pid or "", ()):
        if at >= since and np.sqrt(np.mean(samples ** 2)) > 300:
            return at
    return None


async def grant_figures(tmp: Path, grants: int) -> dict[str, Any]:
    bridge = BridgeProcess(
        tmp / "moderated", room_specs=[RoomSpec("kurul", "Kurul", moderated=True)],
        users=[UserSpec("hulya", "host-secret", role="host"),
               UserSpec("ayse", "listener-secret"),
               UserSpec("oda1", "device-secret", role="device", display_name="ROOM A")])
    secret = tmp / "oda1.password"
    secret.write_text("device-secret\n")
    secret.chmod(0o600)
    text = controls_toml(bridge.url, "kurul", "ROOM A", tone_hz=TONE_HZ).replace(
        '[join]\nmode = "guest"\nguest_name = "ROOM A"\n',
        f'[join]\nmode = "device"\nuser = "oda1"\npassword_file = "{secret}"\n')
    host = await Observer.account(bridge.ws_url, "kurul", "hulya", "host-secret")
    listener = MediaListener(bridge.url, "kurul",
                             conf.Credentials(user="ayse", password="listener-secret"))
    listener.start()
    to_led: list[float] = []
    to_tone: list[float] = []
    try:
        async with room_under_test(settings_from(text), tmp / "granted") as rut:
            await wait_for(lambda: rut.state.connection == "in_meeting", 40, "joining")
            await host.until("ROOM A", lambda x: x["client"] == "appliance")
            await wait_for(lambda: listener.pid("ROOM A"), 10, "the listener")
            green = rut.pin(MIC_GREEN)
            for i in range(grants):
                await grant_once(rut, host, listener, green, 100 + 2 * i, to_led, to_tone)
    finally:
        await listener.close()
        await host.close()
        bridge.stop()
    log(f"grant → mic LED: {summary_ms(to_led)}; grant → tone heard: {summary_ms(to_tone)}")
    return {"grant_to_mic_led": summary_ms(to_led),
            "grant_to_tone_at_participant": summary_ms(to_tone)}


async def grant_once(rut: RoomUnderTest, host: Observer, listener: MediaListener, green: Any,
                     rid: int, to_led: list[float], to_tone: list[float]) -> None:
    await asyncio.sleep(1.0)  # nothing of the last grant left in flight
    green.clear_states()
    cleared = time.monotonic()
    granted = time.monotonic()
    await host.set_right("ROOM A", "audio", True, rid=rid)
    await wait_for(lambda: rut.mic_led() == "green", 10, "the grant at the appliance")
    changed = first_change_at(green, cleared)
    if changed is not None:
        to_led.append(changed - granted)
    onset = await wait_for(lambda: tone_onset(listener, "ROOM A", granted), 10, "the tone",
                           interval=0.02)
    to_tone.append(onset - granted)
    await host.set_right("ROOM A", "audio", False, rid=rid + 1)
    await wait_for(lambda: rut.mic_led() == "red", 10, "the revoke")


async def poll_health(room: SeparateUserAppliance, check: Any, timeout: float) -> float:
    """Poll /healthz every 50 ms until `check(doc)`; the monotonic time it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check(await asyncio.to_thread(room.health)):
                return time.monotonic()
        except OSError:
            pass
        await asyncio.sleep(0.05)
    raise TimeoutError(f"/healthz never matched:\n{room.log_tail()}")


async def cut_figures(bridge: BridgeProcess, cuts: int) -> dict[str, Any]:
    if not nft_available():
        return {"skipped": "needs nftables and root (apt-get install nftables)"}
    port = free_port()
    text = controls_toml(bridge.url, "testbim", "ROOM C", pin_factory="keyboard",
                         health_port=port)
    room = SeparateUserAppliance(text, port)
    listener = MediaListener(bridge.url, "testbim", conf.Credentials(name="Watcher"))
    listener.start()
    cut = NetworkCut(room.gid, keep_tcp_port=port)
    noticed: list[float] = []
    back: list[float] = []
    media: list[float] = []
    in_meeting = lambda d: d["meeting"]["state"] == "in_meeting"  # noqa: E731
    try:
        await poll_health(room, in_meeting, 40)
        room.press("c")  # on camera (an open floor's right alone does not start it)
        for _ in range(cuts):
            await wait_for(lambda: listener.frames("ROOM C") > 0, 20, "video", interval=0.1)
            await asyncio.sleep(2.0)
            cut.start()
            started = time.monotonic()
            seen = await poll_health(room, lambda d: d["meeting"]["state"] != "in_meeting", 60)
            noticed.append(seen - started)
            await asyncio.sleep(max(0.0, MIN_CUT_S - (time.monotonic() - started)))
            cut.stop()
            restored = time.monotonic()
            frames = listener.frames("ROOM C")
            back.append(await poll_health(room, in_meeting, 60) - restored)
            await wait_for(more_frames(listener, "ROOM C", frames), 30, "video again",
                           interval=0.02)
            media.append(time.monotonic() - restored)
            log(f"cut noticed after {noticed[-1]:.1f} s; back {back[-1]:.2f} s and video "
                f"{media[-1]:.2f} s after the network returned")
    finally:
        cut.stop()
        await listener.close()
        room.stop()
        room.remove()
    return {"cut_noticed_s": [round(x, 2) for x in noticed],
            "reconnect_after_network_s": [round(x, 2) for x in back],
            "video_back_after_network_s": [round(x, 2) for x in media]}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench-controls-") as tmp_name:
        tmp = Path(tmp_name)
        for part in ("open", "moderated"):
            (tmp / part).mkdir()
        bridge = BridgeProcess(tmp / "open", rooms=[("testbim", "Test")])
        try:
            result.update(await press_figures(bridge, tmp, args.presses))
            result.update(await cut_figures(bridge, args.cuts))
        finally:
            bridge.stop()
        result.update(await grant_figures(tmp, args.grants))
    result["load_after"] = os.getloadavg()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=30)
    parser.add_argument("--grants", type=int, default=10)
    parser.add_argument("--cuts", type=int, default=3)
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
