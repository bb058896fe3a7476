"""Mouth-to-ear audio latency in a call, for bench_call.py: ticks said at known wall-clock
times, heard by onset.

Every sender ticks (a 5 ms tone burst) at whole wall-clock seconds, each receiver finds
the onsets in what it hears; the machine has one clock, so heard − said is the latency.

- The appliance's simulated microphone ticks (`mic_signal = "ticks"`): each tick placed
  to the sample at the whole second in the period captured then.
- A page's microphone is replaced (init script) by an AudioWorklet that starts a tick
  in the first render quantum at or after the second (plus an offset) and posts when
  that quantum was rendered (Date.now() on the audio thread): when the tick entered the
  page's MediaStream, as a microphone's captured period would.
- A page hears a participant's track through WebAudio: MediaStreamAudioSourceNode →
  AudioWorklet, onset = first sample above a threshold after 300 ms of quiet, timed
  when its render quantum ran (`render`), and also mapped to when the page's output
  device plays that frame (`out`, getOutputTimestamp).
- The appliance hears through its WAV speaker, whose sample n played at the logged
  wall-clock start + n / 48 kHz. Two pages tick into its mix, so each page ticks at its
  own frequency and half a second apart; the appliance demodulates at its page's.

The worklet module is a Blob URL made in the page, which the product page's
Content-Security-Policy forbids: the pages' contexts bypass CSP (`CONTEXT_OPTIONS`;
Playwright's routes do not see worklet fetches, so it cannot be served as 'self').
"""

from __future__ import annotations

import json
import re
import wave
from pathlib import Path
from typing import Any

import numpy as np
from playwright.async_api import Page

CONTEXT_OPTIONS: dict[str, Any] = {"bypass_csp": True}
THRESHOLD = 0.05  # of full scale; ticks are sent at 0.25, quiet is digital silence
QUIET_S = 0.3  # an onset follows at least this much quiet

WORKLET = """
class BenchTicker extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions;
    this.hz = o.hz; this.offset = o.offsetMs; this.level = o.level;
    this.length = Math.round(sampleRate * 0.005);
    this.due = this.nextDue(Date.now());
    this.pos = -1;  // sample within the tick being sent, -1 between ticks
  }
  nextDue(now) { return Math.floor((now - this.offset) / 1000) * 1000 + 1000 + this.offset; }
  process(inputs, outputs) {
    const out = outputs[0][0];
    const now = Date.now();
    if (this.pos < 0 && now >= this.due) {
      this.port.postMessage({ due: this.due, at: now });
      this.due = this.nextDue(now);
      this.pos = 0;
    }
    for (let i = 0; this.pos >= 0 && i < out.length; i++) {
      out[i] = this.level * Math.sin(2 * Math.PI * this.hz * this.pos / sampleRate);
      if (++this.pos >= this.length) this.pos = -1;
    }
    return true;
  }
}
registerProcessor('bench-ticker', BenchTicker);

class BenchOnsets extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.threshold = options.processorOptions.threshold;
    this.minQuiet = Math.round(sampleRate * options.processorOptions.quietS);
    this.quiet = 0;
  }
  process(inputs, outputs) {
    const input = inputs[0];
    if (!input.length) return true;
    const x = input[0];
    for (let i = 0; i < x.length; i++) {
      if (Math.abs(x[i]) <= this.threshold) { this.quiet++; continue; }
      if (this.quiet >= this.minQuiet) {
        this.port.postMessage({ render: Date.now(), ctxTime: currentTime + i / sampleRate });
      }
      this.quiet = 0;
    }
    return true;
  }
}
registerProcessor('bench-onsets', BenchOnsets);
"""

# Defines window.benchWorklet: the worklet module's URL (also for later evaluate calls).
WORKLET_URL = """(() => {
  window.benchWorklet = URL.createObjectURL(
      new Blob([CODE], { type: 'text/javascript' }));
})();""".replace("CODE", json.dumps(WORKLET))

