"""What the appliance reports to admins: /healthz (JSON) and /metrics (Prometheus).

The app owns one HealthState and updates it as things happen; the state keeps the
Prometheus metrics in step, in a registry of its own (so tests and two instances
never collide in prometheus-client's global one). What the devices and the media
path count themselves is read when asked (a device's `fault`, the media counters
registered as collectors), so a figure can never fall behind the thing it describes.
HealthServer serves both on a local port only: the appliance exposes nothing to the
room's network by default.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Info,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from appliance.health import FaultProbe

log = logging.getLogger(__name__)
# "*_created" timestamps per counter are noise for a single appliance.
disable_created_metrics()

__all__ = ["DEVICES", "DeviceHealth", "FaultProbe", "HealthServer", "HealthState",
           "cpu_temperature_c"]

# The devices /healthz always lists, "unknown" until the app says otherwise.
DEVICES = ("camera", "microphone", "speaker", "display", "buttons")
# Device states that make /healthz answer 503.
_BAD_DEVICE_STATES = frozenset({"error", "missing"})
THERMAL_ROOT = Path("/sys/class/thermal")
LINK_FIGURES = ("rtt_ms", "packet_loss_sent", "packet_loss_received")


@dataclass
class DeviceHealth:
    state: str = "unknown"  # ok | simulated | off | error | missing | unknown
    backend: str = ""  # picamera2, v4l2, alsa, pygame-kmsdrm, gpiozero, sim...
    detail: str = ""




@dataclass
class _Error:
    message: str
    at: float  # wall clock, for people


class HealthState:
    """The appliance's health as one object; every setter also updates the metrics."""

    def __init__(self, version: str, *, clock: Any = time.monotonic,
                 thermal_root: Path = THERMAL_ROOT) -> None:
        self.version = version
        self._clock = clock
        self._started = clock()
        self.config_hash = ""
        self.config_valid = False
        self.config_source = ""
        self.config_error = ""
        self.meeting_state = "starting"
        self.room = ""
        self.display_name = ""
        self.devices: dict[str, DeviceHealth] = {name: DeviceHealth() for name in DEVICES}
        self._faults: dict[str, FaultProbe] = {}
        self.watchdog_reasons: list[str] = []
        self.last_error: _Error | None = None
        self.link: dict[str, float | None] = dict.fromkeys(LINK_FIGURES)
        # Extra /healthz sections computed on request (e.g. "media": what is received).
        self.sections: dict[str, Callable[[], Any]] = {}
        self._thermal_root = thermal_root
        self.registry = CollectorRegistry()
        self._metrics = _Metrics(self.registry, version)
        self.registry.register(_ReadOnScrape(self))
        # process_resident_memory_bytes & co.: a slow leak shows in the field as a slope.
        ProcessCollector(registry=self.registry)
        if cpu_temperature_c(thermal_root) is not None:  # only where the kernel has a sensor
            Gauge("salon_cpu_temperature_celsius", "SoC temperature", registry=self.registry
                  ).set_function(lambda: cpu_temperature_c(thermal_root) or 0.0)
        self._metrics.uptime.set_function(self.uptime_s)
        self._metrics.state.labels(self.meeting_state).set(1)

    # -- setters the app calls --------------------------------------------------
    def set_config(self, *, digest: str, valid: bool, source: str = "", error: str = "") -> None:
        """digest: hash of the file in force; source: "boot" or "last-known-good"."""
        self.config_hash, self.config_valid = digest, valid
        self.config_source, self.config_error = source, error
        self._metrics.config_valid.set(1 if valid else 0)
        self._metrics.config_info.info({"hash": digest, "source": source})

    def set_meeting_state(self, state: str, *, room: str | None = None,
                          name: str | None = None) -> None:
        if state != self.meeting_state:
            self._metrics.state.labels(self.meeting_state).set(0)
            self._metrics.state.labels(state).set(1)
            self.meeting_state = state
        if room is not None:
            self.room = room
        if name is not None:
            self.display_name = name

    def set_device(self, name: str, state: str, *, backend: str | None = None,
                   detail: str = "") -> None:
        device = self.devices.setdefault(name, DeviceHealth())
        device.state, device.detail = state, detail
        if backend is not None:
            device.backend = backend

    def watch_fault(self, name: str, fault: FaultProbe) -> None:
        """Ask `fault()` whenever health is reported: while it names a fault the device
        is "error" with the fault as detail (/healthz answers 503); when it returns None
        the state set by `set_device` shows again."""
        self.devices.setdefault(name, DeviceHealth())
        self._faults[name] = fault

    def record_error(self, message: str, *, wall_clock: float | None = None) -> None:
        self.last_error = _Error(message, time.time() if wall_clock is None else wall_clock)
        self._metrics.errors.inc()

    def count_reconnect(self) -> None:
        self._metrics.reconnects.inc()

    def set_link(self, *, rtt_ms: float | None, packet_loss_sent: float | None,
                 packet_loss_received: float | None) -> None:
        """The latest RTCP figures (None: not measured now): round-trip time to the media
        server, and the loss ratios (0..1) of what the room sends and of what it receives."""
        self.link = {"rtt_ms": rtt_ms, "packet_loss_sent": packet_loss_sent,
                     "packet_loss_received": packet_loss_received}

    def set_watchdog_reasons(self, reasons: list[str]) -> None:
        """Wire to Watchdog.on_change so /healthz says why pings stopped."""
        self.watchdog_reasons = list(reasons)

    # -- readers --------------------------------------------------------------
    def uptime_s(self) -> float:
        return self._clock() - self._started

    def device_health(self) -> dict[str, DeviceHealth]:
        """Every device as it is now: what the app set, overridden by a current fault."""
        devices = {name: replace(d) for name, d in self.devices.items()}
        for name, probe in self._faults.items():
            fault = _probe(probe)
            if fault is not None:
                devices[name] = replace(devices[name], state="error", detail=fault)
        return devices

    @property
    def ok(self) -> bool:
        return self._ok(self.device_health())

    def _ok(self, devices: dict[str, DeviceHealth]) -> bool:
        return (
            self.config_valid
            and self.meeting_state != "error"
            and not self.watchdog_reasons
            and not any(d.state in _BAD_DEVICE_STATES for d in devices.values())
        )

    def snapshot(self) -> dict[str, Any]:
        """The /healthz document."""
        devices = self.device_health()
        return {
            "ok": self._ok(devices),
            "version": self.version,
            "uptime_s": round(self.uptime_s(), 1),
            "config": {"hash": self.config_hash, "valid": self.config_valid,
                       "source": self.config_source, "error": self.config_error or None},
            "meeting": {"state": self.meeting_state, "room": self.room,
                        "name": self.display_name, **self.link},
            "devices": {n: vars(d).copy() for n, d in devices.items()},
            "watchdog": {"healthy": not self.watchdog_reasons, "reasons": self.watchdog_reasons},
            "cpu_temperature_c": cpu_temperature_c(self._thermal_root),
            "last_error": None if self.last_error is None else {
                "message": self.last_error.message,
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.last_error.at)),
            },
            **{name: _section(provide) for name, provide in self.sections.items()},
        }


