"""The camera interface and its simulated back-end: real x264 access units."""

from __future__ import annotations

import time

import av
import numpy as np
import pytest

from appliance.devices.camera import BitrateBounds, EncodedFrame
from appliance.devices.camera_simulated import SimulatedCamera
from appliance.devices.encoder import LibavH264Encoder
from appliance.devices.testpattern import read_timestamp, whole_ms
from tests.support.media_tracks import Collect, nal_types


def encode_pattern(camera: SimulatedCamera, count: int) -> list[EncodedFrame]:
    units = []
    for _ in range(count):
        units += camera.encode(camera.capture_frame())
    return units


def test_access_units_are_annex_b_with_parameter_sets_before_every_keyframe() -> None:
    camera = SimulatedCamera(640, 360, 30, 800_000, keyframe_interval=1.0)
    units = encode_pattern(camera, 75)
    assert len(units) == 75  # zerolatency: one access unit per picture, no delay
    keyframes = [i for i, u in enumerate(units) if u.keyframe]
    assert keyframes == [0, 30, 60]
    for i, unit in enumerate(units):
        types = nal_types(unit.data)
        assert unit.data.startswith(b"\x00\x00\x00\x01") or unit.data.startswith(b"\x00\x00\x01")
        if unit.keyframe:
            assert types[:2] == [7, 8] and 5 in types, (i, types)  # SPS, PPS, IDR slices
        else:
            assert set(types) == {1}, (i, types)  # non-IDR slices only


def test_sps_is_constrained_baseline_and_there_are_no_b_frames() -> None:
    camera = SimulatedCamera(1280, 720, 30, 1_500_000)
    units = encode_pattern(camera, 20)
    sps_at = units[0].data.find(b"\x00\x00\x01\x67") + 4
    profile_idc, constraints = units[0].data[sps_at], units[0].data[sps_at + 1]
    assert profile_idc == 66 and constraints & 0x40  # baseline + constraint_set1
    pts = [u.pts for u in units]
    assert pts == sorted(pts) and len(set(pts)) == len(pts)  # output order == capture order


def test_keyframe_request_makes_the_next_picture_an_idr() -> None:
    camera = SimulatedCamera(640, 360, 30, 800_000, keyframe_interval=10.0)
    before = encode_pattern(camera, 5)
    camera.request_keyframe()
    after = encode_pattern(camera, 3)
    assert [u.keyframe for u in before] == [True, False, False, False, False]
    assert [u.keyframe for u in after] == [True, False, False]
    assert nal_types(after[0].data)[:2] == [7, 8]


def test_frames_decode_and_carry_their_capture_time() -> None:
    camera = SimulatedCamera(640, 360, 30, 800_000)
    decoder = av.CodecContext.create("h264", "r")
    for unit in encode_pattern(camera, 10):
        (frame,) = decoder.decode(av.Packet(unit.data))
        assert (frame.width, frame.height) == (640, 360)
        assert read_timestamp(frame.to_ndarray(format="rgb24")) == whole_ms(
            unit.capture_time * 1000
        )


def test_bitrate_changes_take_effect_without_reopening() -> None:
    rng = np.random.default_rng(7)
    encoder = LibavH264Encoder(320, 240, 30, 1_000_000, max_bitrate=1_000_000)

    def bytes_for(frames: int, start: int) -> int:
        total = 0
        for i in range(frames):
            # Noise cannot be compressed: the rate controller alone decides the size.
            noise = rng.integers(16, 236, (360, 320), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(noise, format="yuv420p")
            frame.pts = (start + i) * 3000
            total += sum(len(u.data) for u in encoder.encode(frame, 0.0))
        return total

    bytes_for(30, 0)  # settle
    high = bytes_for(30, 30)
    encoder.set_bitrate(200_000)
    bytes_for(15, 60)  # settle
    low = bytes_for(30, 75)
    assert low < high / 2.5, (high, low)


def test_set_bitrate_keeps_within_bounds() -> None:
    camera = SimulatedCamera(320, 180, 15, 500_000, bounds=BitrateBounds(100_000, 800_000))
    assert camera.set_bitrate(5_000_000) == 800_000
    assert camera.set_bitrate(10_000) == 100_000
    assert camera.set_bitrate(300_000) == 300_000 == camera.bitrate


def test_bad_settings_are_refused_with_the_value() -> None:
    with pytest.raises(ValueError, match="641×360"):
        SimulatedCamera(641, 360)
    with pytest.raises(ValueError, match="fps"):
        SimulatedCamera(640, 360, fps=0)


def test_camera_captures_only_while_started() -> None:
    camera = SimulatedCamera(320, 180, 30, 300_000, keyframe_interval=10.0)
    out = Collect()
    camera.start(out)
    time.sleep(0.5)
    camera.stop()
    assert not camera.running
    first_run = out.snapshot()
    assert len(first_run) >= 5
    assert first_run[0].keyframe and not any(u.keyframe for u in first_run[1:])
    time.sleep(0.3)
    assert len(out.snapshot()) == len(first_run)  # stopped means nothing captured

    camera.start(out)
    time.sleep(0.3)
    camera.stop()
    second_run = out.snapshot()[len(first_run) :]
    assert second_run and second_run[0].keyframe  # a restart begins decodable
    assert second_run[0].pts - first_run[-1].pts >= 0.25 * 90_000  # the clock kept running
