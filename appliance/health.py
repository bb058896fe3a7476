"""What the parts tell about their health, as a small interface.

Devices, media and the conference report here; `service.health.HealthState` (behind
/healthz and /metrics) is the one implementation, so no part below the app imports the
service. Tests pass a `HealthState` too, or anything with these methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

# Why a device is not working right now, None while it works (e.g. AlsaSpeaker.fault).
FaultProbe = Callable[[], str | None]


class HealthSink(Protocol):
    def set_device(self, name: str, state: str, *, backend: str | None = None,
                   detail: str = "") -> None:
        """A device's state ("ok", "error", "missing", ...), its back-end and why."""

    def watch_fault(self, name: str, fault: FaultProbe) -> None:
        """Ask `fault()` at every report: while it names a fault the device is "error"."""

    def record_error(self, message: str, *, wall_clock: float | None = None) -> None:
        """The last error, for people reading /healthz."""

    def count_reconnect(self) -> None: ...

    def set_link(self, *, rtt_ms: float | None, packet_loss_sent: float | None,
                 packet_loss_received: float | None) -> None:
        """The latest RTCP figures of the meeting's media (None: not measured now)."""
