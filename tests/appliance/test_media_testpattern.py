"""The test pattern's timestamp survives real codecs and scaling, and the JS twin agrees.

The JavaScript module runs in the real Debian Chromium (headless, no network):
it must draw the very same pixels and read the very same times.
"""

from __future__ import annotations

import base64
import fractions
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import av
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from playwright.async_api import Page, async_playwright

from appliance.devices.encoder import LibavH264Encoder
from appliance.devices.testpattern import (
    TestPattern,
    cell_edges,
    decode_bits,
    encode_bits,
    read_timestamp,
    whole_ms,
)

JS_MODULE = Path(__file__).parents[2] / "bridge" / "web" / "static" / "testpattern.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
T0 = 1_790_000_000_123.0  # a capture time in 2026, ms


def test_bits_round_trip_and_layout() -> None:
    bits = encode_bits(T0)
    assert len(bits) == 64
    assert bits[:4] == [1, 0, 1, 0] and bits[-4:] == [0, 1, 0, 1]
    assert decode_bits(bits) == T0
    flipped = list(bits)
    flipped[20] ^= 1
    assert decode_bits(flipped) is None  # the CRC catches a single wrong cell


@given(st.integers(min_value=0, max_value=2**48 - 1))
def test_any_48_bit_time_round_trips(t: int) -> None:
    assert decode_bits(encode_bits(t)) == t


@pytest.mark.parametrize("size", [(1280, 720), (640, 360), (321, 181), (64, 32)])
def test_rgb_frames_read_back_at_any_size(size: tuple[int, int]) -> None:
    image = TestPattern(*size).render_rgb(T0)
    assert image.shape == (size[1], size[0], 3)
    assert read_timestamp(image) == T0


def test_pattern_moves() -> None:
    pattern = TestPattern(320, 180)
    a, b = pattern.render_rgb(T0), pattern.render_rgb(T0 + 100)
    _, ys = cell_edges(320, 180)
    outside_band = np.ones((180, 320), bool)
    outside_band[: ys[-1] + 4, :] = False
    assert (a != b).any(axis=2)[outside_band].sum() > 1000


def test_unreadable_pictures_give_none() -> None:
    rng = np.random.default_rng(1)
    assert read_timestamp(np.zeros((720, 1280, 3), np.uint8)) is None
    assert read_timestamp(rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)) is None
    assert read_timestamp(np.full((20, 20, 3), 255, np.uint8)) is None  # too small
    with pytest.raises(ValueError, match="H×W×3"):
        read_timestamp(np.zeros((720, 1280), np.uint8))


def test_i420_rendering_matches_rgb_rendering() -> None:
    pattern = TestPattern(640, 360)
    frame = av.VideoFrame.from_ndarray(pattern.render_i420(T0), format="yuv420p")
    rgb = frame.to_ndarray(format="rgb24")
    assert read_timestamp(rgb) == T0
    reference = pattern.render_rgb(T0).astype(int)
    # Same picture up to colour conversion and chroma subsampling at edges.
    assert np.median(np.abs(rgb.astype(int) - reference)) <= 2


def _decode_all(codec: Literal["h264", "vp8"], packets: list[av.Packet]) -> list[av.VideoFrame]:
    decoder = av.CodecContext.create(codec, "r")
    frames: list[av.VideoFrame] = []
    for packet in packets:
        frames.extend(decoder.decode(packet))
    frames.extend(decoder.decode(None))
    return frames


def test_times_survive_h264_at_moderate_bitrate_and_scaling() -> None:
    encoder = LibavH264Encoder(1280, 720, 30, bitrate=600_000, keyframe_interval=2.0)
    pattern = TestPattern(1280, 720)
    times = [T0 + 33.3 * i for i in range(90)]
    packets = []
    for i, t in enumerate(times):
        frame = av.VideoFrame.from_ndarray(pattern.render_i420(t), format="yuv420p")
        frame.pts = i * 3000
        for unit in encoder.encode(frame, t / 1000):
            packet = av.Packet(unit.data)
            packet.pts = unit.pts
            packets.append(packet)
    frames = _decode_all("h264", packets)
    assert len(frames) == len(times)
    expected = [whole_ms(t) for t in times]
    assert [read_timestamp(f.to_ndarray(format="rgb24")) for f in frames] == expected
    scaled = [f.to_ndarray(format="rgb24", width=320, height=180) for f in frames]
    assert [read_timestamp(img) for img in scaled] == expected


