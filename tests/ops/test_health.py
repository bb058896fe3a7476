"""/healthz and /metrics through a real aiohttp server on 127.0.0.1, and the status CLI.

The netns test makes a real call between two aiortc peers — the room's own media
(simulated camera and microphone behind `RoomMedia`) to the room's receive path
(`Receivers`: video slots and the audio mixer) — losing every tenth audio packet at
the receiver as a lossy network would, twice (a reconnect), and reads the media
counters and the link figures through /metrics and /healthz.
"""

from __future__ import annotations

import asyncio
import functools
import json
import mmap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver
from aiortc.rtp import RtpPacket
from prometheus_client.parser import text_string_to_metric_families

from appliance.app import Receivers
from appliance.conference.client import RemoteStream
from appliance.conference.link import LinkMonitor, report_to
from appliance.devices.audio import NullSpeaker, SimulatedMicrophone
from appliance.devices.camera_simulated import SimulatedCamera
from appliance.local_media import RoomMedia
from appliance.media.audio import RemoteAudioMixer
from appliance.media.loopback import connect, local_peer_connection
from appliance.media.metrics import MediaMetrics
from appliance.media.video import add_encoded_video_track
from appliance.service import status
from appliance.service.health import HealthServer, HealthState, cpu_temperature_c

Values = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def fake_thermal(root: Path, zones: dict[str, int]) -> Path:
    for i, (kind, millideg) in enumerate(zones.items()):
        zone = root / f"thermal_zone{i}"
        zone.mkdir(parents=True)
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(f"{millideg}\n")
    return root


def healthy_state(**kwargs: Path) -> HealthState:
    state = HealthState("1.2.3", **kwargs)
    state.set_config(digest="9f86d081884c7d65", valid=True, source="boot")
    for device in ("camera", "microphone", "speaker", "display", "buttons"):
        state.set_device(device, "simulated", backend="sim")
    state.set_meeting_state("in_meeting", room="5A", name="Room 5A")
    return state


@pytest.fixture
async def served() -> tuple[HealthServer, aiohttp.ClientSession]:  # type: ignore[misc]
    server = HealthServer(healthy_state(), port=0)
    await server.start()
    async with aiohttp.ClientSession() as session:
        yield server, session
    await server.stop()


def metric_values(text: str) -> Values:
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


async def test_healthz_reports_everything_an_admin_asks_for(
    served: tuple[HealthServer, aiohttp.ClientSession],
) -> None:
    server, session = served
    assert server.host == "127.0.0.1" and server.port > 0
    server.state.set_link(rtt_ms=42.0, packet_loss_sent=0.0, packet_loss_received=0.015)
    async with session.get(server.url + "/healthz") as response:
        assert response.status == 200
        doc = await response.json()
    assert doc["ok"] is True
    assert doc["version"] == "1.2.3"
    assert doc["config"] == {"hash": "9f86d081884c7d65", "valid": True, "source": "boot",
                             "error": None}
    assert doc["meeting"] == {"state": "in_meeting", "room": "5A", "name": "Room 5A",
                              "rtt_ms": 42.0, "packet_loss_sent": 0.0,
                              "packet_loss_received": 0.015}
    assert doc["devices"]["camera"] == {"state": "simulated", "backend": "sim", "detail": ""}
    assert set(doc["devices"]) == {"camera", "microphone", "speaker", "display", "buttons"}
    assert doc["uptime_s"] >= 0
    assert doc["last_error"] is None


async def test_healthz_is_503_with_the_reason_when_something_is_wrong(
    served: tuple[HealthServer, aiohttp.ClientSession],
) -> None:
    server, session = served
    server.state.set_device("camera", "error", detail="no frames from /dev/video0")
    server.state.record_error("camera stalled", wall_clock=0)
    server.state.set_watchdog_reasons(["camera: no progress for 7.0 s"])
    async with session.get(server.url + "/healthz") as response:
        assert response.status == 503
        doc = await response.json()
    assert doc["ok"] is False
    assert doc["devices"]["camera"]["detail"] == "no frames from /dev/video0"
    assert doc["last_error"] == {"message": "camera stalled", "at": "1970-01-01T00:00:00Z"}
    assert doc["watchdog"] == {"healthy": False, "reasons": ["camera: no progress for 7.0 s"]}


