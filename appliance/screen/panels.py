"""The meeting's text panels: header, notices, poll, chat, files, participants, QR."""

from __future__ import annotations

import pygame

from appliance.screen import i18n
from appliance.screen.layout import MAX_NOTICE_LINES, Box, MeetingLayout, TextStyle, qr_code_box
from appliance.screen.model import ChatMessage, Language, Notice, Participant, ScreenModel
from appliance.screen.text import Painter
from appliance.screen.widgets import (
    Color,
    Theme,
    camera,
    mic,
    panel,
    qr_modules,
    qr_surface,
    to_rect,
)

# A notice's mark by the level the room gave it (the screen decides nothing of it).
NOTICE_COLORS = {"good": Theme.TALKING, "warning": Theme.MUTED, "error": Theme.MUTED}


# A raised index finger: how Turkish classrooms ask for the floor ("parmak kaldırmak").
HAND = "☝"


def hand_text(position: int) -> str:
    return f"{HAND} {position}"


def hand_width(p: Painter, position: int, style: TextStyle) -> int:
    return p.width(hand_text(position), style, bold=True)


def draw_hand(s: pygame.Surface, p: Painter, position: int, style: TextStyle, color: Color,
              x: int, y: int, area: str) -> Box:
    """The hand mark with the queue position, its left edge at x."""
    return p.draw(s, hand_text(position), style, color, x, y, area, bold=True)


def _radius(p: Painter) -> int:
    return p.metrics.unit * 2


