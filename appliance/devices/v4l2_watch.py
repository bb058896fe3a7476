"""Finding a V4L2 capture device as it is plugged in and out: /dev watched with inotify.

A USB HDMI grabber appears as one or two /dev/videoN nodes (UVC drivers add a
metadata node without the capture capability). The kernel's devtmpfs creates and
removes the nodes, so inotify on /dev sees every plug and unplug without udev; the
node is probed (VIDIOC_QUERYCAP: driver, card, capabilities of this node) and, where
the driver reports it, the input's signal status (VIDIOC_ENUMINPUT). udev sets the
node's group and mode a moment after it appears, so a node that cannot be opened yet
is probed again at the next rescan (every `rescan_s`, and after every change).

Why inotify and not pyudev: the appliance has udev, but containers, CI and the image
tests under QEMU often do not run udevd, whose events pyudev relies on; devtmpfs
works everywhere, and `inotify_simple` is a small maintained wrapper with no
dependencies. The choice of node is by device path, or "auto": the first node of the
`uvcvideo` driver with the capture capability that is not excluded (the room's own
camera), so a Pi's codec and ISP nodes (/dev/video10–31) are never taken for it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import select
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from inotify_simple import INotify
from inotify_simple import flags as inotify_flags

log = logging.getLogger(__name__)

# linux/videodev2.h
VIDIOC_QUERYCAP = 0x80685600  # struct v4l2_capability, 104 bytes
VIDIOC_ENUMINPUT = 0xC050561A  # struct v4l2_input, 80 bytes
CAP_VIDEO_CAPTURE = 0x00000001
CAP_VIDEO_CAPTURE_MPLANE = 0x00001000
CAP_DEVICE_CAPS = 0x80000000
IN_ST_NO_POWER, IN_ST_NO_SIGNAL, IN_ST_NO_SYNC = 0x1, 0x2, 0x10000
NO_SIGNAL_BITS = IN_ST_NO_POWER | IN_ST_NO_SIGNAL | IN_ST_NO_SYNC
QUERYCAP_FORMAT = "=16s32s32sIII12x"  # driver, card, bus_info, version, caps, device_caps
ENUMINPUT_FORMAT = "=I32sIIIQII12x4x"  # index, name, type, audioset, tuner, std, status, …
VIDEO_NODE = re.compile(r"video(\d+)$")


@dataclass(frozen=True)
class CaptureInfo:
    """What a V4L2 node says about itself."""

    path: str
    driver: str
    card: str
    capture: bool  # this node captures video (not metadata, not a codec)
    signal: bool = True  # False only when the driver reports no signal on its input

    @property
    def detail(self) -> str:
        return f"{self.path} ({self.card or self.driver})"


def parse_querycap(path: str, raw: bytes) -> CaptureInfo:
    """A CaptureInfo from VIDIOC_QUERYCAP's struct (device_caps when the driver fills it)."""
    driver, card, _bus, _version, caps, device_caps = struct.unpack(QUERYCAP_FORMAT, raw)
    node_caps = device_caps if caps & CAP_DEVICE_CAPS else caps
    capture = bool(node_caps & (CAP_VIDEO_CAPTURE | CAP_VIDEO_CAPTURE_MPLANE))
    return CaptureInfo(path, _text(driver), _text(card), capture)


