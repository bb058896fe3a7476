"""`make demo`: the whole thing on embedded defaults — bridge with its own Janus, an
SQLite file, a simulated room appliance and a simulated remote participant — inside
the private network namespace made by scripts/in-netns, until Ctrl-C.

The appliance's screen and the bridge's pages are forwarded to this machine's own
127.0.0.1 (same port on both sides), so any local browser opens the printed addresses.
Media (WebRTC) only flows inside the namespace: to send and receive sound and pictures
with a browser, open one inside it with the command printed at start.

Ctrl-C reaches only this script (every component runs in its own session); it stops
the appliances first, while the bridge is still there to take their leave, then the
bridge, which stops its Janus itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
STATE = Path(os.environ.get("SALON_DEMO_STATE") or REPO / "var" / "demo")
CLONE_NEWNET = 0x40000000
ROOM = "testbim"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def host_namespace_listener(port: int) -> socket.socket | None:
    """A listening socket on 127.0.0.1:port of the machine's own network namespace.

    A socket keeps the namespace it was created in; so create it from a thread that
    has entered the initial namespace (pid 1's), then use it from here."""
    result: list[socket.socket | None] = [None]

    host_ns = os.environ.get("SALON_HOST_NETNS_FD", "")
    if not host_ns.isdigit():
        return None

    def make() -> None:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        if libc.setns(int(host_ns), CLONE_NEWNET) != 0:
            return
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            return
        sock.listen(16)
        result[0] = sock
    # The thread dies with the namespace switch; the socket stays in the host namespace.
    t = threading.Thread(target=make)
    t.start()
    t.join()
    return result[0]


async def forward(listener: socket.socket, target_port: int) -> None:
    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, up_w), pipe(up_r, client_w))

    listener.setblocking(False)
    server = await asyncio.start_server(handle, sock=listener)
    async with server:
        await server.serve_forever()


def write_configs(bridge_port: int, appliance_ports: tuple[int, int]) -> tuple[Path, ...]:
    STATE.mkdir(parents=True, exist_ok=True)
    host_password = STATE / "ogretmen.password"
    if not host_password.exists():
        host_password.touch(mode=0o600)
        host_password.write_text(secrets.token_urlsafe(9) + "\n")
    media_ip = os.environ.get("SALON_MEDIA_IP", "127.1.0.1")
    bridge = STATE / "bridge.toml"
    bridge.write_text(f"""\
state_dir = "{STATE / 'bridge'}"
[server]
port = {bridge_port}
[janus]
media_ip = "{media_ip}"
[[rooms]]
address = "{ROOM}"
title = "Test BİM – açık oda"
policy = "public"
moderated = false
[[rooms]]
address = "sinif"
title = "Sınıf – öğretmen yönetir"
policy = "public"
moderated = true
[[users]]
name = "ogretmen"
display_name = "Öğretmen"
role = "host"
password_file = "{host_password}"
""")
    rooms = []
    # The room's HDMI input: a simulated slide deck on a laptop cable (hold C to present).
    content = '[content]\nbackend = "simulated"\nfps = 5\nslide_s = 6\n'
    for name, port, tone, title, pins, extra in (
        # The room's buttons are this terminal's keys (gpiozero mock pins behind them).
        ("TOPLANTI ODASI 1 – ANKARA MEM", appliance_ports[0], 440, "room", "keyboard", content),
        ("UZAK KATILIMCI – İZMİR", appliance_ports[1], 660, "remote", "mock", ""),
    ):
        cfg = STATE / f"{title}.toml"
        cfg.write_text(f"""\
[room]
name = "{name}"
language = "tr"
[bridge]
url = "http://127.0.0.1:{bridge_port}"
room = "{ROOM}"
[join]
mode = "guest"
guest_name = "{name}"
[camera]
backend = "simulated"
width = 1280
height = 720
fps = 30
[audio]
mic_backend = "simulated"
tone_hz = {tone}
speaker_backend = "wav"
speaker_wav = "{STATE / (title + '-speaker.wav')}"
[display]
backend = "headless"
width = 1920
height = 1080
[buttons]
pin_factory = "{pins}"
[buttons.hand]
pin = 5
[buttons.mute]
pin = 6
[buttons.camera]
pin = 13
[health]
port = {port}
{extra}""")
        rooms.append(cfg)
    return (bridge, *rooms)


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"demo: {url} did not answer within {timeout}s")


