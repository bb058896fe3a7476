"""A call at 1280×720@30 through real parts: start-up, video and audio latency both ways,
CPU/RAM, and the same audio figure between two browsers in the same run.

    scripts/in-netns .venv/bin/python tests/bench/bench_call.py [--steady S] [--latency S]
        [--audio S]

One run, one room (the appliance at the nice value its systemd unit gives it,
`--appliance-nice`, -5): the real bridge with its Janus, Debian's Chromium (Playwright)
publishing the test pattern from a canvas (`testPatternStream` of
bridge/web/static/testpattern.js, swapped in for the camera by an init script so
the product page stays untouched) and, as its microphone, ticks at whole wall-clock
seconds (tests/bench/call_audio.py), then a simulated `salon-appliance` joining that
room, its simulated microphone ticking too (`mic_signal = "ticks"`, 2 kHz).
Measured, in this order:

1. `start_to_first_remote_frame_s`: from launching the appliance process to its
   screen first showing the browser's video (the appliance's wall clock, read from
   /healthz "diagnostics", minus the launch time; same machine, same clock).
2. CPU and memory over a steady-state interval with nothing probing either side:
   appliance, Chromium (its whole process tree), bridge and Janus side by side.
   CPU is user+system time over wall time, in % of one core; RSS is sampled
   every second (peak of the sum for Chromium, which double-counts shared pages;
   PSS at the end does not); the appliance's VmHWM is its lifetime peak.
3. Glass-to-glass latency, both directions at once:
   - appliance→browser: in the page, requestVideoFrameCallback on the appliance's
     tile, the frame drawn to a 640×360 canvas, `readTimestamp` against Date.now()
     (also against the frame's receiveTime, which splits network from decode+render);
   - browser→appliance: the appliance's capture→shown figure for the browser's
     tile (DiagnosedScreenDriver), polled at 10 Hz, one sample per shown frame.
4. Mouth-to-ear audio latency (one tick a second per sender; call_audio.py says how
   each end times them). A second page (audio only: it ticks at 3 kHz, half a second
   after the first page's 2 kHz, so the appliance's mix tells them apart) joins first:
   - appliance→browser: tick said at the second (placed to the sample in the mic's
     10 ms period) → onset heard by the first page through WebAudio. `render` is when
     the AudioWorklet quantum holding it ran; `output` adds what the page's AudioContext
     reports until its output device plays that frame (its own buffer, which the
     <video> element's playout does not share). No loudspeaker or DAC is included.
   - browser→appliance: the first page's tick (when its render quantum ran) → the
     sample of the appliance's WAV speaker that plays it (the file keeps the wall
     clock: sample n at the logged start + n/48 kHz), i.e. up to handing the period to
     the device; a real device adds its output buffer (`speaker.output_latency`).
   - browser→browser: the second page's tick → the first page, timed as the appliance's
     ticks are, so the appliance is compared with a browser in the same call.
   Senders differ slightly: the appliance's capture period (≤10 ms) is inside its figure;
   a page's WebAudio ticker is not a microphone (no capture buffer, no audio processing).

Prints a human table on stderr and one JSON object as the last line of stdout.
Numbers only: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import numpy as np
import psutil
from playwright.async_api import Browser, Page

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import call_audio
from tests.support.browser import chromium, join_room, tile_video_state
from tests.support.procs import Appliance, BridgeProcess, wait_until

ROOM = "bench"
BROWSER_NAME = "Bench Browser"
PEER_NAME = "Bench Browser Two"
APPLIANCE_NAME = "BENCH ROOM – ANKARA MEM"
SIZE = (1280, 720)
FPS = 30
APPLIANCE_TICK_HZ = 2000.0
PAGE_TICK = (2000.0, 0)  # Hz, ms after the whole second
PEER_TICK = (3000.0, 500)

# Replaces the page's camera with the test pattern (the ticking microphone, added after,
# replaces its audio).
PATTERN_CAMERA = """(() => {
  const md = navigator.mediaDevices;
  if (!md) return;
  const original = md.getUserMedia.bind(md);
  md.getUserMedia = async (constraints = {}) => {
    const audio = constraints.audio
      ? (await original({ audio: constraints.audio })).getAudioTracks() : [];
    if (!constraints.video) return new MediaStream(audio);
    if (!window.benchPattern) {  // one canvas however often the page asks
      const { testPatternStream } = await import('/static/testpattern.js');
      window.benchPattern = testPatternStream(PATTERN_ARGS);
    }
    const video = window.benchPattern.stream.getVideoTracks().map((t) => t.clone());
    return new MediaStream([...audio, ...video]);
  };
})();""".replace("PATTERN_ARGS", f"{SIZE[0]}, {SIZE[1]}, {FPS}")

# Latency of the appliance's video as shown in the page, one sample per frame.
PAGE_LATENCY = """async ([name, ms]) => {
  const { readVideoTimestamp } = await import('/static/testpattern.js');
  const fig = [...document.querySelectorAll('figure[data-participant]')]
      .find(f => f.querySelector('figcaption').textContent === name);
  const video = fig && fig.querySelector('video');
  if (!video || !video.requestVideoFrameCallback) return null;
  const shown = [], received = [];
  let unreadable = 0;
  const end = performance.now() + ms;
  await new Promise((resolve) => {
    const onFrame = (now, meta) => {
      const at = Date.now();
      // receiveTime is on the performance clock, which may drift from Date.now()
      const toEpoch = at - performance.now();
      const t = readVideoTimestamp(video, 640, 360);
      if (t === null) unreadable++;
      else {
        shown.push([at, at - t]);
        if (meta.receiveTime) received.push(toEpoch + meta.receiveTime - t);
      }
      if (performance.now() < end) video.requestVideoFrameCallback(onFrame);
      else resolve();
    };
    video.requestVideoFrameCallback(onFrame);
  });
  return { shown, received, unreadable, width: video.videoWidth, height: video.videoHeight };
}"""

# The page's WebRTC counters for the appliance's streams and its own video sender.
PAGE_STATS = """async (name) => {
  const conf = window.salon.conference;
  const fig = [...document.querySelectorAll('figure[data-participant]')]
      .find(f => f.querySelector('figcaption').textContent === name);
  const stream = fig && fig.querySelector('video').srcObject;
  const ids = new Set(stream ? stream.getTracks().map(t => t.id) : []);
  const out = {};
  for (const s of (await conf.subPc.getStats()).values()) {
    if (s.type === 'inbound-rtp' && ids.has(s.trackIdentifier)) out['in_' + s.kind] = s;
  }
  for (const s of (await conf.pubPc.getStats()).values()) {
    if (s.type === 'outbound-rtp' && s.kind === 'video') out.out_video = s;
  }
  return out;
}"""


def log(message: str) -> None:
    print(f"[bench_call] {message}", file=sys.stderr, flush=True)


def stats(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"n": 0, "p50": None, "p95": None, "min": None, "max": None}
    a = np.asarray(samples, float)
    return {"n": int(a.size), "p50": round(float(np.percentile(a, 50)), 1),
            "p95": round(float(np.percentile(a, 95)), 1),
            "min": round(float(a.min()), 1), "max": round(float(a.max()), 1)}


# ---- processes ----------------------------------------------------------------


def chromium_tree() -> list[psutil.Process]:
    """Chromium's processes: our descendants (Playwright's driver launched them)."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.name().startswith("chrom"):
                found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


def cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    out = {}
    for proc in procs:
        try:
            t = proc.cpu_times()
            out[proc.pid] = t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return out


def rss_bytes(procs: list[psutil.Process]) -> int:
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def pss_bytes(procs: list[psutil.Process]) -> int | None:
    try:
        return sum(int(getattr(p.memory_full_info(), "pss", 0)) for p in procs)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def vm_hwm_bytes(pid: int) -> int | None:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def machine_busy_s(t: Any) -> float:
    """CPU seconds all cores spent working (guest time is already inside user/nice)."""
    return float(sum(getattr(t, f, 0.0) for f in
                     ("user", "nice", "system", "irq", "softirq", "steal")))


def mib(n: int | None) -> float | None:
    return None if n is None else round(n / 2**20, 1)


class Group:
    """One party's processes (a function, since Chromium's tree can change)."""

    def __init__(self, name: str, procs: Callable[[], list[psutil.Process]]) -> None:
        self.name, self.procs = name, procs
        self.cpu_start: dict[int, float] = {}
        self.rss_peak = 0

    def begin(self) -> None:
        self.cpu_start = cpu_seconds(self.procs())

    def sample(self) -> None:
        self.rss_peak = max(self.rss_peak, rss_bytes(self.procs()))

    def cpu_percent(self, wall_s: float) -> float:
        end = cpu_seconds(self.procs())
        used = sum(t - self.cpu_start.get(pid, 0.0) for pid, t in end.items())
        return round(100 * used / wall_s, 1)

    def memory(self) -> dict[str, Any]:
        procs = self.procs()
        return {"rss_peak_mib": mib(self.rss_peak), "pss_end_mib": mib(pss_bytes(procs)),
                "processes": len(procs)}


