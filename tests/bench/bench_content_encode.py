"""CPU per second of content encoded at 1080p: the room's HDMI input without a hardware
encoder; prints JSON.

    .venv/bin/python tests/bench/bench_content_encode.py [--seconds S]

Side by side in one run, on the simulated slide deck (a slide turns every 5 s; a thin
progress bar changes every picture, as a live laptop screen does):
- `content_x264`: the content encoder (`appliance.devices.content_encoder`, x264 veryfast
  tuned stillimage+zerolatency, 2 threads) at 5 and 15 fps;
- `content_x264_1thread`: the same on one thread;
- `camera_x264`: the camera's encoder settings (ultrafast, zerolatency) at 5 fps, for
  comparison;
- `content_x264_video`: the content encoder at 5 fps on the camera's moving test
  pattern (a laptop playing a video: every picture changes, the worst case);
- `mjpeg_decode`: decoding the dongle's 1080p MJPEG at the content rate (the other cost
  of the HDMI path, with the hardware encoder or without).
Pictures are encoded as fast as the machine goes (not paced); `cpu_s_per_content_s` is
process CPU time (all threads) over the seconds of content encoded, so 0.25 means a
quarter of one core while presenting. Every encoding is decoded again and its last
picture's QR codes read back (`legible`), so a figure never comes from unreadable output.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # keep stdout pure JSON
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import av
import zxingcpp

from appliance.devices.content_encoder import ContentH264Encoder
from appliance.devices.encoder import LibavH264Encoder, VideoEncoder
from appliance.devices.slides import SlideDeck, fine_qr_payload, qr_payload
from appliance.devices.testpattern import TestPattern

W, H = 1920, 1080
SLIDE_S = 5.0
BITRATE = 1_500_000


def pictures(deck: SlideDeck, fps: float, seconds: float) -> list[av.VideoFrame]:
    """The deck as shown for `seconds` at `fps` (drawn ahead: not part of the figure)."""
    frames = []
    for i in range(round(seconds * fps)):
        t = i / fps
        index = int(t // SLIDE_S) % len(deck)
        frame = av.VideoFrame.from_ndarray(deck.i420(index, (t % SLIDE_S) / SLIDE_S),
                                           format="yuv420p")
        frame.pts = round(i * 90_000 / fps)
        frames.append(frame)
    return frames


def video_pictures(fps: float, seconds: float) -> list[av.VideoFrame]:
    """The camera's moving test pattern: a laptop playing a video (the worst case)."""
    pattern = TestPattern(W, H)
    frames = []
    for i in range(round(seconds * fps)):
        frame = av.VideoFrame.from_ndarray(pattern.render_i420(i * 1000 / fps),
                                           format="yuv420p")
        frame.pts = round(i * 90_000 / fps)
        frames.append(frame)
    return frames


def legible(units: list[bytes], index: int, count: int) -> bool:
    decoder = av.CodecContext.create("h264", "r")
    last = None
    for data in units:
        for frame in decoder.decode(av.Packet(data)):
            last = frame
    if last is None:
        return False
    codes = {r.text for r in zxingcpp.read_barcodes(last.to_ndarray(format="rgb24"))}
    return codes == {qr_payload(index, count), fine_qr_payload(index, count)}


def encode(name: str, encoder: VideoEncoder, frames: list[av.VideoFrame], fps: float,
           deck: SlideDeck | None) -> dict[str, object]:
    units: list[bytes] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for frame in frames:
        units += [u.data for u in encoder.encode(frame, 0.0)]
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    seconds = len(frames) / fps
    last_slide = int(((len(frames) - 1) / fps) // SLIDE_S) % len(deck) if deck else 0
    return {
        "encoder": name, "fps": fps, "content_s": seconds,
        "cpu_s_per_content_s": round(cpu / seconds, 3),
        "wall_s_per_content_s": round(wall / seconds, 3),
        "ms_cpu_per_picture": round(cpu / len(frames) * 1000, 1),
        "kbps": round(sum(len(u) for u in units) * 8 / seconds / 1000),
        "legible": legible(units, last_slide, len(deck)) if deck else None,
    }


def mjpeg_decode(deck: SlideDeck, fps: float, seconds: float) -> dict[str, object]:
    """Decode the slides as a dongle's 1080p MJPEG at the content rate."""
    enc = av.CodecContext.create("mjpeg", "w")
    enc.width, enc.height, enc.pix_fmt = W, H, "yuvj420p"
    enc.time_base = Fraction(1, 30)
    packets = []
    for i, frame in enumerate(pictures(deck, fps, seconds)):
        frame = frame.reformat(format="yuvj420p")
        frame.pts = i
        packets += [bytes(p) for p in enc.encode(frame)]
    dec = av.CodecContext.create("mjpeg", "r")
    cpu0 = time.process_time()
    for data in packets:
        dec.decode(av.Packet(data))
    cpu = time.process_time() - cpu0
    return {"decoder": "mjpeg", "fps": fps, "cpu_s_per_content_s": round(cpu / seconds, 3),
            "ms_cpu_per_picture": round(cpu / len(packets) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    deck = SlideDeck(W, H)
    results = []
    for fps in (5.0, 15.0):
        frames = pictures(deck, fps, args.seconds)
        for name, threads in (("content_x264", 2), ("content_x264_1thread", 1)):
            encoder = ContentH264Encoder("libx264", W, H, fps, BITRATE, threads=threads,
                                         max_bitrate=2 * BITRATE)
            results.append(encode(name, encoder, frames, fps, deck))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
        if fps == 5.0:
            camera = LibavH264Encoder(W, H, fps, BITRATE, keyframe_interval=10.0,
                                      max_bitrate=2 * BITRATE)
            results.append(encode("camera_x264", camera, frames, fps, deck))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    video = ContentH264Encoder("libx264", W, H, 5.0, BITRATE, threads=2,
                               max_bitrate=2 * BITRATE)
    results.append(encode("content_x264_video", video, video_pictures(5.0, args.seconds),
                          5.0, None))
    print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    decode = mjpeg_decode(deck, 5.0, min(args.seconds, 10.0))
    print(json.dumps({
        "size": f"{W}x{H}", "slide_s": SLIDE_S, "bitrate_target_kbps": BITRATE // 1000,
        "cores": os.cpu_count(), "load_before": os.getloadavg()[0],
        "machine": platform.machine(), "encode": results, "mjpeg_decode": decode,
    }))


if __name__ == "__main__":
    main()
