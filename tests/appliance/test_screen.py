"""The room's screens, rendered offscreen (SDL dummy driver) from scripted models.

Text is checked twice: the renderer's record says which string went where, and the
pixels there must be that string's glyphs (the solid cores of the glyphs, rendered on
their own, must match the screen exactly). Tiles are checked by filling frames with
distinct colours and sampling the screen where the layout put them.
"""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pygame
import pytest
import qrcode

from appliance.devices import registry
from appliance.devices.display import (
    DisplayError,
    HeadlessDisplay,
    PygameDisplay,
    choose_video_driver,
)
from appliance.devices.registry import DeviceUnavailable
from appliance.screen import i18n
from appliance.screen.layout import (
    CAP_FRACTION,
    MIN_CAP_FRACTION,
    Box,
    LayoutSettings,
    Metrics,
    Mode,
    PanelNeeds,
    TextStyle,
    meeting_layout,
    problems,
    qr_code_box,
)
from appliance.screen.model import (
    ChatMessage,
    ConfigProblem,
    Notice,
    NoticeQueue,
    Participant,
    Phase,
    Poll,
    ScreenModel,
    ScreenRole,
    SelfView,
    SharedFile,
    StatusInfo,
)
from appliance.screen.render import Renderer, ScreenDriver
from appliance.screen.screenshots import SIZES, all_scenes, write_screenshots
from appliance.screen.synthetic import SolidFrame
from appliance.screen.text import BOLD_FONT, REGULAR_FONT, DrawnText
from appliance.screen.widgets import Theme
from tests.support.screens import HD, joined, meeting, remote, texts

COLORS = [(230, 30, 30), (30, 200, 60), (40, 80, 240), (240, 200, 20), (200, 40, 200),
          (20, 210, 210), (250, 130, 20), (120, 60, 20), (150, 150, 150), (90, 200, 120)]


def solid_frames(people: tuple[Participant, ...]) -> dict[str, SolidFrame]:
    return {p.id: SolidFrame(COLORS[i % len(COLORS)]) for i, p in enumerate(people)}


def pixel(surface: pygame.Surface, x: int, y: int) -> tuple[int, int, int]:
    c = surface.get_at((x, y))
    return (c.r, c.g, c.b)


def find(renderer: Renderer, text: str) -> DrawnText:
    hits = [t for t in renderer.texts if t.text == text]
    assert hits, f"{text!r} not drawn; drawn: {[t.text for t in renderer.texts]}"
    return hits[0]


def assert_glyphs_on_screen(renderer: Renderer, drawn: DrawnText) -> None:
    """The string's fully opaque glyph pixels are exactly where the record says."""
    alone = renderer.painter.font(drawn.style, drawn.bold).render(drawn.text, True, drawn.color)
    assert alone.get_size() == (drawn.rect.w, drawn.rect.h)
    alpha = pygame.surfarray.array_alpha(alone)
    core = alpha == 255
    assert core.sum() > 0, drawn
    region = pygame.surfarray.array3d(renderer.surface.subsurface(
        pygame.Rect(drawn.rect.x, drawn.rect.y, drawn.rect.w, drawn.rect.h)))
    on_screen = np.all(region == np.array(drawn.color, np.uint8), axis=2)
    assert np.array_equal(on_screen[core], core[core]), f"glyphs of {drawn.text!r} missing"


