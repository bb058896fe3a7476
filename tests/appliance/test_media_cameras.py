"""Camera back-ends, health, and the H.264 rules every back-end must keep.

What runs here and what does not (this machine has no camera):
- V4L2: the PyAV paths run for real with FFmpeg stand-ins for the device
  (`CaptureSource`): an Annex B H.264 file (passthrough: demux only, bytes
  untouched), an MJPEG file and a lavfi source (decode + x264). The `v4l2`
  demuxer itself is only reached for a device node that does not exist.
- picamera2: not installed here (it needs libcamera). What runs is the
  appliance's side of it: the missing-library failure, and the adaptor that
  turns picamera2 encoder output into access units, fed real x264 output
  shaped like picamera2's (a header-only buffer, µs timestamps).
"""

from __future__ import annotations

import asyncio
import fractions
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

from appliance.devices import camera_picamera2
from appliance.devices.camera import CameraHealth, EncodedFrame
from appliance.devices.camera_picamera2 import Picamera2Camera
from appliance.devices.camera_simulated import SimulatedCamera
from appliance.devices.camera_v4l2 import CaptureSource, V4l2Camera
from appliance.devices.h264 import ParameterSets, nal_units
from appliance.devices.testpattern import TestPattern, read_timestamp


class Collect:
    """A FrameOutput that keeps everything (called on the camera thread)."""

    def __init__(self) -> None:
        self.frames: list[EncodedFrame] = []
        self.lock = threading.Lock()

    def output_frame(self, frame: EncodedFrame) -> None:
        with self.lock:
            self.frames.append(frame)

    def snapshot(self) -> list[EncodedFrame]:
        with self.lock:
            return list(self.frames)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EncodedFrame]:
        deadline = time.monotonic() + timeout
        while len(self.snapshot()) < count:
            assert time.monotonic() < deadline, f"only {len(self.snapshot())} of {count} frames"
            time.sleep(0.02)
        return self.snapshot()


def types_of(unit: bytes) -> list[int]:
    return [n[0] & 0x1F for n in nal_units(unit)]


def x264_stream(count: int, *, keyint: int, repeat_headers: bool, size: tuple[int, int] = (320,
                                                                                          180)
                ) -> list[bytes]:
    """Annex B access units of the test pattern; optionally SPS/PPS only at the start."""
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = *size, "yuv420p"
    ctx.time_base = fractions.Fraction(1, 30)
    ctx.options = {"preset": "ultrafast", "tune": "zerolatency",
                   "x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0"}
    if not repeat_headers:  # SPS/PPS once, beside the stream (we put them before the first)
        ctx.flags |= av.codec.context.Flags.global_header
    pattern = TestPattern(*size)
    units = []
    for i in range(count):
        frame = av.VideoFrame.from_ndarray(pattern.render_i420(1_790_000_000_000.0 + i * 33),
                                           format="yuv420p")
        frame.pts = i
        units += [bytes(p) for p in ctx.encode(frame)]
    if not repeat_headers:
        units[0] = bytes(ctx.extradata or b"") + units[0]
    return units


def decodes_alone(unit: bytes) -> bool:
    """A fresh decoder can start from this access unit."""
    try:
        return len(av.CodecContext.create("h264", "r").decode(av.Packet(unit))) == 1
    except av.error.FFmpegError:
        return False


# -- the H.264 rules ---------------------------------------------------------------------------


def test_parameter_sets_precede_every_keyframe_even_if_the_encoder_sent_them_once() -> None:
    units = x264_stream(70, keyint=30, repeat_headers=False)
    assert types_of(units[30]).count(7) == 0  # the encoder really did not repeat them
    fixer, out = ParameterSets(), []
    for i, data in enumerate(units):
        unit = fixer.access_unit(data, i * 3000, 0.0)
        assert unit is not None
        out.append(unit)
    assert [i for i, u in enumerate(out) if u.keyframe] == [0, 30, 60]
    for unit in out:
        assert (types_of(unit.data)[:2] == [7, 8]) == unit.keyframe
    assert decodes_alone(out[30].data) and not decodes_alone(units[30])
    assert [u.data for u in out if not u.keyframe] == [d for i, d in enumerate(units)
                                                      if i % 30]  # untouched


