"""A camera whose capture sessions run on a thread that survives their failures: the
base of every back-end that opens a real device (and of the simulated one)."""

from __future__ import annotations

import logging
import threading
import time
from abc import abstractmethod

from appliance.devices.camera import BitrateBounds, Camera, CameraError, FrameOutput

log = logging.getLogger("appliance.devices.camera")  # one name for every camera part


class SupervisedCamera(Camera):
    """A camera whose capture sessions run on a thread that survives their failures.

    A back-end implements `_session`: open the device, capture and `_deliver`
    until `stopping` is set, close; raise on failure. A failed session is
    reported (health) and retried after 1, 2, 4 … `retry_max` seconds.
    """

    retry_initial = 1.0
    retry_max = 30.0
    stall_timeout = 3.0  # a running session without a picture for this long has failed

    def __init__(
        self,
        width: int,
        height: int,
        fps: float,
        bitrate: int,
        bounds: BitrateBounds | None = None,
    ) -> None:
        super().__init__(width, height, fps, bitrate, bounds)
        self._thread: threading.Thread | None = None
        self._closing: threading.Thread | None = None  # a stopped session still closing
        self._stopping = threading.Event()
        self.sessions = 0  # opened so far (1 + reopen attempts)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, output: FrameOutput) -> None:
        self.output = output  # a running camera is handed over, starting with a keyframe
        self.request_keyframe()
        if self.running:
            return
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._supervise, args=(self._stopping, self._closing),
            name=type(self).__name__, daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop capturing. Waits briefly (the event loop calls this); a device that takes
        longer to close finishes on its own thread, and the next start waits for it."""
        thread, self._thread = self._thread, None
        self.output = None  # nothing more is delivered from now on
        self._stopping.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=0.5)
            self._closing = thread if thread.is_alive() else None

    @abstractmethod
    def _session(self, stopping: threading.Event) -> None:
        """One capture session: open, deliver until `stopping`, close; raise on failure."""

    def _supervise(self, stopping: threading.Event, closing: threading.Thread | None) -> None:
        if closing is not None:
            closing.join()  # the previous session still holds the device
        delay = self.retry_initial
        while not stopping.is_set():
            self.sessions += 1
            self._last_picture = time.monotonic()
            try:
                self._session(stopping)
                return
            except Exception as exc:  # a camera must never take the service down
                detail = str(exc) or type(exc).__name__
                if not isinstance(exc, CameraError):
                    log.exception("%s: capture failed", type(self).__name__)
                self._report_failure(detail)
            stopping.wait(delay)
            delay = min(delay * 2, self.retry_max)

    def _wait_while_pictures_come(self, stopping: threading.Event) -> None:
        """For sessions whose device delivers on its own threads: watch for stalls."""
        while not stopping.wait(0.25):
            quiet = time.monotonic() - self._last_picture
            if quiet > self.stall_timeout:
                raise CameraError(f"no picture from the camera for {quiet:.0f} s")
