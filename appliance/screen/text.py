"""Text on the screen: the bundled font, cached glyph runs, fitting and wrapping.

Every string drawn is recorded with its rectangle (`Painter.drawn`), so tests and the
layout check can see what is on screen and where, and compare those pixels.

Whatever reaches the screen passes `printable` here, at the edge: text comes from files
and from other people (a damaged provisioning file full of NUL bytes, a chat message),
and pygame refuses NUL and lone surrogates with an exception.
"""

from __future__ import annotations

import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import pygame

from appliance.screen.layout import Box, Metrics, TextStyle

FONT_DIR = Path(__file__).parent / "fonts"
REGULAR_FONT = FONT_DIR / "DejaVuSans.ttf"
BOLD_FONT = FONT_DIR / "DejaVuSans-Bold.ttf"
ELLIPSIS = "…"
REPLACEMENT = "\ufffd"  # "�": a character that cannot be shown
_BREAKS = frozenset("\t\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def printable(text: str) -> str:
    """`text` as the screen can draw it: line breaks and tabs become spaces, other
    control characters and lone surrogates a replacement mark. One character stands for
    one, so widths measured and cuts made on either line up."""
    if text.isprintable():
        return text
    return "".join(" " if c in _BREAKS
                   else REPLACEMENT if unicodedata.category(c) in ("Cc", "Cs") else c
                   for c in text)

Color = tuple[int, int, int]


@dataclass(frozen=True)
class DrawnText:
    text: str
    rect: Box
    style: TextStyle
    area: str  # the layout box the text belongs to (e.g. "header", "tile0", "chat")
    color: Color = (255, 255, 255)
    bold: bool = False


class Painter:
    """Draws text in the reading sizes of `layout.Metrics`; caches what it rendered."""

    def __init__(self, metrics: Metrics, font_path: Path | str | None = None,
                 bold_font_path: Path | str | None = None, cache_size: int = 600) -> None:
        if not pygame.font.get_init():
            pygame.font.init()
        self.metrics = metrics
        regular = Path(font_path) if font_path else REGULAR_FONT
        bold = Path(bold_font_path) if bold_font_path else (BOLD_FONT if not font_path else regular)
        self._paths = {False: regular, True: bold}
        self._fonts: dict[tuple[TextStyle, bool], pygame.font.Font] = {}
        self._cache: OrderedDict[tuple[str, TextStyle, bool, Color], pygame.Surface] = (
            OrderedDict())
        self._cache_size = cache_size
        self.drawn: list[DrawnText] = []

    def font(self, style: TextStyle, bold: bool = False) -> pygame.font.Font:
        key = (style, bold)
        if key not in self._fonts:
            self._fonts[key] = pygame.font.Font(str(self._paths[bold]),
                                                self.metrics.font_px(style))
        return self._fonts[key]

    def line_h(self, style: TextStyle) -> int:
        return self.metrics.line_px(style)

    def width(self, text: str, style: TextStyle, bold: bool = False) -> int:
        return int(self.font(style, bold).size(printable(text))[0])

    def surface(self, text: str, style: TextStyle, color: Color,
                bold: bool = False) -> pygame.Surface:
        text = printable(text)
        key = (text, style, bold, color)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        rendered = self.font(style, bold).render(text, True, color)
        self._cache[key] = rendered
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return rendered

    def fit(self, text: str, style: TextStyle, max_w: int, bold: bool = False) -> str:
        """The text, cut with an ellipsis if it is wider than max_w."""
        if self.width(text, style, bold) <= max_w:
            return text
        lo, hi = 0, len(text)
        while lo < hi:  # longest prefix that fits with the ellipsis
            mid = (lo + hi + 1) // 2
            if self.width(text[:mid].rstrip() + ELLIPSIS, style, bold) <= max_w:
                lo = mid
            else:
                hi = mid - 1
        return text[:lo].rstrip() + ELLIPSIS if lo else ""

    def wrap(self, text: str, style: TextStyle, max_w: int, max_lines: int,
             bold: bool = False) -> list[str]:
        """Word-wrap into at most max_lines; the last line ends in an ellipsis if cut."""
        lines: list[str] = []
        words = text.split()
        current = ""
        for i, word in enumerate(words):
            trial = f"{current} {word}" if current else word
            if self.width(trial, style, bold) <= max_w:
                current = trial
                continue
            if current:
                lines.append(current)
            current = word
            if len(lines) == max_lines:
                rest = " ".join([lines.pop(), *words[i:]])
                lines.append(self.fit(rest, style, max_w, bold))
                return lines
        if current:
            lines.append(current)
        if len(lines) > max_lines:
            rest = " ".join(lines[max_lines - 1:])
            lines = [*lines[:max_lines - 1], self.fit(rest, style, max_w, bold)]
        return [self.fit(line, style, max_w, bold) for line in lines]

    def draw(self, target: pygame.Surface, text: str, style: TextStyle, color: Color,
             x: int, y: int, area: str, bold: bool = False, max_w: int | None = None,
             align: str = "left") -> Box:
        """Draw one line with its top at y; x is the left edge, or the right edge when
        align="right", or the centre when align="center". Returns the drawn box."""
        text = printable(text)
        if max_w is not None:
            text = self.fit(text, style, max_w, bold)
        if not text:
            return Box(x, y, 0, 0)
        rendered = self.surface(text, style, color, bold)
        w, h = rendered.get_size()
        if align == "right":
            x -= w
        elif align == "center":
            x -= w // 2
        target.blit(rendered, (x, y))
        box = Box(x, y, w, h)
        self.drawn.append(DrawnText(text, box, style, area, color, bold))
        return box

    def draw_lines(self, target: pygame.Surface, lines: list[str], style: TextStyle,
                   color: Color, x: int, y: int, area: str, bold: bool = False,
                   align: str = "left") -> int:
        """Draw lines downwards from y; returns the y below the last line."""
        for line in lines:
            self.draw(target, line, style, color, x, y, area, bold, align=align)
            y += self.line_h(style)
        return y
