"""Where everything goes on a screen: pure geometry, no pygame.

Everything is a fraction of the screen so one layout serves 1280×720 to 3840×2160.

Reading rule (people sit about 3 m from the screen): the smallest text has a cap
height of at least 2 % of the screen height (`MIN_CAP_FRACTION`) — 22 px at 1080p,
14 mm on a 55-inch screen, about 16 arcminutes at 3 m, three times the 5-arcminute
letter a normal eye just resolves. Body text is 2.5 %, headings 3 %.

Scanning rule for the companion QR code, from 3 m with a phone (`QR_MODULE_FRACTION`):
a 55-inch 16:9 screen is 685 mm high, 0.634 mm per pixel at 1080p. A phone's main
camera (about 26 mm equivalent) scanning a 1920x1080 frame, held upright, spreads
1080 pixels over a 41-degree view: 2.25 m wide at 3 m, about 2.1 mm per camera pixel.
Decoders need a module of at least 2 camera pixels (ML Kit's input guideline), 4.2 mm;
with half again for focus, shake, moiré and an angled view, 6.3 mm: 10 pixels at 1080p,
1/108 of the screen height. A link of about 65 characters is a version-4 code, 33
modules and a 2-module quiet zone each side: 370 px, 23.5 cm at 1080p (it was 132 px,
8 cm: 1 camera pixel per module). Modules are whole pixels; the code takes the largest
that fit its square (7 at 720p could not keep 720p exactly a third of 4K: it gets 6,
5.7 mm on a 55-inch 720p panel). A 43-inch screen still gives 4.9 mm.
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
QR_MODULE_FRACTION = 1 / 108  # a QR module's side, as a share of the screen height
MAX_NOTICE_LINES = 2  # a notice is short; the band above the stage holds two lines
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
    qr_modules: int = 0  # the companion code's side in modules, quiet zone included; 0: none
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


def qr_side(screen_h: int, modules: int) -> int:
    """The companion code's square, for scanning from 3 m (see the module docstring)."""
    return math.ceil(screen_h * modules * QR_MODULE_FRACTION)


def _qr_beside(width: int, side: int, m: Metrics) -> bool:
    """Whether a panel this wide has room for its text beside the code."""
    return width - side - 6 * m.unit >= 0.4 * width


def qr_panel_height(column: Box, modules: int, m: Metrics) -> int:
    """The code (never smaller than its size for 3 m unless the column is narrower) with
    its title beside it when the column is wide, above it when not."""
    pad = 2 * m.unit
    side = min(qr_side(m.screen_h, modules), column.w - 2 * pad)
    if _qr_beside(column.w, side, m):
        return 2 * pad + side
    return 2 * pad + m.line_px(TextStyle.BODY) + m.unit + side


