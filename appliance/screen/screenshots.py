"""Every screen as PNG, for people to review: `salon-appliance screenshots DIR`.

Scenes use long Turkish names and synthetic video, in both languages, at 720p, 1080p
and 4K. `write_docs_set` writes the smaller set kept in docs/screens/.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from appliance.screen.layout import DEFAULT_SETTINGS, LayoutSettings
from appliance.screen.model import (
    ChatMessage,
    ConfigProblem,
    Content,
    Language,
    Notice,
    Participant,
    Phase,
    Poll,
    ScheduledItem,
    ScreenModel,
    ScreenRole,
    SelfView,
    SharedFile,
    StandbyInfo,
    StatusInfo,
)
from appliance.screen.render import FrameSource, Renderer
from appliance.screen.synthetic import PortraitFrame, SlideFrame

SIZES: dict[str, tuple[int, int]] = {"720p": (1280, 720), "1080p": (1920, 1080),
                                     "4k": (3840, 2160)}
LANGUAGES: tuple[Language, ...] = ("tr", "en")

ROOM = "Çankaya Atatürk Anadolu Lisesi – Öğretmenler Odası"
MEETING = "İl Milli Eğitim Müdürlüğü Ölçme ve Değerlendirme Toplantısı"
NAMES = (
    "BEHİÇ ÇELEBİ – ANKARA MEM",
    "Ayşegül Çağlayan-Büyükışıklı",
    "ŞÜKRÜ GÜLEÇOĞLU – İZMİR ÇİĞLİ İLÇE MEM",
    "İsmail Işıkoğlu",
    "Gülşen Öztürk Ünal",
    "Ilgaz Doğan",
    "Çiğdem Şahin – Erzurum Yakutiye İlçe MEM",
    "Özgür Ağaoğlu",
    "Zeynep Kılıçarslan",
    "Ümmügülsüm Yıldırım",
    "Oğuz Çetinkaya",
    "Hüsnü Güneş",
    "Sıdıka Erdoğdu",
    "Ertuğrul İnce",
)


# What the shared slide of the presentation scenes carries (a QR code to decode).
SLIDE_URL = "https://okul.example/ders/9a-matematik/odev-42"
# A phone-companion link as the bridge issues it (/c/<24-character code>?room=<address>).
COMPANION_URL = "https://salon.ankara.meb.gov.tr/c/q3Vb0xT7kLm2Rz9WcYp4Hs1N?room=ogretmenler-odasi"


@dataclass(frozen=True)
class Scene:
    name: str
    model: ScreenModel
    role: ScreenRole = ScreenRole.SINGLE
    frames: dict[str, FrameSource] = field(default_factory=dict, compare=False)


def people(n: int) -> tuple[Participant, ...]:
    """n remote people with a speaker, another with audio rights, two hands, a camera off,
    and this room (muted, with audio rights)."""
    remote = tuple(
        Participant(f"p{i}", NAMES[i % len(NAMES)], has_audio_right=i in (0, 1),
                    talking=i == 0, hand_position={2: 1, 3: 2}.get(i),
                    camera_on=i != 3)
        for i in range(n))
    me = Participant("room", ROOM, has_audio_right=True, muted=True, is_self=True)
    return (*remote, me)


def portrait_frames(participants: Iterable[Participant]) -> dict[str, FrameSource]:
    return {p.id: PortraitFrame(hue=37 * i + 200) for i, p in enumerate(participants)}


def meeting_model(n: int, now: float = 135.0, companion: bool = True) -> ScreenModel:
    return ScreenModel(
        Phase.MEETING, version="0.1.0", room_name=ROOM, meeting_title=MEETING,
        participants=people(n), active_speaker_id="p0",
        self_view=SelfView(enabled=True, position="bottom-right", camera_on=True),
        notices=(Notice("audio_granted", now - 2), Notice("muted_by_host", now - 1)),
        chat=(ChatMessage("Ayşegül Çağlayan-Büyükışıklı", "Günaydın, sunum dosyası paylaşıldı."),
              ChatMessage("BEHİÇ ÇELEBİ – ANKARA MEM",
                          "Öğretmenler odası, sınav takvimini bu hafta içinde gönderir misiniz?",
                          private_to_room=True)),
        poll=Poll("Ortak sınav hangi hafta yapılsın?",
                  ("Kasımın ilk haftası", "Kasımın son haftası", "Aralığın ilk haftası"),
                  opened_at=now - 135, answer=1),
        files=(SharedFile("Ölçme_değerlendirme_sunumu_2024.pdf", 2_480_000),
               SharedFile("Sınav_takvimi_çizelgesi.xlsx", 48_300)),
        companion_url=COMPANION_URL if companion else None,
        now=now)


BROKEN_FILE = f"""\
[room]
name = "{ROOM}"

[bridge]
url = "ftp://bridge.okul.local"
room = "ogretmenler-odasi"

