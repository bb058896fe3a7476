"""The phone-companion QR code on the room's screen: there whenever a companion code is
active, notices or not, and readable by a phone from 3 m on a 55-inch screen.

The PNGs are written by the review-screenshot code itself (appliance/screen/screenshots.py)
and read back by a real decoder (zxing-cpp) after shrinking them to what a phone camera
sees of the screen from 3 m (the reasoning is in appliance/screen/layout.py).
"""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from dataclasses import replace
from pathlib import Path

import numpy as np
import pygame
import pytest
import zxingcpp

from appliance.screen.model import Notice, Poll, ScreenRole, SharedFile
from appliance.screen.screenshots import (
    COMPANION_URL,
    SIZES,
    Scene,
    all_scenes,
    meeting_model,
    portrait_frames,
    write_screenshots,
)

SCREEN_55_HEIGHT_MM = 685.0  # a 55-inch 16:9 screen
PHONE_MM_PER_PIXEL_AT_3M = 2.1  # a 1080-pixel-wide camera frame over 41 degrees, at 3 m


def seen_by_a_phone(png: Path, metres: float = 3.0) -> np.ndarray:
    """The screenshot as a phone camera `metres` from a 55-inch screen sees it: one
    camera pixel per PHONE_MM_PER_PIXEL (scaled by distance), averaged, in grey."""
    image = pygame.image.load(str(png))
    w, h = image.get_size()
    scale = (SCREEN_55_HEIGHT_MM / h) / (PHONE_MM_PER_PIXEL_AT_3M * metres / 3.0)
    small = pygame.transform.smoothscale(image, (round(w * scale), round(h * scale)))
    rgb = pygame.surfarray.array3d(small).swapaxes(0, 1).astype(np.float32)
    return np.ascontiguousarray((rgb @ np.array([0.299, 0.587, 0.114])).astype(np.uint8))


def decoded(gray: np.ndarray) -> list[str]:
    found = zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode,
                                   try_downscale=False)
    return [code.text for code in found]


@pytest.mark.parametrize("size_name", list(SIZES))
def test_the_code_shows_and_scans_from_three_metres_while_notices_show(
        size_name: str, tmp_path: Path) -> None:
    scenes = [s for s in all_scenes() if s.model.companion_url]
    with_notices = {s.name for s in scenes if s.model.notices}
    assert {"meeting_1", "meeting_4", "meeting_9", "meeting_14"} <= with_notices
    for path in write_screenshots(tmp_path, sizes=(size_name,), languages=("tr",),
                                  scenes=scenes):
        scene = next(s for s in scenes if path.name.startswith(s.name + "_"))
        found = decoded(seen_by_a_phone(path))
        if scene.role is ScreenRole.PEOPLE:
            assert found == [], path.name  # on a room's second screen, with the panels
        else:
            assert found == [COMPANION_URL], path.name


def test_a_new_poll_and_a_new_file_never_hide_the_code(tmp_path: Path) -> None:
    """The moment people reach for their phones: both notices up, a long poll, files and
    chat competing for the column."""
    model = meeting_model(9)
    busy = replace(
        model,
        notices=(Notice("poll_opened", model.now - 1, (("question", "Ortak sınav hangi hafta "
                                                        "yapılsın, kaçta başlasın?"),)),
                 Notice("file_shared", model.now, (("name", "Sınav_takvimi.xlsx"),))),
        poll=Poll("Ortak sınav hangi hafta yapılsın, kaçta başlasın ve kaç dakika sürsün?",
                  tuple(f"Seçenek {i}" for i in range(1, 7)), opened_at=model.now - 5),
        files=tuple(SharedFile(f"Belge_{i}.pdf", 10_000 * i) for i in range(1, 9)))
    scenes = [Scene("busy", busy, frames=portrait_frames(busy.participants)),
              Scene("busy_panels", busy, ScreenRole.PANELS)]
    for path in write_screenshots(tmp_path, sizes=tuple(SIZES), languages=("tr",),
                                  scenes=scenes):
        assert decoded(seen_by_a_phone(path)) == [COMPANION_URL], path.name
