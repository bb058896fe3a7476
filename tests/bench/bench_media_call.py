"""Mouth-to-ear audio and capture-to-decoded video through two aiortc peers; prints JSON.

    scripts/in-netns .venv/bin/python tests/bench/bench_media_call.py [--seconds S]

The appliance's send path (simulated camera H.264 passthrough, a clicking
microphone and two humming ones whose clocks are ±200 ppm off) to the
appliance's receive path (FrameSlot, RemoteAudioMixer with drift
compensation, a simulated speaker), over the netns veth — no Janus, no browser
(tests/bench/bench_call.py measures those). See tests/bench/media_call.py for
what the delays include. Also the process CPU and RSS over the run.

Side by side, on a clean network and with --loss % of UDP packets dropped
(nftables in the netns): the appliance's audio receive path (every packet
straight to its jitter buffer, `hand_audio_packets_on`) against aiortc's own
audio jitter buffer in front of it (4 packets prefetched; after a loss it holds
up to 15 packets for the rest of the call).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from appliance.service.runtime import run_event_loop
from tests.bench.media_call import (
    MediaCall,
    cpu_seconds,
    rss_mib,
    sample_for,
    stats,
    udp_loss,
)


async def run(seconds: float, audio_packets: str, loss: float) -> dict[str, object]:
    with udp_loss(loss):
        return await measure(MediaCall(audio_packets=audio_packets), seconds)  # type: ignore[arg-type]


async def measure(call: MediaCall, seconds: float) -> dict[str, object]:
    await call.start()
    await sample_for(call, 3.0)  # let the jitter buffers and the decoder settle
    call.video_delays_ms.clear()
    call.loop_lag_ms.clear()
    settled_clicks = len(call.detector.heard)
    cpu, wall = cpu_seconds(), time.monotonic()
    await sample_for(call, seconds)
    cpu_share = (cpu_seconds() - cpu) / (time.monotonic() - wall)
    mouth_to_ear = call.mouth_to_ear_ms(since=settled_clicks)
    audio = call.audio_state()
    await call.stop()
    return {
        "mouth_to_ear_ms": stats(mouth_to_ear),
        "video_capture_to_decoded_ms": stats(call.video_delays_ms),
        "audio": audio,
        "event_loop_lag_ms": stats(call.loop_lag_ms),
        "process_cpu_cores": round(cpu_share, 3),
        "rss_mib": round(rss_mib(), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--loss", type=float, default=1.0, help="%% of UDP packets dropped")
    args = parser.parse_args()
    if os.environ.get("SALON_IN_NETNS") != "1":
        raise SystemExit("bench_media_call: run it under scripts/in-netns (aioice skips lo)")
    result = {
        "benchmark": "media_call",
        "seconds": args.seconds,
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(),
                 "python": platform.python_version()},
        "loadavg_1m_before": round(os.getloadavg()[0], 2),
        "loss_percent": args.loss,
        "runs": {
            f"{packets}, {loss} % loss": run_event_loop(run(args.seconds, packets, loss))
            for loss in (0.0, args.loss) for packets in ("appliance", "aiortc")
        },
        "loadavg_1m_after": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
