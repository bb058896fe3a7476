"""Audio path costs and echo cancellation quality on the synthetic room; prints JSON.

    .venv/bin/python tests/bench/bench_audio_path.py [--seconds S]

- `aec_cpu_per_10ms`: thread CPU of WebRTC's audio processing (livekit's
  AudioProcessingModule) per 10 ms of 48 kHz mono: capture + far-end reference,
  every stage on, then each stage alone.
- `synthetic_room`: ERLE (echo return loss enhancement) while only the far end
  talks, and how much the near end's level changes alone and in double talk,
  for a small-room echo path (the test's) and a more reverberant one. Offline:
  10 ms frames fed in lock-step, the same signals as tests/appliance/test_media_aec.py
  (which runs the same room in real time through ALSA).
- `capture_cpu_per_10ms`: AlsaMicrophone's conversion of one period (decode
  samples, choose/mix channels, resample to 48 kHz) for a few array formats.
- `mixer_cpu_per_10ms_per_source`: one remote source's jitter buffer take,
  without and with drift compensation (cubic resampling), and with 2 % of the
  packets lost (push and take, the concealment included).
- `concealment_cpu`: filling in one lost 20 ms packet (pitch search + waveform
  substitution).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from appliance.devices.alsa import (
    RateConverter,
    decode_samples,
    encode_samples,
    mix_down,
    to_int16,
)
from appliance.devices.audio import CHUNK_SAMPLES, SAMPLE_RATE
from appliance.media.aec import AudioProcessor, ProcessingStages
from appliance.media.conceal import Concealer
from appliance.media.jitter import AudioJitterBuffer
from appliance.media.roomsim import EchoPath, level_db, room_response, speech_like

FAR_LEVEL, NEAR_LEVEL = 3000.0, 1500.0


def ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"mean_ms": round(statistics.fmean(samples) * 1000, 4),
            "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 4)}


def int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def room_signals(seconds: float, response: np.ndarray) -> dict[str, np.ndarray]:
    """Far end alone for 60 %, the near end alone for 20 %, both for the last 20 %."""
    far = speech_like(seconds, seed=1, pitch_hz=120) * FAR_LEVEL
    near = speech_like(seconds, seed=2, pitch_hz=210) * NEAR_LEVEL
    t = np.arange(far.size) / SAMPLE_RATE
    far[(t >= 0.6 * seconds) & (t < 0.8 * seconds)] = 0
    near[t < 0.6 * seconds] = 0
    echo = EchoPath(response).echo(far)
    return {"far": far, "near": near, "echo": echo, "mic": echo + near}


def run_room(stages: ProcessingStages, signals: dict[str, np.ndarray]) -> tuple[np.ndarray,
                                                                               list[float]]:
    processor, out, cpu = AudioProcessor(stages), np.zeros_like(signals["mic"]), []
    for i in range(0, out.size - CHUNK_SAMPLES + 1, CHUNK_SAMPLES):
        part = slice(i, i + CHUNK_SAMPLES)
        started = time.thread_time()
        processor.reverse(int16(signals["far"][part]))
        out[part] = processor.process(int16(signals["mic"][part]))
        cpu.append(time.thread_time() - started)
    return out, cpu


def between(x: np.ndarray, seconds: float, start: float, end: float) -> np.ndarray:
    return x[int(start * seconds * SAMPLE_RATE) : int(end * seconds * SAMPLE_RATE)]


def room_quality(seconds: float, response: np.ndarray) -> dict[str, float]:
    signals = room_signals(seconds, response)
    out, _ = run_room(ProcessingStages(), signals)
    mic, near = signals["mic"], signals["near"]
    erle = (level_db(between(mic, seconds, 0.3, 0.6)) - level_db(between(out, seconds, 0.3,
                                                                          0.6)))
    alone = level_db(between(out, seconds, 0.62, 0.8)) - level_db(between(near, seconds, 0.62,
                                                                           0.8))
    double = level_db(between(out, seconds, 0.82, 1.0)) - level_db(between(near, seconds, 0.82,
                                                                            1.0))
    echo_to_near = level_db(between(signals["echo"], seconds, 0.82, 1.0)) - level_db(
        between(near, seconds, 0.82, 1.0))
    return {"erle_db": round(erle, 1), "near_alone_change_db": round(alone, 2),
            "double_talk_near_change_db": round(double, 2),
            "double_talk_echo_to_near_db": round(echo_to_near, 1)}


def aec_cost(seconds: float) -> dict[str, Any]:
    signals = room_signals(seconds, room_response())
    result = {}
    for name, stages in {
        "all": ProcessingStages(),
        "aec_only": ProcessingStages(True, False, False),
        "ns_only": ProcessingStages(False, True, False),
        "hpf_only": ProcessingStages(False, False, True),
    }.items():
        _, cpu = run_room(stages, signals)
        result[name] = ms(cpu[len(cpu) // 5 :])  # after adaptation has settled
    return result


def capture_cost(periods: int = 1000) -> dict[str, Any]:
    result = {}
    for name, (channels, fmt, rate, used) in {
        "1ch_S16_48k": (1, "S16_LE", 48_000, ()),
        "2ch_S32_48k_mix": (2, "S32_LE", 48_000, ()),
        "6ch_S24_16k_pick1": (6, "S24_LE", 16_000, (0,)),
        "4ch_S24_3LE_44k1_mix2": (4, "S24_3LE", 44_100, (0, 1)),
    }.items():
        frames = rate // 100
        data = encode_samples(np.random.default_rng(0).uniform(-0.5, 0.5, (frames, channels))
                              .astype(np.float32), fmt)
        converter, cpu = RateConverter(rate, SAMPLE_RATE), []
        for _ in range(periods):
            started = time.process_time()
            converter.convert(to_int16(mix_down(decode_samples(data, fmt, channels), used)))
            cpu.append(time.process_time() - started)
        result[name] = ms(cpu)
    return result


def mixer_cost(chunks: int = 3000) -> dict[str, Any]:
    result = {}
    runs = {"exact": (0.0, 0), "drift_300ppm": (300.0, 0), "loss_2pct": (0.0, 50)}
    for name, (ppm, lose_every) in runs.items():
        buffer = AudioJitterBuffer(960, 5760, 2880)
        period, pushes, cpu = 0.02 / (1 + ppm * 1e-6), 0, []
        frame = int16(np.sin(np.arange(960) / 7) * 8000)
        for tick in range(chunks):
            started = time.process_time()
            while pushes * period + 0.005 <= tick / 100:
                if not lose_every or pushes % lose_every != lose_every - 1:
                    buffer.push(frame, arrival=pushes * period, pts=pushes * 960)
                pushes += 1
            buffer.take(tick / 100)
            cpu.append(time.process_time() - started)
        result[name] = ms(cpu[chunks // 2 :]) | {
            "rate_adjust_ppm": round(buffer.stats.rate_adjust_ppm),
            "concealed_ms": round(buffer.stats.concealed_samples / 48, 1)}
    return result


def concealment_cost(repeats: int = 500) -> dict[str, Any]:
    speech = int16(speech_like(2.0, seed=1) * 4000)
    cpu = []
    for i in range(repeats):
        concealer = Concealer()
        at = 960 + (i * 997) % (speech.size - 2000)
        concealer.heard(speech[at - 960 : at])
        started = time.process_time()
        concealer.fill(960)
        cpu.append(time.process_time() - started)
    return ms(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="synthetic room length")
    args = parser.parse_args()
    result = {
        "benchmark": "audio_path",
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(),
                 "python": platform.python_version()},
        "loadavg_1m_before": round(os.getloadavg()[0], 2),
        "aec_cpu_per_10ms": aec_cost(args.seconds / 2),
        "synthetic_room": {
            "small_room": room_quality(args.seconds, room_response()),
            "reverberant_room": room_quality(args.seconds, room_response(
                tail_ms=300, decay_ms=60, gain=0.15)),
        },
        "capture_cpu_per_10ms": capture_cost(),
        "mixer_cpu_per_10ms_per_source": mixer_cost(),
        "concealment_cpu_per_lost_20ms": concealment_cost(),
        "loadavg_1m_after": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
