"""An invalid provisioning file at start-up, through the real `salon-appliance run`:
the room keeps running on the last good file and shows (and logs) what is wrong;
with no good file at all, the screen says what to fix and the service stays up."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np
import pygame

from appliance.provisioning.loader import load_with_fallback
from appliance.screen import i18n
from appliance.screen.config_problems import problems_screen
from appliance.screen.render import Renderer
from appliance.unconfigured import LANGUAGE
from tests.support.controls_harness import controls_toml
from tests.support.procs import ApplianceProcess, BridgeProcess, free_port, get_json

pytestmark = [pytest.mark.netns, pytest.mark.slow]
DEFAULT_HEALTH = "http://127.0.0.1:8765"  # no config: the built-in health port


def health(url: str) -> Any:
    try:
        return get_json(url + "/healthz")
    except urllib.error.HTTPError as exc:  # 503 while the config is broken
        return json.loads(exc.read())


async def poll(url: str, check: Any, timeout: float, what: str, proc: ApplianceProcess) -> Any:
    deadline = time.monotonic() + timeout
    doc: Any = None
    while time.monotonic() < deadline:
        try:
            doc = await asyncio.to_thread(health, url)
            if check(doc):
                return doc
        except OSError:
            pass
        assert proc.alive(), f"the appliance exited:\n{proc.log_tail()}"
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last /healthz {doc}\n{proc.log_tail()}")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Where the config lives: a short path, as on a Pi (/boot/firmware/salon.toml), so
    the screen shows it whole."""
    path = Path(tempfile.mkdtemp(prefix="s-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def broken(text: str) -> str:
    """bridge.url on line 5 made invalid, and a typo'd key in [camera]."""
    lines = text.splitlines()
    assert lines[4].startswith("url = "), lines[4]
    lines[4] = 'url = "ftp:/nope"'
    return "\n".join(lines).replace("fps = 15", "fbs = 15") + "\n"


def png_pixels(png: bytes) -> np.ndarray:
    return pygame.surfarray.array3d(pygame.image.load(io.BytesIO(png), "screen.png"))


async def test_invalid_config_keeps_the_last_good_running(bridge: BridgeProcess,
                                                          short_dir: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    good = controls_toml(bridge.url, "testbim", "ROOM A", health_port=port)
    room = ApplianceProcess(short_dir, "room", good)
    try:
        await poll(url, lambda d: d["meeting"]["state"] == "in_meeting", 40, "joining", room)
    finally:
        room.stop()

    room = ApplianceProcess(short_dir, "room", broken(good))  # same state directory
    try:
        doc = await poll(url, lambda d: d["meeting"]["state"] == "in_meeting", 40,
                         "joining on the last good config", room)
        assert doc["config"]["source"] == "last-known-good" and not doc["config"]["valid"]
        assert "bridge.url" in doc["config"]["error"] and "camera.fbs" in doc["config"]["error"]
        # the screen shows what is wrong, and that the last good file runs
        doc = await poll(url, lambda d: "Field: bridge.url" in d["room"]["screen"], 10,
                         "the problem on the screen", room)
        screen = " ".join(doc["room"]["screen"])
        assert f"{room.config}, line 5" in screen and "is not an http or https URL" in screen
        assert "Field: camera.fbs" in screen
        assert i18n.ui("config_last_good", "en") in screen
        assert doc["leds"]["status"] == "in_meeting"  # and the room works meanwhile
        # ...and the log says it, with file, line and field
        log = room.log_tail(20000)
        assert f"{room.config}:5: error: bridge.url:" in log
        assert f"{room.config}:17: error: camera.fbs: unknown key fbs" in log
        assert "did you mean fps?" in log
        assert room.alive()
    finally:
        room.stop()


async def test_no_good_config_shows_what_to_fix(short_dir: Path) -> None:
    text = broken(controls_toml("http://127.0.0.1:9", "testbim", "ROOM A"))
    room = ApplianceProcess(short_dir, "fresh", text)  # a fresh state directory
    try:
        doc = await poll(DEFAULT_HEALTH, lambda d: d["config"]["error"], 30,
                         "the problem on /healthz", room)
        assert not doc["ok"] and not doc["config"]["valid"]
        assert "bridge.url" in doc["config"]["error"]
        with urllib.request.urlopen(DEFAULT_HEALTH + "/screen.png", timeout=5) as resp:
            shown = resp.read()
        # what the process shows is the problem screen for this very file...
        loaded = load_with_fallback(room.config, short_dir / "empty-state")
        assert loaded.settings is None
        version = doc["version"]
        renderer = Renderer(png_pixels(shown).shape[:2], LANGUAGE)
        expected = renderer.render(problems_screen(loaded.problems, version), {})
        assert np.array_equal(pygame.surfarray.array3d(expected), png_pixels(shown))
        # ...and that screen names the file, the line, the field and what is wrong
        drawn = " ".join(t.text for t in renderer.texts)
        assert f"{room.config}, satır 5" in drawn and "Alan: bridge.url" in drawn
        # in the screen's language (the validator's own words, translated)
        assert "bir http ya da https adresi değil" in drawn and "Alan: camera.fbs" in drawn
        assert "bilinmeyen anahtar: fbs" in drawn
        assert i18n.ui("config_no_good", "tr") in drawn
        assert room.alive()
    finally:
        room.stop()


BROKEN = Path(__file__).resolve().parents[1] / "appliance" / "broken_configs"
SECRET_IN_URL = "Gizli-Parola-77"


def damaged_files(good: str) -> dict[str, tuple[bytes, str]]:
    """What a card can hold after a power cut or a careless edit: file name -> (content,
    words the screen must show about it)."""
    nul_line = good.count("\n") + 1
    url = good.replace("url = \"http://", f"url = \"http://oda1:{SECRET_IN_URL}@")
    assert url != good
    padding = "".join(f"# {i:07d} {'-' * 60}\n" for i in range(16_000))  # ~1 MiB of comments
    return {
        "nul_tail": (good.encode() + b"\0" * 512,
                     f"has 512 NUL bytes, from line {nul_line} on"),
        "all_nul": ((BROKEN / "damaged_all_nul.toml").read_bytes(),
                    "has 4096 NUL bytes, from line 1 on"),
        "nested": (good.encode() + b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n",
                   "nested more than 32 levels deep"),
        "password_in_url": (url.encode(), "has a user name or password in it"),
        "huge": ((good + padding).encode(), "more than the 64 KiB a provisioning file"),
    }


async def test_a_damaged_card_never_stops_the_room(bridge: BridgeProcess,
                                                  short_dir: Path) -> None:
    """Each damaged file after a good one was saved: the real `salon-appliance run`
    joins its meeting on the last good copy, shows what is wrong, and stays up."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    good = controls_toml(bridge.url, "testbim", "ROOM A", health_port=port)
    room = ApplianceProcess(short_dir, "room", good)
    try:
        await poll(url, lambda d: d["config"]["source"] == "boot" and d["config"]["valid"],
                   40, "the good file in use", room)
    finally:
        room.stop()
    for name, (content, words) in damaged_files(good).items():
        room = ApplianceProcess(short_dir, "room", content)  # the same state directory
        try:
            await poll(url, lambda d: d["meeting"]["state"] == "in_meeting"
                       and d["config"]["source"] == "last-known-good", 40,
                       f"{name}: joining on the last good file", room)
            doc = await poll(url, lambda d, w=words: w in " ".join(d["room"]["screen"]), 10,
                             f"{name}: the problem on the screen", room)
            screen = " ".join(doc["room"]["screen"])
            assert str(room.config) in screen and i18n.ui("config_last_good", "en") in screen
            await asyncio.sleep(2.0)  # it used to fall over here, drawing the problem
            doc = await poll(url, lambda d: d["meeting"]["state"] == "in_meeting", 5,
                             f"{name}: still in the meeting", room)
            assert SECRET_IN_URL not in json.dumps(doc) + room.log_tail(200_000)
        finally:
            assert room.stop() == 0, f"{name}: {room.log_tail()}"
