"""Threads created per converted frame, before and after FrameSlot kept its context.

    strace -f -qq -e trace=clone,clone3 -c .venv/bin/python tests/bench/convert_threads.py fresh
    strace -f -qq -e trace=clone,clone3 -c .venv/bin/python tests/bench/convert_threads.py kept

Decodes nothing: 150 new 1280×720 frames, each converted once to a 640×360 tile as the
screen asks for it; strace counts the clone calls (compare with `none`, which makes
the frames only). Prints the process CPU per conversion.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.bench_receive_path import convert_times, pictures

mode = sys.argv[1] if len(sys.argv) > 1 else "kept"
frames = pictures(1280, 720, 150)
if mode != "none":
    started = time.process_time()
    samples = convert_times(frames, 640, 360, fresh=mode == "fresh")
    print(f"{mode}: {len(samples)} conversions, "
          f"{1000 * (time.process_time() - started) / len(samples):.2f} ms CPU each")