# ---- the call -----------------------------------------------------------------


async def poll(predicate: Callable[[], Any], timeout: float, what: str,
               interval: float = 0.1) -> Any:
    return await asyncio.to_thread(wait_until, predicate, timeout, what, interval)


def health(appliance: Appliance) -> dict[str, Any]:
    """/healthz, also when it answers 503 (unhealthy still reports its sections)."""
    url = f"http://127.0.0.1:{appliance.health_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # loopback only
            return dict(json.loads(resp.read()))
    except urllib.error.HTTPError as exc:
        return dict(json.loads(exc.read()))


def diagnostics(appliance: Appliance) -> dict[str, Any]:
    return dict(health(appliance).get("diagnostics") or {})


def browser_video_at(appliance: Appliance) -> dict[str, Any]:
    return dict(diagnostics(appliance).get("remote_video", {}).get(BROWSER_NAME) or {})


def media_frames(appliance: Appliance) -> int:
    video = health(appliance).get("media", {}).get("video", {})
    return int((video.get(BROWSER_NAME) or {}).get("frames", 0))


async def frames_in_page(page: Page) -> int:
    state = await tile_video_state(page, APPLIANCE_NAME)
    return int(state["frames"]) if state else 0


async def steady_state(page: Page, appliance: Appliance, bridge: BridgeProcess,
                       seconds: float) -> dict[str, Any]:
    janus_pid = int(bridge.health()["janus_pid"])
    app_proc, bridge_proc, janus_proc = (psutil.Process(p) for p in
                                         (appliance.pid, bridge.pid, janus_pid))
    groups = [Group("appliance", lambda: [app_proc]), Group("chromium", chromium_tree),
              Group("bridge", lambda: [bridge_proc]), Group("janus", lambda: [janus_proc])]
    me = psutil.Process()
    frames_page_0 = await frames_in_page(page)
    frames_app_0 = media_frames(appliance)
    machine_0, me_0 = psutil.cpu_times(), cpu_seconds([me])
    load_0 = os.getloadavg()
    for g in groups:
        g.begin()
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        for g in groups:
            g.sample()
        await asyncio.sleep(1.0)
    wall = time.monotonic() - start
    # every CPU figure read at once, before the slower memory readings
    machine_1, me_1 = psutil.cpu_times(), cpu_seconds([me])
    cpu = {g.name: g.cpu_percent(wall) for g in groups}
    busy = machine_busy_s(machine_1) - machine_busy_s(machine_0)
    steal = machine_1.steal - machine_0.steal
    ours = sum(cpu.values()) + 100 * (me_1[me.pid] - me_0[me.pid]) / wall
    result: dict[str, Any] = {g.name: {"cpu_percent_of_one_core": cpu[g.name], **g.memory()}
                              for g in groups}
    result["appliance"]["vm_hwm_mib"] = mib(vm_hwm_bytes(appliance.pid))
    result["interval_s"] = round(wall, 1)
    result["fps_received"] = {
        "browser_from_appliance": round((await frames_in_page(page) - frames_page_0) / wall, 1),
        "appliance_from_browser": round((media_frames(appliance) - frames_app_0) / wall, 1),
    }
    result["machine"] = {
        "cores": psutil.cpu_count(), "busy_percent_of_one_core": round(100 * busy / wall, 1),
        "others_percent_of_one_core": round(100 * busy / wall - ours, 1),
        "steal_percent_of_one_core": round(100 * steal / wall, 1),
        "loadavg_1m_start_end": [round(load_0[0], 2), round(os.getloadavg()[0], 2)],
    }
    return result


