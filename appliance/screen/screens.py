"""The screens outside the meeting: start-up, config problem, connecting, lobby, left,
standby.

Each is a column of centred lines; what it says comes from the model, how big from the
reading sizes in layout.Metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygame

from appliance.provisioning import words
from appliance.screen import i18n
from appliance.screen.layout import Box, TextStyle
from appliance.screen.model import Language, Phase, ScreenModel, StandbyInfo
from appliance.screen.text import Painter
from appliance.screen.widgets import Color, Theme, panel


@dataclass(frozen=True)
class Line:
    text: str
    style: TextStyle
    color: Color = Theme.TEXT
    bold: bool = False
    max_lines: int = 1
    space_before: int = 0  # in spacing units


def _connecting(model: ScreenModel, lang: Language) -> list[Line]:
    again = model.phase is Phase.RECONNECTING
    lines = [Line(i18n.ui("reconnecting_title" if again else "connecting_title", lang),
                  TextStyle.DISPLAY, Theme.HAND if again else Theme.ACCENT, bold=True)]
    lines += _room_lines(model)
    if again and model.status.reason:
        lines.append(Line(i18n.status(model.status.reason, lang), TextStyle.HEADING,
                          Theme.HAND, bold=True, max_lines=2, space_before=4))
    if model.status.progress:
        lines.append(Line(i18n.status(model.status.progress, lang), TextStyle.BODY,
                          Theme.TEXT_DIM, max_lines=2, space_before=3))
    if again and model.status.attempt:
        lines.append(Line(i18n.ui("attempt", lang, n=model.status.attempt), TextStyle.BODY,
                          Theme.TEXT_DIM, space_before=1))
    return lines


def _room_lines(model: ScreenModel) -> list[Line]:
    lines = []
    if model.room_name:
        lines.append(Line(model.room_name, TextStyle.TITLE, bold=True, max_lines=2,
                          space_before=4))
    if model.meeting_title:
        lines.append(Line(model.meeting_title, TextStyle.HEADING, Theme.TEXT_DIM, max_lines=2,
                          space_before=1))
    return lines


def _starting(model: ScreenModel, lang: Language) -> list[Line]:
    lines = [Line(model.product, TextStyle.DISPLAY, Theme.ACCENT, bold=True)]
    lines += _room_lines(model)
    lines.append(Line(i18n.status(model.status.progress or "starting", lang), TextStyle.BODY,
                      Theme.TEXT, max_lines=2, space_before=4))
    return lines


def _lobby(model: ScreenModel, lang: Language) -> list[Line]:
    lines = [Line(i18n.ui("lobby_title", lang), TextStyle.HEADING, Theme.ACCENT, bold=True)]
    lines += _room_lines(model)
    lines.append(Line(i18n.ui("lobby_waiting", lang), TextStyle.TITLE, Theme.HAND, bold=True,
                      max_lines=2, space_before=6))
    lines.append(Line(i18n.ui("lobby_hint", lang), TextStyle.BODY, Theme.TEXT_DIM,
                      max_lines=2, space_before=3))
    return lines


def _left(model: ScreenModel, lang: Language) -> list[Line]:
    lines = [Line(i18n.ui("left_title", lang), TextStyle.DISPLAY, Theme.TEXT_DIM, bold=True)]
    lines += _room_lines(model)
    if model.status.reason:
        lines.append(Line(i18n.status(model.status.reason, lang), TextStyle.HEADING,
                          Theme.TEXT, max_lines=2, space_before=4))
    return lines


def _standby(model: ScreenModel, lang: Language) -> list[Line]:
    """The time, today's meetings, the next one; what keeps the room from joining."""
    info = model.standby or StandbyInfo()
    lines = [Line(info.clock, TextStyle.DISPLAY, Theme.ACCENT, bold=True),
             Line(i18n.long_date(info.day, info.month, info.year, info.weekday, lang),
                  TextStyle.HEADING, Theme.TEXT_DIM, space_before=1)]
    lines += _room_lines(model)
    if not info.clock_synced:
        lines.append(Line(i18n.ui("standby_clock_unsynced", lang), TextStyle.HEADING,
                          Theme.HAND, bold=True, max_lines=2, space_before=3))
    elif not info.schedule_known:
        lines.append(Line(i18n.ui("standby_schedule_unknown", lang), TextStyle.HEADING,
                          Theme.HAND, bold=True, max_lines=2, space_before=3))
    lines.append(Line(i18n.ui("standby_today", lang), TextStyle.HEADING, bold=True,
                      space_before=4))
    for item in info.today[:5]:
        lines.append(Line(i18n.ui("standby_item", lang, start=item.start, end=item.end,
                                  title=item.title), TextStyle.BODY, space_before=1))
    if not info.today:
        lines.append(Line(i18n.ui("standby_none_today", lang), TextStyle.BODY,
                          Theme.TEXT_DIM, space_before=1))
    nxt = info.next
    if nxt is None:
        lines.append(Line(i18n.ui("standby_no_next", lang), TextStyle.BODY, Theme.TEXT_DIM,
                          space_before=3))
    else:
        when = nxt.start if nxt.today else f"{i18n.WEEKDAYS[lang][nxt.weekday]} {nxt.start}"
        lines.append(Line(i18n.ui("standby_next", lang, when=when, title=nxt.title),
                          TextStyle.HEADING, Theme.TEXT, bold=True, space_before=3))
    if info.checks:
        marks = {"ok": "✓", "failed": "✗"}  # simulated or skipped: not checked, "–"
        parts = "  ".join(f"{i18n.ui('check_' + part, lang)} {marks.get(state, '–')}"
                          for part, state, _ in info.checks)
        failed = any(state == "failed" for _, state, _ in info.checks)
        lines.append(Line(i18n.ui("standby_checks", lang, parts=parts), TextStyle.BODY,
                          Theme.MUTED if failed else Theme.TEXT_DIM, space_before=3))
    lines.append(Line(i18n.ui("standby_hint", lang), TextStyle.SMALL, Theme.TEXT_DIM,
                      space_before=2))
    return lines


