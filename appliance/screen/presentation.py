"""A presentation on the room's screens: someone's shared screen as large as the screen
allows, legible from the back of a classroom.

A shared screen is 16:9 like the room's, so its height is what limits it: it takes the
whole height under the header, and the width that leaves over holds a column — the
notices at its top, then the people as a strip of small tiles (a "+N" tile when they do
not fit). With two screens the first keeps the people as without a presentation, and
the second shows the content with only the notices beside it.

The content keeps its own aspect ratio inside its area (letterboxed, never cropped).
Pure geometry here; the draw functions only paint what the model says.
"""

from __future__ import annotations

import numpy as np
import pygame

from appliance.screen import i18n
from appliance.screen.layout import (
    Box,
    MeetingLayout,
    Metrics,
    Mode,
    PanelNeeds,
    TextStyle,
    _stack_notices,
)
from appliance.screen.model import Content, Language, ScreenRole
from appliance.screen.text import Painter
from appliance.screen.widgets import Theme, to_rect

COLUMN_FRACTION = 0.2  # the column beside the content, at least this share of the width
TILE_ASPECT = 16 / 9


def column_width(size: tuple[int, int]) -> int:
    """The column's width (what the notices are wrapped to)."""
    w, h = size
    m = Metrics(h)
    margin, gap = 3 * m.unit, 2 * m.unit
    header_bottom = margin + m.line_px(TextStyle.HEADING) + 2 * m.unit
    body_w, body_h = w - 2 * margin, h - header_bottom - gap - margin
    content_w = min(round(body_h * TILE_ASPECT), body_w - round(body_w * COLUMN_FRACTION) - gap)
    return body_w - content_w - gap


def content_layout(size: tuple[int, int], role: ScreenRole, n_remote: int,
                   needs: PanelNeeds) -> tuple[MeetingLayout, Box]:
    """(the layout of header, notices and people tiles; the content's area). ``needs``
    carries the notices' line counts wrapped to `column_width`."""
    w, h = size
    m = Metrics(h)
    margin, gap = 3 * m.unit, 2 * m.unit
    header = Box(margin, margin, w - 2 * margin, m.line_px(TextStyle.HEADING) + 2 * m.unit)
    body = Box(margin, header.bottom + gap, w - 2 * margin, h - header.bottom - gap - margin)
    column_w = column_width(size)
    content = Box(body.x, body.y, body.w - column_w - gap, body.h)
    column = Box(content.right + gap, body.y, column_w, body.h)
    notices, rest = _stack_notices(column, needs, m, gap)
    tiles: list[Box] = []
    overflow: Box | None = None
    overflow_count = 0
    if role is ScreenRole.SINGLE and n_remote:
        tiles, overflow, overflow_count = strip_tiles(rest, n_remote, gap)
    layout = MeetingLayout(size, header, content, Mode.GRID, tuple(tiles), overflow,
                           overflow_count, None, notices, {"content": content})
    return layout, content


def strip_tiles(strip: Box, n: int, gap: int) -> tuple[list[Box], Box | None, int]:
    """Small 16:9 tiles one under another, from the top; the last place says "+N" when
    n overflows."""
    tile_h = min(round(strip.w / TILE_ASPECT), strip.h)
    tile_w = round(tile_h * TILE_ASPECT)
    if tile_h <= 0:
        return [], None, 0
    fits = max(1, (strip.h + gap) // (tile_h + gap))
    places = min(n, fits)
    x = strip.x + (strip.w - tile_w) // 2
    boxes = [Box(x, strip.y + i * (tile_h + gap), tile_w, tile_h) for i in range(places)]
    if n <= fits:
        return boxes, None, 0
    return boxes[:-1], boxes[-1], n - (places - 1)


def fitted(area: Box, frame_size: tuple[int, int] | None) -> Box:
    """Where the content goes inside its area: its own aspect ratio, as large as fits."""
    if frame_size is None or frame_size[0] <= 0 or frame_size[1] <= 0:
        return area.fit(TILE_ASPECT)
    return area.fit(frame_size[0] / frame_size[1])


def draw_frame(surface: pygame.Surface, area: Box, pixels: np.ndarray | None,
               box: Box) -> None:
    """The content's picture in ``box`` (or the area left dark while none has come)."""
    pygame.draw.rect(surface, (0, 0, 0), to_rect(area))
    if pixels is None:
        return
    frame = np.ascontiguousarray(pixels)
    h, w = frame.shape[:2]
    image = pygame.image.frombuffer(frame.data.cast("B"), (w, h), "RGB")
    surface.blit(image, (box.x, box.y))


def draw_caption(surface: pygame.Surface, painter: Painter, m: Metrics, area: Box,
                 content: Content, lang: Language, waiting: bool) -> None:
    """Whose screen it is (top left of the picture), and a warning when the link
    cannot carry it (top right)."""
    u = m.unit
    line = m.line_px(TextStyle.BODY)
    text = i18n.ui("content_of", lang, name=content.presenter_name)
    width = min(painter.width(text, TextStyle.BODY) + 2 * u, area.w * 2 // 3)
    bar = pygame.Surface((width, line + u), pygame.SRCALPHA)
    bar.fill((0, 0, 0, Theme.LABEL_ALPHA))
    surface.blit(bar, (area.x, area.y))
    painter.draw(surface, text, TextStyle.BODY, Theme.TEXT, area.x + u, area.y + u // 2,
                 "content", max_w=width - 2 * u)
    if waiting:
        cx, cy = area.center
        painter.draw(surface, i18n.ui("content_waiting", lang), TextStyle.HEADING,
                     Theme.TEXT_DIM, cx, cy - line, "content", align="center", max_w=area.w)
    if content.starved:
        warn = i18n.ui("content_starved", lang)
        w = min(painter.width(warn, TextStyle.BODY, bold=True) + 2 * u, area.w // 2)
        x = area.right - w
        pygame.draw.rect(surface, Theme.MUTED, pygame.Rect(x, area.y, w, line + u))
        painter.draw(surface, warn, TextStyle.BODY, Theme.ON_LIGHT, x + u, area.y + u // 2,
                     "content", bold=True, max_w=w - 2 * u)
