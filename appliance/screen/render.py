"""The renderer: one ScreenModel and the newest video frames in, one pygame Surface out.

It keeps its surface between calls. When only video frames changed it redraws just
those tiles and reports them in `dirty`, so a display can update those rectangles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import numpy as np
import pygame

from appliance.screen import i18n, panels, presentation, screens
from appliance.screen.layout import (
    DEFAULT_SETTINGS,
    Box,
    LayoutSettings,
    MeetingLayout,
    Metrics,
    PanelNeeds,
    TextStyle,
    meeting_layout,
    notice_width,
    order_tiles,
    side_width,
)
from appliance.screen.model import Language, Participant, Phase, ScreenModel, ScreenRole
from appliance.screen.text import DrawnText, Painter
from appliance.screen.widgets import Theme, initials, mic, qr_modules, to_rect
from appliance.screen.widgets import camera as camera_icon

SELF_FRAME_KEY = "self"  # frames key for the room's own camera when the model has no self


class FrameSource(Protocol):
    """The newest picture of one participant, owned by the media layer.

    `version` grows whenever a new frame arrives. `rgb(w, h)` returns that frame already
    scaled to w×h as an H×W×3 uint8 array (or None before the first frame); the media
    layer converts once per shown frame, at tile size.
    """

    @property
    def version(self) -> int: ...

    def rgb(self, width: int, height: int) -> np.ndarray | None: ...


class SurfaceSink(Protocol):
    """Where rendered frames go (appliance.devices.display back-ends)."""

    def show(self, surface: pygame.Surface,
             dirty: list[pygame.Rect] | None = None) -> None: ...


Frames = Mapping[str, FrameSource]


def poll_clock(model: ScreenModel, language: Language) -> str:
    """The "open for" label: the only part of the picture that moves with the clock."""
    if model.poll is None or model.phase is not Phase.MEETING:
        return ""
    return i18n.ui("poll_open_for", language,
                   time=i18n.duration(model.now - model.poll.opened_at))


class Renderer:
    def __init__(
        self,
        size: tuple[int, int],
        language: Language = "tr",
        font_path: Path | str | None = None,
        settings: LayoutSettings = DEFAULT_SETTINGS,
        role: ScreenRole = ScreenRole.SINGLE,
        bold_font_path: Path | str | None = None,
    ) -> None:
        self.size = size
        self.language: Language = language
        self.settings = settings
        self.role = role
        self.metrics = Metrics(size[1])
        self.painter = Painter(self.metrics, font_path, bold_font_path)
        self.surface = pygame.Surface(size)
        self.layout: MeetingLayout | None = None
        self.dirty: list[pygame.Rect] = []
        self._key: tuple[ScreenModel, str] | None = None
        self._versions: dict[str, int] = {}
        self._tiles: list[tuple[Participant, Box]] = []
        self._content_area: Box | None = None  # where a presentation is drawn, if any
        self._overlay_cache: dict[tuple[int, int], pygame.Surface] = {}

    @property
    def texts(self) -> list[DrawnText]:
        """Every string drawn in the last full render, with its box."""
        return self.painter.drawn

    def lang(self, model: ScreenModel) -> Language:
        return model.language or self.language

    # -- deciding whether to draw ------------------------------------------------------

    def _model_key(self, model: ScreenModel) -> tuple[ScreenModel, str]:
        return (model, poll_clock(model, self.lang(model)))

    def _shown_versions(self, model: ScreenModel, versions: dict[str, int]) -> dict[str, int]:
        """Versions of the frames on screen; people in the "+N" tile do not count."""
        keys = [self._self_key(model) if p.is_self else p.id for p, _ in self._tiles]
        if self._content_area is not None and model.content is not None:
            keys.append(model.content.key)
        return {key: versions[key] for key in keys if key in versions}

    def needs_redraw(self, model: ScreenModel, frames: Frames | None = None) -> bool:
        """True when the picture would differ from the last one rendered."""
        return (self._model_key(model) != self._key
                or self._shown_versions(model, _versions(frames or {})) != self._versions)

    # -- drawing -----------------------------------------------------------------------

    def render(self, model: ScreenModel, frames: Frames | None = None) -> pygame.Surface:
        frames = frames or {}
        key = self._model_key(model)
        # Read before drawing: a picture that comes while this one is drawn (on the
        # event loop) is drawn next time. Read after, it counted as drawn and was
        # never shown — on a Pi's budget about one picture in six.
        before = _versions(frames)
        if key == self._key:
            versions = self._shown_versions(model, before)
            changed = {pid for pid, v in versions.items() if self._versions.get(pid) != v}
            self.dirty = self._redraw_tiles(model, frames, changed)
        else:
            self._full(model, frames)
            self.dirty = [self.surface.get_rect()]
        self._key, self._versions = key, self._shown_versions(model, before)
        return self.surface

    def _full(self, model: ScreenModel, frames: Frames) -> None:
        self.painter.drawn = []
        self.surface.fill(Theme.BACKGROUND)
        self.layout = None
        self._tiles = []
        self._content_area = None
        lang = self.lang(model)
        if model.phase is Phase.MEETING:
            self._meeting(model, frames, lang)
        else:
            screens.draw_status(self.surface, self.painter, model, lang)

    def _meeting(self, model: ScreenModel, frames: Frames, lang: Language) -> None:
        remote = order_tiles(model.remote, model.active_speaker_id)
        column_w = side_width(self.size, self.settings, self.role)
        notice_w = notice_width(self.size, self.settings, self.role)
        notices = model.notices[:self.settings.max_notices]
        poll = model.poll
        needs = PanelNeeds(
            notice_lines=tuple(len(panels.notice_lines(self.painter, n, lang, notice_w))
                               for n in notices),
            poll_lines=(len(panels.question_lines(self.painter, poll.question, column_w))
                        + len(poll.options)) if poll else 0,
            chat=True,  # always there, so tiles do not move when the first message comes
            files=len(model.files),
            qr_modules=qr_modules(model.companion_url) if model.companion_url else 0,
            participants=len(model.participants),
        )
        if model.content is not None and self.role is not ScreenRole.PEOPLE:
            self._presentation(model, frames, lang, needs, remote)
            return
        self_view = (model.self_view.position
                     if model.self_view.enabled and self.role is not ScreenRole.PANELS else None)
        layout = meeting_layout(self.size, len(remote), needs, self.settings, self.role,
                                self_view)
        self.layout = layout
        panels.draw_header(self.surface, self.painter, layout.header, model, lang)
        panels.draw_panels(self.surface, self.painter, layout, model, lang,
                           poll_clock(model, lang))
        if self.role is ScreenRole.PANELS:
            return
        if layout.stage is not None and not remote:
            cx, cy = layout.stage.center
            self.painter.draw(self.surface, i18n.ui("alone", lang), TextStyle.HEADING,
                              Theme.TEXT_DIM, cx, cy - self.metrics.line_px(TextStyle.HEADING),
                              "stage", align="center", max_w=layout.stage.w)
        self._tiles = list(zip(remote, layout.tiles, strict=False))
        if layout.self_view is not None:
            me = model.me or Participant(SELF_FRAME_KEY, i18n.ui("you", lang), is_self=True)
            self._tiles.append((me, layout.self_view))
        for i, (person, box) in enumerate(self._tiles):
            self._tile(person, box, frames, model, lang, _area(person, i))
        if layout.overflow is not None:
            self._overflow(layout.overflow, layout.overflow_count, lang)

    def _presentation(self, model: ScreenModel, frames: Frames, lang: Language,
                      needs: PanelNeeds, remote: list[Participant]) -> None:
        """Content as large as the screen allows; people in a strip below (one screen)."""
        column_w = presentation.column_width(self.size)
        needs = replace(needs, notice_lines=tuple(
            len(panels.notice_lines(self.painter, n, lang, column_w))
            for n in model.notices[:self.settings.max_notices]))
        layout, area = presentation.content_layout(self.size, self.role, len(remote), needs)
        self.layout = layout
        panels.draw_header(self.surface, self.painter, layout.header, model, lang)
        panels.draw_panels(self.surface, self.painter, layout, model, lang,
                           poll_clock(model, lang))  # the notices
        self._content_area = area
        self._content(model, frames, lang)
        self._tiles = list(zip(remote, layout.tiles, strict=False))
        for i, (person, box) in enumerate(self._tiles):
            self._tile(person, box, frames, model, lang, _area(person, i))
        if layout.overflow is not None:
            self._overflow(layout.overflow, layout.overflow_count, lang)

    def _content(self, model: ScreenModel, frames: Frames, lang: Language) -> None:
        area, content = self._content_area, model.content
        assert area is not None and content is not None
        source = frames.get(content.key)
        box = presentation.fitted(area, getattr(source, "size", None))
        pixels = source.rgb(box.w, box.h) if source is not None else None
        shown = pixels if pixels is not None and _is_rgb(pixels) else None
        presentation.draw_frame(self.surface, area, shown, box)
        presentation.draw_caption(self.surface, self.painter, self.metrics, box, content,
                                  lang, waiting=shown is None)

    def _redraw_tiles(self, model: ScreenModel, frames: Frames,
                      changed: set[str]) -> list[pygame.Rect]:
        dirty = []
        drawn = self.painter.drawn
        lang = self.lang(model)
        if self._content_area is not None and model.content is not None \
                and model.content.key in changed:
            self.painter.drawn = []
            self._content(model, frames, lang)
            dirty.append(to_rect(self._content_area))
        for i, (person, box) in enumerate(self._tiles):
            key = self._self_key(model) if person.is_self else person.id
            if key in changed:
                self.painter.drawn = []  # tile labels are already recorded
                self._tile(person, box, frames, model, lang, _area(person, i))
                dirty.append(to_rect(box))
        self.painter.drawn = drawn
        return dirty

    def _self_key(self, model: ScreenModel) -> str:
        me = model.me
        return me.id if me else SELF_FRAME_KEY

    # -- tiles ---------------------------------------------------------------------------

    def _tile(self, person: Participant, box: Box, frames: Frames, model: ScreenModel,
              lang: Language, area: str) -> None:
        key = self._self_key(model) if person.is_self else person.id
        camera = model.self_view.camera_on if person.is_self else person.camera_on
        source = frames.get(key)
        pixels = source.rgb(box.w, box.h) if camera and source is not None else None
        if pixels is not None and _is_rgb(pixels):
            self._blit_frame(pixels, box)
        else:
            self._placeholder(person, box, lang, camera, area)
        u = self.metrics.unit
        if person.talking and not person.is_self:
            pygame.draw.rect(self.surface, Theme.TALKING, to_rect(box), max(3, u // 2))
        self._label(person, box, lang, area)
        if person.hand_position is not None and not person.is_self:
            self._hand_badge(box, person.hand_position, area)

    def _blit_frame(self, pixels: np.ndarray, box: Box) -> None:
        h, w = pixels.shape[:2]
        image = pygame.image.frombuffer(np.ascontiguousarray(pixels).data.cast("B"),
                                        (w, h), "RGB")
        if (w, h) != (box.w, box.h):  # a media layer that ignored the tile size
            image = pygame.transform.scale(image, (box.w, box.h))
        self.surface.blit(image, (box.x, box.y))

    def _placeholder(self, person: Participant, box: Box, lang: Language, camera: bool,
                     area: str) -> None:
        """Initials in a disc over "camera off" (or "waiting for video"), above the label."""
        pygame.draw.rect(self.surface, Theme.TILE, to_rect(box))
        style = TextStyle.BODY if box.h >= self.size[1] * 0.3 else TextStyle.SMALL
        u = self.metrics.unit
        band = self.metrics.line_px(style) + u  # the name bar below, the hand badge above
        free = Box(box.x, box.y + band, box.w, box.h - 2 * band)
        text = i18n.ui("camera_off" if not camera else "no_video", lang)
        line = self.metrics.line_px(TextStyle.SMALL)
        icon = line * 3 // 4 if not camera else 0
        text_w = min(self.painter.width(text, TextStyle.SMALL), free.w - icon - 3 * u)
        disc = min(free.h - line - 3 * u, free.w // 3)
        cx = free.x + free.w // 2
        top = free.y + (free.h - line - (disc + u if disc >= line * 2 else 0)) // 2
        if disc >= line * 2:
            pygame.draw.circle(self.surface, Theme.PANEL_EDGE, (cx, top + disc // 2), disc // 2)
            s = TextStyle.TITLE if disc >= self.metrics.line_px(TextStyle.TITLE) * 1.6 else (
                TextStyle.BODY)
            self.painter.draw(self.surface, initials(person.name) or "?", s, Theme.TEXT, cx,
                              top + (disc - self.metrics.line_px(s)) // 2, area, bold=True,
                              align="center")
            top += disc + u
        if free.h < line or text_w <= 0:
            return
        x = cx - (icon + (u if icon else 0) + text_w) // 2
        if icon:
            camera_icon(self.surface, Box(x, top + (line - icon) // 2, icon, icon * 3 // 4),
                        Theme.TEXT_DIM, crossed=True)
            x += icon + u
        self.painter.draw(self.surface, text, TextStyle.SMALL, Theme.TEXT_DIM, x, top, area,
                          max_w=text_w)

    def _overlay(self, w: int, h: int) -> pygame.Surface:
        if (w, h) not in self._overlay_cache:
            bar = pygame.Surface((w, h), pygame.SRCALPHA)
            bar.fill((0, 0, 0, Theme.LABEL_ALPHA))
            self._overlay_cache[(w, h)] = bar
        return self._overlay_cache[(w, h)]

    def _label(self, person: Participant, box: Box, lang: Language, area: str) -> None:
        """Name bar along the bottom of the tile; the mic mark at its right end."""
        style = TextStyle.BODY if box.h >= self.size[1] * 0.3 else TextStyle.SMALL
        u = self.metrics.unit
        line = self.metrics.line_px(style)
        bar = Box(box.x, box.bottom - line - u, box.w, line + u)
        self.surface.blit(self._overlay(bar.w, bar.h), (bar.x, bar.y))
        x_end = bar.right - u
        if person.has_audio_right:  # the mic mark: lit while talking, crossed when muted
            icon = Box(x_end - line * 2 // 3, bar.y + u, line * 2 // 3, line - u)
            lit = person.talking and not person.muted
            color = (Theme.MUTED if person.muted else Theme.TALKING if lit else Theme.TEXT)
            mic(self.surface, icon, color, crossed=person.muted, behind=(0, 0, 0))
            x_end = icon.x - u
        name = i18n.ui("you", lang) if person.is_self else person.name
        self.painter.draw(self.surface, name, style, Theme.TEXT, bar.x + u,
                          bar.y + u // 2, area, max_w=x_end - bar.x - 2 * u)

    def _hand_badge(self, box: Box, position: int, area: str) -> None:
        style = TextStyle.BODY if box.h >= self.size[1] * 0.3 else TextStyle.SMALL
        u = self.metrics.unit
        w = panels.hand_width(self.painter, position, style) + 2 * u
        h = self.metrics.line_px(style)
        badge = Box(box.right - w - u, box.y + u, w, h)
        pygame.draw.rect(self.surface, Theme.HAND, to_rect(badge), border_radius=h // 3)
        panels.draw_hand(self.surface, self.painter, position, style, Theme.ON_LIGHT,
                         badge.x + u, badge.y, area)

    def _overflow(self, box: Box, count: int, lang: Language) -> None:
        pygame.draw.rect(self.surface, Theme.PANEL, to_rect(box))
        line = self.metrics.line_px(TextStyle.HEADING)
        self.painter.draw(self.surface, i18n.ui("more_people", lang, n=count),
                          TextStyle.HEADING, Theme.TEXT, box.x + box.w // 2,
                          box.y + (box.h - line) // 2, "overflow", bold=True,
                          align="center", max_w=box.w - self.metrics.unit)


def _versions(frames: Frames) -> dict[str, int]:
    return {key: source.version for key, source in frames.items()}


def _is_rgb(pixels: np.ndarray) -> bool:
    """A frame the screen can show; anything else draws the placeholder, never crashes."""
    return pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3


def _area(person: Participant, index: int) -> str:
    return "self_view" if person.is_self else f"tile{index}"


class ScreenDriver:
    """Draws only when the picture would change, and hands the result to a display."""

    def __init__(self, renderer: Renderer, display: SurfaceSink) -> None:
        self.renderer = renderer
        self.display = display
        self.frames_drawn = 0

    def update(self, model: ScreenModel, frames: Frames | None = None) -> bool:
        surface = self.render(model, frames)
        if surface is None:
            return False
        self.show(surface, frames)
        return True

    def render(self, model: ScreenModel, frames: Frames | None = None) -> pygame.Surface | None:
        """Draw the next picture (None: nothing changed). Any one thread at a time may call
        this — the app's screen thread does, so converting and drawing video tiles never
        holds up the event loop — with `show` called after it, before the next `render`."""
        if not self.renderer.needs_redraw(model, frames):
            return None
        return self.renderer.render(model, frames)

    def show(self, surface: pygame.Surface, frames: Frames | None = None) -> None:
        """Hand a rendered picture to the display (on the thread that opened it)."""
        self.display.show(surface, self.renderer.dirty)
        self.frames_drawn += 1