# getUserMedia's audio becomes the ticker (one per page, cloned per request); video goes
# to whatever getUserMedia was before (the test pattern), or is refused when not wanted.
TICKING_MIC = """(([hz, offsetMs, withVideo]) => {
  const md = navigator.mediaDevices;
  if (!md) return;
  const previous = md.getUserMedia.bind(md);
  window.benchTicks = [];
  let mic = null;
  async function tickingMic() {
    const ctx = new AudioContext();
    await ctx.audioWorklet.addModule(window.benchWorklet);
    const node = new AudioWorkletNode(ctx, 'bench-ticker', {
      numberOfInputs: 0, outputChannelCount: [1],
      processorOptions: { hz, offsetMs, level: 0.25 } });
    node.port.onmessage = (e) => window.benchTicks.push(e.data);
    const sink = ctx.createMediaStreamDestination();
    node.connect(sink);
    window.benchTicker = { ctx, node };
    return sink.stream.getAudioTracks()[0];
  }
  md.getUserMedia = async (constraints = {}) => {
    const tracks = [];
    if (constraints.audio) tracks.push((mic = mic || await tickingMic()).clone());
    if (constraints.video && withVideo) {
      tracks.push(...(await previous({ video: constraints.video })).getVideoTracks());
    }
    if (!tracks.length) throw new DOMException('no such device', 'NotFoundError');
    return new MediaStream(tracks);
  };
})(ARGS);"""

# Listens to the named participants' audio tracks; onsets collect in window.benchOnsets.
START_LISTENING = """async ([names, threshold, quietS]) => {
  const ctx = new AudioContext();
  await ctx.audioWorklet.addModule(window.benchWorklet);
  window.benchOnsets = {};
  const found = {};
  for (const name of names) {
    const fig = [...document.querySelectorAll('figure[data-participant]')]
        .find(f => f.querySelector('figcaption').textContent === name);
    const stream = fig && fig.querySelector('video').srcObject;
    const track = stream && stream.getAudioTracks()[0];
    found[name] = Boolean(track);
    if (!track) continue;
    const node = new AudioWorkletNode(ctx, 'bench-onsets', {
      outputChannelCount: [1], processorOptions: { threshold, quietS } });
    ctx.createMediaStreamSource(new MediaStream([track])).connect(node);
    node.connect(ctx.destination);  // pulled by the render graph; it outputs silence
    const onsets = window.benchOnsets[name] = [];
    node.port.onmessage = (e) => {
      const ts = ctx.getOutputTimestamp();
      const toEpoch = Date.now() - performance.now();
      onsets.push({ render: e.data.render,
                    out: toEpoch + ts.performanceTime + (e.data.ctxTime - ts.contextTime) * 1000 });
    };
  }
  window.benchListener = ctx;
  return { found, sample_rate: ctx.sampleRate, base_latency_ms: ctx.baseLatency * 1000,
           output_latency_ms: ctx.outputLatency * 1000 };
}"""

STOP_LISTENING = """async () => {
  const ctx = window.benchListener;
  const out = { onsets: window.benchOnsets, output_latency_ms: ctx.outputLatency * 1000 };
  await ctx.close();
  return out;
}"""

# The page's receive-side WebRTC figures for one participant's audio, and its playout.
AUDIO_STATS = """async (name) => {
  const conf = window.salon.conference;
  const fig = [...document.querySelectorAll('figure[data-participant]')]
      .find(f => f.querySelector('figcaption').textContent === name);
  const stream = fig && fig.querySelector('video').srcObject;
  const ids = new Set(stream ? stream.getAudioTracks().map(t => t.id) : []);
  const out = {};
  for (const s of (await conf.subPc.getStats()).values()) {
    if (s.type === 'inbound-rtp' && ids.has(s.trackIdentifier)) out.inbound = s;
    if (s.type === 'media-playout') out.playout = s;
  }
  return out;
}"""