def test_header_only_units_are_kept_for_the_next_keyframe_and_avcc_is_refused() -> None:
    units = x264_stream(2, keyint=30, repeat_headers=True)
    nals = nal_units(units[0])
    headers = b"".join(b"\x00\x00\x00\x01" + n for n in nals if n[0] & 0x1F in (7, 8))
    picture = b"".join(b"\x00\x00\x00\x01" + n for n in nals if n[0] & 0x1F not in (7, 8))
    fixer = ParameterSets()
    assert fixer.access_unit(picture, 0, 0.0) is None  # an IDR nobody could decode yet
    assert fixer.access_unit(headers, 0, 0.0) is None  # what picamera2 would have dropped
    keyframe = fixer.access_unit(picture, 0, 0.0)
    assert keyframe is not None and keyframe.keyframe and decodes_alone(keyframe.data)
    with pytest.raises(Exception, match="Annex B"):
        fixer.access_unit(len(nals[0]).to_bytes(4, "big") + nals[0], 0, 0.0)


# -- health -------------------------------------------------------------------------------------


async def test_an_unplugged_camera_is_reported_retried_and_recovers_with_a_keyframe() -> None:
    camera = SimulatedCamera(320, 180, 30, 300_000, keyframe_interval=30.0)
    heard: list[tuple[CameraHealth, bool]] = []
    loop_thread = threading.current_thread()
    camera.add_health_listener(lambda h: heard.append((h, threading.current_thread() is
                                                       loop_thread)), asyncio.get_running_loop())
    out = Collect()
    camera.start(out)
    await asyncio.to_thread(out.wait_for, 5)
    camera.unplug()
    async with asyncio.timeout(5):
        while not heard:
            await asyncio.sleep(0.02)
    assert heard == [(CameraHealth(False, "simulated camera: disconnected"), True)]
    assert camera.running and camera.fault  # still trying
    count = len(out.snapshot())
    async with asyncio.timeout(10):  # a few retries, all failing quietly
        while camera.sessions < 3:
            await asyncio.sleep(0.05)
    assert len(out.snapshot()) == count and len(heard) == 1
    camera.plug_in()
    async with asyncio.timeout(5):
        while len(heard) < 2:
            await asyncio.sleep(0.02)
    assert heard[1] == (CameraHealth(True), True) and camera.fault is None
    resumed = await asyncio.to_thread(out.wait_for, count + 3)
    assert resumed[count].keyframe  # decodable again at once
    camera.stop()
    assert not camera.running


def test_a_camera_missing_at_start_reports_it_and_comes_up_when_connected() -> None:
    camera = SimulatedCamera(320, 180, 30, 300_000)
    camera.unplug()
    heard: list[CameraHealth] = []
    camera.add_health_listener(heard.append)  # on the camera's thread
    out = Collect()
    camera.start(out)
    time.sleep(0.3)
    assert heard == [CameraHealth(False, "simulated camera: not connected")]
    assert not out.snapshot()
    camera.plug_in()
    frames = out.wait_for(3)
    assert frames[0].keyframe and heard[-1] == CameraHealth(True)
    camera.stop()


# -- V4L2 through PyAV ----------------------------------------------------------------------------


def test_v4l2_h264_output_is_passed_through_byte_for_byte(tmp_path: Path) -> None:
    units = x264_stream(90, keyint=30, repeat_headers=False)
    (tmp_path / "camera.h264").write_bytes(b"".join(units))
    camera = V4l2Camera("/dev/video-standin", 320, 180, 30, 500_000,
                        source=CaptureSource(str(tmp_path / "camera.h264"), "h264",
                                             realtime=True))
    heard: list[CameraHealth] = []
    camera.add_health_listener(heard.append)
    out = Collect()
    began = time.monotonic()
    camera.start(out)
    frames = out.wait_for(90)  # the file ends: a failure, reported; then it reopens
    elapsed = time.monotonic() - began
    # The end is reported once the reader reaches it, which may come after the 90th frame.
    deadline = time.monotonic() + 10
    while not heard and time.monotonic() < deadline:
        time.sleep(0.05)
    camera.stop()
    assert camera.passthrough and camera.opened_format == "h264"
    assert elapsed >= 2.5  # read at the camera's frame rate, not the disk's
    first = frames[:90]
    assert first[0].keyframe and [i for i, u in enumerate(first) if u.keyframe] == [0, 30, 60]
    assert all(u.data == d for u, d in zip(first, units, strict=True) if not u.keyframe)
    assert all(u.data.endswith(d) and types_of(u.data)[:2] == [7, 8]
               for u, d in zip(first, units, strict=True) if u.keyframe)
    pts = [u.pts for u in first]
    assert pts == sorted(pts) and 2.5 * 90_000 <= pts[-1] - pts[0] <= 4 * 90_000
    assert heard and not heard[0].ok and "ended" in heard[0].detail