def p50_by_slice(samples: list[tuple[float, float]], slice_ms: float) -> list[float]:
    """Median latency per consecutive slice of the window: shows a trend a p50 hides."""
    if not samples:
        return []
    start = samples[0][0]
    slices: dict[int, list[float]] = {}
    for at, ms in samples:
        slices.setdefault(int((at - start) // slice_ms), []).append(ms)
    return [round(float(np.median(v)), 1) for _, v in sorted(slices.items())]


def per_unit(d1: dict[str, Any], d0: dict[str, Any], key: str, per: str,
             scale: float = 1000.0) -> float | None:
    """Δkey / Δper (e.g. seconds of decoding per decoded frame, in ms)."""
    count = d1.get(per, 0) - d0.get(per, 0)
    if key not in d1 or count <= 0:
        return None
    return round(scale * (d1[key] - d0.get(key, 0)) / count, 1)


def webrtc_breakdown(s0: dict[str, Any], s1: dict[str, Any], wall: float) -> dict[str, Any]:
    """Where the page's time goes, from getStats() deltas over the latency window."""
    v0, v1 = s0.get("in_video", {}), s1.get("in_video", {})
    a0, a1 = s0.get("in_audio", {}), s1.get("in_audio", {})
    o0, o1 = s0.get("out_video", {}), s1.get("out_video", {})
    emitted = "jitterBufferEmittedCount"
    return {
        "receive_video": {
            "jitter_buffer_ms": per_unit(v1, v0, "jitterBufferDelay", emitted),
            "jitter_buffer_target_ms": per_unit(v1, v0, "jitterBufferTargetDelay", emitted),
            "decode_ms": per_unit(v1, v0, "totalDecodeTime", "framesDecoded"),
            "processing_ms": per_unit(v1, v0, "totalProcessingDelay", "framesDecoded"),
            "kbps": round(8 * (v1.get("bytesReceived", 0) - v0.get("bytesReceived", 0))
                          / wall / 1000),
            "frames_dropped": v1.get("framesDropped", 0) - v0.get("framesDropped", 0),
            "decoder": v1.get("decoderImplementation"),
        },
        "receive_audio": {
            "jitter_buffer_ms": per_unit(a1, a0, "jitterBufferDelay", emitted),
            "jitter_buffer_target_ms": per_unit(a1, a0, "jitterBufferTargetDelay", emitted),
            "packets_per_s": round((a1.get("packetsReceived", 0) - a0.get("packetsReceived", 0))
                                   / wall, 1),
            "concealed_percent": per_unit(a1, a0, "concealedSamples", "totalSamplesReceived",
                                          100.0),
            "decelerated_percent": per_unit(a1, a0, "insertedSamplesForDeceleration",
                                            "totalSamplesReceived", 100.0),
            "accelerated_percent": per_unit(a1, a0, "removedSamplesForAcceleration",
                                            "totalSamplesReceived", 100.0),
        },
        "send_video": {
            "encode_ms": per_unit(o1, o0, "totalEncodeTime", "framesEncoded"),
            "kbps": round(8 * (o1.get("bytesSent", 0) - o0.get("bytesSent", 0)) / wall / 1000),
            "size": [o1.get("frameWidth"), o1.get("frameHeight")],
            "fps": o1.get("framesPerSecond"),
            "quality_limitation": o1.get("qualityLimitationReason"),
            "encoder": o1.get("encoderImplementation"),
        },
    }


async def latency(page: Page, appliance: Appliance, seconds: float) -> dict[str, Any]:
    stats_0, started = await page.evaluate(PAGE_STATS, APPLIANCE_NAME), time.monotonic()
    in_page = asyncio.ensure_future(page.evaluate(PAGE_LATENCY, [APPLIANCE_NAME, seconds * 1000]))
    shown: dict[float, float] = {}  # shown_at -> capture->shown ms (one per shown frame)
    decoded: list[float] = []
    size = None
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        seen = await asyncio.to_thread(browser_video_at, appliance)
        if seen.get("capture_to_shown_ms") is not None:
            shown[seen["shown_at"]] = seen["capture_to_shown_ms"]
            size = seen.get("size")
        if seen.get("capture_to_decoded_ms") is not None:
            decoded.append(seen["capture_to_decoded_ms"])
        await asyncio.sleep(0.1)
    page_result = await in_page or {}
    stats_1 = await page.evaluate(PAGE_STATS, APPLIANCE_NAME)
    shown_in_page = [(float(at), float(ms)) for at, ms in page_result.get("shown", [])]
    breakdown = webrtc_breakdown(stats_0, stats_1, time.monotonic() - started)
    return {
        "appliance_to_browser_ms": stats([ms for _, ms in shown_in_page]),
        "appliance_to_browser_p50_by_5s_ms": p50_by_slice(shown_in_page, 5000),
        "appliance_to_browser_received_ms": stats(page_result.get("received", [])),
        "appliance_to_browser_unreadable_frames": page_result.get("unreadable"),
        "browser_received_size": [page_result.get("width"), page_result.get("height")],
        "browser_to_appliance_ms": stats(list(shown.values())),
        "browser_to_appliance_decoded_ms": stats(decoded),
        "appliance_received_size": size,
        "browser_webrtc": breakdown,
    }


@contextmanager
def stopping(*procs: Any) -> Iterator[None]:
    try:
        yield
    except BaseException:
        for proc in procs:
            log(f"---- {proc.log_path.name} ----\n{proc.log_tail(3000)}")
        raise
    finally:
        for proc in reversed(procs):
            if proc is not None:
                proc.stop()


async def join_ticking(browser: Browser, bridge: BridgeProcess, name: str,
                       tick: tuple[float, int], pattern: bool) -> Page:
    """The product page joining the room, with ticks as its microphone and the pattern
    as its camera (or no camera)."""
    context = await browser.new_context(**call_audio.CONTEXT_OPTIONS)
    if pattern:
        await context.add_init_script(PATTERN_CAMERA)
    for script in call_audio.init_scripts(*tick, with_video=pattern):
        await context.add_init_script(script)
    # The e2e tests' join (kept in step with the web client), on a context that has
    # the init scripts: a BrowserContext opens pages just as a Browser does.
    return await join_room(cast(Browser, context), bridge.room_url(ROOM), name)


def rounded(d: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in d.items()}


def audio_receive(s0: dict[str, Any], s1: dict[str, Any]) -> dict[str, Any]:
    """The page's jitter buffer for one sender, and its audio device's playout delay."""
    i0, i1 = s0.get("inbound", {}), s1.get("inbound", {})
    p0, p1 = s0.get("playout", {}), s1.get("playout", {})
    emitted = "jitterBufferEmittedCount"
    return {"jitter_buffer_ms": per_unit(i1, i0, "jitterBufferDelay", emitted),
            "jitter_buffer_target_ms": per_unit(i1, i0, "jitterBufferTargetDelay", emitted),
            "playout_delay_ms": per_unit(p1, p0, "totalPlayoutDelay", "totalSamplesCount")}


def heard_minus_said(onsets: list[dict[str, float]], said: list[float]) -> dict[str, Any]:
    """Latency of each tick the page heard (its first onset), at render and at the
    page's output, in ms; `extra` counts onsets beyond the first per tick."""
    out_at = {o["render"]: o["out"] for o in onsets}
    first = call_audio.first_heard(list(out_at), said)
    return {"render": [h - tick for tick, h in first.items()],
            "output": [out_at[h] - tick for tick, h in first.items()],
            "extra": len(onsets) - len(first)}


def suspect(receive: dict[str, Any], latencies: list[float]) -> bool:
    """Whether latencies may have wrapped past a second: the jitter buffer alone was close
    to it, or ticks came out of order (a wrap turns a rise into a drop)."""
    buffered = receive.get("jitter_buffer_ms") or 0.0
    drops = sum(1 for a, b in itertools.pairwise(latencies) if a - b > 500)
    return bool(buffered > 700 or drops)


async def audio_latency(page: Page, peer: Page, appliance: Appliance,
                        seconds: float) -> dict[str, Any]:
    names = [APPLIANCE_NAME, PEER_NAME]
    stats_0 = {n: await call_audio.audio_stats(page, n) for n in names}
    listener = await call_audio.start_listening(page, names)
    since, load_0 = time.time(), os.getloadavg()
    buffered: dict[str, list[float]] = {}  # the appliance's mix: jitter buffer per sender
    while time.time() - since < seconds:
        mixer = health(appliance).get("audio", {}).get("mixer", {})
        for key, ms in (mixer.get("buffered_ms") or {}).items():
            buffered.setdefault(key, []).append(ms)
        await asyncio.sleep(1.0)
    until = time.time()
    heard = await call_audio.stop_listening(page)
    stats_1 = {n: await call_audio.audio_stats(page, n) for n in names}
    said_page = [t["at"] for t in await call_audio.ticks_said(page)]
    said_peer = await call_audio.ticks_said(peer)
    started = call_audio.speaker_started_at(appliance.log_path.read_text(errors="replace"))
    # The last tick may still be on its way: the file is read a moment after the window.
    await asyncio.sleep(1.0)
    by_appliance = [1000 * t for t in call_audio.wav_onsets(
        appliance.speaker_wav, started, PAGE_TICK[0], since, until + 1.0)]
    onsets = heard["onsets"]
    from_appliance = onsets.get(APPLIANCE_NAME, [])
    to_page = heard_minus_said(from_appliance, call_audio.whole_seconds_before(
        [o["render"] for o in from_appliance]))
    from_peer = heard_minus_said(onsets.get(PEER_NAME, []), [t["at"] for t in said_peer])
    to_appliance = call_audio.latencies_ms(by_appliance, said_page)
    extra = {"appliance_to_browser": to_page["extra"], "browser_to_browser": from_peer["extra"],
             "browser_to_appliance": len(by_appliance) - len(to_appliance)}
    receive = {n: audio_receive(stats_0[n], stats_1[n]) for n in names}
    lags = [t["at"] - t["due"] for t in said_peer + await call_audio.ticks_said(page)]
    return {
        "window_s": round(until - since, 1),
        "appliance_to_browser_ms": stats(to_page["render"]),
        "appliance_to_browser_output_ms": stats(to_page["output"]),
        "browser_to_appliance_ms": stats(to_appliance),
        "browser_to_browser_ms": stats(from_peer["render"]),
        "browser_to_browser_output_ms": stats(from_peer["output"]),
        # Ticks come once a second: a latency over 1 s reads as itself minus 1 s. The page's
        # jitter buffer alone near that (a loaded machine) makes its figures suspect.
        "aliased_over_1s_suspected": {
            "appliance_to_browser": suspect(receive[APPLIANCE_NAME], to_page["render"]),
            "browser_to_browser": suspect(receive[PEER_NAME], from_peer["render"])},
        "extra_onsets": extra,  # heard again after the first (concealment), not counted
        "samples_ms": {"appliance_to_browser": [round(v) for v in to_page["render"]],
                       "browser_to_browser": [round(v) for v in from_peer["render"]],
                       "browser_to_appliance": [round(v) for v in to_appliance]},
        "page_tick_render_lag_ms": stats(lags),
        "page_listener": rounded({**listener, "output_latency_ms": heard["output_latency_ms"]}),
        "page_receive": receive,
        "appliance_buffered_ms_p50": {k: round(float(np.median(v)), 1)
                                      for k, v in buffered.items()},
        "loadavg_1m_start_end": [round(load_0[0], 2), round(os.getloadavg()[0], 2)],
    }


async def call(tmp: Path, settle_s: float, steady_s: float, latency_s: float,
               audio_s: float, nice: int) -> dict[str, Any]:
    log("starting the bridge and Janus")
    bridge = BridgeProcess(tmp, rooms=[(ROOM, "Bench room")])
    with stopping(bridge):
        async with chromium() as browser:
            page = await join_ticking(browser, bridge, BROWSER_NAME, PAGE_TICK, pattern=True)
            log("browser in the room; launching the appliance")
            launched = time.time()
            appliance = Appliance(tmp, bridge, APPLIANCE_NAME, room=ROOM,
                                  tone_hz=APPLIANCE_TICK_HZ, mic_signal="ticks", nice=nice)
            with stopping(appliance):
                first = await poll(lambda: diagnostics(appliance).get(
                    "first_remote_frame_shown_at"), 60, "the appliance showing the browser")
                start_s = round(float(first) - launched, 3)
                log(f"first remote frame shown {start_s} s after launch")
                for _ in range(120):  # the browser decoding the appliance's video too
                    if await frames_in_page(page) > FPS:
                        break
                    await asyncio.sleep(0.25)
                await asyncio.sleep(settle_s)
                log(f"steady state: measuring CPU and memory for {steady_s:.0f} s")
                resources = await steady_state(page, appliance, bridge, steady_s)
                log(f"latency: sampling both directions for {latency_s:.0f} s")
                lat = await latency(page, appliance, latency_s)
                log("audio: a second page joins")
                peer = await join_ticking(browser, bridge, PEER_NAME, PEER_TICK, pattern=False)
                await poll(lambda: len(health(appliance).get("audio", {}).get("mixer", {})
                                       .get("buffered_ms") or {}) >= 2,
                           30, "the appliance mixing both pages")
                for _ in range(120):
                    state = await tile_video_state(page, PEER_NAME)
                    if state and "audio" in state["tracks"]:
                        break
                    await asyncio.sleep(0.25)
                await asyncio.sleep(settle_s)
                log(f"audio: mouth-to-ear latency for {audio_s:.0f} s")
                audio = await audio_latency(page, peer, appliance, audio_s)
    return {"start_to_first_remote_frame_s": start_s, "latency": lat, "audio": audio,
            "resources": resources}


def table(result: dict[str, Any]) -> str:
    lat, res = result["latency"], result["resources"]
    rows = [f"call at {SIZE[0]}x{SIZE[1]}@{FPS}",
            "  appliance start -> first remote frame shown  "
            f"{result['start_to_first_remote_frame_s']} s",
            "  glass-to-glass latency (ms)          p50      p95      n"]
    for label, key in (("appliance -> browser", "appliance_to_browser_ms"),
                       ("  (capture -> browser received)", "appliance_to_browser_received_ms"),
                       ("browser -> appliance (shown)", "browser_to_appliance_ms"),
                       ("  (capture -> appliance decoded)", "browser_to_appliance_decoded_ms")):
        s = lat[key]
        rows.append(f"    {label:<34}{s['p50']!s:>7}  {s['p95']!s:>7}  {s['n']:>5}")
    w = lat["browser_webrtc"]
    rows.append(f"  in Chromium: receive {w['receive_video']}")
    rows.append(f"               audio {w['receive_audio']}")
    rows.append(f"               send {w['send_video']}")
    rows.append(f"  appliance -> browser p50 per 5 s: {lat['appliance_to_browser_p50_by_5s_ms']}")
    rows.append(f"  resources over {res['interval_s']} s steady state   CPU %core  RSS peak MiB"
                "  PSS MiB")
    for name in ("appliance", "chromium", "bridge", "janus"):
        r = res[name]
        rows.append(f"    {name:<34}{r['cpu_percent_of_one_core']:>7}  {r['rss_peak_mib']!s:>12}"
                    f"  {r['pss_end_mib']!s:>7}")
    m = res["machine"]
    rows.append(f"  machine: {m['cores']} cores, busy {m['busy_percent_of_one_core']} %core "
                f"(others {m['others_percent_of_one_core']}, steal "
                f"{m['steal_percent_of_one_core']}), load {m['loadavg_1m_start_end']}")
    rows.append(f"  fps received: {res['fps_received']}")
    a = result["audio"]
    rows.append(f"  mouth-to-ear audio latency (ms) over {a['window_s']} s, load "
                f"{a['loadavg_1m_start_end']}      p50      p95      n")
    for label, key in (("appliance -> browser (render)", "appliance_to_browser_ms"),
                       ("  (to the page's audio output)", "appliance_to_browser_output_ms"),
                       ("browser -> browser (render)", "browser_to_browser_ms"),
                       ("  (to the page's audio output)", "browser_to_browser_output_ms"),
                       ("browser -> appliance (speaker)", "browser_to_appliance_ms")):
        s = a[key]
        rows.append(f"    {label:<34}{s['p50']!s:>7}  {s['p95']!s:>7}  {s['n']:>5}")
    rows.append(f"  onsets heard again (not counted): {a['extra_onsets']}; over 1 s "
                f"(aliased) suspected: {a['aliased_over_1s_suspected']}")
    rows.append(f"  page receive {a['page_receive']}")
    rows.append(f"  page listener {a['page_listener']}; tick render lag "
                f"{a['page_tick_render_lag_ms']}")
    rows.append(f"  appliance mix buffered p50 {a['appliance_buffered_ms_p50']}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--steady", type=float, default=30.0, help="CPU/RAM interval, s")
    parser.add_argument("--latency", type=float, default=20.0, help="latency sampling, s")
    parser.add_argument("--audio", type=float, default=40.0,
                        help="audio latency window, s (one tick a second per sender)")
    parser.add_argument("--appliance-nice", type=int, default=-5,
                        help="the appliance's nice value (the systemd unit's Nice=-5)")
    args = parser.parse_args()
    if os.environ.get("SALON_IN_NETNS") != "1":
        sys.exit("bench_call: run inside scripts/in-netns (media needs the private netns)")
    with tempfile.TemporaryDirectory(prefix="salon-bench-call-") as tmp:
        measured = asyncio.run(call(Path(tmp), args.settle, args.steady, args.latency,
                                    args.audio, args.appliance_nice))
    result = {"benchmark": "call", "size": list(SIZE), "fps": FPS,
              "appliance_nice": args.appliance_nice,
              "machine": platform.machine(), "python": platform.python_version(), **measured}
    print(table(result), file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
