"""Small drawn things: the colour theme, mic and hand marks, the QR code, initials."""

from __future__ import annotations

from functools import lru_cache

import pygame
import qrcode

from appliance.screen.layout import Box

Color = tuple[int, int, int]


class Theme:
    """High contrast: white on near-black is 19:1; every accent stays above 7:1."""

    BACKGROUND: Color = (10, 13, 18)
    PANEL: Color = (28, 34, 44)
    PANEL_EDGE: Color = (58, 68, 84)
    TILE: Color = (36, 42, 54)
    TEXT: Color = (255, 255, 255)
    TEXT_DIM: Color = (200, 208, 218)
    ACCENT: Color = (110, 180, 255)
    TALKING: Color = (64, 224, 128)
    HAND: Color = (255, 196, 40)
    MUTED: Color = (255, 110, 100)
    PRIVATE: Color = (255, 196, 40)
    ON_LIGHT: Color = (10, 13, 18)
    LABEL_ALPHA = 200  # name bar over video


def to_rect(box: Box) -> pygame.Rect:
    return pygame.Rect(box.x, box.y, box.w, box.h)


def panel(target: pygame.Surface, box: Box, radius: int, color: Color = Theme.PANEL) -> None:
    pygame.draw.rect(target, color, to_rect(box), border_radius=radius)


def mic(target: pygame.Surface, box: Box, color: Color, crossed: bool = False,
        behind: Color = Theme.BACKGROUND) -> None:
    """A microphone drawn in box: capsule, cradle and stand; a slash when muted."""
    w, h = box.w, box.h
    stroke = max(2, h // 12)
    cap = pygame.Rect(0, 0, max(4, w * 2 // 5), h * 3 // 5)
    cap.midtop = (box.x + w // 2, box.y)
    pygame.draw.rect(target, color, cap, border_radius=cap.w // 2)
    cradle = pygame.Rect(0, 0, w * 7 // 10, h * 3 // 5)
    cradle.midbottom = (box.x + w // 2, box.y + h * 4 // 5)
    pygame.draw.arc(target, color, cradle, 3.3, 6.13, stroke)
    stand_top = cradle.bottom
    pygame.draw.line(target, color, (box.x + w // 2, stand_top),
                     (box.x + w // 2, box.bottom - stroke), stroke)
    pygame.draw.line(target, color, (box.x + w * 3 // 10, box.bottom - stroke // 2),
                     (box.x + w * 7 // 10, box.bottom - stroke // 2), stroke)
    if crossed:
        pygame.draw.line(target, behind, (box.x, box.y + stroke),
                         (box.right, box.bottom), stroke * 3)
        pygame.draw.line(target, color, (box.x, box.y), (box.right, box.bottom - stroke),
                         stroke + 1)


def camera(target: pygame.Surface, box: Box, color: Color, crossed: bool = False) -> None:
    """A camera body and lens; with a slash for "camera off"."""
    stroke = max(2, box.h // 14)
    body = pygame.Rect(box.x, box.y + box.h // 5, box.w * 2 // 3, box.h * 3 // 5)
    pygame.draw.rect(target, color, body, stroke, border_radius=stroke * 2)
    lens = [(body.right + stroke, body.centery - stroke),
            (box.right, body.top + stroke), (box.right, body.bottom - stroke),
            (body.right + stroke, body.centery + stroke)]
    pygame.draw.polygon(target, color, lens)
    if crossed:
        pygame.draw.line(target, color, (box.x, box.y), (box.right, box.bottom), stroke)


def initials(name: str) -> str:
    """Two initials in Turkish capitals ("behiç çelebi – ankara" -> "BÇ")."""
    words = [w for w in name.split("–")[0].split("-")[0].split() if w[:1].isalpha()]
    letters = "".join(w[0] for w in words[:1] + words[1:][-1:])
    return letters.replace("i", "İ").replace("ı", "I").upper()


QR_BORDER = 2  # quiet-zone modules each side (white; the panel around it is dark)


@lru_cache(maxsize=8)
def qr_matrix(url: str) -> tuple[tuple[bool, ...], ...]:
    """The link's QR modules, quiet zone included (error correction M: a screen seen at an
    angle, with moiré, loses a few)."""
    code = qrcode.QRCode(border=QR_BORDER, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(url)
    code.make(fit=True)
    return tuple(tuple(row) for row in code.get_matrix())


def qr_modules(url: str) -> int:
    """The code's side in modules, quiet zone included."""
    return len(qr_matrix(url))


@lru_cache(maxsize=8)
def qr_surface(url: str, side: int) -> pygame.Surface:
    """The link as a QR code, black on white with its quiet zone, side×side pixels."""
    matrix = qr_matrix(url)
    n = len(matrix)
    small = pygame.Surface((n, n))
    small.fill((255, 255, 255))
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                small.set_at((x, y), (0, 0, 0))
    module = max(1, side // n)  # whole pixels per module keep the code sharp
    big = pygame.transform.scale(small, (n * module, n * module))
    out = pygame.Surface((side, side))
    out.fill((255, 255, 255))
    out.blit(big, ((side - big.get_width()) // 2, (side - big.get_height()) // 2))
    return out