def forwarded(preferred: int, target: int | None = None) -> tuple[int, asyncio.Task[None] | None]:
    """Serve ``target`` (in this namespace) on the machine's own 127.0.0.1, at ``preferred``
    or else any free port; ``target`` None: the same port number on both sides (then
    pick ``preferred`` free here too). Returns the port to print and the forwarding task;
    without a handle on the machine's namespace, the in-namespace port and None."""
    listener = host_namespace_listener(preferred) or host_namespace_listener(0)
    if listener is None:
        return (target or preferred), None
    port = int(listener.getsockname()[1])
    return port, asyncio.create_task(forward(listener, target or port))


def start(argv: list[str], log: Path, stdin: int | None = subprocess.DEVNULL,
          env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    # Its own session: a Ctrl-C in this terminal reaches only the demo, which stops the
    # components in order (a terminal signals its whole foreground process group at once).
    return subprocess.Popen(argv, stdin=stdin, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env=env, start_new_session=True)


def stop_all(appliances: list[subprocess.Popen[bytes]], bridge: subprocess.Popen[bytes]) -> None:
    """The appliances leave while the bridge still runs; then the bridge stops its Janus."""
    for group in (appliances, [bridge]):
        for proc in group:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in group:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def banner(bridge_port: int, screen_port: int, logs: Path) -> str:
    password = (STATE / "ogretmen.password").read_text().strip()
    root = os.geteuid() == 0
    sandbox = " --no-sandbox" if root else ""  # Chromium refuses to run as root otherwise
    return f"""
Salon demo is running (Ctrl-C stops everything).

  The room appliance's screen:  http://127.0.0.1:{screen_port}/screen
      (refreshed every second; open it in any browser on this machine)

  The meeting:                  http://127.0.0.1:{bridge_port}/{ROOM}
  A moderated classroom:        http://127.0.0.1:{bridge_port}/sinif
      host account: ogretmen / {password}
      Both open in any browser on this machine: names, hands, chat, polls and files.
      Sound and pictures flow only inside the demo's private network namespace; to
      take part with camera and microphone, open a browser there:
        {"" if root else "sudo "}nsenter --net=/proc/{os.getpid()}/ns/net chromium{sandbox} \\
            --user-data-dir=$(mktemp -d) http://127.0.0.1:{bridge_port}/{ROOM}

  The room's buttons are keys in this terminal: h = raise/lower hand (Söz Hakkı İste),
  m = mute, c = camera; H (shift) holds the hand button; C (shift) holds the camera
  button: the room presents its HDMI input (a simulated slide deck), again to stop.
  In the open room everyone has the floor; in /sinif the host grants rights.

  Logs: {logs}/
"""


async def main() -> int:
    if os.environ.get("SALON_IN_NETNS") != "1":
        print("demo: run me through scripts/in-netns (make demo does)", file=sys.stderr)
        return 2
    # The bridge listens on a port that is free on the machine too: its address is the
    # same inside the namespace and out (what the pages and their links show).
    bridge_port, bridge_forward = forwarded(free_port())
    screen_port, remote_port = free_port(), free_port()
    bridge_cfg, room_cfg, remote_cfg = write_configs(bridge_port, (screen_port, remote_port))
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    logs = STATE / "logs"
    logs.mkdir(exist_ok=True)
    bridge = start([str(VENV_BIN / "salon-bridge"), "--config", str(bridge_cfg)],
                   logs / "bridge.log")
    appliances: list[subprocess.Popen[bytes]] = []
    forwarders = [bridge_forward]
    try:
        wait_http(f"http://127.0.0.1:{bridge_port}/healthz", 30)
        for name, cfg in (("room", room_cfg), ("remote", remote_cfg)):
            appliances.append(start(
                [str(VENV_BIN / "salon-appliance"), "run", "--config", str(cfg),
                 "--state-dir", str(STATE / f"{name}-state")], logs / f"{name}.log",
                stdin=None if name == "room" else subprocess.DEVNULL,  # the room reads keys
                env=env))
        wait_http(f"http://127.0.0.1:{screen_port}/healthz", 30)
        shown_screen, screen_forward = forwarded(8480, screen_port)
        forwarders.append(screen_forward)
        print(banner(bridge_port, shown_screen, logs), flush=True)
        await wait_for_stop([bridge, *appliances])
        print("demo: stopping…", flush=True)
    finally:
        for task in forwarders:
            if task is not None:
                task.cancel()
        stop_all(appliances, bridge)
    return 0


async def wait_for_stop(procs: list[subprocess.Popen[bytes]]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        if any(p.poll() is not None for p in procs):
            print("demo: a component stopped; see the logs", file=sys.stderr)
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