def _probe(probe: FaultProbe) -> str | None:
    try:
        return probe()
    except Exception as exc:  # a broken probe is itself a fault worth seeing
        return f"health probe failed: {exc!r}"


def _section(provide: Callable[[], Any]) -> Any:
    try:
        return provide()
    except Exception as exc:  # one broken reporter must not take /healthz down
        return {"error": repr(exc)}


@dataclass
class _Metrics:
    registry: CollectorRegistry
    version: str
    state: Gauge = field(init=False)

    def __post_init__(self) -> None:
        r = self.registry
        Info("salon_appliance_build", "Software version", registry=r).info(
            {"version": self.version})
        self.state = Gauge("salon_meeting_state", "1 for the current meeting state",
                           ["state"], registry=r)
        self.config_valid = Gauge("salon_config_valid", "1 when the config in force is valid",
                                  registry=r)
        self.config_info = Info("salon_config", "Config in force", registry=r)
        self.reconnects = Counter("salon_reconnects", "Reconnections to the bridge", registry=r)
        self.errors = Counter("salon_errors", "Errors recorded", registry=r)
        self.uptime = Gauge("salon_uptime_seconds", "Seconds since start", registry=r)


class _ReadOnScrape(Collector):
    """The figures a HealthState reads at scrape time: device states (faults included)
    and the link, the latter only while measured."""

    def __init__(self, state: HealthState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("salon_device_up", "1 when the device works", labels=["device"])
        for name, device in self.state.device_health().items():
            up.add_metric([name], 1.0 if device.state in ("ok", "simulated") else 0.0)
        yield up
        link = self.state.link
        rtt = GaugeMetricFamily("salon_rtt_seconds",
                                "Round-trip time to the media server (RTCP)")
        if link["rtt_ms"] is not None:
            rtt.add_metric([], link["rtt_ms"] / 1000)
        yield rtt
        loss = GaugeMetricFamily("salon_packet_loss_ratio",
                                 "Packets lost (0..1): sent, as the media server reports; "
                                 "received, over the last poll", labels=["direction"])
        for direction in ("sent", "received"):
            value = link[f"packet_loss_{direction}"]
            if value is not None:
                loss.add_metric([direction], value)
        yield loss


def cpu_temperature_c(root: Path = THERMAL_ROOT) -> float | None:
    """The CPU's temperature from the kernel's thermal zones (the Pi's "cpu-thermal")."""
    try:
        zones = sorted(root.glob("thermal_zone*"))
    except OSError:
        return None
    readings: list[tuple[bool, float]] = []
    for zone in zones:
        try:
            kind = (zone / "type").read_text().strip().lower()
            millideg = int((zone / "temp").read_text().strip())
        except (OSError, ValueError):
            continue
        readings.append(("cpu" in kind or "soc" in kind or "x86_pkg" in kind, millideg / 1000))
    if not readings:
        return None
    cpu = [t for is_cpu, t in readings if is_cpu]
    return cpu[0] if cpu else readings[0][1]


SCREEN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Salon screen</title>
<style>body{margin:0;background:#000}img{width:100vw;height:100vh;object-fit:contain}</style>
</head><body><img id="s" src="/screen.png" alt="The room's screen"><script>
setInterval(()=>{document.getElementById("s").src="/screen.png?"+Date.now()},1000)
</script></body></html>"""


class HealthServer:
    """aiohttp server for /healthz and /metrics on a loopback address."""

    def __init__(self, state: HealthState, *, host: str = "127.0.0.1", port: int = 8765) -> None:
        self.state = state
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        # The headless display's picture as PNG (make demo, tests); None when absent.
        self.screen_png: Callable[[], bytes] | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/screen.png", self._screen)
        app.router.add_get("/screen", self._screen_page)
        return app

    async def _screen_page(self, request: web.Request) -> web.Response:
        """A page that shows the room's screen, refreshed every second (make demo)."""
        return web.Response(content_type="text/html", text=SCREEN_PAGE)

    async def _screen(self, request: web.Request) -> web.Response:
        if self.screen_png is None:
            raise web.HTTPNotFound(text="no screen to show")
        return web.Response(body=self.screen_png(), content_type="image/png",
                            headers={"Cache-Control": "no-store"})

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:  # tests ask for any free port
            self.port = int(self._runner.addresses[0][1])
        log.info("health endpoint on http://%s:%d/healthz", self.host, self.port,
                 extra={"EVENT": "health.listen"})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _healthz(self, request: web.Request) -> web.Response:
        body = self.state.snapshot()
        return web.Response(text=json.dumps(body, indent=1), content_type="application/json",
                            status=200 if body["ok"] else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        payload = generate_latest(self.state.registry)
        return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})
