"""A self-test of the native stack the appliance runs on, for a fresh install.

Every compiled piece is exercised once, with real work rather than an import:
H.264 encode and decode (PyAV's libx264/ffmpeg), echo cancellation on 10 ms frames
(livekit's AudioProcessingModule), a DTLS certificate (cryptography, for aiortc),
numpy, pygame drawing off-screen, and the journal binding if present. It runs under
qemu in CI (an arm64 Debian rootfs) and on a real Pi from smoke-test-on-pi.sh.

    python -m appliance.service.selftest        # exit 0 when every check passes
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence

__all__ = ["CHECKS", "main", "run_checks"]


def _numpy() -> str:
    import numpy as np

    tone = np.sin(2 * np.pi * 440 * np.arange(480) / 48000)
    assert abs(float(np.sqrt(np.mean(tone**2))) - 0.7071) < 0.01
    return np.__version__


def _h264() -> str:
    import av
    import numpy as np

    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 320, 240, "yuv420p"
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
    decoder = av.CodecContext.create("h264", "r")
    decoded = 0
    for i in range(5):
        image = np.full((240, 320, 3), i * 40, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        for packet in encoder.encode(frame):
            decoded += len(decoder.decode(packet))
    for packet in encoder.encode(None):
        decoded += len(decoder.decode(packet))
    assert decoded == 5, f"decoded {decoded} of 5 frames"
    return f"av {av.__version__}, 5 frames 320x240 encoded and decoded"


def _echo_cancellation() -> str:
    import numpy as np
    from livekit import rtc

    apm = rtc.AudioProcessingModule(echo_cancellation=True, noise_suppression=True,
                                    high_pass_filter=True)
    samples = 480  # 10 ms at 48 kHz, the only frame size the APM takes
    for i in range(50):
        tone = (np.sin(2 * np.pi * 440 * (np.arange(samples) + i * samples) / 48000) * 8000)
        pcm = tone.astype(np.int16).tobytes()
        apm.process_reverse_stream(rtc.AudioFrame(pcm, 48000, 1, samples))
        apm.process_stream(rtc.AudioFrame(pcm, 48000, 1, samples))
    return "AEC3 + NS + HPF on 50 frames of 10 ms"


def _dtls_certificate() -> str:
    from aiortc import RTCCertificate

    fingerprint = RTCCertificate.generateCertificate().getFingerprints()[0]
    return f"{fingerprint.algorithm} fingerprint"


def _pygame() -> str:
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    surface = pygame.Surface((64, 48))
    surface.fill((10, 200, 30))
    pygame.draw.circle(surface, (255, 0, 0), (32, 24), 10)
    assert surface.get_at((32, 24))[:3] == (255, 0, 0)
    return f"pygame {pygame.version.ver}, SDL {'.'.join(map(str, pygame.get_sdl_version()))}"


def _journal() -> str:
    try:
        journal = importlib.import_module("systemd.journal")
    except ImportError:
        return "systemd-python absent: stderr logging with priority prefixes"
    return f"systemd-python {getattr(journal, '__version__', '')} (journal fields)".strip()


CHECKS: dict[str, Callable[[], str]] = {
    "numpy": _numpy,
    "h264": _h264,
    "echo-cancellation": _echo_cancellation,
    "dtls-certificate": _dtls_certificate,
    "pygame": _pygame,
    "journal": _journal,
}


def run_checks(names: Sequence[str] | None = None) -> list[tuple[str, bool, str, float]]:
    """Run the named checks (all by default): (name, passed, detail, seconds) each."""
    results = []
    for name in names or list(CHECKS):
        started = time.monotonic()
        try:
            detail, ok = CHECKS[name](), True
        except Exception as exc:  # report every failure, not just the first
            detail, ok = f"{type(exc).__name__}: {exc}", False
        results.append((name, ok, detail, time.monotonic() - started))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="salon-appliance self-test", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checks", nargs="*", choices=[[], *CHECKS], metavar="CHECK",
                        help=f"checks to run (default all): {', '.join(CHECKS)}")
    args = parser.parse_args(argv)
    results = run_checks(args.checks)
    for name, ok, detail, seconds in results:
        print(f"{'PASS' if ok else 'FAIL'}  {name:<18} {seconds:6.2f} s  {detail}")
    failed = [name for name, ok, _, _ in results if not ok]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
