"""A slide as a teacher shares one, for the presenting tests and bench: a tab whose
title Chromium's automatic capture picks (`chromium(share_tab_titled=SLIDE_TITLE)`),
holding a QR code and small text; and what a page receives of content."""

from __future__ import annotations

import qrcode
import qrcode.image.svg
from playwright.async_api import Page

SLIDE_TITLE = "SALON-SLAYT"
QR_TEXT = "https://okul.example/ders/9a-matematik"


def slide_html() -> str:
    """A slide as a teacher shows one: a QR code and a line of small text."""
    svg = qrcode.make(QR_TEXT, image_factory=qrcode.image.svg.SvgPathImage,
                      box_size=12, border=4).to_string(encoding="unicode")
    return (f"<html><head><title>{SLIDE_TITLE}</title></head>"
            "<body style='margin:0;background:#fff;font-family:sans-serif'>"
            f"<div style='margin:60px;width:500px'>{svg}</div>"
            "<p style='font-size:14px;margin-left:60px'>Ödev: sayfa 42, alıştırma 3–7</p>"
            # a ticking line: tab capture sends frames only when the page changes
            "<p id='tick' style='font-size:14px;margin-left:60px'></p><script>let n = 0;"
            "setInterval(() => { document.getElementById('tick').textContent = n++; }, 100);"
            "</script></body></html>")


async def open_slide(presenter: Page) -> Page:
    slide = await presenter.context.new_page()
    await slide.set_viewport_size({"width": 1920, "height": 1080})
    await slide.set_content(slide_html())
    await presenter.bring_to_front()
    return slide


CONTENT_STATS = """async () => {  // what this page receives of content, at its PeerConnection
  const c = window.salon.conference;
  if (!c.subPc) return null;
  const mids = new Set(c.streams.filter((s) => s.source === "content" && s.kind === "video")
    .map((s) => s.mid));
  let bytes = 0, frames = 0, width = 0, height = 0;
  (await c.subPc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video" && mids.has(r.mid)) {
      bytes += r.bytesReceived || 0;
      frames += r.framesDecoded || 0;
      width = Math.max(width, r.frameWidth || 0);
      height = Math.max(height, r.frameHeight || 0);
    }
  });
  return {bytes, frames, width, height, mids: mids.size};
}"""
