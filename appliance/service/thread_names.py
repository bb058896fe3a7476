"""Native thread names from Python's, so `top -H`, `/proc/PID/task/*/comm`, perf and
the Pi budget bench can say which of the appliance's threads uses the CPU.

Python before 3.14 leaves every thread it starts with the process's name, so the
screen, the audio threads, the echo canceller and aiortc's decoders all read as
"salon-appliance". Linux gives a thread its creator's name, so libav's own threads
started by a decoder carry the decoder's name too. The kernel keeps 15 bytes of it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from typing import Any

PR_SET_NAME = 15  # <linux/prctl.h>
NAME_BYTES = 15

_libc: Any = None


def set_native_name(name: str) -> bool:
    """Name the calling thread at the OS level (15 bytes kept); False where it cannot."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    raw = name.encode("utf-8", "replace")[:NAME_BYTES]
    return bool(_libc.prctl(PR_SET_NAME, ctypes.c_char_p(raw), 0, 0, 0) == 0)


def name_native_threads() -> None:
    """From now on every thread started from Python names itself after its Python name
    before it runs (idempotent). Python 3.14 does this by itself."""
    bootstrap = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]
    if getattr(bootstrap, "names_native_thread", False):
        return

    def named_bootstrap(self: threading.Thread) -> None:
        set_native_name(self.name)
        bootstrap(self)

    named_bootstrap.names_native_thread = True  # type: ignore[attr-defined]
    threading.Thread._bootstrap_inner = named_bootstrap  # type: ignore[attr-defined]