def mjpeg_file(path: Path, count: int, size: tuple[int, int]) -> list[float]:
    """An MJPEG file of the test pattern; returns the time drawn into each picture."""
    times = [1_790_000_000_000.0 + i * 33 for i in range(count)]
    with av.open(str(path), "w", format="mjpeg") as container:
        stream = container.add_stream("mjpeg", rate=30)
        stream.width, stream.height, stream.pix_fmt = *size, "yuvj420p"
        pattern = TestPattern(*size)
        for t in times:
            frame = av.VideoFrame.from_ndarray(pattern.render_i420(t), format="yuv420p")
            for packet in stream.encode(frame.reformat(format="yuvj420p")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return times


def test_v4l2_mjpeg_is_decoded_and_encoded_once_by_x264(tmp_path: Path) -> None:
    drawn = mjpeg_file(tmp_path / "camera.mjpeg", 60, (640, 360))[:30]
    camera = V4l2Camera("/dev/video-standin", 640, 360, 30, 1_500_000, keyframe_interval=10,
                        source=CaptureSource(str(tmp_path / "camera.mjpeg"), "mjpeg",
                                             realtime=True))
    out = Collect()
    camera.start(out)
    frames = out.wait_for(30)[:30]
    camera.request_keyframe()  # as a PLI would
    asked_at = len(out.snapshot())
    later = out.wait_for(asked_at + 2)[asked_at : asked_at + 2]
    camera.stop()
    assert camera.opened_format == "mjpeg" and not camera.passthrough
    assert frames[0].keyframe and not any(u.keyframe for u in frames[1:])
    decoder = av.CodecContext.create("h264", "r")
    seen = [read_timestamp(f.to_ndarray(format="rgb24"))
            for u in frames for f in decoder.decode(av.Packet(u.data))]
    assert seen == drawn  # every picture, in order, readable after JPEG + H.264
    assert any(u.keyframe for u in later)  # within a frame of the request


def test_v4l2_rotation_and_flip_turn_the_picture(tmp_path: Path) -> None:
    source = CaptureSource("testsrc2=size=640x360:rate=30", "lavfi", realtime=True)
    camera = V4l2Camera("/dev/video-standin", 360, 640, 30, 800_000, rotation=90, hflip=True,
                        source=source)
    out = Collect()
    camera.start(out)
    frames = out.wait_for(5)
    camera.stop()
    decoder = av.CodecContext.create("h264", "r")
    (picture,) = decoder.decode(av.Packet(frames[0].data))
    assert (picture.width, picture.height) == (360, 640)
    reference = av.open("testsrc2=size=640x360:rate=30", format="lavfi")
    original = next(reference.decode(video=0)).to_ndarray(format="gray")
    reference.close()
    expected = np.rot90(original, -1)[:, ::-1]  # turned clockwise, then mirrored
    luma = picture.to_ndarray(format="gray")
    assert np.mean(np.abs(luma.astype(int) - expected.astype(int))) < 12
    assert np.mean(np.abs(luma.astype(int) - np.rot90(original, 1).astype(int))) > 25


def test_a_missing_v4l2_device_is_a_reported_failure_not_a_crash() -> None:
    camera = V4l2Camera("/dev/video-not-here", 640, 360, 30, 500_000)
    heard: list[CameraHealth] = []
    camera.add_health_listener(heard.append)
    camera.start(Collect())
    time.sleep(0.3)
    camera.stop()
    assert heard == [CameraHealth(False, "camera /dev/video-not-here: not connected")]


# -- picamera2 ---------------------------------------------------------------------------------


def test_picamera2_missing_is_reported_like_a_missing_camera() -> None:
    camera = Picamera2Camera(1280, 720, 30, 2_000_000)
    heard: list[CameraHealth] = []
    camera.add_health_listener(heard.append)
    camera.start(Collect())
    time.sleep(0.3)
    camera.stop()
    assert len(heard) == 1 and not heard[0].ok
    assert "picamera2" in heard[0].detail and "python3-picamera2" in heard[0].detail


def test_picamera2_encoder_output_becomes_access_units_on_the_camera_clock() -> None:
    camera = Picamera2Camera(320, 180, 30, 500_000)
    out = Collect()
    camera.output = out
    units = x264_stream(40, keyint=30, repeat_headers=True)
    nals = nal_units(units[0])
    headers = b"".join(b"\x00\x00\x00\x01" + n for n in nals if n[0] & 0x1F in (7, 8))
    first_picture = b"".join(b"\x00\x00\x00\x01" + n for n in nals if n[0] & 0x1F not in (7, 8))
    fixer, anchor = ParameterSets(), []
    # As the V4L2 encoder thread delivers: headers on their own, then pictures, µs stamps.
    camera._deliver_from_encoder(fixer, headers, 0, anchor)
    camera._deliver_from_encoder(fixer, first_picture, 0, anchor)
    for i, data in enumerate(units[1:], start=1):
        camera._deliver_from_encoder(fixer, data, i * 33_333, anchor)
    frames = out.snapshot()
    assert len(frames) == 40 and frames[0].keyframe and decodes_alone(frames[0].data)
    assert [i for i, u in enumerate(frames) if u.keyframe] == [0, 30]
    steps = np.diff([u.pts for u in frames])
    assert np.all(np.abs(steps - 3000) <= 1)  # 33 333 µs = 3000 ticks of 90 kHz
    assert camera.frames_captured == 40 and camera.keyframes_sent == 2


class LoresRequest:
    """What picamera2 hands its post_callback, as far as the self-view reads it: the lores
    stream as a YUV420 array of (height·3/2, stride) — the stride padded past the width."""

    def __init__(self, rgb: tuple[int, int, int], width: int, height: int, stride: int) -> None:
        frame = av.VideoFrame.from_ndarray(
            np.full((height, width, 3), rgb, np.uint8), format="rgb24").reformat(format="yuv420p")
        yuv = frame.to_ndarray()  # (height·3/2, width)
        self.array = np.zeros((yuv.shape[0], stride), np.uint8)
        self.array[:, width:] = 255  # padding that must not show
        self.array[:, :width] = yuv

    def make_array(self, name: str) -> np.ndarray:
        assert name == "lores"
        return self.array


def test_picamera2_self_view_is_the_newest_lores_picture_at_tile_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The camera thread's clock, stepped by the test: "within 1/15 s" must not depend
    # on how promptly a busy machine runs the next line.
    now = [1000.0]
    monkeypatch.setattr(camera_picamera2, "time", SimpleNamespace(monotonic=lambda: now[0]))
    camera = Picamera2Camera(1280, 720, 30, 1_500_000)
    assert camera.lores_size == (320, 180)
    assert camera.preview_rgb(160, 90) is None  # nothing captured yet: the placeholder
    orange, blue = (255, 140, 0), (0, 60, 255)
    camera._keep_lores(LoresRequest(orange, 320, 180, stride=384))
    now[0] += 0.05
    camera._keep_lores(LoresRequest(blue, 320, 180, stride=384))  # within 1/15 s: skipped
    tile = camera.preview_rgb(160, 90)
    assert tile is not None and tile.shape == (90, 160, 3)
    assert np.abs(tile.astype(int) - orange).max() <= 12  # no padding bled in
    assert camera.preview_rgb(160, 90) is tile  # converted once per picture and size
    now[0] += 1 / 15
    camera._keep_lores(LoresRequest(blue, 320, 180, stride=384))
    tile = camera.preview_rgb(240, 135)
    assert tile is not None and tile.shape == (135, 240, 3)
    assert np.abs(tile.astype(int) - blue).max() <= 12
