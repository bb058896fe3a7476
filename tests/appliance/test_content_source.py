"""The room's content source: the simulated slide deck, the HDMI dongle path, hotplug.

What runs here and what does not (this machine has no capture dongle, and the
v4l2loopback module cannot be loaded in it, so no /dev/videoN exists):
- The simulated source runs whole: slides drawn, encoded by x264, handed to the
  content track, whose `recv()` packets are decoded and read back with zxing-cpp.
- The dongle path's PyAV side runs with an MJPEG file standing in for the device
  (`CaptureSource`): thinning to the content rate, decoding, scaling and encoding.
  Asking a real node for its formats (the `v4l2` demuxer) is not reached.
- Hotplug runs for real on inotify, in a temporary directory standing for /dev, with
  the V4L2 probe replaced (creating a real V4L2 node needs the kernel); the probe's
  struct parsing is checked against packed `v4l2_capability`/`v4l2_input` structs.
- The hardware encoder (h264_v4l2m2m) is in this FFmpeg but has no /dev/video11
  here: its fallback to x264 is what is tested.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
import threading
import time
from pathlib import Path

import av
import pytest
import zxingcpp

from appliance.devices.camera import CameraError, CameraHealth, EncodedFrame
from appliance.devices.camera_v4l2 import CaptureSource
from appliance.devices.content import Presence, SimulatedContentSource
from appliance.devices.content_encoder import open_content_encoder
from appliance.devices.content_v4l2 import FrameThinner, V4l2ContentSource, capture_candidates
from appliance.devices.slides import SlideDeck, fine_qr_payload, qr_payload
from appliance.devices.v4l2_watch import (
    ENUMINPUT_FORMAT,
    QUERYCAP_FORMAT,
    CaptureDeviceWatch,
    CaptureInfo,
    choose_device,
    parse_input_status,
    parse_querycap,
)
from appliance.media.content import ContentTrack

W, H = 1920, 1080


def read_codes(picture: av.VideoFrame) -> set[str]:
    return {r.text for r in zxingcpp.read_barcodes(picture.to_ndarray(format="rgb24"))}


def slide_codes(index: int, count: int = 4) -> set[str]:
    return {qr_payload(index, count), fine_qr_payload(index, count)}


class Collect:
    """A FrameOutput keeping every access unit (called on the source's thread)."""

    def __init__(self) -> None:
        self.units: list[EncodedFrame] = []
        self.lock = threading.Lock()

    def output_frame(self, frame: EncodedFrame) -> None:
        with self.lock:
            self.units.append(frame)

    def wait_for(self, count: int, timeout: float = 60.0) -> list[EncodedFrame]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if len(self.units) >= count:
                    return list(self.units)
            assert time.monotonic() < deadline, f"only {len(self.units)} of {count} units"
            time.sleep(0.02)


def decode_all(units: list[bytes]) -> list[av.VideoFrame]:
    decoder = av.CodecContext.create("h264", "r")
    frames = []
    for data in units:
        frames += decoder.decode(av.Packet(data))
    return frames


# -- the simulated slide deck, through the content track --------------------------------


async def test_slides_sent_by_the_content_track_read_back_at_1080p() -> None:
    """Legibility: both QR codes of each slide (the fine one has 2 px modules) decode
    from what the far end decodes of the track's packets, and the slides turn."""
    source = SimulatedContentSource(W, H, fps=5, bitrate=1_500_000, slide_s=0.8)
    track = ContentTrack(source, sending=True)
    try:
        packets = [await asyncio.wait_for(track.recv(), 30) for _ in range(12)]
    finally:
        track.stop()
    assert packets[0].is_keyframe
    frames = decode_all([bytes(p) for p in packets])
    assert frames and (frames[0].width, frames[0].height) == (W, H)
    seen = [read_codes(f) for f in frames]
    slides = {i for i in range(4) for codes in seen if codes == slide_codes(i)}
    assert len(slides) >= 2, seen  # every picture legible, at least one slide turned
    assert all(codes in [slide_codes(i) for i in range(4)] for codes in seen), seen
    assert not source.running  # a stopped track releases the source


def test_the_fine_code_is_unreadable_from_a_small_layer() -> None:
    """The legibility test can fail: a 360p layer of the same slide loses the fine code."""
    source = SimulatedContentSource(W, H, fps=5)
    small = source.picture().reformat(width=640, height=360)
    assert read_codes(small) == {qr_payload(0, 4)}
    assert read_codes(source.picture()) == slide_codes(0)


def test_a_track_not_presenting_captures_nothing() -> None:
    source = SimulatedContentSource(W, H, fps=5)
    track = ContentTrack(source)  # not sending: the room does not present

    async def pull() -> None:
        await asyncio.wait_for(track.recv(), 1.0)

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(pull())
    assert not source.running and source.frames_captured == 0
    track.stop()


def test_simulated_plug_and_unplug_are_heard_and_stop_capture() -> None:
    source = SimulatedContentSource(W, H, fps=5, plugged=False)
    heard: list[Presence] = []
    health: list[CameraHealth] = []
    source.add_presence_listener(heard.append)
    source.add_health_listener(health.append)
    source.watch()
    assert heard == [] and not source.presence.plugged  # unplugged at start: no news
    source.plug_in()
    out = Collect()
    source.start(out)
    out.wait_for(2)
    source.unplug()
    deadline = time.monotonic() + 30
    while not health and time.monotonic() < deadline:
        time.sleep(0.05)
    source.close()
    assert [p.plugged for p in heard] == [True, False]
    assert health and not health[0].ok and "disconnected" in health[0].detail


def test_a_plug_cycle_plugs_and_unplugs_by_itself() -> None:
    source = SimulatedContentSource(W, H, fps=5, plugged=True, plug_cycle_s=0.05)
    heard: list[bool] = []
    source.add_presence_listener(lambda p: heard.append(p.plugged))
    source.watch()
    deadline = time.monotonic() + 30
    while len(heard) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    source.close()
    assert heard[:3] == [True, False, True]


def test_slides_are_drawn_once_and_pictures_differ_only_by_the_bar() -> None:
    deck = SlideDeck(640, 360)
    a, b = deck.i420(1, 0.0), deck.i420(1, 0.5)
    assert a.shape == (540, 640)
    assert (a != b).any() and (a[:340] == b[:340]).all()


# -- encoder choice ---------------------------------------------------------------------


def test_auto_falls_back_to_x264_without_the_hardware_encoder() -> None:
    _, name = open_content_encoder("auto", 640, 360, 5, 500_000,
                                   available=lambda codec: codec == "libx264")
    assert name == "libx264"


def test_a_hardware_encoder_that_does_not_open_falls_back_under_auto() -> None:
    # This FFmpeg has h264_v4l2m2m but the machine has no /dev/video11 (a Pi 4 does).
    _, name = open_content_encoder("auto", 640, 360, 5, 500_000)
    assert name in ("h264_v4l2m2m", "libx264")


def test_asking_for_the_hardware_encoder_where_there_is_none_names_it() -> None:
    with pytest.raises(CameraError, match="h264_v4l2m2m"):
        open_content_encoder("v4l2m2m", 640, 360, 5, 500_000, available=lambda codec: False)


def test_a_keyframe_request_makes_the_next_unit_an_idr_with_its_headers() -> None:
    source = SimulatedContentSource(640, 360, fps=5)
    encoder, _ = open_content_encoder("x264", 640, 360, 5, 500_000)
    units = []
    for i in range(6):
        if i == 4:
            encoder.request_keyframe()
        picture = source.picture()
        picture.pts = i * 18_000
        units += encoder.encode(picture, 0.0)
    assert [u.keyframe for u in units] == [True, False, False, False, True, False]
    assert units[4].data.count(b"\x00\x00\x00\x01\x67") == 1  # SPS in front of the IDR


# -- the HDMI dongle's path with a file standing in --------------------------------------


def mjpeg_stand_in(path: Path, seconds: float = 3.0, fps: int = 30) -> Path:
    """An MJPEG file of the slides at 1080p and the dongle's 30 fps."""
    deck = SlideDeck(W, H)
    with av.open(str(path), "w", format="avi") as out:
        stream = out.add_stream("mjpeg", rate=fps)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuvj420p"
        picture = av.VideoFrame.from_ndarray(deck.i420(2), format="yuv420p")
        picture = picture.reformat(format="yuvj420p")
        for i in range(round(seconds * fps)):
            picture.pts = i
            out.mux(stream.encode(picture))
        out.mux(stream.encode(None))
    return path


def test_the_dongle_path_thins_30fps_mjpeg_to_the_content_rate_and_reads_back(
        tmp_path: Path) -> None:
    stand_in = mjpeg_stand_in(tmp_path / "hdmi.avi")
    source = V4l2ContentSource(
        "auto", W, H, fps=5, encoder="x264",
        source=CaptureSource(str(stand_in), None, realtime=True))
    out = Collect()
    source.start(out)
    try:
        units = out.wait_for(4)
    finally:
        source.stop()
    assert source.opened_format == "mjpeg"
    assert source.captured > len(units)  # pictures were dropped before decoding
    frames = decode_all([u.data for u in units])
    assert read_codes(frames[-1]) == slide_codes(2)


def test_a_dongle_at_another_size_is_scaled_to_the_content_size(tmp_path: Path) -> None:
    stand_in = mjpeg_stand_in(tmp_path / "hdmi.avi", seconds=1.0)
    source = V4l2ContentSource("auto", 1280, 720, fps=5, encoder="x264",
                               source=CaptureSource(str(stand_in), None, realtime=True))
    out = Collect()
    source.start(out)
    try:
        units = out.wait_for(2)
    finally:
        source.stop()
    frame = decode_all([u.data for u in units])[0]
    assert (frame.width, frame.height) == (1280, 720)


def test_what_the_dongle_is_asked_for_in_order() -> None:
    asked = [(c.options.get("input_format"), c.options.get("framerate"))
             for c in capture_candidates("/dev/video2", W, H, 5, "auto")]
    assert asked == [("mjpeg", "5"), ("yuyv422", "5"), ("mjpeg", None), ("yuyv422", None),
                     (None, None)]
    only = capture_candidates("/dev/video2", W, H, 10, "yuyv")
    assert [c.options for c in only] == [
        {"video_size": "1920x1080", "framerate": "10", "input_format": "yuyv422"},
        {"video_size": "1920x1080", "input_format": "yuyv422"}]
    assert all(c.url == "/dev/video2" and c.demuxer == "v4l2" for c in only)


def test_a_session_without_a_plugged_dongle_is_a_reported_failure() -> None:
    source = V4l2ContentSource("auto", W, H, fps=5, dev_dir=Path("/nonexistent"))
    health: list[CameraHealth] = []
    source.add_health_listener(health.append)
    source.start(Collect())
    deadline = time.monotonic() + 30
    while not health and time.monotonic() < deadline:
        time.sleep(0.05)
    source.stop()
    assert health and "no capture device" in health[0].detail


def test_thinning_keeps_the_rate_evenly_without_catching_up() -> None:
    thinner = FrameThinner(5)
    taken = [i for i in range(90) if thinner.take(i / 30)]  # 3 s at 30 fps
    assert len(taken) == 15 and all(b - a == 6 for a, b in itertools.pairwise(taken))
    assert thinner.take(10.0) and not thinner.take(10.05)  # after a gap: from now on


# -- hotplug ------------------------------------------------------------------------------


def querycap(driver: str, card: str, caps: int, device_caps: int) -> bytes:
    return struct.pack(QUERYCAP_FORMAT, driver.encode(), card.encode(), b"usb-1.2", 0x60000,
                       caps, device_caps)


def test_querycap_is_read_per_node() -> None:
    both = 0x80000000 | 0x1 | 0x00800000  # DEVICE_CAPS | VIDEO_CAPTURE | META_CAPTURE
    video = parse_querycap("/dev/video0", querycap("uvcvideo", "USB3.0 capture", both, 0x1))
    meta = parse_querycap("/dev/video1", querycap("uvcvideo", "USB3.0 capture", both,
                                                  0x00800000))
    assert video == CaptureInfo("/dev/video0", "uvcvideo", "USB3.0 capture", True)
    assert not meta.capture
    old = parse_querycap("/dev/video0", querycap("old", "x", 0x1, 0))  # no device_caps
    assert old.capture


def test_an_input_reporting_no_signal_is_not_plugged() -> None:
    def status(bits: int) -> bytes:
        return struct.pack(ENUMINPUT_FORMAT, 0, b"HDMI", 2, 0, 0, 0, bits, 0)

    assert parse_input_status(status(0))
    assert not parse_input_status(status(0x2))  # V4L2_IN_ST_NO_SIGNAL
    assert not parse_input_status(status(0x10000))  # V4L2_IN_ST_NO_SYNC


class FakeNodes:
    """Stands for the kernel: what each node of a temporary /dev says when probed."""

    def __init__(self, dev: Path) -> None:
        self.dev, self.infos = dev, {}

    def add(self, name: str, driver: str = "uvcvideo", capture: bool = True,
            signal: bool = True) -> str:
        path = str(self.dev / name)
        self.infos[path] = CaptureInfo(path, driver, "USB3.0 capture", capture, signal)
        Path(path).touch()
        return path

    def remove(self, name: str) -> None:
        (self.dev / name).unlink()

    def probe(self, path: str) -> CaptureInfo | None:
        return self.infos.get(path) if Path(path).exists() else None


def test_auto_picks_the_first_uvc_capture_node_with_a_signal(tmp_path: Path) -> None:
    nodes = FakeNodes(tmp_path)
    camera = nodes.add("video0")
    nodes.add("video1", capture=False)  # the camera's metadata node
    nodes.add("video10", driver="bcm2835-codec")
    nodes.add("video14", driver="bcm2835-isp")
    nodes.add("video2", signal=False)
    dongle = nodes.add("video4")
    paths = [str(tmp_path / f"video{n}") for n in (0, 1, 2, 4, 10, 14)]
    chosen = choose_device("auto", paths, nodes.probe, exclude=[camera])
    assert chosen is not None and chosen.path == dongle
    assert choose_device(dongle, [], nodes.probe) == nodes.infos[dongle]
    assert choose_device(str(tmp_path / "video1"), [], nodes.probe) is None


def test_hotplug_is_seen_through_inotify(tmp_path: Path) -> None:
    nodes = FakeNodes(tmp_path)
    changes: list[CaptureInfo | None] = []
    changed = threading.Event()

    def on_change(info: CaptureInfo | None) -> None:
        changes.append(info)
        changed.set()

    # A long rescan period: only inotify can report the change in time.
    watch = CaptureDeviceWatch("auto", on_change, dev_dir=tmp_path, probe=nodes.probe,
                               rescan_s=3600)
    watch.start()
    try:
        assert changes == []  # nothing plugged in at start
        nodes.add("video0")
        nodes.add("video1", capture=False)
        assert changed.wait(30)
        changed.clear()
        nodes.remove("video1")
        nodes.remove("video0")
        assert changed.wait(30)
    finally:
        watch.stop()
    assert [c.path if c else None for c in changes] == [str(tmp_path / "video0"), None]


def test_a_dongle_plugged_in_is_heard_as_presence(tmp_path: Path) -> None:
    nodes = FakeNodes(tmp_path)
    source = V4l2ContentSource("auto", W, H, fps=5, dev_dir=tmp_path, probe=nodes.probe,
                               rescan_s=3600)
    heard: list[Presence] = []
    got = threading.Event()
    source.add_presence_listener(lambda p: (heard.append(p), got.set()))
    source.watch()
    try:
        nodes.add("video3")
        assert got.wait(30)
    finally:
        source.close()
    assert heard == [Presence(True, f"{tmp_path}/video3 (USB3.0 capture)")]
    assert source.candidates()[0].url == str(tmp_path / "video3")