def qr_code_box(panel: Box, modules: int, m: Metrics) -> Box:
    """Where the code sits in its panel: at the right end beside the title, or centred
    under it."""
    pad = 2 * m.unit
    side = min(qr_side(m.screen_h, modules), panel.w - 2 * pad)
    if _qr_beside(panel.w, side, m):
        side = min(side, panel.h - 2 * pad)
        return Box(panel.right - pad - side, panel.y + pad, side, side)
    top = panel.y + pad + m.line_px(TextStyle.BODY) + m.unit
    side = min(side, panel.bottom - pad - top)
    return Box(panel.x + (panel.w - side) // 2, top, side, side)


def _stack_notices(area: Box, needs: PanelNeeds, m: Metrics, gap: int) -> tuple[
        tuple[Box, ...], Box]:
    """Notices from the top of `area`, one under another; the rest below them."""
    pad = 2 * m.unit
    boxes = []
    rest = area
    for lines in needs.notice_lines:
        box, rest = rest.take_top(lines * m.line_px(TextStyle.BODY) + 2 * pad)
        boxes.append(box)
        rest = Box(rest.x, rest.y + gap, rest.w, max(0, rest.h - gap))
    return tuple(boxes), rest


def _side_panels(column: Box, needs: PanelNeeds, m: Metrics, gap: int) -> dict[str, Box]:
    """The poll from the top, the QR code and files from the bottom, chat in between.
    The QR code never gives way while a companion code is active (people reach for their
    phones right when a poll opens or a file comes); when the column is full, files and
    then chat do."""
    pad = 2 * m.unit
    body = m.line_px(TextStyle.BODY)
    heading = m.line_px(TextStyle.HEADING)
    rest = column

    def below(box: Box) -> Box:
        return Box(box.x, box.y + gap, box.w, max(0, box.h - gap))

    def above(box: Box) -> Box:
        return Box(box.x, box.y, box.w, max(0, box.h - gap))

    panels: dict[str, Box] = {}
    if needs.qr_modules:
        panels["qr"], rest = rest.take_bottom(qr_panel_height(column, needs.qr_modules, m))
        rest = above(rest)
    if needs.poll_lines and rest.h > 0:
        panels["poll"], rest = rest.take_top(2 * pad + heading + needs.poll_lines * body)
        rest = below(rest)
    chat_min = 2 * pad + heading + m.line_px(TextStyle.SMALL) + 2 * body if needs.chat else 0
    if needs.files:
        rows = min(needs.files, 3) + (1 if needs.files > 3 else 0)
        files_h = 2 * pad + heading + rows * body
        if rest.h - files_h - gap >= chat_min:
            panels["files"], rest = rest.take_bottom(files_h)
            rest = above(rest)
    if needs.chat and rest.h >= 2 * pad + heading + m.unit + m.line_px(TextStyle.SMALL) + body:
        panels["chat"] = rest  # room for at least one line of the newest message
    return panels


def side_needed(needs: PanelNeeds) -> bool:
    return bool(needs.poll_lines or needs.chat or needs.files or needs.qr_modules)


def side_width(size: tuple[int, int], settings: LayoutSettings, role: ScreenRole) -> int:
    """Width of the column holding the panels (so text can be measured first)."""
    w, h = size
    m = Metrics(h)
    if role is ScreenRole.PANELS:
        return (w - 6 * m.unit - 2 * m.unit) - (w - 6 * m.unit - 2 * m.unit) // 2
    return round(w * settings.side_fraction)


def notice_width(size: tuple[int, int], settings: LayoutSettings, role: ScreenRole) -> int:
    """Width of one notice's box: half the band above the stage on a single screen, the
    right column on the panels screen (the people screen has none)."""
    if role is not ScreenRole.SINGLE:
        return side_width(size, settings, role)
    m = Metrics(size[1])
    stage_w = size[0] - 6 * m.unit - side_width(size, settings, role) - 2 * m.unit
    return (stage_w - 2 * m.unit) // 2


def notice_band_height(m: Metrics) -> int:
    return MAX_NOTICE_LINES * m.line_px(TextStyle.BODY) + 4 * m.unit


def _notice_band(band: Box, needs: PanelNeeds, gap: int) -> tuple[Box, ...]:
    """Notices side by side at the band's right end, the oldest in the corner."""
    w = (band.w - gap) // 2
    return tuple(Box(band.right - (i + 1) * w - i * gap, band.y, w, band.h)
                 for i in range(min(2, len(needs.notice_lines))))


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
        panels = _side_panels(column, needs, m, gap)
    if role is ScreenRole.SINGLE:  # always there, so tiles never move for a notice
        band, stage = stage.take_top(notice_band_height(m))
        stage = Box(stage.x, stage.y + gap, stage.w, stage.h - gap)
        notices = _notice_band(band, needs, gap)
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
    if needs.qr_modules:
        panels["qr"], rest = left.take_bottom(qr_panel_height(left, needs.qr_modules, m))
        left = Box(rest.x, rest.y, rest.w, rest.h - gap)
    if needs.files:
        rows = min(needs.files, 4) + (1 if needs.files > 4 else 0)
        panels["files"], rest = left.take_bottom(2 * pad + heading + rows * row)
        left = Box(rest.x, rest.y, rest.w, rest.h - gap)
    panels["participants"] = left
    notices, right = _stack_notices(right, needs, m, gap)
    panels.update(_side_panels(right, PanelNeeds(poll_lines=needs.poll_lines, chat=True),
                               m, gap))
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