SPEAKER_STARTED = re.compile(r"first sample played at wall clock (\d+\.\d+)")


def init_scripts(hz: float, offset_ms: int, with_video: bool) -> list[str]:
    """Init scripts for a page whose microphone ticks at `hz`, `offset_ms` after each
    whole second (add them after any that replace the camera)."""
    return [WORKLET_URL, TICKING_MIC.replace("ARGS", json.dumps([hz, offset_ms, with_video]))]


async def start_listening(page: Page, names: list[str]) -> dict[str, Any]:
    return dict(await page.evaluate(START_LISTENING, [names, THRESHOLD, QUIET_S]))


async def stop_listening(page: Page) -> dict[str, Any]:
    return dict(await page.evaluate(STOP_LISTENING))


async def ticks_said(page: Page) -> list[dict[str, float]]:
    """The page's ticks: when each was due and when its quantum was rendered (epoch ms)."""
    return list(await page.evaluate("window.benchTicks || []"))


async def audio_stats(page: Page, name: str) -> dict[str, Any]:
    return dict(await page.evaluate(AUDIO_STATS, name))


def speaker_started_at(appliance_log: str) -> float:
    """The wall-clock time the WAV speaker's sample 0 played (the last time it opened)."""
    found = SPEAKER_STARTED.findall(appliance_log)
    if not found:
        raise RuntimeError("the appliance never logged its speaker's start")
    return float(found[-1])


def wav_onsets(path: Path, started_at: float, hz: float, since: float,
               until: float) -> list[float]:
    """Wall-clock times (s) of tick onsets at `hz` in a WAV speaker's file, in [since, until].

    Demodulated at `hz` and averaged over 4 ms (which nulls tones a multiple of 250 Hz
    away, the other page's 3 kHz, and smooths its clicks' broadband edges) to find this
    sender's ticks (at half their level); each onset is then the first sample above
    THRESHOLD just before there, as the pages' detector does."""
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768
    first = max(0, int((since - started_at) * rate))
    last = min(x.size, int((until - started_at) * rate))
    segment = x[first:last]
    if segment.size == 0:
        return []
    n = np.arange(first, last)
    width = rate // 250
    envelope = 2 * np.abs(np.convolve(segment * np.exp(-2j * np.pi * hz * n / rate),
                                      np.ones(width) / width, "same"))
    loud = np.flatnonzero(envelope > 2 * THRESHOLD)
    if loud.size == 0:
        return []
    starts = loud[np.insert(np.diff(loud) > QUIET_S * rate, 0, True)]
    onsets = []
    for at in starts:
        lo = max(0, at - 2 * width)
        above = np.flatnonzero(np.abs(segment[lo : at + width // 2]) > THRESHOLD)
        index = lo + (int(above[0]) if above.size else at - lo)
        onsets.append(started_at + (first + index) / rate)
    return onsets


def said_before(heard: float, said: list[float]) -> float | None:
    """The latest tick said (epoch ms) before one heard at `heard`, if under a second."""
    earlier = [t for t in said if t <= heard]
    return max(earlier) if earlier and heard - max(earlier) < 1000 else None


def first_heard(heard: list[float], said: list[float]) -> dict[float, float]:
    """Each tick said (epoch ms) → the first onset heard after it (within a second).
    Later onsets for the same tick (a loss concealed by repeating it) do not count."""
    out: dict[float, float] = {}
    for h in sorted(heard):
        tick = said_before(h, said)
        if tick is not None and tick not in out:
            out[tick] = h
    return out


def latencies_ms(heard: list[float], said: list[float]) -> list[float]:
    """Heard − said, for the first onset heard of each tick."""
    return [h - tick for tick, h in first_heard(heard, said).items()]


def whole_seconds_before(heard: list[float]) -> list[float]:
    """The appliance's ticks are said at whole seconds: the one before each onset (ms)."""
    return [float(np.floor(h / 1000) * 1000) for h in heard]
