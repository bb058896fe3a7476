"""Synthetic video frames: the screen's simulated camera feeds.

`SolidFrame` fills a tile with one colour (tests sample it); `PortraitFrame` draws a
head-and-shoulders figure over a gradient (screenshots, demo, benchmark). Both follow
render.FrameSource: `version` counts frames, `rgb(w, h)` returns H×W×3 uint8 at tile size.
"""

from __future__ import annotations

import numpy as np

RGB = tuple[int, int, int]
LIGHT_STEPS = 8


class SolidFrame:
    def __init__(self, color: RGB, version: int = 1) -> None:
        self.color = color
        self.version = version
        self.calls: list[tuple[int, int]] = []  # sizes asked for, to check conversion counts

    def rgb(self, width: int, height: int) -> np.ndarray:
        self.calls.append((width, height))
        frame = np.empty((height, width, 3), np.uint8)
        frame[:] = self.color
        return frame

    def advance(self, color: RGB | None = None) -> None:
        """A new frame arrives."""
        if color is not None:
            self.color = color
        self.version += 1


class PortraitFrame:
    """A lit backdrop and a figure; `advance()` moves the light so every frame differs."""

    def __init__(self, hue: int, version: int = 1) -> None:
        self.hue = hue
        self.version = version
        self._base: dict[tuple[int, int], np.ndarray] = {}
        self._lit: dict[tuple[int, int, int], np.ndarray] = {}

    def advance(self) -> None:
        self.version += 1

    def _figure(self, width: int, height: int) -> np.ndarray:
        key = (width, height)
        if key not in self._base:
            y, x = np.mgrid[0:height, 0:width].astype(np.float32)
            u, v = x / max(1, width - 1), y / max(1, height - 1)
            base = _hue_rgb(self.hue)
            back = (0.35 + 0.45 * (1 - v))[..., None] * base[None, None, :]
            cx, head_y, r = 0.5, 0.42, 0.16
            aspect = width / max(1, height)
            head = ((u - cx) * aspect) ** 2 + (v - head_y) ** 2 < r**2
            shoulders = (((u - cx) * aspect / 0.42) ** 2 + ((v - 1.02) / 0.38) ** 2) < 1
            figure = head | shoulders
            skin = np.array([214, 170, 140], np.float32)
            cloth = np.array([40, 48, 64], np.float32)
            back[head] = skin
            back[shoulders & ~head] = cloth
            back[figure] *= (0.85 + 0.15 * (1 - v[figure]))[..., None]
            self._base[key] = back.astype(np.float32)
        return self._base[key]

    def rgb(self, width: int, height: int) -> np.ndarray:
        # Eight lighting steps, made once per size: the frames differ like video does
        # while costing the renderer, not this stand-in for a decoder, the time.
        step = self.version % LIGHT_STEPS
        key = (width, height, step)
        if key not in self._lit:
            light = 0.85 + 0.15 * np.sin(2 * np.pi * step / LIGHT_STEPS)
            self._lit[key] = np.clip(self._figure(width, height) * light, 0, 255).astype(
                np.uint8)
        return self._lit[key]


def _hue_rgb(hue: int) -> np.ndarray:
    """A muted colour for a hue in degrees, so backdrops differ between people."""
    h = (hue % 360) / 60.0
    c, x = 150.0, 150.0 * (1 - abs(h % 2 - 1))
    table = [(c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c), (c, 0, x)]
    r, g, b = table[int(h) % 6]
    return np.array([r + 60, g + 60, b + 60], np.float32)


class SlideFrame:
    """A shared screen as a teacher shows one: a white 1080p slide with a QR code and
    lines of small dark "text". ``size`` is the slide's own (what a receiver decoded);
    ``rgb(w, h)`` scales it (nearest pixel, as a still slide needs no smoothing)."""

    def __init__(self, text: str, size: tuple[int, int] = (1920, 1080), version: int = 1) -> None:
        from appliance.screen.widgets import qr_matrix  # the screen's own QR maker

        self.size = size
        self.version = version
        w, h = size
        slide = np.full((h, w, 3), 255, np.uint8)
        modules = np.array(qr_matrix(text), bool)
        cell = max(1, h // 2 // len(modules))
        qr = np.repeat(np.repeat(~modules, cell, 0), cell, 1)
        top, left = h // 8, w // 16
        slide[top:top + qr.shape[0], left:left + qr.shape[1]][~qr] = 0
        for i in range(8):  # lines of 14 px "text" beside the code
            y = top + i * h // 20
            slide[y:y + h // 77, w // 2:w // 2 + (w // 3 if i % 3 else w // 5)] = (20, 30, 60)
        self.slide = slide

    def rgb(self, width: int, height: int) -> np.ndarray:
        rows = np.arange(height) * self.size[1] // height
        cols = np.arange(width) * self.size[0] // width
        return self.slide[rows][:, cols]
