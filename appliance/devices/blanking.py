"""Blanking the room's display in standby (DPMS), behind a swappable back-end.

- "sysfs": the console framebuffer's blank switch, /sys/class/graphics/fb0/blank
  ("4" = FB_BLANK_POWERDOWN, the monitor's DPMS off; "0" = on). With the KMS driver a
  Pi's HDMI output goes to sleep and the monitor to standby. Needs write access (a udev
  rule or the service's group; see docs/operations.md).
- "simulated": remembers what it was told (tests, `make demo`).
- "none": never blanks.
A back-end that fails logs once and the room runs on with the display lit.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("salon.display")
FB_BLANK = Path("/sys/class/graphics/fb0/blank")
POWERDOWN, UNBLANK = "4", "0"


class Blanker:
    """The "none" back-end, and the base of the others."""

    name = "none"

    def __init__(self) -> None:
        self.blanked = False
        self.changes = 0  # how many times the display went dark or lit

    def set_blanked(self, blanked: bool) -> None:
        if blanked == self.blanked:
            return
        if self._apply(blanked):
            self.blanked = blanked
            self.changes += 1

    def _apply(self, blanked: bool) -> bool:
        return not blanked  # "none": never dark

    def report(self) -> dict[str, object]:
        return {"backend": self.name, "blanked": self.blanked, "changes": self.changes}


class SimulatedBlanker(Blanker):
    name = "simulated"

    def _apply(self, blanked: bool) -> bool:
        return True


class SysfsBlanker(Blanker):
    name = "sysfs"

    def __init__(self, path: Path = FB_BLANK) -> None:
        super().__init__()
        self.path = path
        self._warned = False

    def _apply(self, blanked: bool) -> bool:
        try:
            self.path.write_text(POWERDOWN if blanked else UNBLANK)
        except OSError as exc:
            if not self._warned:
                log.warning("cannot %s the display through %s: %s",
                            "blank" if blanked else "wake", self.path, exc)
                self._warned = True
            return False
        return True