def draw_header(s: pygame.Surface, p: Painter, box: Box, model: ScreenModel,
                lang: Language) -> None:
    """Room and meeting on the left; the room's own hand, camera and mic on the right."""
    u = p.metrics.unit
    y = box.y + u
    chip_left = _room_state_chips(s, p, box, model, lang)
    room = p.draw(s, model.room_name, TextStyle.HEADING, Theme.TEXT, box.x, y, "header",
                  bold=True, max_w=min(chip_left - box.x - 2 * u, box.w // 2))
    if model.meeting_title:
        x = room.right + 3 * u if room.w else box.x
        line_gap = p.line_h(TextStyle.HEADING) - p.line_h(TextStyle.BODY)
        p.draw(s, model.meeting_title, TextStyle.BODY, Theme.TEXT_DIM, x, y + line_gap * 2 // 3,
               "header", max_w=chip_left - x - 2 * u)


Chip = tuple[str, Color, str]  # text, colour, icon ("", "mic", "mic_muted", "camera")


def room_state_chips(me: Participant, camera_live: bool, lang: Language) -> list[Chip]:
    """What the room itself is doing, right to left, for as long as it lasts: its mic
    (or how to ask for the floor), its camera while it sends, its raised hand."""
    chips: list[Chip] = []
    if me.has_audio_right:
        chips.append((i18n.ui("mic_muted", lang), Theme.MUTED, "mic_muted") if me.muted
                     else (i18n.ui("mic_live", lang), Theme.TALKING, "mic"))
    elif not me.hand_raised:
        chips.append((i18n.ui("no_audio_right", lang), Theme.TEXT_DIM, ""))
    if camera_live:
        chips.append((i18n.ui("camera_live", lang), Theme.ACCENT, "camera"))
    if me.hand_raised:
        text = (i18n.ui("hand_queue", lang, n=me.hand_position) if me.hand_position
                else i18n.ui("hand_up", lang))
        chips.append((f"{HAND} {text}", Theme.HAND, ""))
    return chips


def _room_state_chips(s: pygame.Surface, p: Painter, box: Box, model: ScreenModel,
                      lang: Language) -> int:
    """Draw the chips at the header's right end; return the left edge of the last."""
    me = model.me
    if me is None:
        return box.right
    u = p.metrics.unit
    style = TextStyle.BODY
    line = p.line_h(style)
    h = p.line_h(TextStyle.HEADING)
    right = box.right
    for text, color, icon in room_state_chips(me, model.self_view.camera_on, lang):
        icon_w = line * 2 // 3 + 2 * u if icon else 0
        w = p.width(text, style, bold=True) + icon_w + 4 * u
        chip = Box(right - w, box.y + (box.h - h) // 2, w, h)
        pygame.draw.rect(s, color, to_rect(chip), border_radius=h // 2)
        x = chip.x + 2 * u
        glyph = Box(x, chip.y + (h - line) // 2 + u // 2, line * 2 // 3, line - u)
        if icon.startswith("mic"):
            mic(s, glyph, Theme.ON_LIGHT, crossed=icon == "mic_muted", behind=color)
        elif icon == "camera":
            camera(s, Box(glyph.x, glyph.y + glyph.h // 4, glyph.w, glyph.w * 3 // 4),
                   Theme.ON_LIGHT)
        p.draw(s, text, style, Theme.ON_LIGHT, x + icon_w, chip.y + (h - line) // 2, "header",
               bold=True)
        right = chip.x - 2 * u
    return right + 2 * u


MAX_QUESTION_LINES = 2


def notice_lines(p: Painter, n: Notice, lang: Language, box_w: int) -> list[str]:
    return p.wrap(i18n.notice(n, lang), TextStyle.BODY, box_w - 5 * p.metrics.unit,
                  MAX_NOTICE_LINES, bold=True)


def question_lines(p: Painter, question: str, column_w: int) -> list[str]:
    return p.wrap(question, TextStyle.BODY, column_w - 4 * p.metrics.unit,
                  MAX_QUESTION_LINES, bold=True)


def draw_panels(s: pygame.Surface, p: Painter, layout: MeetingLayout, model: ScreenModel,
                lang: Language, poll_clock: str) -> None:
    for i, (box, n) in enumerate(zip(layout.notices, model.notices, strict=False)):
        _notice(s, p, box, n, lang, f"notice{i}")
    boxes = layout.panels
    if "poll" in boxes and model.poll is not None:
        _poll(s, p, boxes["poll"], model, lang, poll_clock)
    if "chat" in boxes:
        _chat(s, p, boxes["chat"], model, lang)
    if "files" in boxes:
        _files(s, p, boxes["files"], model, lang)
    if "qr" in boxes and model.companion_url:
        _qr(s, p, boxes["qr"], model.companion_url, lang)
    if "participants" in boxes:
        _participants(s, p, boxes["participants"], model.participants, lang)


def _notice(s: pygame.Surface, p: Painter, box: Box, n: Notice, lang: Language,
            area: str) -> None:
    u = p.metrics.unit
    color = NOTICE_COLORS.get(n.level, Theme.ACCENT)
    panel(s, box, _radius(p), Theme.PANEL)
    pygame.draw.rect(s, color, pygame.Rect(box.x, box.y, 2 * u, box.h),
                     border_top_left_radius=_radius(p), border_bottom_left_radius=_radius(p))
    inner = box.inset(2 * u)
    text_x = inner.x + u
    lines = notice_lines(p, n, lang, box.w)
    height = len(lines) * p.line_h(TextStyle.BODY)
    p.draw_lines(s, lines, TextStyle.BODY, Theme.TEXT, text_x,
                 inner.y + (inner.h - height) // 2, area, bold=True)


def _heading(s: pygame.Surface, p: Painter, box: Box, text: str, area: str,
             right: str = "", right_color: Color = Theme.TEXT_DIM) -> int:
    """Panel heading on the left, an optional note on the right; returns y below it."""
    inner = box.inset(2 * p.metrics.unit)
    right_w = 0
    if right:
        r = p.draw(s, right, TextStyle.SMALL, right_color, inner.right,
                   inner.y + p.line_h(TextStyle.HEADING) - p.line_h(TextStyle.SMALL), area,
                   max_w=inner.w // 2, align="right")
        right_w = r.w + 2 * p.metrics.unit
    p.draw(s, text, TextStyle.HEADING, Theme.ACCENT, inner.x, inner.y, area, bold=True,
           max_w=inner.w - right_w)
    return inner.y + p.line_h(TextStyle.HEADING)


def _poll(s: pygame.Surface, p: Painter, box: Box, model: ScreenModel, lang: Language,
          clock: str) -> None:
    assert model.poll is not None
    poll = model.poll
    u = p.metrics.unit
    panel(s, box, _radius(p))
    y = _heading(s, p, box, i18n.ui("poll", lang), "poll", right=clock)
    inner = box.inset(2 * u)
    body = p.line_h(TextStyle.BODY)
    lines = question_lines(p, poll.question, box.w)
    y = p.draw_lines(s, lines, TextStyle.BODY, Theme.TEXT, inner.x, y, "poll", bold=True)
    for i, option in enumerate(poll.options):
        chosen = poll.answer == i
        number = f"{i + 1}"
        if chosen:
            pygame.draw.rect(s, Theme.ACCENT, pygame.Rect(inner.x - u, y, inner.w + 2 * u, body),
                             border_radius=u)
        color = Theme.ON_LIGHT if chosen else Theme.TEXT
        nb = p.draw(s, number, TextStyle.BODY, color, inner.x, y, "poll", bold=True)
        mark_w = p.width(" ✓", TextStyle.BODY, bold=True) if chosen else 0
        text_x = inner.x + max(nb.w, p.width("9", TextStyle.BODY, bold=True)) + 2 * u
        t = p.draw(s, option, TextStyle.BODY, color, text_x, y, "poll", bold=chosen,
                   max_w=inner.right - text_x - mark_w)
        if chosen:
            p.draw(s, "✓", TextStyle.BODY, color, t.right + u, y, "poll", bold=True)
        y += body


def _chat(s: pygame.Surface, p: Painter, box: Box, model: ScreenModel,
          lang: Language) -> None:
    """The newest messages that fit, oldest first; when some do not fit, the newest
    sits at the bottom and older ones leave at the top. Private ones are marked."""
    u = p.metrics.unit
    panel(s, box, _radius(p))
    top = _heading(s, p, box, i18n.ui("chat", lang), "chat",
                   right=i18n.ui("everyone", lang)) + u
    inner = box.inset(2 * u)
    if not model.chat:
        p.draw(s, i18n.ui("no_messages", lang), TextStyle.BODY, Theme.TEXT_DIM, inner.x, top,
               "chat", max_w=inner.w)
        return
    body, small = p.line_h(TextStyle.BODY), p.line_h(TextStyle.SMALL)
    fitting: list[tuple[ChatMessage, list[str]]] = []
    used = 0
    for message in reversed(model.chat):
        indent = 2 * u if message.private_to_room else 0
        room = (inner.bottom - top - used - small) // body
        lines = p.wrap(message.text, TextStyle.BODY, inner.w - indent,
                       3 if fitting else max(1, min(3, room)))  # the newest, cut if need be
        height = small + len(lines) * body + u
        if used + height - u > inner.bottom - top:
            break
        fitting.append((message, lines))
        used += height
    y = top if len(fitting) == len(model.chat) else inner.bottom - used + u
    for message, lines in reversed(fitting):
        tag = f"{i18n.ui('private', lang)} · " if message.private_to_room else ""
        text_x = inner.x + (2 * u if message.private_to_room else 0)
        height = small + len(lines) * body
        if message.private_to_room:
            pygame.draw.rect(s, Theme.PRIVATE, pygame.Rect(inner.x, y, u, height))
        sender_color = Theme.PRIVATE if message.private_to_room else Theme.ACCENT
        p.draw(s, tag + message.sender, TextStyle.SMALL, sender_color, text_x, y, "chat",
               bold=True, max_w=inner.right - text_x)
        p.draw_lines(s, lines, TextStyle.BODY, Theme.TEXT, text_x, y + small, "chat")
        y += height + u


def _files(s: pygame.Surface, p: Painter, box: Box, model: ScreenModel,
           lang: Language) -> None:
    u = p.metrics.unit
    panel(s, box, _radius(p))
    y = _heading(s, p, box, i18n.ui("files", lang), "files")
    inner = box.inset(2 * u)
    body = p.line_h(TextStyle.BODY)
    rows = (inner.bottom - y) // body
    shown = model.files if len(model.files) <= rows else model.files[:max(0, rows - 1)]
    for f in shown:
        size = p.draw(s, i18n.file_size(f.size_bytes, lang), TextStyle.SMALL, Theme.TEXT_DIM,
                      inner.right, y + body - p.line_h(TextStyle.SMALL), "files",
                      align="right")
        p.draw(s, f.name, TextStyle.BODY, Theme.TEXT, inner.x, y, "files",
               max_w=size.x - inner.x - 2 * u)
        y += body
    if len(shown) < len(model.files):
        p.draw(s, i18n.ui("more_files", lang, n=len(model.files) - len(shown)),
               TextStyle.BODY, Theme.TEXT_DIM, inner.x, y, "files")


def _qr(s: pygame.Surface, p: Painter, box: Box, url: str, lang: Language) -> None:
    """The code, sized for 3 m (see layout), and what it is for: above it in a narrow
    column, beside it with a line more in a wide one."""
    u = p.metrics.unit
    panel(s, box, _radius(p))
    code = qr_code_box(box, qr_modules(url), p.metrics)
    s.blit(qr_surface(url, code.w), (code.x, code.y))
    beside = code.y < box.y + 2 * u + p.line_h(TextStyle.BODY)
    text_w = (code.x if beside else box.right) - box.x - 4 * u
    y = p.draw_lines(s, p.wrap(i18n.ui("companion_title", lang), TextStyle.BODY, text_w,
                               2 if beside else 1, bold=True),
                     TextStyle.BODY, Theme.TEXT, box.x + 2 * u, box.y + 2 * u, "qr", bold=True)
    if beside:
        detail = p.wrap(i18n.ui("companion", lang), TextStyle.SMALL, text_w, 3)
        p.draw_lines(s, detail, TextStyle.SMALL, Theme.TEXT_DIM, box.x + 2 * u, y + u, "qr")


def _participants(s: pygame.Surface, p: Painter, box: Box,
                  people: tuple[Participant, ...], lang: Language) -> None:
    """The participant list: hands in queue order first, then speakers, then the rest."""
    u = p.metrics.unit
    panel(s, box, _radius(p))
    y = _heading(s, p, box, i18n.ui("participants", lang, n=len(people)), "participants")
    inner = box.inset(2 * u)
    body = p.line_h(TextStyle.BODY)
    ordered = sorted(people, key=lambda q: (q.hand_position is None, q.hand_position or 0,
                                            not q.has_audio_right))
    rows = (inner.bottom - y) // body
    shown = ordered if len(ordered) <= rows else ordered[:max(0, rows - 1)]
    for person in shown:
        right = inner.right
        if person.hand_position is not None:
            hw = hand_width(p, person.hand_position, TextStyle.BODY)
            draw_hand(s, p, person.hand_position, TextStyle.BODY, Theme.HAND, right - hw, y,
                      "participants")
            right -= hw + 2 * u
        if person.has_audio_right:
            icon_w = body * 2 // 3
            color = (Theme.MUTED if person.muted
                     else Theme.TALKING if person.talking else Theme.TEXT)
            mic(s, Box(right - icon_w, y + u, icon_w, body - 2 * u), color, crossed=person.muted,
                behind=Theme.PANEL)
            right -= icon_w + 2 * u
        name = person.name + (f" ({i18n.ui('you', lang)})" if person.is_self else "")
        p.draw(s, name, TextStyle.BODY, Theme.TEXT, inner.x, y, "participants",
               bold=person.is_self, max_w=right - inner.x - u)
        y += body
    if len(shown) < len(ordered):
        p.draw(s, i18n.ui("more_people", lang, n=len(ordered) - len(shown)), TextStyle.BODY,
               Theme.TEXT_DIM, inner.x, y, "participants")
