"""sd_notify(3) over the NOTIFY_SOCKET datagram protocol, without libsystemd.

systemd hands a Type=notify service the path of a unix datagram socket in
NOTIFY_SOCKET ("@name" means the abstract namespace). Each datagram is a few
newline-separated KEY=VALUE lines: READY=1, STATUS=..., WATCHDOG=1, STOPPING=1.
Off systemd the variable is absent and every call is a no-op, so the same code runs
on a developer's machine and in tests.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import MutableMapping

log = logging.getLogger(__name__)

__all__ = ["Notifier", "watchdog_interval_s"]


def watchdog_interval_s(environ: MutableMapping[str, str] | None = None) -> float | None:
    """The WatchdogSec= systemd asked this process for, in seconds, or None.

    WATCHDOG_PID, when set, names the process the watchdog is meant for; a child
    that inherited the environment must not think it is the one being watched.
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000


class Notifier:
    """Sends state changes to the service manager; silently does nothing off systemd."""

    def __init__(self, socket_path: str | None = None, *, unset_environment: bool = False) -> None:
        """socket_path defaults to $NOTIFY_SOCKET.

        unset_environment removes NOTIFY_SOCKET/WATCHDOG_* from os.environ so child
        processes (Janus under the bridge, ffmpeg, ...) cannot speak for this one.
        """
        path = socket_path if socket_path is not None else os.environ.get("NOTIFY_SOCKET", "")
        self._address = _address(path) if path else None
        self._sock: socket.socket | None = None
        self.watchdog_interval_s = watchdog_interval_s()
        if unset_environment:
            for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
                os.environ.pop(name, None)

    @property
    def enabled(self) -> bool:
        """True when a service manager is listening."""
        return self._address is not None

    def notify(self, *lines: str) -> bool:
        """Send raw KEY=VALUE lines in one datagram. Returns True if it was sent."""
        if self._address is None:
            return False
        payload = "\n".join(lines).encode("utf-8", "replace")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto(payload, self._address)
        except OSError as exc:
            # A full socket buffer or a restarted manager must never stop the appliance.
            log.debug("sd_notify %r failed: %s", lines, exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """READY=1: the devices are open and the first join attempt has started."""
        lines = ["READY=1"]
        if status is not None:
            lines.append(_status_line(status))
        return self.notify(*lines)

    def status(self, text: str) -> bool:
        """STATUS=...: one line shown by `systemctl status`."""
        return self.notify(_status_line(text))

    def watchdog(self) -> bool:
        """WATCHDOG=1: keep-alive ping; only the watchdog task should call this."""
        return self.notify("WATCHDOG=1")

    def watchdog_trigger(self) -> bool:
        """WATCHDOG=trigger: ask systemd to treat the service as hung right now."""
        return self.notify("WATCHDOG=trigger")

    def extend_timeout(self, seconds: float) -> bool:
        """EXTEND_TIMEOUT_USEC=: more time for a slow start (e.g. a camera warming up)."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def stopping(self, status: str | None = None) -> bool:
        """STOPPING=1: shutdown has begun."""
        lines = ["STOPPING=1"]
        if status is not None:
            lines.append(_status_line(status))
        return self.notify(*lines)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _address(path: str) -> str | bytes:
    if path.startswith("@"):
        return b"\0" + path[1:].encode()
    return path


def _status_line(text: str) -> str:
    # The protocol is line based: a newline would start a bogus assignment.
    return "STATUS=" + " ".join(text.split())
