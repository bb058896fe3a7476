"""Where everything goes on a screen: pure geometry, no pygame.

Everything is a fraction of the screen so one layout serves 1280×720 to 3840×2160.

Reading rule (people sit about 3 m from the screen): the smallest text has a cap
height of at least 2 % of the screen height (`MIN_CAP_FRACTION`) — 22 px at 1080p,
14 mm on a 55-inch screen, about 16 arcminutes at 3 m, three times the 5-arcminute
letter a normal eye just resolves. Body text is 2.5 %, headings 3 %.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from appliance.screen.model import Participant, ScreenRole, SelfViewPosition

MIN_CAP_FRACTION = 0.020
# DejaVu Sans: cap height is 0.729 em and a line (ascent + descent) 1.164 em.
CAP_PER_EM = 0.729
LINE_PER_EM = 1.164
TILE_ASPECT = 16 / 9
SELF_VIEW_FRACTION = 0.2  # self-view height in the grid, as a share of the stage
FILMSTRIP_FRACTION = 0.16  # filmstrip (and self-view) height in speaker view


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    @property
    def center(self) -> tuple[int, int]:
        return (self.x + self.w // 2, self.y + self.h // 2)

    def overlaps(self, other: Box) -> bool:
        return (self.x < other.right and other.x < self.right
                and self.y < other.bottom and other.y < self.bottom)

    def contains(self, other: Box) -> bool:
        return (self.x <= other.x and self.y <= other.y
                and other.right <= self.right and other.bottom <= self.bottom)

    def inset(self, d: int) -> Box:
        return Box(self.x + d, self.y + d, max(0, self.w - 2 * d), max(0, self.h - 2 * d))

    def take_top(self, h: int) -> tuple[Box, Box]:
        """Split into (top h, rest below); no gap."""
        h = min(h, self.h)
        return Box(self.x, self.y, self.w, h), Box(self.x, self.y + h, self.w, self.h - h)

    def take_bottom(self, h: int) -> tuple[Box, Box]:
        h = min(h, self.h)
        return (Box(self.x, self.bottom - h, self.w, h),
                Box(self.x, self.y, self.w, self.h - h))

    def fit(self, aspect: float) -> Box:
        """The largest box of this aspect ratio centred inside."""
        w = min(self.w, round(self.h * aspect))
        h = min(self.h, round(w / aspect))
        return Box(self.x + (self.w - w) // 2, self.y + (self.h - h) // 2, w, h)


class TextStyle(StrEnum):
    SMALL = "small"
    BODY = "body"
    HEADING = "heading"
    TITLE = "title"
    DISPLAY = "display"


CAP_FRACTION: dict[TextStyle, float] = {
    TextStyle.SMALL: MIN_CAP_FRACTION,
    TextStyle.BODY: 0.025,
    TextStyle.HEADING: 0.030,
    TextStyle.TITLE: 0.045,
    TextStyle.DISPLAY: 0.065,
}


@dataclass(frozen=True)
class Metrics:
    """Sizes in pixels for one screen height."""

    screen_h: int

    def font_px(self, style: TextStyle) -> int:
        return math.ceil(CAP_FRACTION[style] * self.screen_h / CAP_PER_EM)

    def line_px(self, style: TextStyle) -> int:
        return math.ceil(self.font_px(style) * LINE_PER_EM)

    @property
    def unit(self) -> int:
        """The spacing step: 8 px at 1080p."""
        return max(4, round(self.screen_h / 135))


@dataclass(frozen=True)
class LayoutSettings:
    speaker_view_from: int = 10  # this many remote people or more: speaker + filmstrip
    max_notices: int = 2
    side_fraction: float = 0.28  # width of the panel column on a single screen


DEFAULT_SETTINGS = LayoutSettings()


class Mode(StrEnum):
    EMPTY = "empty"
    GRID = "grid"
    SPEAKER = "speaker"


@dataclass(frozen=True)
class PanelNeeds:
    """How much each panel has to show, in lines of body text; 0 or empty: absent."""

    notice_lines: tuple[int, ...] = ()  # one entry per visible notice
    poll_lines: int = 0  # question lines + options; 0: no poll
    chat: bool = False
    files: int = 0
    qr: bool = False
    participants: int = 0  # rows in the participant list (second screen only)


@dataclass(frozen=True)
class MeetingLayout:
    size: tuple[int, int]
    header: Box
    stage: Box | None
    mode: Mode
    tiles: tuple[Box, ...]  # tile i shows ordered participant i
    overflow: Box | None  # the "+N" tile in a full filmstrip
    overflow_count: int
    self_view: Box | None
    notices: tuple[Box, ...]
    panels: dict[str, Box]

    def boxes(self) -> list[tuple[str, Box]]:
        named: list[tuple[str, Box]] = [("header", self.header)]
        named += [(f"tile{i}", b) for i, b in enumerate(self.tiles)]
        named += [(f"notice{i}", b) for i, b in enumerate(self.notices)]
        named += sorted(self.panels.items())
        if self.overflow:
            named.append(("overflow", self.overflow))
        if self.self_view:
            named.append(("self_view", self.self_view))
        return named


def order_tiles(remote: Sequence[Participant], active_speaker_id: str | None) -> list[Participant]:
    """Active speaker first, then people who may speak, then raised hands by queue
    position, then everyone else in the order given (stable, so tiles do not jump)."""
    speaker = next((p for p in remote if p.id == active_speaker_id), None)
    if speaker is None:
        speaker = next((p for p in remote if p.has_audio_right), None)
    rest = [p for p in remote if p is not speaker]

    def rank(p: Participant) -> tuple[int, int]:
        if p.has_audio_right:
            return (0, 0)
        if p.hand_position is not None:
            return (1, p.hand_position)
        return (2, 0)

    rest.sort(key=rank)
    return ([speaker] if speaker else []) + rest


def grid_shape(n: int, area: Box, gap: int) -> tuple[int, int, int, int]:
    """(cols, rows, tile_w, tile_h) giving the biggest 16:9 tiles for n in area."""
    best = (1, 1, 0, 0)
    for cols in range(1, n + 1):
        rows = math.ceil(n / cols)
        w = (area.w - gap * (cols - 1)) / cols
        h = (area.h - gap * (rows - 1)) / rows
        tw = int(min(w, h * TILE_ASPECT))
        th = int(tw / TILE_ASPECT)
        if tw > best[2]:
            best = (cols, rows, tw, th)
    return best


def grid_boxes(n: int, area: Box, gap: int) -> list[Box]:
    cols, rows, tw, th = grid_shape(n, area, gap)
    total_h = rows * th + (rows - 1) * gap
    y0 = area.y + (area.h - total_h) // 2
    boxes: list[Box] = []
    for r in range(rows):
        in_row = min(cols, n - r * cols)
        row_w = in_row * tw + (in_row - 1) * gap
        x0 = area.x + (area.w - row_w) // 2
        boxes += [Box(x0 + c * (tw + gap), y0 + r * (th + gap), tw, th) for c in range(in_row)]
    return boxes


def _self_box(stage: Box, position: SelfViewPosition, h: int) -> Box:
    w = round(h * TILE_ASPECT)
    x = stage.x if position.endswith("left") else stage.right - w
    y = stage.y if position.startswith("top") else stage.bottom - h
    return Box(x, y, w, h)


def _grid_with_self(n: int, stage: Box, me: Box | None, gap: int) -> list[Box]:
    if me is None:
        return grid_boxes(n, stage, gap)
    top = me.y == stage.y
    left = me.x == stage.x
    band = (Box(stage.x, me.bottom + gap, stage.w, stage.h - me.h - gap) if top
            else Box(stage.x, stage.y, stage.w, stage.h - me.h - gap))
    column = (Box(me.right + gap, stage.y, stage.w - me.w - gap, stage.h) if left
              else Box(stage.x, stage.y, stage.w - me.w - gap, stage.h))
    candidates = [grid_boxes(n, stage, gap), grid_boxes(n, band, gap), grid_boxes(n, column, gap)]
    usable = [c for c in candidates if not any(b.overlaps(me) for b in c)]
    return max(usable, key=lambda c: c[0].w if c else 0)


def _speaker_view(
    n: int, stage: Box, position: SelfViewPosition, with_self: bool, strip_h: int, gap: int
) -> tuple[list[Box], Box | None, int, Box | None]:
    """Main tile plus a filmstrip band on the self-view's side; the self-view ends the band."""
    on_top = position.startswith("top")
    band, main_area = stage.take_top(strip_h) if on_top else stage.take_bottom(strip_h)
    main_area = (Box(main_area.x, main_area.y + gap, main_area.w, main_area.h - gap) if on_top
                 else Box(main_area.x, main_area.y, main_area.w, main_area.h - gap))
    tw = round(strip_h * TILE_ASPECT)
    me = _self_box(stage, position, strip_h) if with_self else None
    free = Box(band.x, band.y, band.w - (tw + gap if me else 0), band.h)
    if me and position.endswith("left"):
        free = Box(band.x + tw + gap, band.y, free.w, band.h)
    slots = max(1, (free.w + gap) // (tw + gap))
    others = n - 1
    shown = others if others <= slots else slots - 1
    overflow = others - shown
    used = (shown + (1 if overflow else 0))
    row_w = used * tw + max(0, used - 1) * gap
    x0 = free.x + (free.w - row_w) // 2
    strip = [Box(x0 + i * (tw + gap), band.y, tw, strip_h) for i in range(used)]
    over_box = strip.pop() if overflow else None
    return [main_area.fit(TILE_ASPECT), *strip], over_box, overflow, me


def _side_panels(column: Box, needs: PanelNeeds, m: Metrics, gap: int) -> tuple[
        tuple[Box, ...], dict[str, Box]]:
    """Stack notices and poll from the top, QR code and files from the bottom, chat in
    between. When the column is full, files and then the QR code give way to chat."""
    pad = 2 * m.unit
    body = m.line_px(TextStyle.BODY)
    heading = m.line_px(TextStyle.HEADING)
    notices = []
    rest = column

    def below(box: Box) -> Box:
        return Box(box.x, box.y + gap, box.w, max(0, box.h - gap))

    def above(box: Box) -> Box:
        return Box(box.x, box.y, box.w, max(0, box.h - gap))

    for lines in needs.notice_lines:
        box, rest = rest.take_top(lines * body + 2 * pad)
        notices.append(box)
        rest = below(rest)
    panels: dict[str, Box] = {}
    if needs.poll_lines:
        panels["poll"], rest = rest.take_top(2 * pad + heading + needs.poll_lines * body)
        rest = below(rest)
    chat_min = 2 * pad + heading + m.line_px(TextStyle.SMALL) + 2 * body if needs.chat else 0
    if needs.qr and rest.h - round(column.h * 0.2) - gap >= chat_min:
        panels["qr"], rest = rest.take_bottom(round(column.h * 0.2))
        rest = above(rest)
    if needs.files:
        rows = min(needs.files, 3) + (1 if needs.files > 3 else 0)
        files_h = 2 * pad + heading + rows * body
        if rest.h - files_h - gap >= chat_min:
            panels["files"], rest = rest.take_bottom(files_h)
            rest = above(rest)
    if needs.chat and rest.h >= 2 * pad + heading + body:
        panels["chat"] = rest
    return tuple(notices), panels


def side_needed(needs: PanelNeeds) -> bool:
    return bool(needs.notice_lines or needs.poll_lines or needs.chat or needs.files
                or needs.qr)


def side_width(size: tuple[int, int], settings: LayoutSettings, role: ScreenRole) -> int:
    """Width of the column holding notices and panels (so text can be measured first)."""
    w, h = size
    m = Metrics(h)
    if role is ScreenRole.PANELS:
        return (w - 6 * m.unit - 2 * m.unit) - (w - 6 * m.unit - 2 * m.unit) // 2
    return round(w * settings.side_fraction)


def meeting_layout(
    size: tuple[int, int],
    n_remote: int,
    needs: PanelNeeds,
    settings: LayoutSettings = DEFAULT_SETTINGS,
    role: ScreenRole = ScreenRole.SINGLE,
    self_view: SelfViewPosition | None = "bottom-right",
) -> MeetingLayout:
    """Boxes for a meeting screen with n_remote tiles; `self_view` None: no self-view."""
    w, h = size
    m = Metrics(h)
    margin = 3 * m.unit
    gap = 2 * m.unit
    header_h = m.line_px(TextStyle.HEADING) + 2 * m.unit
    header = Box(margin, margin, w - 2 * margin, header_h)
    body = Box(margin, header.bottom + gap, w - 2 * margin, h - header.bottom - gap - margin)
    if role is ScreenRole.PANELS:
        return _panels_screen(size, header, body, needs, m, gap)
    if role is ScreenRole.PEOPLE:
        needs = PanelNeeds()  # notices and panels live on the other screen
    position: SelfViewPosition = self_view or "bottom-right"
    stage = body
    notices: tuple[Box, ...] = ()
    panels: dict[str, Box] = {}
    if side_needed(needs):
        side_w = side_width(size, settings, role)
        stage = Box(body.x, body.y, body.w - side_w - gap, body.h)
        column = Box(stage.right + gap, body.y, side_w, body.h)
        notices, panels = _side_panels(column, needs, m, gap)
    strip_h = round(stage.h * SELF_VIEW_FRACTION)
    mode = Mode.EMPTY if n_remote == 0 else (
        Mode.SPEAKER if n_remote >= settings.speaker_view_from else Mode.GRID)
    overflow: Box | None = None
    overflow_count = 0
    me: Box | None = None
    if mode is Mode.SPEAKER:
        tiles, overflow, overflow_count, me = _speaker_view(
            n_remote, stage, position, self_view is not None,
            round(stage.h * FILMSTRIP_FRACTION), gap)
    else:
        me = _self_box(stage, position, strip_h) if self_view else None
        tiles = _grid_with_self(n_remote, stage, me, gap) if n_remote else []
    return MeetingLayout(size, header, stage, mode, tuple(tiles), overflow, overflow_count,
                         me, notices, panels)


def _panels_screen(size: tuple[int, int], header: Box, body: Box, needs: PanelNeeds,
                   m: Metrics, gap: int) -> MeetingLayout:
    """Second screen: participants and files on the left; notices, poll, chat, QR right."""
    left = Box(body.x, body.y, (body.w - gap) // 2, body.h)
    right = Box(left.right + gap, body.y, body.w - left.w - gap, body.h)
    panels: dict[str, Box] = {}
    pad = 2 * m.unit
    heading = m.line_px(TextStyle.HEADING)
    row = m.line_px(TextStyle.BODY)
    if needs.files:
        rows = min(needs.files, 4) + (1 if needs.files > 4 else 0)
        panels["files"], rest = left.take_bottom(2 * pad + heading + rows * row)
        left = Box(rest.x, rest.y, rest.w, rest.h - gap)
    panels["participants"] = left
    notices, right_panels = _side_panels(
        right, PanelNeeds(notice_lines=needs.notice_lines, poll_lines=needs.poll_lines,
                          chat=True, qr=needs.qr), m, gap)
    panels.update(right_panels)
    return MeetingLayout(size, header, None, Mode.EMPTY, (), None, 0, None, notices, panels)


def problems(boxes: Iterable[tuple[str, Box]], size: tuple[int, int]) -> list[str]:
    """Boxes that run off the screen or overlap another: empty when the layout is sound."""
    screen = Box(0, 0, *size)
    named = list(boxes)
    found = [f"{name} {box} runs off the {size[0]}x{size[1]} screen"
             for name, box in named if not screen.contains(box)]
    found += [f"{name} {box} has no area" for name, box in named if box.w <= 0 or box.h <= 0]
    for i, (a, ba) in enumerate(named):
        for b, bb in named[i + 1:]:
            if ba.overlaps(bb):
                found.append(f"{a} {ba} overlaps {b} {bb}")
    return found