[camera]
kamera_yonu = 90
"""


def config_problems() -> tuple[ConfigProblem, ...]:
    """What the validator itself says about a file with a wrong bridge URL and a key
    written in Turkish: the config-error screen shows its very words."""
    from appliance.provisioning.loader import validate_text
    from appliance.screen.config_problems import screen_problems

    _, problems = validate_text(BROKEN_FILE, file="/boot/firmware/salon.toml")
    return screen_problems([p for p in problems if p.severity == "error"])


def status_scenes() -> list[Scene]:
    problems = config_problems()
    return [
        Scene("starting", ScreenModel(
            Phase.STARTING, version="0.1.0", room_name=ROOM,
            status=StatusInfo(progress="checking_devices"))),
        Scene("config_error", ScreenModel(
            Phase.CONFIG_ERROR, version="0.1.0", room_name=ROOM, config_problems=problems,
            running_last_good_config=True)),
        Scene("connecting", ScreenModel(
            Phase.CONNECTING, version="0.1.0", room_name=ROOM, meeting_title=MEETING,
            status=StatusInfo(progress="contacting_bridge"))),
        Scene("reconnecting", ScreenModel(
            Phase.RECONNECTING, version="0.1.0", room_name=ROOM, meeting_title=MEETING,
            status=StatusInfo(progress="joining", reason="network_lost", attempt=3))),
        Scene("lobby", ScreenModel(Phase.LOBBY, version="0.1.0", room_name=ROOM,
                                   meeting_title=MEETING)),
        Scene("left", ScreenModel(Phase.LEFT, version="0.1.0", room_name=ROOM,
                                  meeting_title=MEETING,
                                  status=StatusInfo(reason="meeting_ended"))),
        Scene("standby", ScreenModel(
            Phase.STANDBY, version="0.1.0", room_name=ROOM, standby=StandbyInfo(
                clock="09:12", day=8, month=12, year=2026, weekday=1,
                today=(ScheduledItem("Matematik 9-A", "10:00", "10:40", 1),
                       ScheduledItem("Öğretmenler Kurulu", "15:00", "16:00", 1)),
                next=ScheduledItem("Matematik 9-A", "10:00", "10:40", 1),
                checks=(("camera", "ok", ""), ("microphone", "ok", ""),
                        ("speaker", "ok", ""))))),
    ]


def meeting_scenes() -> list[Scene]:
    scenes = []
    for n in (1, 4, 9, 14):
        model = meeting_model(n)
        scenes.append(Scene(f"meeting_{n}", model, frames=portrait_frames(model.participants)))
    full = meeting_model(4)
    asking = tuple(replace(x, has_audio_right=False, muted=False, hand_raised=True,
                           hand_position=3) if x.is_self else x for x in full.participants)
    quiet = replace(full, notices=(), poll=None, participants=asking,  # this room asks to speak
                    self_view=SelfView(position="top-left", camera_on=False))
    scenes.append(Scene("meeting_4_files", quiet, frames=portrait_frames(quiet.participants)))
    two = meeting_model(6)
    frames = portrait_frames(two.participants)
    scenes.append(Scene("two_screens_people", two, ScreenRole.PEOPLE, frames))
    scenes.append(Scene("two_screens_panels", two, ScreenRole.PANELS, frames))
    return scenes + content_scenes()


def content_scenes() -> list[Scene]:
    """A presentation: on one screen, large above a strip of people; on two, the content
    alone on the second (the companion code comes back when it ends)."""
    scenes = []
    for n in (4, 14):
        model = replace(meeting_model(n, companion=False), poll=None,
                        content=Content("p1", NAMES[1]))
        frames = {**portrait_frames(model.participants), model.content.key: SlideFrame(SLIDE_URL)}  # type: ignore[union-attr]
        scenes.append(Scene(f"content_{n}", model, frames=frames))
    two = replace(meeting_model(6, companion=False), content=Content("p1", NAMES[1]))
    frames = {**portrait_frames(two.participants), "p1#content": SlideFrame(SLIDE_URL)}
    scenes.append(Scene("content_two_screens_people", two, ScreenRole.PEOPLE, frames))
    scenes.append(Scene("content_two_screens_content", two, ScreenRole.PANELS, frames))
    starved = replace(model, content=Content("p1", NAMES[1], starved=True),
                      notices=(Notice("content_low_bandwidth", model.now),))
    scenes.append(Scene("content_low_bandwidth", starved, frames=frames))
    return scenes


def all_scenes() -> list[Scene]:
    return status_scenes() + meeting_scenes()


def render_scene(scene: Scene, size: tuple[int, int], language: Language,
                 settings: LayoutSettings = DEFAULT_SETTINGS) -> Renderer:
    renderer = Renderer(size, language, settings=settings, role=scene.role)
    renderer.render(scene.model, scene.frames)
    return renderer


def write_screenshots(directory: str | Path, full: bool = False,
                      sizes: Sequence[str] | None = None,
                      languages: Sequence[Language] = LANGUAGES,
                      scenes: Sequence[Scene] | None = None) -> list[Path]:
    """Render screens to DIR/<scene>_<lang>_<size>.png and return the paths.

    By default the review set kept in docs/screens/: every scene at 1080p in both
    languages, plus the four-person meeting at 720p and 4K. `full=True` renders every
    scene at 720p, 1080p and 4K; `sizes`/`scenes` pick an explicit matrix.
    """
    if sizes is None and not full:
        written = _write(directory, ("1080p",), languages, scenes or all_scenes())
        four = [s for s in meeting_scenes() if s.name == "meeting_4"]
        return written + _write(directory, ("720p", "4k"), ("tr",), four)
    return _write(directory, sizes or tuple(SIZES), languages, scenes or all_scenes())


def _write(directory: str | Path, sizes: Sequence[str], languages: Sequence[Language],
           scenes: Sequence[Scene]) -> list[Path]:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for scene in scenes:
        for size_name in sizes:
            for language in languages:
                renderer = render_scene(scene, SIZES[size_name], language)
                path = out / f"{scene.name}_{language}_{size_name}.png"
                pygame.image.save(renderer.surface, str(path))
                written.append(path)
    return written
