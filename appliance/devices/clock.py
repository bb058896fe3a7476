"""Whether the room's clock can be trusted: a Pi has no battery clock, and until NTP has
answered it may believe it is 1970, or the moment it was last shut down.

Back-ends, chosen by [schedule] clock:
- "systemd": systemd-timesyncd's own flag file (/run/systemd/timesync/synchronized,
  created at its first synchronisation; what systemd-time-wait-sync waits for), else
  `timedatectl show -p NTPSynchronized` (chrony or ntpd report through timedated too);
- "trusted": always (a Pi with an RTC, or an admin who says so);
- "simulated": synchronised unless a flag file exists (tests and `make demo`).
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path
from typing import Protocol

log = logging.getLogger("salon.clock")
TIMESYNCD_FLAG = Path("/run/systemd/timesync/synchronized")
TIMEDATECTL_EVERY_S = 30.0  # asking timedated costs a D-Bus round trip and a process
UNSYNCED_FLAG = "clock-unsynchronised"  # the simulation's switch, in the state directory


class ClockCheck(Protocol):
    name: str

    def synchronised(self) -> bool: ...


class TrustedClock:
    name = "trusted"

    def synchronised(self) -> bool:
        return True


class SimulatedClock:
    """Synchronised unless `<state_dir>/clock-unsynchronised` exists (or `synced` is set
    False by a test)."""

    name = "simulated"

    def __init__(self, flag: Path | None = None, synced: bool = True) -> None:
        self.flag = flag
        self.synced = synced

    def synchronised(self) -> bool:
        return self.synced and not (self.flag is not None and self.flag.exists())


class SystemdClock:
    name = "systemd"

    def __init__(self, flag: Path = TIMESYNCD_FLAG, timedatectl: str = "timedatectl") -> None:
        self.flag = flag
        self.timedatectl = timedatectl
        self._asked_at = float("-inf")
        self._answer = False

    def synchronised(self) -> bool:
        if self.flag.exists():
            return True
        now = time.monotonic()
        if now - self._asked_at >= TIMEDATECTL_EVERY_S:
            self._asked_at = now
            self._answer = self._ask_timedated()
        return self._answer

    def _ask_timedated(self) -> bool:
        try:
            out = subprocess.run([self.timedatectl, "show", "-p", "NTPSynchronized", "--value"],
                                 capture_output=True, text=True, timeout=5, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.info("cannot ask timedated whether the clock is synchronised: %s", exc)
            return False
        return out.stdout.strip() == "yes"

