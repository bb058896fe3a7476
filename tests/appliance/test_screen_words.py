"""The words on the room's screens: whatever text arrives is drawn, the validator's
own messages in the screen's language, every notice whole in its box."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import re
import string
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.provisioning import words
from appliance.screen import i18n
from appliance.screen.model import (
    ChatMessage,
    ConfigProblem,
    Notice,
    Participant,
    Phase,
    Poll,
    ScreenModel,
    SharedFile,
    StatusInfo,
)
from appliance.screen.render import Renderer
from appliance.screen.screenshots import SIZES
from tests.support.screens import HD, joined, meeting, remote

ROOT = Path(__file__).resolve().parents[2]


def test_whatever_text_arrives_is_drawn_printable() -> None:
    """A damaged file (NUL bytes), a chat message with control characters or a lone
    surrogate: drawn with a replacement mark, never an exception."""
    bad = "a\x00b\x07c\ud800d\ne"
    problem = ConfigProblem("/boot/firmware/salon.toml", bad, line=48, field="room.name")
    screens = [
        ScreenModel(Phase.CONFIG_ERROR, room_name=bad, config_problems=(problem,)),
        ScreenModel(Phase.RECONNECTING, room_name=bad, status=StatusInfo(reason=bad)),
        meeting((*remote(2), Participant("x", bad)), meeting_title=bad,
                chat=(ChatMessage(bad, bad),), notices=(Notice("file_shared", 0.0,
                                                               (("name", bad),)),),
                files=(SharedFile(bad, 1),), poll=Poll(bad, (bad,), opened_at=0.0)),
    ]
    for model in screens:
        renderer = Renderer(HD, "tr")
        renderer.render(model, {})
        shown = [t.text for t in renderer.texts if "b" in t.text and "d" in t.text]
        assert shown, [t.text for t in renderer.texts]
        assert all(t.text.isprintable() for t in renderer.texts)
        assert any("a\ufffdb\ufffdc\ufffdd e" in t for t in shown), shown


def test_config_problems_are_shown_in_the_screens_language() -> None:
    """The validator's own words: the English that check-config prints, and their
    translation on a Turkish screen."""
    from appliance.provisioning.loader import validate_text
    from appliance.screen.config_problems import problems_screen

    text = ('[room]\nname = "ODA"\n[bridge]\nurl = "ftp://okul.local"\nroom = "oda"\n'
            '[camera]\nfps = "30"\nkamera_yonu = 90\n')
    _, problems = validate_text(text, file="/boot/firmware/salon.toml")
    assert [p.message for p in problems] == [
        '"ftp://okul.local" is not an http or https URL', '"30" is a string, not an '
        "integer from 1 to 60", "unknown key kamera_yonu"]
    expected = {"tr": ['"ftp://okul.local" bir http ya da https adresi değil',
                       '"30" bir metin; beklenen: 1 ile 60 arasında bir tamsayı',
                       "bilinmeyen anahtar: kamera_yonu"],
                "en": [p.message for p in problems]}
    for language, sentences in expected.items():
        renderer = Renderer(HD, language)  # type: ignore[arg-type]
        renderer.render(problems_screen(problems, "1.0"), {})
        on_screen = " ".join(t.text for t in renderer.texts)
        for said in sentences:
            assert said in on_screen, (said, on_screen)


@pytest.mark.parametrize("size_name", list(SIZES))
def test_every_notice_of_the_room_is_shown_whole(size_name: str) -> None:
    from appliance.room import NOTICE_KEYS

    for language in ("tr", "en"):
        renderer = Renderer(SIZES[size_name], language)  # type: ignore[arg-type]
        for key in NOTICE_KEYS:
            renderer.render(meeting(remote(1), notices=(Notice(key, 0.0),)), {})
            assert joined(renderer, "notice0") == i18n.notice(Notice(key), language), key  # type: ignore[arg-type]


def test_every_validator_phrase_has_both_languages_with_the_same_arguments() -> None:
    """Every key the validator says exists in the catalogue, in Turkish and English,
    with the same placeholders; the Turkish is not the English."""
    from appliance.provisioning.words import CONFIG

    root = ROOT / "appliance"
    used = set()
    for source in root.glob("config*.py"):
        used |= set(re.findall(r'say\(\s*f?"([a-z0-9_{}]+)"', source.read_text()))
    used = {k for k in used if "{" not in k} | {f"type_{b}_{s}" for b in ("int", "number")
                                                 for s in ("range", "min", "max")}
    assert used and used <= set(CONFIG), sorted(used - set(CONFIG))
    for key, entry in CONFIG.items():
        assert set(entry) == {"tr", "en"}, key
        fields = [{f for _, f, _, _ in string.Formatter().parse(entry[lang]) if f}
                  for lang in ("tr", "en")]
        assert fields[0] == fields[1], key
        if entry["en"] != "{name}":
            assert entry["tr"] != entry["en"], f"{key} is not translated"


def test_the_documented_problem_screen_says_what_check_config_prints(tmp_path: Path) -> None:
    """docs/screens' config_error scene is the validator's own output for a broken file,
    word for word what `salon-appliance check-config` prints for it."""
    from appliance.screen.screenshots import BROKEN_FILE, config_problems

    config = tmp_path / "salon.toml"
    config.write_text(BROKEN_FILE, encoding="utf-8")
    printed = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "check-config", str(config)], cwd=ROOT,
        capture_output=True, text=True).stdout
    shown = config_problems()
    assert len(shown) == 2
    for problem in shown:
        assert f"{config}:{problem.line}: error: {problem.field}: {problem.message}" in printed
        assert problem.text is not None and words.phrase(problem.text, "en") == problem.message
