"""Real processes for end-to-end tests: the bridge (with its Janus) and appliances."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def media_ip() -> str:
    return os.environ.get("SALON_MEDIA_IP", "127.1.0.1")


def get_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback only)
        return json.loads(resp.read())


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the thing we wait for may not answer yet
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last_exc})")


class Proc:
    """A child process whose output goes to a log file shown when a test fails."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None):
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, cwd=REPO,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


class BridgeProcess(Proc):
    def __init__(self, tmp: Path, rooms: list[tuple[str, str]] | None = None,
                 extra_toml: str = "") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = tmp / "bridge.toml"
        room_toml = "".join(
            f'\n[[rooms]]\naddress = "{a}"\ntitle = "{t}"\npolicy = "public"\n'
            f'moderated = false\n' for a, t in (rooms or [])
        )
        self.config.write_text(
            f'state_dir = "{tmp / "bridge-state"}"\nlog_level = "debug"\n{extra_toml}\n'
            f'[server]\nport = {self.port}\n'
            f'[janus]\nmedia_ip = "{media_ip()}"\n{room_toml}'
        )
        super().__init__([str(BIN / "salon-bridge"), "--config", str(self.config)],
                         tmp / "bridge.log")
        try:
            wait_until(lambda: self.health()["janus"][0]["up"], 30, "the bridge")
        except TimeoutError:
            self.stop()
            raise RuntimeError("bridge did not start:\n" + self.log_tail()) from None

    def health(self) -> Any:
        return get_json(self.url + "/healthz")

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def room_url(self, room: str) -> str:
        return f"{self.url}/r/{room}"


class ApplianceProcess(Proc):
    """``salon-appliance run`` on simulated devices, observed through its health port."""

    def __init__(self, tmp: Path, name: str, config_text: str) -> None:
        self.dir = tmp / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "salon.toml"
        self.config.write_text(config_text)
        super().__init__(
            [str(BIN / "salon-appliance"), "run", "--config", str(self.config),
             "--state-dir", str(self.dir / "state")],
            self.dir / "appliance.log", env={"SDL_VIDEODRIVER": "dummy",
                                             "SDL_AUDIODRIVER": "dummy"},
        )


def appliance_toml(bridge_url: str, room: str, name: str, health_port: int, speaker_wav: Path,
                   tone_hz: float = 1000.0, width: int = 1280, height: int = 720,
                   extra: str = "") -> str:
    return f"""\
[room]
name = "{name}"
language = "en"
[bridge]
url = "{bridge_url}"
room = "{room}"
reconnect_initial_s = 0.5
reconnect_max_s = 3
[join]
mode = "guest"
guest_name = "{name}"
[camera]
backend = "simulated"
width = {width}
height = {height}
fps = 30
[audio]
mic_backend = "simulated"
tone_hz = {tone_hz}
speaker_backend = "wav"
speaker_wav = "{speaker_wav}"
[display]
backend = "headless"
width = 1280
height = 720
[buttons]
pin_factory = "mock"
[health]
port = {health_port}
{extra}"""


class Appliance(ApplianceProcess):
    """A simulated appliance joined to ``bridge``'s room, observed over its health port."""

    def __init__(self, tmp: Path, bridge: BridgeProcess, name: str, room: str = "testbim",
                 tone_hz: float = 1000.0, extra: str = "",
                 size: tuple[int, int] = (1280, 720)) -> None:
        self.name = name
        self.health_port = free_port()
        self.speaker_wav = tmp / f"{name.replace(' ', '_')}-speaker.wav"
        super().__init__(tmp, name.replace(" ", "_"), appliance_toml(
            bridge.url, room, name, self.health_port, self.speaker_wav, tone_hz,
            width=size[0], height=size[1], extra=extra))

    def health(self) -> Any:
        return get_json(f"http://127.0.0.1:{self.health_port}/healthz")

    def video_from(self, name: str) -> dict[str, Any] | None:
        try:
            video: dict[str, Any] = self.health()["media"]["video"]
        except (OSError, KeyError, ValueError):
            return None
        return video.get(name)

    def screen_png(self) -> bytes:
        with urllib.request.urlopen(  # noqa: S310 (loopback only)
                f"http://127.0.0.1:{self.health_port}/screen.png", timeout=5) as resp:
            return bytes(resp.read())

    def wait_in_meeting(self, timeout: float = 30) -> None:
        try:
            wait_until(lambda: self.health()["meeting"]["state"] == "in_meeting", timeout,
                       f"{self.name} in the meeting")
        except TimeoutError:
            raise AssertionError(f"{self.name} never joined:\n{self.log_tail()}") from None
