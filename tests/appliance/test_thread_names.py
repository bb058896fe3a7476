"""Threads the appliance starts carry their names to the OS (top -H, /proc, the bench)."""

from __future__ import annotations

import threading
from pathlib import Path

from appliance.service.thread_names import name_native_threads


def native_name() -> str:
    me = threading.current_thread()
    return Path(f"/proc/self/task/{me.native_id}/comm").read_text().strip()


def test_threads_started_after_the_hook_carry_their_python_names_to_the_os() -> None:
    name_native_threads()
    name_native_threads()  # twice is once
    names: dict[str, str] = {}
    started = threading.Barrier(4)

    def run() -> None:
        started.wait(10)  # all three alive at once: each reads its own name
        names[threading.current_thread().name] = native_name()

    threads = [threading.Thread(target=run, name=n)
               for n in ("screen_0", "mic-capture", "a-very-long-thread-name")]
    for thread in threads:
        thread.start()
    started.wait(10)
    for thread in threads:
        thread.join(10)
    assert names == {"screen_0": "screen_0", "mic-capture": "mic-capture",
                     "a-very-long-thread-name": "a-very-long-thr"}  # the kernel keeps 15