async def test_metrics_track_the_state(
    served: tuple[HealthServer, aiohttp.ClientSession],
) -> None:
    server, session = served
    state = server.state
    async with session.get(server.url + "/metrics") as response:
        before = metric_values(await response.text())
    # Not in a call: the link is not measured, and no figure pretends it is.
    assert not any(name in ("salon_rtt_seconds", "salon_packet_loss_ratio")
                   for name, _ in before)
    state.count_reconnect()
    state.count_reconnect()
    state.record_error("bridge: full: the room is full")
    state.set_link(rtt_ms=25.0, packet_loss_sent=0.0, packet_loss_received=0.02)
    state.set_meeting_state("reconnecting")
    async with session.get(server.url + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        values = metric_values(await response.text())
    assert values[("salon_reconnects_total", ())] == 2
    assert values[("salon_errors_total", ())] == 1
    assert values[("salon_rtt_seconds", ())] == pytest.approx(0.025)
    assert values[("salon_packet_loss_ratio", (("direction", "sent"),))] == 0
    assert values[("salon_packet_loss_ratio", (("direction", "received"),))] == pytest.approx(
        0.02)
    assert values[("salon_meeting_state", (("state", "reconnecting"),))] == 1
    assert values[("salon_meeting_state", (("state", "in_meeting"),))] == 0
    assert values[("salon_config_valid", ())] == 1
    assert values[("salon_device_up", (("device", "camera"),))] == 1
    assert values[("salon_appliance_build_info", (("version", "1.2.3"),))] == 1


async def test_cpu_temperature_from_the_thermal_zone(tmp_path: Path) -> None:
    root = fake_thermal(tmp_path, {"gpu-thermal": 40000, "cpu-thermal": 51234})
    assert cpu_temperature_c(root) == pytest.approx(51.234)
    assert cpu_temperature_c(tmp_path / "absent") is None
    server = HealthServer(healthy_state(thermal_root=root), port=0)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url + "/metrics") as response:
                values = metric_values(await response.text())
            async with session.get(server.url + "/healthz") as response:
                doc = await response.json()
    finally:
        await server.stop()
    assert values[("salon_cpu_temperature_celsius", ())] == pytest.approx(51.234)
    assert doc["cpu_temperature_c"] == pytest.approx(51.234)


async def test_process_memory_follows_what_the_process_holds(
    served: tuple[HealthServer, aiohttp.ClientSession]
) -> None:
    server, session = served

    async def resident_mib() -> float:
        async with session.get(server.url + "/metrics") as response:
            values = metric_values(await response.text())
        assert values[("process_cpu_seconds_total", ())] > 0
        return values[("process_resident_memory_bytes", ())] / 2**20

    before = await resident_mib()
    # 96 MiB mapped from the kernel and every page touched: not memory malloc may
    # already hold (the test process's heap has freed blocks that big to reuse).
    held = mmap.mmap(-1, 96 * 2**20)
    held.write(b"\1" * len(held))
    during = await resident_mib()
    held.close()
    after = await resident_mib()
    assert during - before > 80
    assert during - after > 80


async def test_no_temperature_metric_without_a_sensor(tmp_path: Path) -> None:
    state = healthy_state(thermal_root=tmp_path)
    names = {family.name for family in state.registry.collect()}
    assert "salon_cpu_temperature_celsius" not in names
    assert state.snapshot()["cpu_temperature_c"] is None