# -- meeting: tiles ---------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 4, 9])
def test_tiles_show_each_frame_where_the_layout_put_it(n: int) -> None:
    people = remote(n)
    frames = solid_frames(people)
    renderer = Renderer(HD, "tr")
    surface = renderer.render(meeting(people), frames)
    layout = renderer.layout
    assert layout is not None and len(layout.tiles) == n
    for i, box in enumerate(layout.tiles):
        # upper-left quarter: clear of the name bar at the bottom and the hand badge
        color = pixel(surface, box.x + box.w // 4, box.y + box.h // 4)
        assert color == COLORS[i], (i, box)
        assert pixel(surface, box.x - 2, box.y + box.h // 2) == Theme.BACKGROUND
        # every frame converted once, at exactly the tile's size
        assert frames[f"p{i}"].calls == [(box.w, box.h)]


def test_grid_or_speaker_view_is_chosen_by_head_count_and_configurable() -> None:
    frames = solid_frames(remote(12))
    grid = Renderer(HD, "tr")
    grid.render(meeting(remote(9)), frames)
    assert grid.layout is not None and grid.layout.mode is Mode.GRID
    speaker = Renderer(HD, "tr", settings=LayoutSettings(speaker_view_from=4))
    people = remote(12)
    speaker.render(meeting(people, active_speaker_id="p7"), frames)
    layout = speaker.layout
    assert layout is not None and layout.mode is Mode.SPEAKER
    main = layout.tiles[0]
    assert all(main.w > 2 * t.w for t in layout.tiles[1:])
    assert pixel(speaker.surface, main.x + main.w // 4, main.y + main.h // 4) == COLORS[7]
    assert layout.overflow is not None and layout.overflow_count == 12 - len(layout.tiles)
    assert find(speaker, f"+{layout.overflow_count} kişi").area == "overflow"


def test_labels_mic_and_hand_marks() -> None:
    people = (
        Participant("a", "BEHİÇ ÇELEBİ – ANKARA MEM", has_audio_right=True, talking=True),
        Participant("b", "Ayşe Yılmaz", has_audio_right=True, muted=True),
        Participant("c", "Şükrü Öztürk", hand_position=2),
        Participant("d", "Gülşen Çağlayan"),
    )
    frames = {p.id: SolidFrame((40, 40, 40)) for p in people}
    renderer = Renderer(HD, "tr")
    renderer.render(meeting(people), frames)
    layout = renderer.layout
    assert layout is not None
    for i, person in enumerate(people):
        name = find(renderer, person.name)
        assert name.area == f"tile{i}" and layout.tiles[i].contains(name.rect)
        assert name.rect.y > layout.tiles[i].center[1]  # the name bar is at the bottom
        assert_glyphs_on_screen(renderer, name)
    hand = find(renderer, "☝ 2")
    assert hand.area == "tile2"
    assert_glyphs_on_screen(renderer, hand)

    def colour_count(box: Box, color: tuple[int, int, int]) -> int:
        bar = renderer.surface.subsurface(pygame.Rect(box.x, box.bottom - box.h // 6,
                                                      box.w, box.h // 6))
        return int(np.all(pygame.surfarray.array3d(bar) == color, axis=2).sum())

    assert colour_count(layout.tiles[0], Theme.TALKING) > 50  # lit mic while talking
    assert colour_count(layout.tiles[1], Theme.MUTED) > 50  # muted mic, crossed
    assert colour_count(layout.tiles[1], Theme.TALKING) == 0
    assert colour_count(layout.tiles[3], Theme.TALKING) == 0  # no audio right: no mic
    assert colour_count(layout.tiles[3], Theme.MUTED) == 0


def test_camera_off_placeholder_and_no_conversion() -> None:
    people = (Participant("a", "İsmail Işık", camera_on=False), Participant("b", "Ömer Ünal"))
    frames = solid_frames(people)
    for language, words in (("tr", "Kamera kapalı"), ("en", "Camera off")):
        renderer = Renderer(HD, language)  # type: ignore[arg-type]
        renderer.render(meeting(people), frames)
        placeholder = find(renderer, words)
        assert placeholder.area == "tile0"
        assert_glyphs_on_screen(renderer, placeholder)
        assert find(renderer, "İI").area == "tile0"  # Turkish initials
    assert frames["a"].calls == []  # a camera that is off is never converted


def test_self_view_position_and_camera_off() -> None:
    me = Participant("room", "Oda", is_self=True, has_audio_right=True, muted=True)
    people = (*remote(2), me)
    frames = solid_frames(people)
    for position in ("top-left", "top-right", "bottom-left", "bottom-right"):
        view = SelfView(enabled=True, position=position, camera_on=True)
        renderer = Renderer(HD, "en")
        renderer.render(replace(meeting(people), self_view=view), frames)
        layout = renderer.layout
        assert layout is not None and layout.self_view is not None and layout.stage
        sv = layout.self_view
        assert (sv.y == layout.stage.y) == position.startswith("top")
        assert (sv.x == layout.stage.x) == position.endswith("left")
        assert pixel(renderer.surface, sv.x + sv.w // 4, sv.y + sv.h // 4) == COLORS[2]
        assert not any(sv.overlaps(t) for t in layout.tiles)
    off = replace(meeting(people), self_view=SelfView(enabled=True, camera_on=False))
    renderer = Renderer(HD, "en")
    renderer.render(off, frames)
    assert find(renderer, "Camera off").area == "self_view"
    assert find(renderer, "This room").area == "self_view"


# -- meeting: panels ----------------------------------------------------------------------


def panel_model() -> ScreenModel:
    return meeting(
        remote(2), now=200.0,
        notices=(Notice("audio_granted", 190.0), Notice("hand_lowered_by_host", 191.0)),
        chat=(ChatMessage("Ahmet Öğretmen", "Günaydın"),
              ChatMessage("Müdür Yardımcısı", "Sunumu yükleyin", private_to_room=True)),
        poll=Poll("Hangi gün?", ("Pazartesi", "Çarşamba", "Cuma"), opened_at=65.0, answer=1),
        files=(SharedFile("Sunum_ölçme.pdf", 2_400_000),),
        companion_url="http://127.0.0.1:8080/r/oda?t=abc")


def test_notices_top_right_in_order_and_legible() -> None:
    renderer = Renderer(HD, "tr")
    renderer.render(panel_model(), {})
    layout = renderer.layout
    assert layout is not None and len(layout.notices) == 2 and layout.stage is not None
    first, second = layout.notices  # side by side above the stage, the first in the corner
    assert first.y == second.y < HD[1] // 8 and second.right < first.x
    assert first.right == layout.stage.right and first.x > HD[0] // 3
    assert not any(b.overlaps(o) for b in layout.notices
                   for o in (layout.stage, *layout.panels.values()))
    assert joined(renderer, "notice0") == "Ses Hakları Verildi"
    assert joined(renderer, "notice1") == "Söz isteğiniz yönetici tarafından indirildi"
    for t in texts(renderer, "notice0") + texts(renderer, "notice1"):
        assert_glyphs_on_screen(renderer, t)


def test_chat_poll_files_and_qr() -> None:
    renderer = Renderer(HD, "tr")
    model = panel_model()
    renderer.render(replace(model, notices=model.notices[:1]), {})
    layout = renderer.layout
    assert layout is not None
    assert {"poll", "chat", "qr"} <= set(layout.panels)  # files give way to the QR code
    chat = joined(renderer, "chat")
    assert "Sohbet" in chat and "Herkes" in chat and "Sunumu yükleyin" in chat
    assert "Telefonla katıl" in joined(renderer, "qr")
    private = find(renderer, "Özel · Müdür Yardımcısı")
    assert private.color == Theme.PRIVATE
    assert_glyphs_on_screen(renderer, private)
    poll = [t.text for t in texts(renderer, "poll")]
    assert poll[:2] == ["Açık: 02:15", "Anket"]
    assert poll[-7:] == ["1", "Pazartesi", "2", "Çarşamba", "✓", "3", "Cuma"]
    answer = find(renderer, "Çarşamba")
    assert answer.color == Theme.ON_LIGHT  # dark on the highlighted row
    assert pixel(renderer.surface, layout.panels["poll"].right - 20, answer.rect.center[1]) \
        == Theme.ACCENT
    assert_glyphs_on_screen(renderer, answer)
    assert_qr_matches(renderer, "http://127.0.0.1:8080/r/oda?t=abc")
    renderer.render(replace(model, poll=None), {})  # without a poll there is room for files
    assert renderer.layout is not None and {"chat", "files", "qr"} <= set(renderer.layout.panels)
    assert find(renderer, "Sunum_ölçme.pdf").area == "files"
    assert find(renderer, "2,4 MB").area == "files"
    assert_qr_matches(renderer, "http://127.0.0.1:8080/r/oda?t=abc")


def test_chat_shows_the_newest_messages_that_fit_in_order() -> None:
    messages = tuple(ChatMessage(f"Kişi {i}", f"mesaj {i}") for i in range(40))
    renderer = Renderer(HD, "en")
    renderer.render(meeting(remote(1), chat=messages), {})
    shown = [t.text for t in texts(renderer, "chat") if t.text.startswith("mesaj")]
    assert 5 <= len(shown) < 40
    assert shown == [f"mesaj {i}" for i in range(40 - len(shown), 40)]  # the newest
    ys = [t.rect.y for t in texts(renderer, "chat") if t.text.startswith("mesaj")]
    assert ys == sorted(ys)  # oldest above, newest at the bottom
    layout = renderer.layout
    assert layout is not None
    chat_box = layout.panels["chat"]
    assert chat_box.bottom - texts(renderer, "chat")[-1].rect.bottom < 4 * renderer.metrics.unit
    renderer.render(meeting(remote(1), chat=messages[:2]), {})  # few: from the top
    first = find(renderer, "Kişi 0")
    assert first.rect.y - chat_box.y < 3 * renderer.metrics.line_px(TextStyle.HEADING)


def test_a_full_column_gives_chat_priority_over_files() -> None:
    renderer = Renderer((1280, 720), "tr")
    renderer.render(panel_model(), {})
    layout = renderer.layout
    assert layout is not None
    assert "chat" in layout.panels and "files" not in layout.panels
    assert "Günaydın" not in joined(renderer, "chat")  # only the newest that fits
    assert "Sunumu yükleyin" in joined(renderer, "chat")


def assert_qr_matches(renderer: Renderer, url: str) -> None:
    """Sample the middle of every module of the drawn code against the QR matrix."""
    layout = renderer.layout
    assert layout is not None
    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(url)
    code.make(fit=True)
    matrix = code.get_matrix()
    n = len(matrix)
    square = qr_code_box(layout.panels["qr"], n, renderer.metrics)
    module = square.w // n
    assert module >= renderer.size[1] // 108  # whole pixels, sized for 3 m (layout.py)
    x0 = square.x + (square.w - n * module) // 2
    y0 = square.y + (square.w - n * module) // 2
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            got = pixel(renderer.surface, x0 + c * module + module // 2,
                        y0 + r * module + module // 2)
            assert got == ((0, 0, 0) if dark else (255, 255, 255)), (r, c)


def test_header_shows_room_state() -> None:
    """The room's own mic, raised hand and live camera, each as long as it lasts, side by
    side at the header's right end (the hand with its place once the bridge gives it)."""
    me = Participant("room", "Oda", is_self=True)
    live = SelfView(enabled=False, camera_on=True)
    cases = [
        (me, False, ["Söz Hakkı İste"]),
        (replace(me, hand_raised=True), False, ["☝ Söz istendi"]),
        (replace(me, hand_raised=True, hand_position=3), False, ["☝ Söz sırası 3"]),
        (replace(me, has_audio_right=True, muted=True), False, ["Mikrofon kapalı"]),
        (replace(me, has_audio_right=True), False, ["Mikrofon açık"]),
        (replace(me, has_audio_right=True, hand_raised=True, hand_position=1), True,
         ["☝ Söz sırası 1", "Kamera açık", "Mikrofon açık"]),
        (me, True, ["Kamera açık", "Söz Hakkı İste"]),
    ]
    for person, camera_live, labels in cases:
        renderer = Renderer(HD, "tr")
        model = replace(meeting((*remote(1), person), meeting_title="Zümre toplantısı"),
                        room_name="Öğretmenler Odası – Çankaya Atatürk Anadolu Lisesi")
        renderer.render(replace(model, self_view=live) if camera_live else model, {})
        chips = [find(renderer, label) for label in labels]
        assert [c.rect.x for c in chips] == sorted(c.rect.x for c in chips)  # in this order
        assert all(c.area == "header" and c.rect.right > HD[0] // 2 for c in chips)
        assert chips[-1].rect.right > HD[0] * 9 // 10
        for drawn in chips:
            assert_glyphs_on_screen(renderer, drawn)
        assert_text_sound(renderer)
        if not camera_live:
            assert "Kamera açık" not in joined(renderer, "header")


def test_two_screens_split_people_and_panels() -> None:
    model = replace(panel_model(), participants=(*remote(3, hand_position=None),
                                                 Participant("room", "Oda", is_self=True)))
    people = Renderer(HD, "tr", role=ScreenRole.PEOPLE)
    people.render(model, solid_frames(model.participants))
    assert people.layout is not None and len(people.layout.tiles) == 3
    assert not people.layout.panels and not people.layout.notices
    panels = Renderer((1280, 720), "tr", role=ScreenRole.PANELS)
    panels.render(model, solid_frames(model.participants))
    assert panels.layout is not None and not panels.layout.tiles
    assert {"participants", "chat", "poll", "files", "qr"} <= set(panels.layout.panels)
    assert "Katılımcılar (4)" in joined(panels, "participants")
    assert "Kişi 2" in joined(panels, "participants")
    assert joined(panels, "notice0") == "Ses Hakları Verildi"


# -- the screens outside the meeting ------------------------------------------------------

STATUS_CASES = [
    (ScreenModel(Phase.STARTING, room_name="Oda 7", version="1.2.3",
                 status=StatusInfo(progress="checking_devices")),
     {"tr": ["Salon", "Oda 7", "Sürüm 1.2.3", "Kamera, mikrofon ve hoparlör denetleniyor…"],
      "en": ["Salon", "Oda 7", "Version 1.2.3", "Checking camera, microphone and speaker…"]}),
    (ScreenModel(Phase.CONNECTING, room_name="Oda 7", meeting_title="Zümre",
                 status=StatusInfo(progress="contacting_bridge")),
     {"tr": ["Bağlanıyor", "Oda 7", "Zümre", "Konferans sunucusuna bağlanılıyor…"],
      "en": ["Connecting", "Oda 7", "Zümre", "Contacting the meeting service…"]}),
    (ScreenModel(Phase.RECONNECTING, room_name="Oda 7", meeting_title="Zümre",
                 status=StatusInfo(reason="network_lost", attempt=4)),
     {"tr": ["Yeniden bağlanıyor", "Ağ bağlantısı koptu", "Deneme 4"],
      "en": ["Reconnecting", "The network connection was lost", "Attempt 4"]}),
    (ScreenModel(Phase.LOBBY, room_name="Oda 7", meeting_title="Zümre"),
     {"tr": ["Yöneticinin bu odayı içeri alması bekleniyor"],
      "en": ["Waiting for the host to admit this room"]}),
    (ScreenModel(Phase.LEFT, room_name="Oda 7", status=StatusInfo(reason="meeting_ended")),
     {"tr": ["Toplantıdan ayrıldı", "Toplantı sona erdi"],
      "en": ["Left the meeting", "The meeting has ended"]}),
    (ScreenModel(Phase.CONFIG_ERROR, config_problems=(
        ConfigProblem("/etc/salon/room.toml", "not a URL", line=7, field="bridge.url"),),
        running_last_good_config=True),
     {"tr": ["Ayar dosyasında sorun var", "/etc/salon/room.toml, satır 7", "Alan: bridge.url",
             "not a URL", "Son geçerli ayarlarla çalışmaya devam ediliyor."],
      "en": ["The configuration has a problem", "/etc/salon/room.toml, line 7",
             "Field: bridge.url", "not a URL", "The last good configuration is still running."]}),
    (ScreenModel(Phase.CONFIG_ERROR, config_problems=(
        ConfigProblem("room.toml", "unreadable: permission denied"),)),
     {"tr": ["room.toml", "unreadable: permission denied",
             "Geçerli ayar yok: oda toplantıya katılamıyor."],
      "en": ["room.toml", "No valid configuration: the room cannot join its meeting."]}),
]


@pytest.mark.parametrize("model,expected", STATUS_CASES, ids=lambda v: getattr(v, "phase", ""))
@pytest.mark.parametrize("language", ["tr", "en"])
def test_status_screens_say_what_is_happening(model: ScreenModel, expected: dict[str, list[str]],
                                              language: str) -> None:
    renderer = Renderer(HD, language)  # type: ignore[arg-type]
    renderer.render(model, {})
    on_screen = " ".join(t.text for t in renderer.texts)
    for words in expected[language]:
        assert words in on_screen, (words, on_screen)
    for t in renderer.texts:
        assert_glyphs_on_screen(renderer, t)


def test_config_error_screen_lists_many_problems_without_overflowing() -> None:
    many = tuple(ConfigProblem("room.toml", f"problem {i}", line=i, field=f"f{i}")
                 for i in range(1, 30))
    renderer = Renderer((1280, 720), "en")
    renderer.render(ScreenModel(Phase.CONFIG_ERROR, config_problems=many), {})
    shown = [t.text for t in renderer.texts if t.text.startswith("problem ")]
    more = [t.text for t in renderer.texts if t.text.startswith("… and ")]
    assert shown and more == [f"… and {29 - len(shown)} more problems"]
    assert_text_sound(renderer)


# -- scale, overlap, legibility -----------------------------------------------------------


def assert_text_sound(renderer: Renderer) -> None:
    w, h = renderer.size
    screen = Box(0, 0, w, h)
    drawn = renderer.texts
    for t in drawn:
        assert screen.contains(t.rect), f"{t.text!r} {t.rect} off screen"
    for i, a in enumerate(drawn):
        for b in drawn[i + 1:]:
            assert not a.rect.overlaps(b.rect), f"{a.text!r} {a.rect} overlaps {b.text!r} {b.rect}"
    layout = renderer.layout
    if layout is None:
        return
    boxes = dict(layout.boxes())
    for t in drawn:
        if t.area in boxes:
            assert boxes[t.area].contains(t.rect), f"{t.text!r} leaves {t.area}"


@pytest.mark.parametrize("size_name", list(SIZES))
@pytest.mark.parametrize("language", ["tr", "en"])
def test_every_screen_fits_at_every_size(size_name: str, language: str) -> None:
    size = SIZES[size_name]
    for scene in all_scenes():
        renderer = Renderer(size, language, role=scene.role)  # type: ignore[arg-type]
        renderer.render(scene.model, {})  # placeholders: more text to collide than video
        assert renderer.texts, scene.name
        if renderer.layout is not None:
            assert problems(renderer.layout.boxes(), size) == [], scene.name
        assert_text_sound(renderer)


@pytest.mark.parametrize("size", list(SIZES.values()))
def test_layout_never_overlaps_for_any_head_count_or_self_view(size: tuple[int, int]) -> None:
    positions = ("top-left", "top-right", "bottom-left", "bottom-right", None)
    needs_cases = [PanelNeeds(), PanelNeeds(chat=True),
                   PanelNeeds(notice_lines=(2, 2), poll_lines=8, chat=True, files=9,
                              qr_modules=45)]
    for n in range(0, 25):
        for position in positions:
            for needs in needs_cases:
                for role in ScreenRole:
                    layout = meeting_layout(size, n, needs, LayoutSettings(), role,
                                            position)  # type: ignore[arg-type]
                    assert problems(layout.boxes(), size) == [], (n, position, needs, role)
                    if needs.qr_modules and role is not ScreenRole.PEOPLE:  # never gives way
                        assert "qr" in layout.panels, (n, position, needs, role)
                    if role is not ScreenRole.PANELS:
                        assert len(layout.tiles) + layout.overflow_count == n


def test_layout_scales_with_the_screen() -> None:
    needs = PanelNeeds(notice_lines=(1,), poll_lines=4, chat=True, files=2, qr_modules=37)
    small = meeting_layout((1280, 720), 4, needs)
    big = meeting_layout((3840, 2160), 4, needs)
    for (name, a), (_, b) in zip(small.boxes(), big.boxes(), strict=True):
        for va, vb in ((a.x, b.x), (a.y, b.y), (a.w, b.w), (a.h, b.h)):
            assert abs(vb - 3 * va) <= 12, (name, a, b)


@pytest.mark.parametrize("height", [720, 1080, 2160])
def test_text_is_big_enough_for_three_metres(height: int) -> None:
    renderer = Renderer((height * 16 // 9, height), "tr")
    for style in TextStyle:
        for bold in (False, True):
            cap = renderer.painter.font(style, bold).metrics("H")[0][3]
            assert cap >= CAP_FRACTION[style] * height * 0.97
            assert cap >= MIN_CAP_FRACTION * height * 0.97
            assert renderer.painter.font(style, bold).get_linesize() <= \
                Metrics(height).line_px(style) + 1


def test_bundled_font_covers_turkish_and_every_label() -> None:
    pygame.font.init()
    catalogue = [v for table in (i18n.UI, i18n.NOTICES, i18n.STATUS)
                 for entry in table.values() for v in entry.values()]
    chars = set("İıŞşĞğÇçÖöÜüÂâÎîÛû☝✓⚠·…–") | {c for s in catalogue for c in s}
    for path in (REGULAR_FONT, BOLD_FONT):
        font = pygame.font.Font(str(path), 40)
        missing = pygame.image.tobytes(font.render("\ue000", True, (255, 255, 255)), "RGBA")
        absent = [c for c in sorted(chars) if not c.isspace() and pygame.image.tobytes(
            font.render(c, True, (255, 255, 255)), "RGBA") == missing]
        assert absent == [], (path.name, absent)
    assert (REGULAR_FONT.parent / "LICENSE-DejaVu.txt").is_file()


# -- drawing only when something changed --------------------------------------------------


def test_needs_redraw_tracks_model_and_frame_versions() -> None:
    people = remote(3)
    frames = solid_frames(people)
    renderer = Renderer(HD, "tr")
    model = meeting(people)
    assert renderer.needs_redraw(model, frames)
    renderer.render(model, frames)
    assert not renderer.needs_redraw(model, frames)
    assert not renderer.needs_redraw(replace(model, now=99.0), frames)  # clock alone
    assert not renderer.needs_redraw(meeting(remote(3)), frames)  # equal, not identical
    frames["p1"].advance((1, 2, 3))
    assert renderer.needs_redraw(model, frames)
    renderer.render(model, frames)
    assert not renderer.needs_redraw(model, frames)
    talking = meeting((people[0], replace(people[1], talking=True), people[2]))
    assert renderer.needs_redraw(talking, frames)


class ArrivesWhileDrawn(SolidFrame):
    """A picture that comes (on the event loop) while the screen thread draws this one."""

    def rgb(self, width: int, height: int) -> np.ndarray:
        pixels = super().rgb(width, height)
        self.advance()
        return pixels


def test_a_picture_that_comes_while_the_screen_draws_is_drawn_next_time() -> None:
    people = remote(2)
    frames = solid_frames(people)
    frames["p1"] = ArrivesWhileDrawn(COLORS[1])
    renderer = Renderer(HD, "tr")
    model = meeting(people)
    renderer.render(model, frames)
    assert renderer.needs_redraw(model, frames)  # the newer one is not on the screen yet
    calls = len(frames["p1"].calls)
    renderer.render(model, frames)
    assert len(frames["p1"].calls) == calls + 1 and len(frames["p0"].calls) == 1


def test_poll_clock_redraws_once_a_second() -> None:
    model = replace(panel_model(), now=100.0)
    renderer = Renderer(HD, "tr")
    renderer.render(model, {})
    assert not renderer.needs_redraw(replace(model, now=100.6), {})
    assert renderer.needs_redraw(replace(model, now=101.0), {})


def test_hidden_participants_new_frames_do_not_redraw() -> None:
    people = remote(12)
    frames = solid_frames(people)
    renderer = Renderer(HD, "tr", settings=LayoutSettings(speaker_view_from=10))
    model = meeting(people, active_speaker_id="p0")
    renderer.render(model, frames)
    layout = renderer.layout
    assert layout is not None and layout.overflow_count > 0
    hidden = people[-1].id  # ordered last, so in the "+N" overflow
    frames[hidden].advance()
    assert not renderer.needs_redraw(model, frames)
    assert frames[hidden].calls == []


def test_new_frame_redraws_only_its_tile_and_matches_a_full_render() -> None:
    people = remote(4, has_audio_right=True)
    frames = solid_frames(people)
    renderer = Renderer(HD, "tr")
    model = meeting(people, chat=(ChatMessage("A", "merhaba"),))
    renderer.render(model, frames)
    frames["p2"].advance((9, 99, 199))
    renderer.render(model, frames)
    layout = renderer.layout
    assert layout is not None
    tile = layout.tiles[2]
    assert renderer.dirty == [pygame.Rect(tile.x, tile.y, tile.w, tile.h)]
    assert frames["p0"].calls == [(layout.tiles[0].w, layout.tiles[0].h)]  # not re-converted
    assert pixel(renderer.surface, tile.x + tile.w // 4, tile.y + tile.h // 4) == (9, 99, 199)
    fresh = Renderer(HD, "tr")
    fresh.render(model, frames)
    assert pygame.image.tobytes(fresh.surface, "RGB") == \
        pygame.image.tobytes(renderer.surface, "RGB")
    assert [t.text for t in fresh.texts] == [t.text for t in renderer.texts]


def test_driver_and_headless_display_show_only_changes() -> None:
    people = remote(2)
    frames = solid_frames(people)
    display = HeadlessDisplay(HD)
    driver = ScreenDriver(Renderer(HD, "en"), display)
    model = meeting(people)
    assert driver.update(model, frames) is True
    assert driver.update(model, frames) is False
    frames["p0"].advance((250, 250, 250))
    assert driver.update(model, frames) is True
    assert display.frames_shown == 2
    png = display.snapshot_png()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    shown = pygame.image.load(io.BytesIO(png), "x.png")
    assert pygame.image.tobytes(shown, "RGB") == \
        pygame.image.tobytes(driver.renderer.surface, "RGB")


# -- notices ------------------------------------------------------------------------------


def test_notice_queue_shows_each_long_enough_and_never_too_many() -> None:
    q = NoticeQueue(show_seconds=5.0, max_visible=2)
    q.push("audio_granted", 0.0)
    q.push("camera_granted", 1.0)
    q.push("muted_by_host", 2.0)
    assert [n.key for n in q.visible(2.0)] == ["audio_granted", "camera_granted"]
    assert q.waiting(2.0) == 1
    assert q.next_change(2.0) == 5.0
    assert [n.key for n in q.visible(4.99)] == ["audio_granted", "camera_granted"]
    shown = q.visible(5.0)
    assert [(n.key, n.shown_at) for n in shown] == [("camera_granted", 1.0),
                                                    ("muted_by_host", 5.0)]
    assert [(n.key, n.shown_at) for n in q.visible(9.0)] == [("muted_by_host", 5.0)]
    assert q.visible(10.0) == ()
    assert q.next_change(10.0) is None


def test_notice_queue_catches_up_after_a_long_gap_and_coalesces() -> None:
    q = NoticeQueue(show_seconds=4.0, max_visible=1)
    for key in ["a", "b", "c"]:
        q.push(key, 0.0, text=key)
    q.push("b", 0.5, text="b again")  # updates the waiting one instead of stacking
    q.push("a", 0.6, text="a")  # already on screen: not repeated
    assert q.waiting(0.6) == 2
    # nobody asked for 9 s: "a" left at 4, "b" showed 4–8, "c" from 8
    assert [(n.key, n.shown_at, n.text) for n in q.visible(9.0)] == [("c", 8.0, "c")]
    with pytest.raises(ValueError):
        q.visible(1.0)


def test_notice_text_in_both_languages_with_arguments() -> None:
    n = Notice("chat_private", 0.0, args=(("sender", "Müdür"),))
    assert i18n.notice(n, "tr") == "Müdür size özel yazdı"
    assert i18n.notice(n, "en") == "Müdür wrote to this room"
    assert i18n.notice(Notice("bridge_said", text="Toplantı 5 dk sonra"), "en") == \
        "Toplantı 5 dk sonra"


# -- display back-ends and screenshots ----------------------------------------------------


def test_headless_display_keys_come_through_the_pygame_queue(tmp_path: Path) -> None:
    display = registry.display("headless", (1280, 720))
    assert isinstance(display, HeadlessDisplay)
    display.keys()  # drain anything an earlier test left in pygame's queue
    display.press("h")
    display.press("space")
    assert display.keys() == ["h", "space"]
    assert display.keys() == []
    surface = pygame.Surface((1280, 720))
    surface.fill((10, 20, 30))
    display.show(surface)
    path = tmp_path / "shot.png"
    display.save_png(path)
    assert pixel(pygame.image.load(str(path)), 5, 5) == (10, 20, 30)
    with pytest.raises(ValueError):
        display.show(pygame.Surface((640, 480)))


def test_pygame_display_primary_and_second_window() -> None:
    """The real back-end on SDL's dummy driver: the display surface, then a second
    screen as an SDL window with a streaming texture."""
    people = Renderer((640, 360), "tr", role=ScreenRole.PEOPLE)
    panels = Renderer((480, 270), "tr", role=ScreenRole.PANELS)
    model = panel_model()
    first = PygameDisplay((640, 360), fullscreen=False, driver="dummy")
    second = PygameDisplay((480, 270), fullscreen=False, driver="dummy")
    try:
        with pytest.raises(DisplayError, match="display index 5 does not exist"):
            PygameDisplay(display_index=5, driver="dummy")
        first.show(people.render(model, {}), people.dirty)
        second.show(panels.render(model, {}))
        shown = pygame.image.load(io.BytesIO(first.snapshot_png()), "x.png")
        assert pygame.image.tobytes(shown, "RGB") == pygame.image.tobytes(people.surface, "RGB")
        assert pygame.display.get_surface().get_size() == (640, 360)
        first.keys()
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_m, mod=0,
                                             unicode="m", scancode=0))
        pygame.event.post(pygame.event.Event(pygame.QUIT))
        assert second.keys() == ["m", "quit"]  # one queue for all windows
    finally:
        second.close()
        first.close()


def test_video_driver_choice() -> None:
    assert choose_video_driver({"SDL_VIDEODRIVER": "x11"}, []) == "x11"
    assert choose_video_driver({"DISPLAY": ":0"}, ["/dev/dri/card0"]) is None
    assert choose_video_driver({}, ["/dev/dri/card1"]) == "kmsdrm"
    with pytest.raises(DisplayError, match="headless"):
        choose_video_driver({}, [])
    with pytest.raises(DeviceUnavailable, match="display back-end 'vga' is not available"):
        registry.display("vga")


def test_write_screenshots(tmp_path: Path) -> None:
    scenes = [s for s in all_scenes() if s.name in ("lobby", "meeting_4")]
    written = write_screenshots(tmp_path, sizes=("720p",), scenes=scenes)
    assert sorted(p.name for p in written) == [
        "lobby_en_720p.png", "lobby_tr_720p.png", "meeting_4_en_720p.png",
        "meeting_4_tr_720p.png"]
    image = pygame.image.load(str(tmp_path / "meeting_4_tr_720p.png"))
    assert image.get_size() == (1280, 720)


def test_every_notice_of_the_room_has_both_languages() -> None:
    from appliance.room import NOTICE_KEYS
    from appliance.screen.i18n import NOTICES

    for key in NOTICE_KEYS:
        assert set(NOTICES.get(key, {})) == {"tr", "en"}, f"notice {key!r} lacks a translation"