def draw_status(s: pygame.Surface, p: Painter, model: ScreenModel, lang: Language) -> None:
    w, h = s.get_size()
    u = p.metrics.unit
    if model.phase is Phase.CONFIG_ERROR:
        _config_error(s, p, model, lang)
    else:
        builders = {Phase.STARTING: _starting, Phase.CONNECTING: _connecting,
                    Phase.RECONNECTING: _connecting, Phase.LOBBY: _lobby, Phase.LEFT: _left,
                    Phase.STANDBY: _standby}
        column = Box(w // 10, 6 * u, w * 8 // 10, h - 20 * u)
        _centred(s, p, builders[model.phase](model, lang), column)
    _footer(s, p, model, lang)


def _centred(s: pygame.Surface, p: Painter, lines: list[Line], column: Box) -> None:
    u = p.metrics.unit
    wrapped = [(line, p.wrap(line.text, line.style, column.w, line.max_lines, line.bold))
               for line in lines]
    height = sum(line.space_before * u + len(texts) * p.line_h(line.style)
                 for line, texts in wrapped)
    y = column.y + max(0, (column.h - height) // 2)
    cx = column.x + column.w // 2
    for line, texts in wrapped:
        y += line.space_before * u
        if y + len(texts) * p.line_h(line.style) > column.bottom:
            break
        y = p.draw_lines(s, texts, line.style, line.color, cx, y, "status", line.bold,
                         align="center")


def _footer(s: pygame.Surface, p: Painter, model: ScreenModel, lang: Language) -> None:
    """Product and version bottom left, room name bottom right, in the smallest size."""
    w, h = s.get_size()
    u = p.metrics.unit
    y = h - 3 * u - p.line_h(TextStyle.SMALL)
    left = model.product + (f"  ·  {i18n.ui('version', lang, version=model.version)}"
                            if model.version else "")
    box = p.draw(s, left, TextStyle.SMALL, Theme.TEXT_DIM, 3 * u, y, "footer",
                 max_w=w // 2 - 6 * u)
    if model.room_name and model.phase is Phase.CONFIG_ERROR:
        p.draw(s, model.room_name, TextStyle.SMALL, Theme.TEXT_DIM, w - 3 * u, y, "footer",
               max_w=w - box.right - 9 * u, align="right")


def _config_error(s: pygame.Surface, p: Painter, model: ScreenModel, lang: Language) -> None:
    """Title, then one card per problem (where, which field, what), then what runs now."""
    w, h = s.get_size()
    u = p.metrics.unit
    x, y = 8 * u, 8 * u
    inner_w = w - 16 * u
    p.draw(s, "⚠ " + i18n.ui("config_error_title", lang), TextStyle.TITLE, Theme.MUTED, x, y,
           "status", bold=True, max_w=inner_w)
    y += p.line_h(TextStyle.TITLE) + 3 * u
    good = model.running_last_good_config
    status_text = i18n.ui("config_last_good" if good else "config_no_good", lang)
    status_h = p.line_h(TextStyle.HEADING) + 4 * u
    footer_top = h - 3 * u - p.line_h(TextStyle.SMALL)
    status_y = footer_top - 3 * u - status_h
    body, small = p.line_h(TextStyle.BODY), p.line_h(TextStyle.SMALL)
    card_h = 4 * u + p.line_h(TextStyle.HEADING) + small + 2 * body
    problems = model.config_problems
    fits = max(0, (status_y - 2 * u - y) // (card_h + 2 * u))
    shown = problems if len(problems) <= fits else problems[:max(0, fits - 1)]
    for problem in shown:
        card = Box(x, y, inner_w, card_h)
        panel(s, card, 2 * u)
        pygame.draw.rect(s, Theme.MUTED, pygame.Rect(card.x, card.y, u, card.h))
        cx, cy = card.x + 3 * u, card.y + 2 * u
        where = (i18n.ui("config_where", lang, file=problem.file, line=problem.line)
                 if problem.line is not None else problem.file)
        p.draw(s, where, TextStyle.HEADING, Theme.TEXT, cx, cy, "status", bold=True,
               max_w=card.w - 6 * u)
        cy += p.line_h(TextStyle.HEADING)
        if problem.field:
            p.draw(s, i18n.ui("config_field", lang, field=problem.field), TextStyle.SMALL,
                   Theme.ACCENT, cx, cy, "status", bold=True, max_w=card.w - 6 * u)
        cy += small
        said = words.phrase(problem.text, lang) if problem.text else problem.message
        lines = p.wrap(said, TextStyle.BODY, card.w - 6 * u, 2)
        p.draw_lines(s, lines, TextStyle.BODY, Theme.TEXT, cx, cy, "status")
        y += card_h + 2 * u
    if len(shown) < len(problems):
        p.draw(s, i18n.ui("config_more", lang, n=len(problems) - len(shown)), TextStyle.BODY,
               Theme.TEXT_DIM, x, y, "status")
    chip = Box(x, status_y, inner_w, status_h)
    panel(s, chip, 2 * u, Theme.TALKING if good else Theme.MUTED)
    p.draw(s, status_text, TextStyle.HEADING, Theme.ON_LIGHT, chip.x + 3 * u, chip.y + 2 * u,
           "status", bold=True, max_w=chip.w - 6 * u)