async def test_status_command_prints_what_healthz_says(
    served: tuple[HealthServer, aiohttp.ClientSession], capsys: pytest.CaptureFixture[str]
) -> None:
    server, _ = served
    server.state.set_device("microphone", "error", backend="alsa", detail="hw:1 vanished")
    server.state.set_link(rtt_ms=24.0, packet_loss_sent=None, packet_loss_received=0.002)
    code = await asyncio.to_thread(status.main, ["--url", server.url])
    out = capsys.readouterr().out
    assert code == status.EXIT_UNHEALTHY
    assert "Salon appliance 1.2.3  PROBLEM" in out
    assert "meeting    in_meeting in 5A as Room 5A" in out
    assert "network    rtt 24 ms, loss sent ?, received 0.2 %" in out
    assert "microphone error [alsa] — hw:1 vanished" in out

    code = await asyncio.to_thread(status.main, ["--url", server.url, "--json"])
    assert json.loads(capsys.readouterr().out)["devices"]["microphone"]["state"] == "error"


async def test_status_command_when_nothing_answers(
    unused_tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await asyncio.to_thread(status.main, ["--url", f"http://127.0.0.1:{unused_tcp_port}"])
    assert code == status.EXIT_NOT_RUNNING
    assert "not answering" in capsys.readouterr().out


async def test_a_busy_port_is_reported_not_fatal() -> None:
    from appliance.service.runtime import ServiceRuntime

    first = HealthServer(healthy_state(), port=0)
    await first.start()
    try:
        runtime = ServiceRuntime("1.0", health_port=first.port, state_dir=Path("/nonexistent"))
        await runtime.start()
        assert runtime.server is None
        assert runtime.health.last_error is not None
        assert "health endpoint" in runtime.health.last_error.message
        await runtime.stop()
    finally:
        await first.stop()


async def test_extra_sections_and_the_screen(
    served: tuple[HealthServer, aiohttp.ClientSession],
) -> None:
    server, session = served
    server.state.sections["media"] = lambda: {"receiving": ["p1"]}

    def broken() -> dict[str, str]:
        raise RuntimeError("mixer gone")

    server.state.sections["audio"] = broken
    async with session.get(server.url + "/healthz") as response:
        doc = await response.json()
    assert doc["media"] == {"receiving": ["p1"]}
    assert doc["audio"] == {"error": "RuntimeError('mixer gone')"}

    async with session.get(server.url + "/screen.png") as response:
        assert response.status == 404
    png = b"\x89PNG\r\n\x1a\nfake-but-opaque"
    server.screen_png = lambda: png
    async with session.get(server.url + "/screen.png") as response:
        assert response.status == 200
        assert response.content_type == "image/png"
        assert await response.read() == png


class LoseEveryNth:
    """Wraps a receiver's RTP input and loses every `nth` packet, as a network would."""

    def __init__(self, receiver: RTCRtpReceiver, nth: int) -> None:
        self.nth, self.seen = nth, 0
        self.deliver = receiver._handle_rtp_packet
        receiver._handle_rtp_packet = self  # type: ignore[method-assign]

    async def __call__(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        self.seen += 1
        if self.seen % self.nth:
            await self.deliver(packet, arrival_time_ms)


async def call(media: RoomMedia, receivers: Receivers) -> tuple[RTCPeerConnection,
                                                                 RTCPeerConnection]:
    """The room's fresh tracks to its receive path over two real aiortc peers."""
    sender, receiver = local_peer_connection(), local_peer_connection()
    media.new_tracks()
    assert media.video is not None and media.audio is not None
    sender.addTransceiver(media.audio, direction="sendonly")
    add_encoded_video_track(sender, media.video)
    streams: list[RemoteStream] = []

    @receiver.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        t = next(t for t in receiver.getTransceivers() if t.receiver.track is track)
        assert t.mid is not None
        streams.append(RemoteStream(t.mid, track.kind, "far", track, t.receiver))
        receivers.update(list(streams))
        if track.kind == "audio":
            LoseEveryNth(t.receiver, 10)

    await connect(sender, receiver)
    return sender, receiver


async def until(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> None:
    """Wait for the call to get somewhere (a generous bound, not a timing claim)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)
    assert condition(), what


def frames_beyond(receivers: Receivers, floor: dict[str, int], more: int) -> bool:
    return all(n >= floor[kind] + more for kind, n in receivers.frames_received().items())


def lossy_link_measured(state: HealthState) -> bool:
    link = state.link
    return None not in link.values() and bool(
        link["packet_loss_sent"] and link["packet_loss_received"])


def counters(values: Values) -> Values:
    return {key: v for key, v in values.items() if key[0].endswith("_total")}


@pytest.mark.netns
async def test_media_counters_and_the_link_follow_a_real_call_across_a_reconnect() -> None:
    media = RoomMedia(SimulatedCamera(160, 96, 15, 150_000), SimulatedMicrophone(tone_hz=440))
    media.set_mic_live(True)
    media.set_camera_sending(True)
    mixer = RemoteAudioMixer(NullSpeaker())
    receivers = Receivers(mixer)
    state = healthy_state()
    state.registry.register(MediaMetrics(media.frames_sent, receivers.frames_received, mixer))
    server = HealthServer(state, port=0)
    await server.start()
    peers: list[RTCPeerConnection | None] = [None, None]
    polling = asyncio.create_task(LinkMonitor().run(
        lambda: (peers[0], peers[1]), report_to(state), interval=0.5))
    mixer.start()
    scrapes: list[Values] = []
    links: list[dict[str, float | None]] = []
    try:
        async with aiohttp.ClientSession() as session:

            async def scrape() -> Values:
                async with session.get(server.url + "/metrics") as response:
                    return metric_values(await response.text())

            for _ in range(2):  # the second call is a reconnect: new tracks, new PCs
                floor = receivers.frames_received()
                sender, receiver = peers[:] = await call(media, receivers)
                try:
                    await until(functools.partial(frames_beyond, receivers, floor, 30),
                                "pictures and audio received")
                    await until(lambda: lossy_link_measured(state),
                                "the link measured, the loss seen from both ends")
                    links.append(dict(state.link))
                    scrapes.append(await scrape())
                finally:
                    peers[:] = [None, None]
                    await sender.close()
                    await receiver.close()
                    receivers.update([])
                    media.stop_tracks()
            await until(lambda: state.link["rtt_ms"] is None, "no call, no figure")
            async with session.get(server.url + "/healthz") as response:
                meeting = (await response.json())["meeting"]
            after = await scrape()
    finally:
        polling.cancel()
        await mixer.stop()
        await server.stop()
        media.close()

    first, second = scrapes
    for kind in ("video", "audio"):
        for name in ("salon_frames_sent_total", "salon_frames_received_total"):
            assert 0 < first[(name, (("kind", kind),))] < second[(name, (("kind", kind),))]
    # Every tenth audio packet lost: concealed by the mixer, counted as received loss
    # here and as sent loss in the receiver reports the sender got.
    assert first[("salon_audio_concealed_seconds_total", ())] > 0
    assert ("salon_audio_underruns_total", (("stage", "mixer"),)) in first
    for link, values in zip(links, scrapes, strict=True):
        assert link["rtt_ms"] is not None and link["rtt_ms"] > 0
        assert 0 < (link["packet_loss_sent"] or 0) < 0.5
        assert 0 < (link["packet_loss_received"] or 0) < 0.5
        assert values[("salon_rtt_seconds", ())] == pytest.approx(link["rtt_ms"] / 1000)
        assert values[("salon_packet_loss_ratio", (("direction", "received"),))] > 0
    # Counters never go back: not across the reconnect, not once the calls are over.
    assert all(second[key] >= v for key, v in counters(first).items())
    assert counters(second).keys() <= counters(after).keys()
    assert all(after[key] >= v for key, v in counters(second).items())
    assert meeting["rtt_ms"] is None and meeting["packet_loss_received"] is None
    assert ("salon_rtt_seconds", ()) not in after
