"""Displays: where the screen's rendered surfaces go.

Back-ends, chosen like gpiozero pin factories:

- `HeadlessDisplay`: an offscreen frame (SDL's dummy video driver), for tests, CI and
  screenshots; `snapshot_png()` returns what a person would see.
- `PygameDisplay`: a window on a desktop, or full screen through kmsdrm on the Pi.
  The first one opened uses pygame's display surface; a second (the room's second
  screen) is an SDL window with a streaming texture on the chosen display index.

Both surface keyboard presses as pygame key names ("h", "m", "space", "escape"), the
demo stand-ins for the room's buttons.
"""

from __future__ import annotations

import glob
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import pygame

QUIT_KEY = "quit"  # reported when the window is closed
SDL_WINDOWPOS_CENTERED_DISPLAY = 0x2FFF0000  # SDL_WINDOWPOS_CENTERED_DISPLAY(0)


class DisplayError(RuntimeError):
    """The display cannot be opened; the message says why and what to configure."""


class Display(Protocol):
    size: tuple[int, int]

    def show(self, surface: pygame.Surface,
             dirty: Sequence[pygame.Rect] | None = None) -> None: ...

    def keys(self) -> list[str]: ...

    def snapshot_png(self) -> bytes: ...

    def close(self) -> None: ...


def _init_video(driver: str | None) -> None:
    if pygame.display.get_init():
        return
    if driver:
        os.environ["SDL_VIDEODRIVER"] = driver
    try:
        pygame.display.init()
    except pygame.error as e:
        raise DisplayError(f"cannot start the SDL video driver "
                           f"{os.environ.get('SDL_VIDEODRIVER', '(default)')!r}: {e}") from e


def _key_names() -> list[str]:
    names = []
    for event in pygame.event.get((pygame.KEYDOWN, pygame.QUIT)):
        names.append(QUIT_KEY if event.type == pygame.QUIT else pygame.key.name(event.key))
    return names


def _png(surface: pygame.Surface) -> bytes:
    buffer = io.BytesIO()
    pygame.image.save(surface, buffer, "snapshot.png")
    return buffer.getvalue()


class HeadlessDisplay:
    """An offscreen display: keeps the last frame shown, updating only dirty rects."""

    # `show` only blits into its own surface: the screen thread may call it (a snapshot
    # taken meanwhile may mix two pictures). A window (PygameDisplay) may not.
    thread_safe = True

    def __init__(self, size: tuple[int, int] = (1920, 1080)) -> None:
        _init_video("dummy")  # for the event queue; a real display already open is kept
        self.size = size
        self.frame = pygame.Surface(size)
        self.frame.fill((0, 0, 0))
        self.frames_shown = 0

    def show(self, surface: pygame.Surface,
             dirty: Sequence[pygame.Rect] | None = None) -> None:
        if surface.get_size() != self.size:
            raise ValueError(f"surface is {surface.get_size()}, display is {self.size}")
        if dirty is None:
            self.frame.blit(surface, (0, 0))
        else:
            for rect in dirty:
                self.frame.blit(surface, rect, rect)
        self.frames_shown += 1

    def press(self, key: str) -> None:
        """Simulate a key press through pygame's real event queue."""
        code = pygame.key.key_code(key)
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=code, mod=0, unicode="",
                                             scancode=0))

    def keys(self) -> list[str]:
        return _key_names()

    def snapshot_png(self) -> bytes:
        return _png(self.frame)

    def save_png(self, path: str | Path) -> None:
        Path(path).write_bytes(self.snapshot_png())

    def close(self) -> None:
        pass


def choose_video_driver(env: Mapping[str, str] = os.environ,
                        dri_cards: Sequence[str] | None = None) -> str | None:
    """The SDL video driver: as configured; the desktop's under X11/Wayland; kmsdrm on
    a console with a DRM card (the Pi with no desktop). None lets SDL pick."""
    if env.get("SDL_VIDEODRIVER"):
        return env["SDL_VIDEODRIVER"]
    if env.get("WAYLAND_DISPLAY") or env.get("DISPLAY"):
        return None
    cards = glob.glob("/dev/dri/card*") if dri_cards is None else dri_cards
    if cards:
        return "kmsdrm"
    raise DisplayError("no desktop (DISPLAY/WAYLAND_DISPLAY unset) and no /dev/dri/card*: "
                       "connect a screen or set the display back-end to 'headless'")


class PygameDisplay:
    """A real screen. `display_index` picks the monitor; `size` None means its full size;
    `fullscreen` None means full screen on kmsdrm and a window on a desktop."""

    _primary_taken = False

    def __init__(self, size: tuple[int, int] | None = None, display_index: int = 0,
                 fullscreen: bool | None = None, title: str = "Salon",
                 driver: str | None = None) -> None:
        chosen = driver or choose_video_driver()
        _init_video(chosen)
        count = pygame.display.get_num_displays()
        if not 0 <= display_index < count:
            raise DisplayError(f"display index {display_index} does not exist "
                               f"({count} display(s) connected)")
        desktop = pygame.display.get_desktop_sizes()[display_index]
        if fullscreen is None:
            fullscreen = pygame.display.get_driver() == "kmsdrm"
        self.size: tuple[int, int] = (
            (int(desktop[0]), int(desktop[1])) if (size is None or fullscreen) else size)
        self._window: object | None = None
        if not PygameDisplay._primary_taken:
            flags = pygame.FULLSCREEN if fullscreen else 0
            self._screen: pygame.Surface | None = pygame.display.set_mode(
                self.size, flags, display=display_index)
            pygame.display.set_caption(title)
            pygame.mouse.set_visible(not fullscreen)
            PygameDisplay._primary_taken = True
        else:
            self._screen = None
            self._open_window(title, display_index, fullscreen)
        self._last = pygame.Surface(self.size)
        self.paused = False  # the screen is asleep (DPMS off): nothing is presented
        self._stale = False  # pictures were skipped while paused: the next one whole

    def _open_window(self, title: str, display_index: int, fullscreen: bool) -> None:
        from pygame._sdl2 import video  # the second screen needs SDL's window API

        where = SDL_WINDOWPOS_CENTERED_DISPLAY | display_index
        window = video.Window(title, size=self.size, position=(where, where),
                              fullscreen_desktop=fullscreen)
        renderer = video.Renderer(window)
        self._window = window
        self._renderer = renderer
        self._texture = video.Texture(renderer, self.size, streaming=True)

    def show(self, surface: pygame.Surface,
             dirty: Sequence[pygame.Rect] | None = None) -> None:
        self._last.blit(surface, (0, 0))
        if self.paused:  # a page flip on a CRTC switched off only fails (and is logged)
            self._stale = True
            return
        if self._stale:
            dirty, self._stale = None, False
        if self._screen is not None:
            if dirty is None:
                self._screen.blit(surface, (0, 0))
                pygame.display.flip()
            else:
                for rect in dirty:
                    self._screen.blit(surface, rect, rect)
                pygame.display.update(list(dirty))
            return
        self._texture.update(surface)
        self._renderer.clear()
        self._texture.draw()
        self._renderer.present()

    def keys(self) -> list[str]:
        return _key_names()

    def snapshot_png(self) -> bytes:
        return _png(self._last)

    def save_png(self, path: str | Path) -> None:
        Path(path).write_bytes(self.snapshot_png())

    def close(self) -> None:
        if self._window is not None:
            self._window.destroy()  # type: ignore[attr-defined]
            self._window = None
        elif self._screen is not None:
            pygame.display.quit()
            self._screen = None
            PygameDisplay._primary_taken = False
