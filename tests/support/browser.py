"""Debian's Chromium driven by Playwright (never a downloaded browser), with fake media."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BASE_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--no-first-run",
    "--disable-sync", "--disable-quic", "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
]


@asynccontextmanager
async def chromium(video: Path | None = None, audio: Path | None = None,
                   extra_args: list[str] | None = None, executable: str = CHROMIUM,
                   env: dict[str, str] | None = None,
                   share_tab_titled: str | None = None) -> AsyncIterator[Browser]:
    """``executable``: Chromium or a wrapper that starts it elsewhere (another network
    namespace); ``env``: its environment (e.g. a HOME whose NSS database trusts a CA).
    ``share_tab_titled``: getDisplayMedia picks the tab with this title by itself (with
    its sound). Chromium's fake media UI makes getDisplayMedia fail in headless mode, so
    it is left out then: grant camera and microphone to the context instead."""
    args = list(BASE_ARGS) + (extra_args or [])
    if share_tab_titled is not None:
        args.remove("--use-fake-ui-for-media-stream")
        args.append(f"--auto-select-tab-capture-source-by-title={share_tab_titled}")
    if video is not None:
        args.append(f"--use-file-for-fake-video-capture={video}")
    if audio is not None:
        args.append(f"--use-file-for-fake-audio-capture={audio}")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=args,
                                           headless=True, env=env)
        try:
            yield browser
        finally:
            await browser.close()


async def join_room(browser: Browser, room_url: str, name: str) -> Page:
    page = await browser.new_page()
    page.set_default_timeout(20_000)
    await page.goto(room_url)
    await page.get_by_label("Your name").fill(name)
    await page.get_by_role("button", name="Join").click()
    await page.get_by_role("status").filter(has_text="In the meeting").wait_for()
    return page


async def tile_video_state(page: Page, name: str) -> dict[str, Any] | None:
    """Size and decoded-frame count of the video shown for participant ``name``."""
    result: dict[str, Any] | None = await page.evaluate(
        """(name) => {
        for (const fig of document.querySelectorAll('figure[data-participant]')) {
          if (fig.querySelector('figcaption').textContent !== name) continue;
          const v = fig.querySelector('video');
          const q = v.getVideoPlaybackQuality();
          return {width: v.videoWidth, height: v.videoHeight, frames: q.totalVideoFrames,
                  tracks: v.srcObject ? v.srcObject.getTracks().map(t => t.kind) : []};
        }
        return null;
    }""",
        name,
    )
    return result


TONE_PROBE = """async ([name, hz, ms]) => {
  const fig = [...document.querySelectorAll('figure[data-participant]')]
      .find(f => f.querySelector('figcaption').textContent === name);
  if (!fig || !fig.querySelector('video').srcObject) return null;
  const tracks = fig.querySelector('video').srcObject.getAudioTracks();
  if (!tracks.length) return null;
  const ctx = new AudioContext();
  const src = ctx.createMediaStreamSource(new MediaStream(tracks));
  const an = ctx.createAnalyser();
  an.fftSize = 8192;
  src.connect(an);
  const bins = new Float32Array(an.frequencyBinCount);
  const acc = new Float64Array(an.frequencyBinCount);
  const rounds = Math.max(1, Math.floor(ms / 100));
  for (let i = 0; i < rounds; i++) {
    await new Promise(r => setTimeout(r, 100));
    an.getFloatFrequencyData(bins);
    for (let k = 0; k < bins.length; k++) acc[k] += Math.pow(10, bins[k] / 10);
  }
  await ctx.close();
  const binHz = ctx.sampleRate / an.fftSize;
  const at = Math.round(hz / binHz);
  let band = 0;
  for (let k = at - 2; k <= at + 2; k++) band += acc[k];
  const sorted = [...acc].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] * 5 + 1e-20;
  return 10 * Math.log10(band / median);
}"""


async def tone_db(page: Page, name: str, hz: float, ms: int = 1500) -> float | None:
    """Energy at ``hz`` in what the page receives from ``name``, over the median, in dB."""
    value = await page.evaluate(TONE_PROBE, [name, hz, ms])
    return None if value is None else float(value)


SENT_LAYERS = """async () => {
  const out = {};
  for (const s of (await window.salon.conference.pubPc.getStats()).values())
    if (s.type === 'outbound-rtp' && s.kind === 'video')
      out[s.rid || '-'] = {frames: s.framesEncoded || 0, width: s.frameWidth || 0};
  return out;
}"""


async def sent_layers(page: Page) -> dict[str, dict[str, int]]:
    """The camera's simulcast layers the page sends, by rid: frames encoded, width."""
    result: dict[str, dict[str, int]] = await page.evaluate(SENT_LAYERS)
    return result


DRAW_AT = """([name, height]) => {
  const fig = [...document.querySelectorAll('figure[data-participant]')]
      .find(f => f.querySelector('figcaption').textContent === name);
  const video = fig.querySelector('video');
  video.style.height = height ? `${height}px` : '';
  video.style.width = height ? `${Math.round(height * 16 / 9)}px` : '';
  return video.getBoundingClientRect().height;
}"""


async def draw_at(page: Page, name: str, height: int) -> float:
    """Draw ``name``'s video ``height`` CSS pixels high (a grid's tile, the large one);
    the height it is drawn at."""
    return float(await page.evaluate(DRAW_AT, [name, height]))


async def width_at(page: Page, name: str, want: int | Callable[[int], bool],
                   timeout: float = 40) -> dict[str, Any]:
    """Wait until ``name``'s video arrives ``want`` pixels wide (or a width ``want``
    accepts): which simulcast layer the page receives. Its tile state then."""
    fits = want if callable(want) else want.__eq__
    state: dict[str, Any] | None = None
    for _ in range(int(timeout * 4)):
        state = await tile_video_state(page, name)
        if state and fits(int(state["width"])):
            return state
        await asyncio.sleep(0.25)
    asked = await page.evaluate("() => [...window.salon.conference.layers.entries()]")
    drawn = await page.evaluate("""() => [...document.querySelectorAll('video')].map(
        v => [v.getBoundingClientRect().height, v.videoHeight])""")
    raise AssertionError(f"{name} never arrived {want} wide: {state}; asked {asked}, "
                         f"drawn {drawn}")
