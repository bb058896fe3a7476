"""A presentation on the room's screens: as large as the screen allows, people in a strip
(one screen) or on the other screen (two), decodable from the drawn pixels, never
cropped; and the judge that says when the room's link cannot carry it."""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pygame
import pytest
import zxingcpp

from appliance.content import BandwidthJudge, LinkSample
from appliance.screen.layout import PanelNeeds, problems
from appliance.screen.model import Content, ScreenRole
from appliance.screen.presentation import content_layout, fitted
from appliance.screen.render import Renderer
from appliance.screen.screenshots import (
    SIZES,
    SLIDE_URL,
    content_scenes,
    meeting_model,
    portrait_frames,
)
from appliance.screen.synthetic import SlideFrame

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


def qr_texts(surface: pygame.Surface) -> list[str]:
    rgb = pygame.surfarray.array3d(surface).swapaxes(0, 1).astype(np.float32)
    gray = np.ascontiguousarray((rgb @ np.array([0.299, 0.587, 0.114])).astype(np.uint8))
    return [c.text for c in zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode)]


@pytest.mark.parametrize("size", list(SIZES.values()))
@pytest.mark.parametrize("n", [0, 1, 4, 14])
@pytest.mark.parametrize("notices", [0, 1, 2])
def test_the_content_takes_most_of_the_screen_and_nothing_overlaps(
        size: tuple[int, int], n: int, notices: int) -> None:
    layout, area = content_layout(size, ScreenRole.SINGLE, n, PanelNeeds(
        notice_lines=(2,) * notices))
    assert problems(layout.boxes(), size) == []
    box = fitted(area, (1920, 1080))
    assert box.w >= 0.75 * size[0] and box.h >= 0.75 * size[1]  # legible from 3 m
    shown = len(layout.tiles) + (layout.overflow_count if layout.overflow else 0)
    assert shown == n  # everyone has a tile or is counted in "+N"


def test_a_slide_of_another_shape_is_letterboxed_never_cropped() -> None:
    _, area = content_layout((1920, 1080), ScreenRole.SINGLE, 4, PanelNeeds())
    square = fitted(area, (1024, 768))
    assert area.contains(square) and square.h == area.h
    assert abs(square.w / square.h - 4 / 3) < 0.01


def test_one_screen_shows_the_slide_decodably_above_the_people() -> None:
    scene = next(s for s in content_scenes() if s.name == "content_4")
    renderer = Renderer(SIZES["1080p"], "tr")
    surface = renderer.render(scene.model, scene.frames)
    assert qr_texts(surface) == [SLIDE_URL]
    drawn = " ".join(t.text for t in renderer.texts)
    assert "ekran paylaşımı" in drawn and "BEHİÇ" in drawn  # caption, and a person's tile


def test_two_screens_content_on_one_people_on_the_other() -> None:
    model = replace(meeting_model(6, companion=False), content=Content("p1", "Ayşe"))
    frames = {**portrait_frames(model.participants), "p1#content": SlideFrame(SLIDE_URL)}
    people = Renderer(SIZES["1080p"], "en", role=ScreenRole.PEOPLE)
    content = Renderer(SIZES["1080p"], "en", role=ScreenRole.PANELS)
    assert qr_texts(people.render(model, frames)) == []
    assert len(people.layout.tiles) >= 6  # type: ignore[union-attr]
    assert qr_texts(content.render(model, frames)) == [SLIDE_URL]
    assert "Ayşe – shared screen" in [t.text for t in content.texts]


def test_a_new_slide_redraws_only_the_content() -> None:
    model = replace(meeting_model(4, companion=False), content=Content("p1", "Ayşe"))
    slide = SlideFrame(SLIDE_URL)
    frames = {**portrait_frames(model.participants), "p1#content": slide}
    renderer = Renderer(SIZES["720p"], "tr")
    renderer.render(model, frames)
    assert not renderer.needs_redraw(model, frames)
    slide.version += 1
    assert renderer.needs_redraw(model, frames)
    renderer.render(model, frames)
    assert len(renderer.dirty) == 1 and renderer.dirty[0].w < SIZES["720p"][0]


def test_waiting_for_the_first_picture_and_a_starved_link_are_said() -> None:
    model = replace(meeting_model(4, companion=False),
                    content=Content("p1", "Ayşe", starved=True))
    renderer = Renderer(SIZES["1080p"], "en")
    renderer.render(model, portrait_frames(model.participants))
    drawn = [t.text for t in renderer.texts]
    assert "Waiting for the shared screen…" in drawn
    assert "Not enough bandwidth" in drawn


def test_the_judge_says_a_lossy_link_once_and_its_recovery_once() -> None:
    judge = BandwidthJudge()
    assert judge.observe(LinkSample(0, 0)) is None
    assert judge.observe(LinkSample(20, 0)) is None  # too few packets to judge yet
    assert judge.observe(LinkSample(100, 1)) is None  # 1 % lost: fine
    assert judge.observe(LinkSample(190, 11)) is False  # 10 of 100: not enough
    assert judge.observe(LinkSample(285, 14)) is None  # 3 %: still not (hysteresis)
    assert judge.observe(LinkSample(385, 14)) is True  # none lost: enough again
    assert judge.observe(LinkSample(5, 0)) is None  # a new receiver starts over
    assert judge.enough


class FakeReceiver:
    """Counters as aiortc's receiver reports them: 100 packets a look, `lost` of them."""

    def __init__(self) -> None:
        self.received = self.lost = 0
        self.loss_per_look = 0

    async def getStats(self) -> dict[str, object]:
        self.received += 100 - self.loss_per_look
        self.lost += self.loss_per_look
        stats = type("Stats", (), {"type": "inbound-rtp", "packetsReceived": self.received,
                                   "packetsLost": self.lost})
        return {"in": stats}


async def test_the_watch_reports_a_starved_link_and_a_new_presentation_starts_afresh() -> None:
    import asyncio

    from appliance.content import watch_link

    receiver: FakeReceiver | None = FakeReceiver()
    verdicts: list[bool] = []
    task = asyncio.create_task(watch_link(lambda: receiver, verdicts.append, every_s=0.01))
    try:
        await asyncio.sleep(0.1)
        assert verdicts == []
        assert receiver is not None
        receiver.loss_per_look = 20
        while not verdicts:
            await asyncio.sleep(0.01)
        assert verdicts == [False]
        receiver = None  # the presentation ended: the warning goes with it
        while len(verdicts) < 2:
            await asyncio.sleep(0.01)
        assert verdicts == [False, True]
    finally:
        task.cancel()
