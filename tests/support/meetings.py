"""Driving the web client's meeting pages (bridge/web/static/room.*) from Playwright:
enter as host, participant or guest in Turkish or English, and read what each page shows
(participant list marks, notices, chat, polls) the way a person would."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from playwright.async_api import Browser, Locator, Page

# The labels a person reads on the entry page, in both languages.
ENTRY = {
    "tr": {"user": "Kullanıcı Adı", "password": "Parola", "sign_in": "Oturum Aç",
           "name": "Adınız", "enter": "Odaya Gir", "in_meeting": "Toplantıdasınız",
           "lobby": "Ev sahibini bekliyorsunuz"},
    "en": {"user": "User name", "password": "Password", "sign_in": "Sign in",
           "name": "Your name", "enter": "Join the room", "in_meeting": "In the meeting",
           "lobby": "Waiting for the host"},
}
LOCALES = {"tr": "tr-TR", "en": "en-US"}


def exactly(text: str) -> re.Pattern[str]:
    return re.compile(f"^{re.escape(text)}$")


async def open_room(browser: Browser, url: str, lang: str = "en",
                    viewport: tuple[int, int] = (1280, 800)) -> Page:
    """A fresh browser context (its own session) on the room's page, in ``lang``."""
    context = await browser.new_context(locale=LOCALES[lang],
                                        viewport={"width": viewport[0], "height": viewport[1]})
    page = await context.new_page()
    page.set_default_timeout(20_000)
    await page.goto(url)
    return page


async def sign_in(page: Page, user: str, password: str, lang: str = "en",
                  wait: bool = True) -> Page:
    """Oturum Aç: user name and Parola."""
    labels = ENTRY[lang]
    await page.get_by_label(labels["user"], exact=True).fill(user)
    await page.get_by_label(labels["password"], exact=True).fill(password)
    await page.get_by_role("button", name=labels["sign_in"], exact=True).click()
    if wait:
        await in_meeting(page, lang)
    return page


async def join_as_guest(page: Page, name: str, lang: str = "en") -> Page:
    """Misafir olarak katıl: a name, then Odaya Gir (the caller waits for what follows)."""
    labels = ENTRY[lang]
    await page.get_by_label(labels["name"], exact=True).fill(name)
    await page.get_by_role("button", name=labels["enter"], exact=True).click()
    return page


async def in_meeting(page: Page, lang: str = "en") -> None:
    await page.get_by_role("status").filter(has_text=ENTRY[lang]["in_meeting"]).wait_for()


async def in_lobby(page: Page, lang: str = "en") -> None:
    await page.get_by_role("heading", name=ENTRY[lang]["lobby"]).wait_for()


async def close(page: Page) -> None:
    await page.context.close()


def person(page: Page, name: str) -> Locator:
    """The participant list's row for ``name``."""
    return page.locator("#participants li").filter(
        has=page.locator(".name", has_text=exactly(name)))


async def names(page: Page) -> list[str]:
    return await page.locator("#participants li .name").all_inner_texts()


async def marks(page: Page, name: str) -> list[str]:
    """The screen-reader texts of the marks beside ``name`` (hand place, mic, camera)."""
    return await person(page, name).locator(".marks .visually-hidden").all_inner_texts()


def notice(page: Page, text: str) -> Locator:
    return page.locator("#notices .notice").filter(has_text=text)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 15.0,
                     what: str = "the condition", interval: float = 0.2) -> Any:
    """Poll an async check until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


async def chat_texts(page: Page) -> list[str]:
    return await page.locator(".chat-log .msg .text").all_inner_texts()


async def open_tab(page: Page, name: str) -> None:
    await page.get_by_role("tab", name=name, exact=True).click()


async def video_frames(page: Page, name: str) -> dict[str, Any] | None:
    """The tile of ``name``: picture size, decoded frames, centre colour (r, g, b)."""
    result: dict[str, Any] | None = await page.evaluate(
        """(name) => {
        for (const fig of document.querySelectorAll('figure[data-participant]')) {
          if (fig.querySelector('figcaption').textContent !== name) continue;
          const v = fig.querySelector('video');
          const q = v.getVideoPlaybackQuality();
          let rgb = null;
          if (v.videoWidth) {
            const c = document.createElement('canvas');
            c.width = 8; c.height = 8;
            const g = c.getContext('2d');
            g.drawImage(v, 0, 0, 8, 8);
            const d = g.getImageData(4, 4, 1, 1).data;
            rgb = [d[0], d[1], d[2]];
          }
          return {width: v.videoWidth, height: v.videoHeight, frames: q.totalVideoFrames, rgb,
                  picture: !fig.classList.contains('no-picture')};
        }
        return null;
    }""", name)
    return result


async def frames_grow(page: Page, name: str, by: int = 10, timeout: float = 15.0) -> bool:
    """True once ``name``'s tile decoded ``by`` more frames than now."""
    start = await video_frames(page, name)
    base = start["frames"] if start else 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        state = await video_frames(page, name)
        if state and state["frames"] >= base + by and state["width"] > 0:
            return True
        await asyncio.sleep(0.25)
    return False


BITRATE_PROBE = """async ([which, ms]) => {
  const conf = window.salon.conference;
  const pc = which === 'out' ? conf.pubPc : conf.subPc;
  if (!pc) return null;
  const total = async () => {
    let bytes = 0;
    (await pc.getStats()).forEach((s) => {
      if (which === 'out' && s.type === 'outbound-rtp') bytes += s.bytesSent || 0;
      if (which === 'in' && s.type === 'inbound-rtp') bytes += s.bytesReceived || 0;
    });
    return bytes;
  };
  const a = await total();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const b = await total();
  return (b - a) * 8 / ((performance.now() - t0) / 1000);
}"""


async def bitrate(page: Page, direction: str, ms: int = 3000) -> float | None:
    """Bits per second the page sends ('out', publisher) or receives ('in') over ``ms``."""
    value = await page.evaluate(BITRATE_PROBE, [direction, ms])
    return None if value is None else float(value)
