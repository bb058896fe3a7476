"""/healthz and /metrics through a real aiohttp server on 127.0.0.1, and the status CLI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from appliance.service import status
from appliance.service.health import HealthServer, HealthState, cpu_temperature_c


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


def metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
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
    server.state.set_link(rtt_ms=42.0, packet_loss=0.015)
    async with session.get(server.url + "/healthz") as response:
        assert response.status == 200
        doc = await response.json()
    assert doc["ok"] is True
    assert doc["version"] == "1.2.3"
    assert doc["config"] == {"hash": "9f86d081884c7d65", "valid": True, "source": "boot",
                             "error": None}
    assert doc["meeting"] == {"state": "in_meeting", "room": "5A", "name": "Room 5A",
                              "rtt_ms": 42.0, "packet_loss": 0.015}
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
    state.count_reconnect()
    state.count_reconnect()
    state.count_frames("sent", "video", 30)
    state.count_frames("received", "audio", 50)
    state.count_audio_underrun()
    state.set_link(rtt_ms=25.0, packet_loss=0.02)
    state.set_meeting_state("reconnecting")
    async with session.get(server.url + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        values = metric_values(await response.text())
    assert values[("salon_reconnects_total", ())] == 2
    assert values[("salon_frames_sent_total", (("kind", "video"),))] == 30
    assert values[("salon_frames_received_total", (("kind", "audio"),))] == 50
    assert values[("salon_audio_underruns_total", ())] == 1
    assert values[("salon_rtt_seconds", ())] == pytest.approx(0.025)
    assert values[("salon_packet_loss_ratio", ())] == pytest.approx(0.02)
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
    code = await asyncio.to_thread(status.main, ["--url", server.url])
    out = capsys.readouterr().out
    assert code == status.EXIT_UNHEALTHY
    assert "Salon appliance 1.2.3  PROBLEM" in out
    assert "meeting    in_meeting in 5A as Room 5A" in out
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
