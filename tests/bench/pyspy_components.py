"""Where a Python process's CPU goes, by component, from py-spy samples.

    py-spy record --pid PID --duration 20 --rate 100 --nonblocking --format raw -o out.txt
    .venv/bin/python tests/bench/pyspy_components.py out.txt

py-spy's raw format is one line per distinct stack, outermost frame first, frames
separated by ";" and the sample count last. Each stack is put in the component of its
innermost frame that names one (`COMPONENTS`, first match wins for that frame); a stack
naming none is "other". py-spy sees Python threads only: native threads (libav's
frame threads, libwebrtc's inside the echo canceller) show up in process CPU, not here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# (component, substrings of a frame "function (path:line)"), most specific first.
COMPONENTS: list[tuple[str, tuple[str, ...]]] = [
    ("video: YUV→RGB and scaling (FrameSlot)", ("media/slots.py",)),
    ("video: decode (aiortc decoder thread)", ("codecs/h264.py", "codecs/vpx.py",
                                              "rtcrtpreceiver.py:decoder_worker")),
    ("camera: drawing and x264 (simulated)", ("media/testpattern.py", "devices/camera.py")),
    ("camera: packet hand-over", ("devices/camera_packets.py", "media/video.py")),
    ("audio: echo canceller", ("media/aec.py",)),
    ("audio: Opus encode/decode", ("codecs/opus.py", "media/audio_send.py")),
    ("audio: mixer, jitter buffer, concealment, speaker",
     ("media/audio.py", "media/mixer.py", "media/jitter.py", "media/conceal.py", "devices/audio.py",
      "media/audio_health.py")),
    ("screen: render and diagnostics", ("appliance/screen/", "appliance/diagnostics.py",
                                        "devices/display.py", "appliance/view.py")),
    ("RTP/RTCP, SRTP, DTLS, ICE (aiortc, aioice)",
     ("aiortc/", "aioice/", "pylibsrtp", "OpenSSL", "cryptography")),
    ("signalling, health, app", ("appliance/", "aiohttp/", "websockets/")),
    ("asyncio event loop", ("asyncio/",)),
]


def component(stack: list[str]) -> str:
    for frame in reversed(stack):
        for name, needles in COMPONENTS:
            if any(n in frame for n in needles):
                return name
    return "other"


def by_component(raw: str) -> dict[str, Any]:
    """Share of samples per component, in %, and the total sample count."""
    counts: dict[str, int] = {}
    total = 0
    for line in raw.splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        stack = stack_text.split(";")
        counts[component(stack)] = counts.get(component(stack), 0) + count
        total += count
    shares = {k: round(100 * v / total, 1) for k, v in
              sorted(counts.items(), key=lambda kv: -kv[1])} if total else {}
    return {"samples": total, "percent_of_samples": shares}


if __name__ == "__main__":
    print(json.dumps(by_component(Path(sys.argv[1]).read_text()), indent=1,
                     ensure_ascii=False))
