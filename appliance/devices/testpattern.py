"""A moving test pattern that carries its own capture time.

The picture is colour bars scrolling sideways, a bouncing square and a sweep
that fills once a second, so motion and stalls are visible to a person. Near
the top a band of 2 × 32 large black/white cells carries the capture time as
milliseconds since the epoch, so a receiver can measure glass-to-glass
latency from the decoded picture alone:

    cell  0..3    start marker 1 0 1 0 (also the white/black reference)
    cell  4..51   48-bit capture time in ms, most significant bit first
    cell 52..59   CRC-8 (polynomial 0x07) of those 6 bytes, big-endian
    cell 60..63   end marker 0 1 0 1

Cells are laid out in fractions of the frame size (integer arithmetic, so
`bridge/web/static/testpattern.js` draws and reads the very same pixels) and
read from their inner half, so the code survives H.264/VP8 at moderate
bitrates and any uniform scaling down to about 320 × 180.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

COLS = 32
ROWS = 2
START_MARKER = (1, 0, 1, 0)
END_MARKER = (0, 1, 0, 1)
TIME_BITS = 48
CRC_BITS = 8
MIN_CONTRAST = 64  # luma difference between the white and black references

# Colour bars (75 % SMPTE order) shared with the JavaScript renderer.
BARS: tuple[tuple[int, int, int], ...] = (
    (191, 191, 191),
    (191, 191, 0),
    (0, 191, 191),
    (0, 191, 0),
    (191, 0, 191),
    (191, 0, 0),
    (0, 0, 191),
    (32, 32, 32),
)
SCROLL_PERIOD_MS = 4000  # bars travel one frame width in this time
BOUNCE_PERIOD_MS = 3000  # the square crosses the frame and back in this time
FRAME_GREY = (128, 128, 128)

RGBImage = npt.NDArray[np.uint8]
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (end exclusive)


class Geometry(NamedTuple):
    """Where the moving parts are at one instant (the JS renderer agrees)."""

    offset: int  # scroll of the bars, pixels
    square: Box
    sweep: Box


def whole_ms(t_ms: float) -> int:
    """Round half up, as JavaScript's Math.round does (Python's round() is half-even)."""
    return math.floor(t_ms + 0.5)


def crc8(data: bytes) -> int:
    """CRC-8/SMBUS (poly 0x07, init 0): cheap to redo in JavaScript."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def encode_bits(t_ms: float) -> list[int]:
    """The 64 cell values for a capture time in milliseconds since the epoch."""
    value = whole_ms(t_ms) & ((1 << TIME_BITS) - 1)
    payload = value.to_bytes(TIME_BITS // 8, "big")
    check = crc8(payload)
    bits = [(value >> (TIME_BITS - 1 - i)) & 1 for i in range(TIME_BITS)]
    bits += [(check >> (CRC_BITS - 1 - i)) & 1 for i in range(CRC_BITS)]
    return [*START_MARKER, *bits, *END_MARKER]


def decode_bits(bits: list[int]) -> int | None:
    """Milliseconds from 64 cell values, or None if markers or CRC disagree."""
    if len(bits) != COLS * ROWS:
        return None
    if tuple(bits[:4]) != START_MARKER or tuple(bits[-4:]) != END_MARKER:
        return None
    value = 0
    for bit in bits[4 : 4 + TIME_BITS]:
        value = (value << 1) | bit
    check = 0
    for bit in bits[4 + TIME_BITS : 4 + TIME_BITS + CRC_BITS]:
        check = (check << 1) | bit
    if crc8(value.to_bytes(TIME_BITS // 8, "big")) != check:
        return None
    return value


def cell_edges(width: int, height: int) -> tuple[list[int], list[int]]:
    """Pixel edges of the code cells: 33 x edges and 3 y edges.

    The band spans 5 %..95 % of the width and starts at 5 % of the height with
    rows of 1/16 of the height each.
    """
    xs = [(width * (32 + 18 * k)) // 640 for k in range(COLS + 1)]
    ys = [(height * (4 + 5 * r)) // 80 for r in range(ROWS + 1)]
    return xs, ys


def _cell_boxes(width: int, height: int) -> list[Box]:
    xs, ys = cell_edges(width, height)
    return [(xs[c], ys[r], xs[c + 1], ys[r + 1]) for r in range(ROWS) for c in range(COLS)]


def _band_frame(width: int, height: int) -> Box:
    """A grey margin around the band so moving bars never touch a cell."""
    xs, ys = cell_edges(width, height)
    pad = max(1, (ys[1] - ys[0]) // 4)
    return (max(0, xs[0] - pad), max(0, ys[0] - pad), xs[-1] + pad, ys[-1] + pad)


def read_timestamp(image: npt.NDArray[Any]) -> float | None:
    """The capture time (ms since the epoch) drawn into a frame, or None.

    `image` is H×W×3 (RGB) or H×W×4 (RGBA) as decoded, at any size: the cells
    are found from the frame's own dimensions, so scaled frames read fine.
    """
    if image.ndim != 3 or image.shape[2] < 3:
        raise ValueError(f"expected an H×W×3 or H×W×4 image, got shape {image.shape}")
    height, width = image.shape[:2]
    if width < COLS * 2 or height < 32:
        return None
    levels = []
    for x0, y0, x1, y1 in _cell_boxes(width, height):
        mx, my = (x1 - x0) // 4, (y1 - y0) // 4
        inner = image[y0 + my : y1 - my, x0 + mx : x1 - mx, :3]
        levels.append(float(inner.mean()) if inner.size else 0.0)
    return _levels_to_time(levels)


def _levels_to_time(levels: list[float]) -> float | None:
    markers = list(START_MARKER) + list(END_MARKER)
    marker_levels = levels[:4] + levels[-4:]
    white = [lv for lv, bit in zip(marker_levels, markers, strict=True) if bit]
    black = [lv for lv, bit in zip(marker_levels, markers, strict=True) if not bit]
    hi, lo = sum(white) / len(white), sum(black) / len(black)
    if hi - lo < MIN_CONTRAST:
        return None
    threshold = (hi + lo) / 2
    value = decode_bits([1 if lv > threshold else 0 for lv in levels])
    return None if value is None else float(value)


def _bars_strip(width: int, height: int) -> RGBImage:
    """Two frame widths of colour bars, so any scroll offset is one slice."""
    strip = np.empty((height, 2 * width, 3), np.uint8)
    for x0 in (0, width):
        for i, colour in enumerate(BARS):
            a, b = (width * i) // len(BARS), (width * (i + 1)) // len(BARS)
            strip[:, x0 + a : x0 + b] = colour
    return strip


class TestPattern:
    """Renders the pattern at one size; reuses its bar strip between frames."""

    __test__ = False  # not a pytest class, despite the name

    def __init__(self, width: int, height: int) -> None:
        if width < COLS * 2 or height < 32:
            raise ValueError(
                f"test pattern needs at least {COLS * 2}×32 pixels, got {width}×{height}"
            )
        self.width = width
        self.height = height
        self._strip = _bars_strip(width, height)
        self._boxes = _cell_boxes(width, height)
        self._band_frame = _band_frame(width, height)
        self._i420_strip: tuple[RGBImage, RGBImage, RGBImage] | None = None

    def geometry(self, t_ms: float) -> Geometry:
        """Scroll offset, square and sweep rectangles at time t (shared with JS)."""
        w, h = self.width, self.height
        t = whole_ms(t_ms)
        offset = (w * (t % SCROLL_PERIOD_MS)) // SCROLL_PERIOD_MS
        side = h // 6
        phase = t % BOUNCE_PERIOD_MS
        half = BOUNCE_PERIOD_MS // 2
        travel = w - side
        sx = (
            (travel * phase) // half
            if phase < half
            else (travel * (BOUNCE_PERIOD_MS - phase)) // half
        )
        sy = (h * 3) // 5 - side // 2
        sweep = (w * (t % 1000)) // 1000
        return Geometry(offset, (sx, sy, sx + side, sy + side), (0, h - h // 24, sweep, h))

    def render_rgb(self, t_ms: float) -> RGBImage:
        """An H×W×3 RGB frame for time t_ms."""
        g = self.geometry(t_ms)
        img = self._strip[:, g.offset : g.offset + self.width].copy()
        self._paint(img, g, t_ms, white=255, black=0, grey=FRAME_GREY[0])
        return img

    def render_i420(self, t_ms: float) -> npt.NDArray[np.uint8]:
        """A (H*3/2)×W yuv420p buffer (BT.601 limited range) for av.VideoFrame.

        Drawn straight into planes so a camera stand-in pays no colour
        conversion per frame. Needs an even width and height.
        """
        w, h = self.width, self.height
        if w % 2 or h % 2:
            raise ValueError(f"yuv420p needs an even size, got {w}×{h}")
        y_strip, u_strip, v_strip = self._i420_strips()
        g = self.geometry(t_ms)
        offset = g.offset & ~1
        buf = np.empty(w * h * 3 // 2, np.uint8)
        y = buf[: w * h].reshape(h, w)
        u = buf[w * h : w * h * 5 // 4].reshape(h // 2, w // 2)
        v = buf[w * h * 5 // 4 :].reshape(h // 2, w // 2)
        y[:] = y_strip[:, offset : offset + w]
        u[:] = u_strip[:, offset // 2 : offset // 2 + w // 2]
        v[:] = v_strip[:, offset // 2 : offset // 2 + w // 2]
        # Everything painted on top is grey/black/white: luma only, neutral chroma.
        for x0, y0, x1, y1 in self._painted_boxes(g):
            u[y0 // 2 : (y1 + 1) // 2, x0 // 2 : (x1 + 1) // 2] = 128
            v[y0 // 2 : (y1 + 1) // 2, x0 // 2 : (x1 + 1) // 2] = 128
        self._paint(y[:, :, None], g, t_ms, white=235, black=16, grey=126)
        return buf.reshape(h * 3 // 2, w)

    def _painted_boxes(self, g: Geometry) -> list[Box]:
        return [self._band_frame, g.square, g.sweep]

    def _paint(
        self,
        img: npt.NDArray[np.uint8],
        g: Geometry,
        t_ms: float,
        *,
        white: int,
        black: int,
        grey: int,
    ) -> None:
        bx0, by0, bx1, by1 = self._band_frame
        img[by0:by1, bx0:bx1] = grey
        sx0, sy0, sx1, sy1 = g.square
        img[sy0:sy1, sx0:sx1] = white
        wx0, wy0, wx1, wy1 = g.sweep
        img[wy0:wy1, wx0:wx1] = white
        for (x0, y0, x1, y1), bit in zip(self._boxes, encode_bits(t_ms), strict=True):
            img[y0:y1, x0:x1] = white if bit else black

    def _i420_strips(self) -> tuple[RGBImage, RGBImage, RGBImage]:
        if self._i420_strip is None:
            self._i420_strip = _rgb_to_i420_planes(self._strip)
        return self._i420_strip


def _rgb_to_i420_planes(rgb: RGBImage) -> tuple[RGBImage, RGBImage, RGBImage]:
    """BT.601 limited-range conversion with 2×2 chroma averaging (done once)."""
    f = rgb.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    h, w = rgb.shape[:2]

    def half(plane: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        p = plane[: h - h % 2, : w - w % 2]
        return p.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    def to_u8(plane: npt.NDArray[np.float32]) -> RGBImage:
        return np.clip(np.rint(plane), 0, 255).astype(np.uint8)

    return to_u8(y), to_u8(half(u)), to_u8(half(v))
