"""Screen rendering cost at 1920×1080 with 1, 4 and 9 remote tiles; prints JSON.

    .venv/bin/python tests/bench/bench_screen.py [--frames N]

Every remote frame and the self-view change on every frame (the worst case for video):
`video_frame` is a render that redraws only the tiles plus handing the dirty
rectangles to the headless display; `full_redraw` is a render after the room state
changed (everything drawn again). `fps` is what one core can sustain for video frames.
Frame sources return pre-made arrays at tile size, so this measures the screen's
share (RGB→surface conversion, blits, labels), not camera decoding.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # keep stdout pure JSON
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from appliance.devices.display import HeadlessDisplay
from appliance.screen.render import Renderer
from appliance.screen.screenshots import meeting_model, portrait_frames
from appliance.screen.synthetic import PortraitFrame

SIZE = (1920, 1080)


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "mean_ms": round(statistics.fmean(samples) * 1000, 2),
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
    }


def bench(tiles: int, frames: int) -> dict[str, object]:
    model = meeting_model(tiles)
    sources = portrait_frames(model.participants)
    renderer = Renderer(SIZE, "tr")
    display = HeadlessDisplay(SIZE)
    moving = [s for s in sources.values() if isinstance(s, PortraitFrame)]

    def frame() -> float:
        for source in moving:
            source.advance()
        start = time.perf_counter()
        surface = renderer.render(model, sources)
        display.show(surface, renderer.dirty)
        return time.perf_counter() - start

    renderer.render(model, sources)
    for _ in range(10):  # warm the glyph cache and the frame arrays
        frame()
    video = [frame() for _ in range(frames)]
    assert renderer.layout is not None and len(renderer.layout.tiles) == tiles

    full = []
    for i in range(max(10, frames // 4)):
        changed = replace(model, active_speaker_id=f"p{i % tiles}", now=model.now + i)
        for source in moving:
            source.advance()
        start = time.perf_counter()
        surface = renderer.render(changed, sources)
        display.show(surface, renderer.dirty)
        full.append(time.perf_counter() - start)

    return {
        "remote_tiles": tiles,
        "video_frame": _summary(video),
        "fps": round(1 / statistics.fmean(video), 1),
        "full_redraw": _summary(full),
        "full_redraw_fps": round(1 / statistics.fmean(full), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    args = parser.parse_args()
    results = [bench(n, args.frames) for n in (1, 4, 9)]
    print(json.dumps({
        "benchmark": "screen_render",
        "resolution": f"{SIZE[0]}x{SIZE[1]}",
        "machine": platform.machine(),
        "python": platform.python_version(),
        "frames_per_case": args.frames,
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
