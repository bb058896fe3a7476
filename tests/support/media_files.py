"""Known media for Chromium's fake capture devices: a solid-colour Y4M video and a
pure-tone WAV, so what arrives at the far end can be recognised."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def rgb_to_yuv(r: int, g: int, b: int) -> tuple[int, int, int]:
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = 128 + (b - y) * 0.564
    v = 128 + (r - y) * 0.713
    return tuple(round(min(255, max(0, c))) for c in (y, u, v))  # type: ignore[return-value]


def write_solid_y4m(path: Path, rgb: tuple[int, int, int], width: int = 640, height: int = 360,
                    frames: int = 30) -> Path:
    y, u, v = rgb_to_yuv(*rgb)
    plane_y = bytes([y]) * (width * height)
    plane_u = bytes([u]) * (width * height // 4)
    plane_v = bytes([v]) * (width * height // 4)
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + plane_y + plane_u + plane_v)
    return path


def write_tone_wav(path: Path, hz: float, seconds: float = 2.0, rate: int = 48000,
                   level: float = 0.3) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    samples = (np.sin(2 * np.pi * hz * t) * level * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


def read_wav_tail(path: Path, seconds: float) -> tuple[np.ndarray, int]:
    """The last ``seconds`` of a WAV that another process is still writing."""
    with wave.open(str(path), "rb") as w:
        rate, n = w.getframerate(), w.getnframes()
        w.setpos(max(0, n - int(seconds * rate)))
        data = np.frombuffer(w.readframes(n), dtype="<i2").astype(np.float64)
    return data, rate


def tone_ratio_db(samples: np.ndarray, rate: int, hz: float) -> float:
    """Energy near ``hz`` against the median energy of the spectrum, in dB."""
    if len(samples) < rate // 10:
        return float("-inf")
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    band = spectrum[(freqs > hz - 20) & (freqs < hz + 20)].sum()
    floor = np.median(spectrum) * 40 + 1e-9  # ~ the same bandwidth of noise
    return float(10 * np.log10(band / floor + 1e-12))


def write_noise_y4m(path: Path, width: int = 640, height: int = 360, frames: int = 30,
                    seed: int = 7, block: int = 8) -> Path:
    """A new random picture every frame, in ``block``-pixel squares: nothing to predict
    from the frame before, so a sender runs at its bitrate cap. Not per-pixel noise:
    OpenH264 (Chromium's H.264 encoder) makes each such frame several times its budget
    and its frame dropper then stalls the camera for tens of seconds, which no camera
    shows and which measured the encoder, not Salon."""
    rng = np.random.default_rng(seed)
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n")
            for plane_w, plane_h, cell in ((width, height, block),
                                           (width // 2, height // 2, block // 2),
                                           (width // 2, height // 2, block // 2)):
                cells = rng.integers(0, 256, (-(-plane_h // cell), -(-plane_w // cell)), np.uint8)
                plane = np.repeat(np.repeat(cells, cell, axis=0), cell, axis=1)
                f.write(plane[:plane_h, :plane_w].tobytes())
    return path