def test_times_survive_vp8_at_low_bitrate() -> None:
    # Browsers usually send VP8; their encoder may also drop to a small size.
    width, height = 320, 180
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 30)
    encoder.bit_rate = 150_000
    encoder.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    pattern = TestPattern(width, height)
    times = [T0 + 33.3 * i for i in range(60)]
    packets = []
    for i, t in enumerate(times):
        frame = av.VideoFrame.from_ndarray(pattern.render_i420(t), format="yuv420p")
        frame.pts = i
        packets.extend(encoder.encode(frame))
    packets.extend(encoder.encode(None))
    frames = _decode_all("vp8", packets)
    read = [read_timestamp(f.to_ndarray(format="rgb24")) for f in frames]
    assert read == [whole_ms(t) for t in times]


# -- the JavaScript twin in real Chromium ---------------------------------


@asynccontextmanager
async def chromium_with_module() -> AsyncIterator[Page]:
    source = base64.b64encode(JS_MODULE.read_bytes()).decode()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.evaluate(
                "async (s) => { window.tp = await import('data:text/javascript;base64,' + s); }",
                source,
            )
            yield page
        finally:
            await browser.close()


async def js_draw(page: Page, width: int, height: int, t_ms: float) -> np.ndarray:
    encoded = await page.evaluate(
        """([w, h, t]) => {
            const canvas = document.createElement('canvas');
            canvas.width = w; canvas.height = h;
            const ctx = canvas.getContext('2d');
            tp.drawTestPattern(ctx, w, h, t);
            const data = ctx.getImageData(0, 0, w, h).data;
            let s = '';
            for (let i = 0; i < data.length; i += 8192)
                s += String.fromCharCode(...data.subarray(i, i + 8192));
            return btoa(s);
        }""",
        [width, height, t_ms],
    )
    return np.frombuffer(base64.b64decode(encoded), np.uint8).reshape(height, width, 4)


async def js_read(page: Page, rgb: np.ndarray) -> float | None:
    height, width = rgb.shape[:2]
    rgba = np.dstack([rgb, np.full((height, width), 255, np.uint8)])
    result = await page.evaluate(
        """([b64, w, h]) => {
            const raw = atob(b64);
            const data = new Uint8ClampedArray(raw.length);
            for (let i = 0; i < raw.length; i++) data[i] = raw.charCodeAt(i);
            return tp.readTimestamp(new ImageData(data, w, h));
        }""",
        [base64.b64encode(rgba.tobytes()).decode(), width, height],
    )
    return None if result is None else float(result)


async def test_js_draws_the_same_pixels_as_python() -> None:
    async with chromium_with_module() as page:
        for width, height, t in [(1280, 720, T0), (320, 180, T0 + 1777.5), (641, 359, T0 + 2999)]:
            js = await js_draw(page, width, height, t)
            python = TestPattern(width, height).render_rgb(t)
            assert np.array_equal(js[..., :3], python), (width, height)
            assert (js[..., 3] == 255).all()
            assert read_timestamp(js) == whole_ms(t)


async def test_js_reads_python_frames_after_h264_and_scaling() -> None:
    encoder = LibavH264Encoder(1280, 720, 30, bitrate=600_000)
    pattern = TestPattern(1280, 720)
    packets = []
    times = [T0 + 40 * i for i in range(5)]
    for i, t in enumerate(times):
        frame = av.VideoFrame.from_ndarray(pattern.render_i420(t), format="yuv420p")
        frame.pts = i * 3600
        packets += [av.Packet(u.data) for u in encoder.encode(frame, t / 1000)]
    frames = _decode_all("h264", packets)
    async with chromium_with_module() as page:
        for t, frame in zip(times, frames, strict=True):
            assert await js_read(page, frame.to_ndarray(format="rgb24")) == t
            small = frame.to_ndarray(format="rgb24", width=320, height=180)
            assert await js_read(page, small) == t
        assert await js_read(page, np.zeros((180, 320, 3), np.uint8)) is None
        bits = await page.evaluate("(t) => tp.encodeBits(t)", T0 + 12345)
        assert bits == encode_bits(T0 + 12345)


async def test_browser_canvas_stream_carries_its_time_through_a_video_element() -> None:
    # What the web client does: publish testPatternStream(), read a <video>'s time.
    async with chromium_with_module() as page:
        result = await page.evaluate(
            """async () => {
                const { stream, stop } = tp.testPatternStream(640, 360, 30);
                const video = document.createElement('video');
                video.muted = true;
                video.srcObject = stream;
                document.body.appendChild(video);
                await video.play();
                const reads = [];
                for (let i = 0; i < 20 && reads.length < 5; i++) {
                    await new Promise((r) => setTimeout(r, 50));
                    const t = tp.readVideoTimestamp(video);
                    if (t !== null) reads.push([t, Date.now()]);
                }
                stop();
                return { reads, size: [video.videoWidth, video.videoHeight] };
            }"""
        )
    assert result["size"] == [640, 360]
    assert len(result["reads"]) == 5
    for shown, now in result["reads"]:
        assert 0 <= now - shown < 5000  # a real, recent capture time
    assert len({shown for shown, _ in result["reads"]}) > 1  # and it moves
