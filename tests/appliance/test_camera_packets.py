"""The simulated hardware encoder: a pre-encoded clip's access units, replayed."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import av
import pytest

from appliance.devices.camera import PTS_CLOCK_HZ, CameraError, EncodedFrame
from appliance.devices.camera_packets import PacketClip, PacketReplayCamera, loop_latency_ms
from appliance.devices.testpattern import read_timestamp
from tests.support.media_tracks import Collect, nal_types

W, H, FPS = 320, 180, 30.0


@pytest.fixture(scope="module")
def clip() -> PacketClip:
    return PacketClip.encode(W, H, FPS, seconds=1.0)


def decode(units: list[bytes]) -> list[av.VideoFrame]:
    codec = av.CodecContext.create("h264", "r")
    frames = []
    for data in units:
        frames += codec.decode(av.Packet(data))
    return frames


def test_the_clip_is_one_keyframe_then_pictures_predicted_and_each_picture_alone(
        clip: PacketClip) -> None:
    assert clip.frames == 30 and clip.loop_ms == 1000
    assert [5 in nal_types(u) for u in clip.stream] == [True] + [False] * 29
    assert all({5, 7, 8} <= set(nal_types(u)) for u in clip.idr)  # SPS/PPS + IDR
    # Each picture carries its place in the loop, whichever way it was encoded.
    for i in (0, 7, 29):
        alone = decode([clip.idr[i]])[0].to_ndarray(format="rgb24")
        assert read_timestamp(alone) == clip.stamp_ms(i)
    in_order = decode(clip.stream)
    assert read_timestamp(in_order[12].to_ndarray(format="rgb24")) == clip.stamp_ms(12)


def test_a_saved_clip_loads_the_same_and_a_bad_file_is_named(clip: PacketClip,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "clip.npz"
    clip.save(path)
    assert PacketClip.load(path) == clip
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a clip")
    with pytest.raises(CameraError, match=r"bad\.npz"):
        PacketClip.load(bad)


def test_a_clip_of_another_size_is_refused(clip: PacketClip, tmp_path: Path) -> None:
    path = tmp_path / "clip.npz"
    clip.save(path)
    camera = PacketReplayCamera(640, 360, FPS, 500_000, clip_path=path)
    with pytest.raises(CameraError, match="320×180@30"):
        camera.load_clip()


def test_units_follow_the_wall_clock_in_the_loop_and_a_request_gets_a_keyframe(
        clip: PacketClip) -> None:
    camera = PacketReplayCamera(W, H, FPS, 500_000, keyframe_interval=1.0)
    camera.clip = clip
    camera.request_keyframe()
    first = camera.next_unit(100, continuous=True)
    assert first.keyframe and first.data == clip.idr[100 % 30]
    follow = camera.next_unit(101, continuous=True)
    assert not follow.keyframe and follow.data == clip.stream[101 % 30]
    assert camera.next_unit(120, continuous=True).keyframe  # the loop starts again
    skipped = camera.next_unit(125, continuous=False)  # a tick was missed: an IDR
    assert skipped.keyframe and skipped.data == clip.idr[125 % 30]
    # The picture sent at wall-clock tick t shows t's place in the loop.
    assert loop_latency_ms(101 * 1000 / FPS, clip.stamp_ms(101 % 30), clip.loop_ms) < 1


def test_running_it_delivers_at_the_frame_rate_with_pts_on_the_90khz_clock(
        clip: PacketClip) -> None:
    camera = PacketReplayCamera(W, H, FPS, 500_000, keyframe_interval=1.0)
    camera.clip = clip
    out = Collect()
    camera.start(out)
    try:
        time.sleep(1.2)
        requested = time.time()
        camera.request_keyframe()
        time.sleep(0.3)
    finally:
        camera.stop()
    units: list[EncodedFrame] = out.snapshot()
    assert units[0].keyframe
    assert 30 <= len(units) <= 50  # ~45 at 30 fps over 1.5 s on a loaded machine
    steps = [b.pts - a.pts for a, b in itertools.pairwise(units)]
    assert all(step > 0 for step in steps)
    assert sorted(steps)[len(steps) // 2] == pytest.approx(PTS_CLOCK_HZ / FPS, rel=0.2)
    after_request = [u for u in units if u.capture_time >= requested]
    assert after_request[0].keyframe  # the very next picture
    assert sum(u.keyframe for u in units) <= 4  # the first, the request, 1-2 loop starts
