"""The simulated content source's slide deck: large text and a QR code per slide.

What a teacher's laptop shows on the HDMI input, reduced to what a test can check:
each slide's QR code says which slide it is (`qr_payload`), so a receiver that can
decode the code from its picture has received content at a legible resolution;
the text is drawn as large as a slide at 3 m needs (a title of 1/11 of the height,
body lines of 1/19). Slides are drawn once (pygame's own font, the `qrcode`
library's modules) and kept as I420; a picture is a copy with the progress bar.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import qrcode

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame
import pygame.font

I420 = npt.NDArray[np.uint8]

BACKGROUND = (250, 250, 245)
INK = (20, 24, 40)
ACCENT = (30, 90, 170)
BAR_LUMA = 90  # the progress bar along the bottom (dark grey on the light slide)


@dataclass(frozen=True)
class Slide:
    title: str
    lines: tuple[str, ...]


DEFAULT_SLIDES: tuple[Slide, ...] = (
    Slide("Salon: İçerik paylaşımı", ("HDMI girişi: benzetim slaytı", "Content from the room",
                                      "Slayt 1")),
    Slide("Haftalık plan", ("Pazartesi: kavram haritası", "Çarşamba: ölçme ve değerlendirme",
                            "Cuma: öğrenci sunumları")),
    Slide("Okunaklı mı?", ("3 metreden okunabilmeli", "Büyük yazı, yüksek karşıtlık",
                           "QR kodunu telefonla okutun")),
    Slide("Sorular", ("Söz hakkı için el kaldırın", "Questions: raise your hand",
                      "Teşekkürler")),
)


def qr_payload(index: int, count: int) -> str:
    """What slide `index`'s large QR code says (tests decode it from the far end's picture)."""
    return f"salon-slide:{index + 1}/{count}"


def fine_qr_payload(index: int, count: int) -> str:
    """What slide `index`'s small QR code says: its modules are `FINE_MODULE_RATIO` of
    the height (2 px at 1080p), readable only at (near) full resolution — the check
    that content arrives at 1080p and not as a scaled-down layer."""
    return f"salon-fine:{index + 1}/{count}"


FINE_MODULE_RATIO = 1 / 540


def qr_modules(text: str) -> list[list[bool]]:
    code = qrcode.QRCode(border=4, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(text)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]


class SlideDeck:
    """Slides drawn at one size, as I420 pictures."""

    def __init__(self, width: int, height: int,
                 slides: Sequence[Slide] = DEFAULT_SLIDES) -> None:
        if not slides:
            raise ValueError("a slide deck needs at least one slide")
        self.width, self.height = width, height
        self.slides = tuple(slides)
        self._drawn: list[I420 | None] = [None] * len(self.slides)

    def __len__(self) -> int:
        return len(self.slides)

    def i420(self, index: int, progress: float = 0.0) -> I420:
        """Slide `index` with the progress bar filled to `progress` (0–1): a new array
        of height×1.5 rows, as `av.VideoFrame.from_ndarray(..., "yuv420p")` takes."""
        drawn = self._drawn[index]
        if drawn is None:
            drawn = self._drawn[index] = rgb_to_i420(self.rgb(index))
        picture = drawn.copy()
        bar_h = max(2, self.height // 90) & ~1
        filled = int(self.width * min(1.0, max(0.0, progress)))
        picture[self.height - bar_h:self.height, :filled] = BAR_LUMA
        return picture

    def rgb(self, index: int) -> npt.NDArray[np.uint8]:
        """Slide `index` drawn as RGB (height, width, 3)."""
        pygame.font.init()
        w, h = self.width, self.height
        slide = self.slides[index]
        surface = pygame.Surface((w, h))
        surface.fill(BACKGROUND)
        title_font = pygame.font.Font(None, max(12, h // 8))  # cap height ≈ 1/11 of h
        body_font = pygame.font.Font(None, max(10, h // 14))  # body ≈ 1/19
        margin = w // 20
        surface.blit(title_font.render(slide.title, True, ACCENT), (margin, h // 12))
        big = max(2, (h * 2 // 5) // len(qr_modules(qr_payload(index, len(self)))))
        self._draw_qr(surface, qr_payload(index, len(self)), big,
                      (w - margin, h // 4))
        self._draw_qr(surface, fine_qr_payload(index, len(self)),
                      max(1, round(h * FINE_MODULE_RATIO)), (margin, h - h // 20), left=True)
        y = h // 12 + title_font.get_linesize() + h // 20
        for line in slide.lines:
            surface.blit(body_font.render(line, True, INK), (margin, y))
            y += int(body_font.get_linesize() * 1.3)
        footer = body_font.render(f"{index + 1} / {len(self)}", True, ACCENT)
        surface.blit(footer, (w - margin - footer.get_width(), h - h // 8))
        return np.ascontiguousarray(pygame.surfarray.array3d(surface).transpose(1, 0, 2))

    @staticmethod
    def _draw_qr(surface: pygame.Surface, text: str, scale: int, corner: tuple[int, int],
                 left: bool = False) -> None:
        """A QR code, quiet zone included, `scale` px per module: its top-right corner at
        `corner`, or with `left` its bottom-left corner."""
        modules = qr_modules(text)
        n = len(modules)
        side = n * scale
        small = pygame.Surface((n, n))
        small.fill((255, 255, 255))
        for y, row in enumerate(modules):
            for x, dark in enumerate(row):
                if dark:
                    small.set_at((x, y), (0, 0, 0))
        x0, y0 = (corner[0], corner[1] - side) if left else (corner[0] - side, corner[1])
        surface.blit(pygame.transform.scale(small, (side, side)), (x0, y0))


def rgb_to_i420(rgb: npt.NDArray[np.uint8]) -> I420:
    """RGB (h, w, 3) to I420 as one (h×1.5, w) array (libswscale through PyAV)."""
    import av

    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    return np.ascontiguousarray(frame.reformat(format="yuv420p").to_ndarray())
