"""The issue's publish sequence, driven as a person and a host would, with media checked
at the far end: used by tests/e2e/test_publish_cycles.py and the benchmark
tests/bench/bench_publish_cycles.py (which runs it against main's bridge too).

Browser: a guest enters a moderated room; the host admits it and grants audio; the
guest presses "Sesimi Bağla"; a few seconds later the host presses "Kamera Hakkı Ver";
the guest presses "Web Kameramı Başlat" then "Paylaşımı Başlat". The host must then
hear the guest's tone and see its picture move.

Appliance: the host grants the room audio; a few seconds later camera rights; the
room's camera button is pressed. A listener must hear the room's tone and decode its
frames; then the rights are taken back for the next cycle.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field

from playwright.async_api import Browser, Page, expect

from tests.support.browser import tone_db
from tests.support.meetings import close, frames_grow, in_meeting, join_as_guest, open_room, person

AUDIBLE_DB = 20.0  # a tone this far over the spectrum's median is heard
STEP_PAUSE_S = 2.5  # "a few seconds later"


def cycles_from_env(default: int = 3) -> int:
    """SALON_PUBLISH_CYCLES: how many times to repeat (small by default: make test)."""
    return max(1, int(os.environ.get("SALON_PUBLISH_CYCLES", default)))


@dataclass
class CycleResult:
    cycle: int
    heard: bool = False
    seen: bool = False
    seconds_to_media: float | None = None  # from the last press until both arrived
    problems: list[str] = field(default_factory=list)  # what the page or room said

    @property
    def ok(self) -> bool:
        return self.heard and self.seen

    def describe(self) -> str:
        what = "ok" if self.ok else f"LOST (heard={self.heard}, seen={self.seen})"
        took = f" in {self.seconds_to_media:.1f} s" if self.seconds_to_media is not None else ""
        said = f"; said: {self.problems}" if self.problems else ""
        return f"cycle {self.cycle}: {what}{took}{said}"


# What the page's conference reports as a problem (a refused publish, a republish).
KEEP_PROBLEMS = """() => {
  window.__problems = [];
  const keep = (ev) => window.__problems.push(ev.detail.message);
  window.salon.conference.addEventListener("problem", keep);
  window.salon.conference.addEventListener("refused", keep);
}"""


async def heard(page: Page, name: str, hz: float, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        db = await tone_db(page, name, hz, ms=800)
        if db is not None and db > AUDIBLE_DB:
            return True
        await asyncio.sleep(0.3)
    return False


async def browser_cycle(host: Page, guest_browser: Browser, room_url: str, name: str,
                        hz: float, cycle: int, media_within: float = 30.0) -> CycleResult:
    """One guest, the whole sequence; the guest leaves at the end."""
    result = CycleResult(cycle)
    guest = await open_room(guest_browser, room_url, "tr")
    try:
        await join_as_guest(guest, name, "tr")
        await host.locator("#lobby-queue li").filter(has_text=name).get_by_role(
            "button", name="Kabul Et").click()
        await in_meeting(guest, "tr")
        await guest.evaluate(KEEP_PROBLEMS)
        row = person(host, name)
        await row.get_by_role("button", name="Ses Hakkı Ver").click()
        mic = guest.get_by_role("button", name="Sesimi Bağla", exact=True)
        await expect(mic).to_be_enabled()
        await mic.click()
        await asyncio.sleep(STEP_PAUSE_S)
        await row.get_by_role("button", name="Kamera Hakkı Ver").click()
        webcam = guest.get_by_role("button", name="Web Kameramı Başlat", exact=True)
        await expect(webcam).to_be_enabled()
        await webcam.click()
        share = guest.get_by_role("button", name="Paylaşımı Başlat", exact=True)
        await expect(share).to_be_enabled()
        await share.click()
        pressed = time.monotonic()
        result.heard, result.seen = await asyncio.gather(
            heard(host, name, hz, media_within),
            frames_grow(host, name, by=10, timeout=media_within))
        if result.ok:
            result.seconds_to_media = time.monotonic() - pressed
        result.problems += await guest.evaluate("() => window.__problems")
    finally:
        await close(guest)
    return result
