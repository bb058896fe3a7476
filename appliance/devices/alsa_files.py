"""ALSA without a sound card: file-backed PCMs, and a clock for devices that have none.

ALSA's `file` plugin on its `null` device replays a raw file (or a FIFO) as a
capture device and records playback into a file; everything above it —
pyalsaaudio, the appliance's ALSA microphone and speaker — is the real code.
`alsa_file_devices` writes such a configuration; `AlsaFileDevices.active()`
points libasound at it (ALSA_CONFIG_PATH). These PCMs return at once, so the
devices pace them with `FrameClock` (`clock="software"`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class FrameClock:
    """A sample clock for PCMs without one (ALSA's `null` device and `file` plugin).

    Counts frames against real time: capture waits until a period has been
    "recorded"; playback emulates a device buffer draining at the rate. Being
    late by more than `max_late` (capture) or letting the buffer run dry
    (playback) restarts the clock, and the call reports it like a device xrun.
    """

    def __init__(self, rate: int, max_late: float = 0.1) -> None:
        self.rate = rate
        self.max_late = max_late
        self._anchor = time.monotonic()
        self._frames = 0  # recorded-and-read, or written, since the anchor

    def _elapsed(self) -> float:
        return (time.monotonic() - self._anchor) * self.rate

    def _restart(self) -> None:
        self._anchor, self._frames = time.monotonic(), 0

    def wait_recorded(self, frames: int, stopping: threading.Event) -> bool:
        """Capture: block until `frames` more have been recorded; True after an overrun."""
        overrun = self._elapsed() - self._frames > self.max_late * self.rate
        if overrun:  # the audio in between is lost
            self._restart()
        self._frames += frames
        ahead = (self._frames - self._elapsed()) / self.rate
        if ahead > 0:
            stopping.wait(ahead)
        return overrun

    def buffered(self) -> float:
        """Playback: frames written and not played yet."""
        return max(0.0, self._frames - self._elapsed())

    def wait_room(self, frames: int, buffer_frames: int, stopping: threading.Event) -> bool:
        """Playback: block until `frames` more fit into the buffer, then count them written.

        True if the buffer had run dry (an underrun): the clock restarts from now.
        """
        ran_dry = self._frames - self._elapsed() < 0
        underrun = ran_dry and self._frames > 0  # not before the first write
        if ran_dry:
            self._restart()
        excess = self.buffered() + frames - buffer_frames
        if excess > 0:
            stopping.wait(excess / self.rate)
        self._frames += frames
        return underrun



@dataclass(frozen=True)
class AlsaFileDevices:
    """ALSA PCMs backed by files, for machines without a sound card.

    `capture_pcm` reads its samples from `capture_file` (a raw file or a FIFO in
    the capture's format); `playback_pcm` writes what is played, raw, to
    `playback_file`. Both sit on ALSA's `null` device, so they have no clock:
    use them with `clock="software"` (or let a FIFO's writer set the pace).
    """

    config_path: Path
    capture_pcm: str
    playback_pcm: str

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Make ALSA in this process read this configuration (ALSA_CONFIG_PATH) meanwhile."""
        previous = os.environ.get("ALSA_CONFIG_PATH")
        os.environ["ALSA_CONFIG_PATH"] = str(self.config_path)
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("ALSA_CONFIG_PATH", None)
            else:
                os.environ["ALSA_CONFIG_PATH"] = previous


def alsa_file_devices(
    directory: str | Path,
    *,
    capture_file: str | Path | None = None,
    playback_file: str | Path | None = None,
    prefix: str = "salon",
) -> AlsaFileDevices:
    """Write an ALSA configuration defining file-backed capture and playback PCMs."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    capture_pcm, playback_pcm = f"{prefix}_capture", f"{prefix}_playback"
    capture_in = Path(capture_file) if capture_file else directory / "capture.raw"
    playback_out = Path(playback_file) if playback_file else directory / "playback.raw"
    if not capture_in.exists():
        capture_in.touch()
    text = (
        "# ALSA without a sound card: file-backed PCMs on the null device (written by salon)\n"
        f"pcm.{capture_pcm} {{\n  type file\n  slave.pcm {{ type null }}\n"
        f'  file "/dev/null"\n  infile {_quote(capture_in)}\n  format "raw"\n}}\n'
        f"pcm.{playback_pcm} {{\n  type file\n  slave.pcm {{ type null }}\n"
        f'  file {_quote(playback_out)}\n  format "raw"\n}}\n'
    )
    config = directory / "asound.conf"
    config.write_text(text, encoding="utf-8")
    return AlsaFileDevices(config, capture_pcm, playback_pcm)


def _quote(path: Path) -> str:
    text = str(path.resolve())
    if '"' in text or "\\" in text:
        raise ValueError(f"{text}: ALSA paths may not contain quotes or backslashes")
    return f'"{text}"'
