"""bench_pi_call's 9-tile variant for `make bench`: the room on a Pi 4's budget with eight
remote senders at 640×360@30 and one Chromium (bench_pi_call.py --senders 8).

    scripts/in-netns .venv/bin/python tests/bench/bench_pi_nine_tiles.py [bench_pi_call's options]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import bench_pi_call

if __name__ == "__main__":
    sys.argv[1:1] = ["--senders", "8"]
    bench_pi_call.main()
