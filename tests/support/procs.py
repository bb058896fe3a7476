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
from collections.abc import Sequence
from dataclasses import dataclass
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
    with urllib.request.urlopen(url, timeout=timeout) as resp:
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


def toml_str(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class RoomSpec:
    """A room seeded through the bridge's config (bridge/config.py RoomSeed)."""

    address: str
    title: str
    policy: str = "public"  # or "private": accounts only
    moderated: bool = True  # the host grants rights; False: an open floor
    guest_name_format: bool = False  # guests named "AD SOYAD – İL/BİRİM"

    def toml(self) -> str:
        return (f"\n[[rooms]]\naddress = {toml_str(self.address)}\n"
                f"title = {toml_str(self.title)}\npolicy = {toml_str(self.policy)}\n"
                f"moderated = {str(self.moderated).lower()}\n"
                f"guest_name_format = {str(self.guest_name_format).lower()}\n")


@dataclass(frozen=True)
class UserSpec:
    """An account seeded through the bridge's config (bridge/config.py UserSeed)."""

    name: str
    password: str  # written to a password file: the config takes no plain passwords
    role: str = "participant"  # "host", "participant" or "device"
    display_name: str | None = None

    def toml(self, secrets_dir: Path) -> str:
        secrets_dir.mkdir(mode=0o700, exist_ok=True)
        path = secrets_dir / f"{self.name}.password"
        path.write_text(self.password + "\n")
        path.chmod(0o600)
        display = ("" if self.display_name is None
                   else f"display_name = {toml_str(self.display_name)}\n")
        return (f"\n[[users]]\nname = {toml_str(self.name)}\nrole = {toml_str(self.role)}\n"
                f"password_file = {toml_str(str(path))}\n{display}")


class BridgeProcess(Proc):
    """``rooms`` are open-floor public rooms (address, title); ``room_specs`` and ``users``
    seed rooms with any policy and accounts with a role and password."""

    def __init__(self, tmp: Path, rooms: list[tuple[str, str]] | None = None,
                 extra_toml: str = "", *, room_specs: Sequence[RoomSpec] = (),
                 users: Sequence[UserSpec] = (), prefix: Sequence[str] = (),
                 janus_toml: str = "") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = tmp / "bridge.toml"
        self.state_dir = tmp / "bridge-state"
        room_toml = "".join(
            f'\n[[rooms]]\naddress = "{a}"\ntitle = "{t}"\npolicy = "public"\n'
            f'moderated = false\n' for a, t in (rooms or [])
        )
        room_toml += "".join(spec.toml() for spec in room_specs)
        room_toml += "".join(user.toml(tmp / "secrets") for user in users)
        self.config.write_text(
            f'state_dir = "{tmp / "bridge-state"}"\nlog_level = "debug"\n{extra_toml}\n'
            f'[server]\nport = {self.port}\n'
            f'[janus]\nmedia_ip = "{media_ip()}"\n{janus_toml}\n{room_toml}'
        )
        self.tmp = tmp
        self.prefix = list(prefix)  # e.g. a mount namespace with a small files disk
        self.runs = 0
        self._launch()

    def _launch(self) -> None:
        self.runs += 1
        name = "bridge.log" if self.runs == 1 else f"bridge-{self.runs}.log"
        super().__init__([*self.prefix, str(BIN / "salon-bridge"), "--config", str(self.config)],
                         self.tmp / name)
        try:
            # A ceiling: under a CPU hog migrations plus Janus's start took 16 s.
            wait_until(lambda: self.health()["janus"][0]["up"], 90, "the bridge")
        except TimeoutError:
            self.stop()
            raise RuntimeError("bridge did not start:\n" + self.log_tail()) from None

    def restart(self) -> None:
        """After the process ended: a new one on the same config, port and state (its
        output in bridge-N.log)."""
        assert not self.alive(), "stop the bridge first"
        self._log.close()
        self._launch()

    def health(self) -> Any:
        return get_json(self.url + "/healthz")

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def room_url(self, room: str) -> str:
        return f"{self.url}/r/{room}"


class ApplianceProcess(Proc):
    """``salon-appliance run`` on simulated devices, observed through its health port."""

    def __init__(self, tmp: Path, name: str, config_text: str | bytes, nice: int = 0,
                 wrap: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        self.dir = tmp / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "salon.toml"
        if isinstance(config_text, bytes):  # e.g. a file a power cut damaged
            self.config.write_bytes(config_text)
        else:
            self.config.write_text(config_text)
        # `nice`: the CPU priority the systemd unit gives it (Nice=), for benchmarks.
        # `wrap`: a command prefix (e.g. one entering a CPU-limited cgroup, pi_budget.py);
        # `env`: more environment (e.g. PYTHONPATH naming another checkout, for a baseline).
        niced = ["nice", "-n", str(nice)] if nice else []
        super().__init__(
            [*(wrap or []), *niced, str(BIN / "salon-appliance"), "run", "--config",
             str(self.config), "--state-dir", str(self.dir / "state")],
            self.dir / "appliance.log", env={"SDL_VIDEODRIVER": "dummy",
                                             "SDL_AUDIODRIVER": "dummy", **(env or {})},
        )


def appliance_toml(bridge_url: str, room: str, name: str, health_port: int, speaker_wav: Path,
                   tone_hz: float = 1000.0, width: int = 1280, height: int = 720,
                   extra: str = "", mic_signal: str = "tone", camera: str = "",
                   audio: str = "", display: tuple[int, int] = (1280, 720)) -> str:
    """`camera`, `audio`: more lines for those tables (`backend = …` in `camera` replaces
    the simulated camera)."""
    camera_backend = "" if "backend" in camera else 'backend = "simulated"\n'

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
{camera_backend}{camera}
width = {width}
height = {height}
fps = 30
start_on_grant = true  # unattended test rooms: the media tests measure their picture
[audio]
mic_backend = "simulated"
tone_hz = {tone_hz}
mic_signal = "{mic_signal}"
{audio}
speaker_backend = "wav"
speaker_wav = "{speaker_wav}"
[display]
backend = "headless"
width = {display[0]}
height = {display[1]}
[buttons]
pin_factory = "mock"
[health]
port = {health_port}
{extra}"""


class Appliance(ApplianceProcess):
    """A simulated appliance joined to ``bridge``'s room, observed over its health port."""

    def __init__(self, tmp: Path, bridge: BridgeProcess, name: str, room: str = "testbim",
                 tone_hz: float = 1000.0, extra: str = "",
                 size: tuple[int, int] = (1280, 720), mic_signal: str = "tone",
                 nice: int = 0, camera: str = "", audio: str = "",
                 wrap: list[str] | None = None, env: dict[str, str] | None = None,
                 display: tuple[int, int] = (1280, 720)) -> None:
        self.name = name
        self.health_port = free_port()
        self.speaker_wav = tmp / f"{name.replace(' ', '_')}-speaker.wav"
        super().__init__(tmp, name.replace(" ", "_"), appliance_toml(
            bridge.url, room, name, self.health_port, self.speaker_wav, tone_hz,
            width=size[0], height=size[1], extra=extra, mic_signal=mic_signal, camera=camera,
            audio=audio, display=display), nice=nice, wrap=wrap, env=env)

    def health(self) -> Any:
        return get_json(f"http://127.0.0.1:{self.health_port}/healthz")

    def video_from(self, name: str) -> dict[str, Any] | None:
        try:
            video: dict[str, Any] = self.health()["media"]["video"]
        except (OSError, KeyError, ValueError):
            return None
        return video.get(name)

    def screen_png(self) -> bytes:
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.health_port}/screen.png", timeout=5) as resp:
            return bytes(resp.read())

    def wait_in_meeting(self, timeout: float = 30) -> None:
        try:
            wait_until(lambda: self.health()["meeting"]["state"] == "in_meeting", timeout,
                       f"{self.name} in the meeting")
        except TimeoutError:
            raise AssertionError(f"{self.name} never joined:\n{self.log_tail()}") from None