def parse_input_status(raw: bytes) -> bool:
    """Whether VIDIOC_ENUMINPUT's status says the input has a signal (0 = fine)."""
    status = struct.unpack(ENUMINPUT_FORMAT, raw)[6]
    return not status & NO_SIGNAL_BITS


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def probe_v4l2(path: str) -> CaptureInfo | None:
    """Ask a node what it is; None if it cannot be opened (yet) or is not V4L2."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    except OSError:
        return None  # gone again, or udev has not given us access yet
    try:
        raw = bytearray(struct.calcsize(QUERYCAP_FORMAT))
        fcntl.ioctl(fd, VIDIOC_QUERYCAP, raw)
        info = parse_querycap(path, bytes(raw))
        if info.capture:
            inp = bytearray(struct.calcsize(ENUMINPUT_FORMAT))  # input 0
            with contextlib.suppress(OSError):  # many drivers do not enumerate inputs
                fcntl.ioctl(fd, VIDIOC_ENUMINPUT, inp)
                info = CaptureInfo(info.path, info.driver, info.card, True,
                                   parse_input_status(bytes(inp)))
        return info
    except OSError as exc:
        if exc.errno not in (errno.ENOTTY, errno.EINVAL, errno.ENODEV):
            log.debug("%s: VIDIOC_QUERYCAP: %s", path, exc)
        return None
    finally:
        os.close(fd)


Probe = Callable[[str], CaptureInfo | None]


def video_nodes(dev_dir: Path) -> list[str]:
    """/dev/videoN paths in numeric order."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(dev_dir):
            if (match := VIDEO_NODE.match(entry.name)) is not None:
                found.append((int(match.group(1)), entry.path))
    return [path for _, path in sorted(found)]


def choose_device(wanted: str, nodes: Iterable[str], probe: Probe,
                  exclude: Iterable[str] = (), driver: str = "uvcvideo") -> CaptureInfo | None:
    """The capture device to use: `wanted` itself (a path), or with "auto" the first
    node of `driver` that captures, has a signal and is not `exclude`d."""
    if wanted != "auto":
        info = probe(wanted) if os.path.exists(wanted) else None
        return info if info is not None and info.capture and info.signal else None
    excluded = {os.path.realpath(p) for p in exclude}
    for path in nodes:
        if os.path.realpath(path) in excluded:
            continue
        info = probe(path)
        if info is not None and info.capture and info.signal and info.driver == driver:
            return info
    return None


class CaptureDeviceWatch:
    """Calls `on_change(info or None)` whenever the chosen capture device changes."""

    def __init__(self, wanted: str, on_change: Callable[[CaptureInfo | None], None], *,
                 dev_dir: Path = Path("/dev"), probe: Probe = probe_v4l2,
                 exclude: Iterable[str] = (), rescan_s: float = 2.0) -> None:
        self.wanted, self.on_change = wanted, on_change
        self.dev_dir, self.probe, self.exclude = dev_dir, probe, tuple(exclude)
        self.rescan_s = rescan_s
        self.current: CaptureInfo | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._inotify: INotify | None = None
        self._wake_r, self._wake_w = -1, -1  # a pipe that wakes the thread to stop

    def start(self) -> None:
        self.rescan()  # the state at start, before the first event
        try:
            self._inotify = INotify()
            self._inotify.add_watch(str(self.dev_dir), inotify_flags.CREATE
                                    | inotify_flags.DELETE | inotify_flags.ATTRIB
                                    | inotify_flags.MOVED_TO | inotify_flags.MOVED_FROM)
        except OSError as exc:  # no inotify: the rescans alone still find it, later
            log.warning("cannot watch %s (%s); checking every %g s", self.dev_dir, exc,
                        self.rescan_s)
            self._inotify = None
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="content-hotplug", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            os.write(self._wake_w, b"x")
            self._thread.join(timeout=5.0)
            self._thread = None
            os.close(self._wake_r)
            os.close(self._wake_w)
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None

    def rescan(self) -> None:
        chosen = choose_device(self.wanted, video_nodes(self.dev_dir), self.probe, self.exclude)
        if chosen != self.current:
            self.current = chosen
            self.on_change(chosen)

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        if self._inotify is not None:
            poller.register(self._inotify.fileno(), select.POLLIN)
        while not self._stop.is_set():
            # Wakes on any change in /dev, or after rescan_s for a node udev has made
            # accessible since (an ATTRIB event is not guaranteed for that), or to stop.
            woken = poller.poll(int(self.rescan_s * 1000))
            if woken and self._inotify is not None and self._inotify.read(timeout=0):
                self._stop.wait(0.1)  # a dongle adds two nodes: settle, then look once
            if not self._stop.is_set():
                try:
                    self.rescan()
                except Exception:  # a watch must never die of one odd node
                    log.exception("content hotplug: rescan failed")
