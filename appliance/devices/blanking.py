"""Blanking the room's display in standby (DPMS), behind a swappable back-end.

- "drm": the connector's DPMS property through the kernel's mode setting (libdrm), on
  the DRM file that holds the display — SDL's kmsdrm opened it in this very process and
  is its master, and the kernel lets only the master switch the screen off (as a
  compositor does). DPMS off turns the CRTC off: the HDMI output sleeps and the monitor
  goes to standby; DPMS on lights it with the picture it had. The Pi's default.
- "sysfs": the console framebuffer's blank switch, /sys/class/graphics/fb0/blank
  ("4" = FB_BLANK_POWERDOWN, the monitor's DPMS off; "0" = on). Works only while the
  text console owns the screen (no SDL kmsdrm display: the kernel answers EBUSY to
  anyone while another program is the DRM master). Needs write access (a udev rule or
  the service's group; see docs/operations.md).
- "simulated": remembers what it was told (tests, `make demo`).
- "none": never blanks.
A back-end that fails logs once and the room runs on with the display lit.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from collections.abc import Iterator
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


DPMS_ON, DPMS_OFF = 0, 3  # DRM_MODE_DPMS_*
CONNECTED = 1  # DRM_MODE_CONNECTED


class _ModeRes(ctypes.Structure):  # libdrm's drmModeRes
    _fields_ = [("count_fbs", ctypes.c_int), ("fbs", ctypes.POINTER(ctypes.c_uint32)),
                ("count_crtcs", ctypes.c_int), ("crtcs", ctypes.POINTER(ctypes.c_uint32)),
                ("count_connectors", ctypes.c_int),
                ("connectors", ctypes.POINTER(ctypes.c_uint32)),
                ("count_encoders", ctypes.c_int), ("encoders", ctypes.POINTER(ctypes.c_uint32)),
                ("min_width", ctypes.c_uint32), ("max_width", ctypes.c_uint32),
                ("min_height", ctypes.c_uint32), ("max_height", ctypes.c_uint32)]


class _Connector(ctypes.Structure):  # libdrm's drmModeConnector
    _fields_ = [("connector_id", ctypes.c_uint32), ("encoder_id", ctypes.c_uint32),
                ("connector_type", ctypes.c_uint32), ("connector_type_id", ctypes.c_uint32),
                ("connection", ctypes.c_int), ("mm_width", ctypes.c_uint32),
                ("mm_height", ctypes.c_uint32), ("subpixel", ctypes.c_int),
                ("count_modes", ctypes.c_int), ("modes", ctypes.c_void_p),
                ("count_props", ctypes.c_int), ("props", ctypes.POINTER(ctypes.c_uint32)),
                ("prop_values", ctypes.POINTER(ctypes.c_uint64)),
                ("count_encoders", ctypes.c_int), ("encoders", ctypes.POINTER(ctypes.c_uint32))]


class _Property(ctypes.Structure):  # libdrm's drmModePropertyRes (its head)
    _fields_ = [("prop_id", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("name", ctypes.c_char * 32)]


def _libdrm() -> ctypes.CDLL:
    name = ctypes.util.find_library("drm") or "libdrm.so.2"
    lib = ctypes.CDLL(name, use_errno=True)
    lib.drmModeGetResources.restype = ctypes.POINTER(_ModeRes)
    lib.drmModeGetConnector.restype = ctypes.POINTER(_Connector)
    lib.drmModeGetConnector.argtypes = [ctypes.c_int, ctypes.c_uint32]
    lib.drmModeGetProperty.restype = ctypes.POINTER(_Property)
    lib.drmModeGetProperty.argtypes = [ctypes.c_int, ctypes.c_uint32]
    lib.drmModeConnectorSetProperty.argtypes = [ctypes.c_int, ctypes.c_uint32,
                                                ctypes.c_uint32, ctypes.c_uint64]
    for free in ("drmModeFreeResources", "drmModeFreeConnector", "drmModeFreeProperty"):
        getattr(lib, free).argtypes = [ctypes.c_void_p]
    return lib


def display_files(fd_dir: Path = Path("/proc/self/fd")) -> Iterator[int]:
    """The process's open DRM cards (SDL's kmsdrm file among them)."""
    for entry in sorted(fd_dir.iterdir(), key=lambda p: int(p.name)):
        try:
            if os.readlink(entry).startswith("/dev/dri/card"):
                yield int(entry.name)
        except OSError:
            continue


class DrmBlanker(Blanker):
    name = "drm"

    def __init__(self, fd_dir: Path = Path("/proc/self/fd")) -> None:
        super().__init__()
        self.fd_dir = fd_dir
        self._warned = False

    def _apply(self, blanked: bool) -> bool:
        value = DPMS_OFF if blanked else DPMS_ON
        try:
            lib = _libdrm()
            done = [_set_dpms(lib, fd, value) for fd in display_files(self.fd_dir)]
        except OSError as exc:
            done = [str(exc)]
        if any(d is True for d in done):
            return True
        if not self._warned:  # no display file, not the master, no libdrm: stay lit
            why = "; ".join(str(d) for d in done) or "no DRM display is open"
            log.warning("cannot %s the display through DRM: %s",
                        "blank" if blanked else "wake", why)
            self._warned = True
        return False


def _set_dpms(lib: ctypes.CDLL, fd: int, value: int) -> bool | str:
    """DPMS on every connected connector of the card open at `fd`: True, or why not."""
    res = lib.drmModeGetResources(fd)
    if not res:
        return f"fd {fd}: not a mode-setting card ({os.strerror(ctypes.get_errno())})"
    try:
        why = "no connected screen"
        done = False
        for i in range(res.contents.count_connectors):
            conn = lib.drmModeGetConnector(fd, res.contents.connectors[i])
            if not conn:
                continue
            try:
                c = conn.contents
                if c.connection != CONNECTED:
                    continue
                for j in range(c.count_props):
                    prop = lib.drmModeGetProperty(fd, c.props[j])
                    if not prop:
                        continue
                    is_dpms = prop.contents.name == b"DPMS"
                    lib.drmModeFreeProperty(prop)
                    if not is_dpms:
                        continue
                    err = lib.drmModeConnectorSetProperty(fd, c.connector_id, c.props[j], value)
                    if err == 0:
                        done = True
                    else:  # EACCES: this file is not the display's master
                        why = f"connector {c.connector_id}: {os.strerror(-err)}"
            finally:
                lib.drmModeFreeConnector(conn)
        return True if done else f"fd {fd}: {why}"
    finally:
        lib.drmModeFreeResources(res)
