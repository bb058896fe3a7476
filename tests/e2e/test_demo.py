"""`make demo` and a bridge run from a terminal: the printed meeting address opens from
the machine's own browser, and Ctrl-C stops everything in order, leaving nothing
un-awaited or unclosed behind (the appliances leave first, then the bridge stops its
Janus)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.support.procs import BIN, REPO, free_port, get_json, wait_until
from tests.support.wsclient import RawClient

pytestmark = [pytest.mark.netns, pytest.mark.slow]
CLONE_NEWNET = 0x40000000
SHUTDOWN_NOISE = ("never awaited", "Unclosed client session", "Unclosed connection",
                  "Traceback", "Task was destroyed")


def http_get(port: int, path: str, host_namespace: bool = False) -> tuple[int, str]:
    """GET http://127.0.0.1:port/path, from this namespace or the machine's own."""
    made: list[socket.socket] = []

    def make() -> None:
        if host_namespace:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            fd = int(os.environ["SALON_HOST_NETNS_FD"])
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
        made.append(socket.create_connection(("127.0.0.1", port), timeout=10))

    # Only this short-lived thread enters the other namespace; its socket stays there.
    thread = threading.Thread(target=make)
    thread.start()
    thread.join()
    assert made, f"no connection to 127.0.0.1:{port}"
    with made[0] as conn:
        conn.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


def host_namespace_reachable() -> bool:
    fd = os.environ.get("SALON_HOST_NETNS_FD", "")
    return fd.isdigit() and Path(f"/proc/self/fd/{fd}").exists()


def read_banner(proc: subprocess.Popen[str], timeout: float) -> str:
    lines: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.strip().startswith("Logs:"):
                break
        done.set()

    threading.Thread(target=read, daemon=True).start()
    done.wait(timeout)
    return "".join(lines)


def processes_under(path: Path) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if str(path) in text:
                found.append(text)
    return found


def quiet_logs(logs: Path) -> dict[str, list[str]]:
    noisy = {}
    for log in sorted(logs.glob("*.log")):
        lines = [x for x in log.read_text(errors="replace").splitlines()
                 if any(noise in x for noise in SHUTDOWN_NOISE)]
        if lines:
            noisy[log.name] = lines
    return noisy


@pytest.mark.skipif(not host_namespace_reachable(),
                    reason="needs scripts/in-netns's handle on the machine's namespace")
def test_demo_address_opens_on_the_machine_and_ctrl_c_stops_in_order(tmp_path: Path) -> None:
    fd = int(os.environ["SALON_HOST_NETNS_FD"])
    demo = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "demo.py")], cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "SALON_DEMO_STATE": str(tmp_path)}, pass_fds=(fd,),
        start_new_session=True)  # its own process group: the "terminal" below is ours
    try:
        banner = read_banner(demo, 90)
        found = re.search(r"The meeting: +http://127\.0\.0\.1:(\d+)/testbim\n", banner)
        assert found, banner
        port = int(found.group(1))
        assert "--no-sandbox" in banner and "/r/testbim" not in banner, banner
        # the address printed opens from the machine's own namespace, and inside the demo's
        status, page = http_get(port, "/testbim", host_namespace=True)
        assert status == 200 and "room.js" in page
        assert http_get(port, "/yok-boyle-oda", host_namespace=True)[0] == 404
        assert http_get(port, "/testbim")[0] == 200
        health = get_json(f"http://127.0.0.1:{port}/healthz")
        wait_until(lambda: get_json(f"http://127.0.0.1:{port}/healthz")["rooms"].get(
            "testbim") == 2, 60, "both appliances in the meeting")
        janus_pid = int(health["janus_pid"])

        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C: the terminal signals its foreground group
        assert demo.wait(60) == 0
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    wait_until(lambda: not processes_under(tmp_path), 20, "every demo process gone")
    assert not Path(f"/proc/{janus_pid}").exists()
    logs = tmp_path / "logs"
    bridge_log = (logs / "bridge.log").read_text()
    assert quiet_logs(logs) == {}, quiet_logs(logs)
    assert "janus stopped" in bridge_log and "lost Janus" not in bridge_log, bridge_log[-3000:]
    for name in ("room", "remote"):  # they left first: no bridge went away under them
        assert "retrying in" not in (logs / f"{name}.log").read_text(), name


async def test_ctrl_c_in_the_bridges_terminal_leaves_then_stops_janus(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    port = free_port()
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\nlog_level = "debug"\n'
        f'[server]\nport = {port}\n[janus]\nmedia_ip = "{os.environ.get("SALON_MEDIA_IP")}"\n'
        '[[rooms]]\naddress = "testbim"\ntitle = "Test"\npolicy = "public"\nmoderated = false\n')
    log = tmp_path / "bridge.log"
    with log.open("wb") as out:
        bridge = subprocess.Popen([str(BIN / "salon-bridge"), "--config", str(config)],
                                  stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
    clients: list[RawClient] = []
    try:
        health = await asyncio.to_thread(wait_until, lambda: get_json(
            f"http://127.0.0.1:{port}/healthz"), 30, "the bridge")
        janus_pid = int(health["janus_pid"])
        for i in range(3):  # people in the meeting: media sessions and subscriptions to end
            client = await RawClient.connect(f"ws://127.0.0.1:{port}/ws")
            assert (await client.join("testbim", f"Kişi {i}"))["type"] == "welcome"
            clients.append(client)
        os.killpg(bridge.pid, signal.SIGINT)  # what Ctrl-C in its terminal does
        assert await asyncio.to_thread(bridge.wait, 90) == 0  # (issue 12 item 4: ~30 s)
        for client in clients:
            await asyncio.wait_for(client.closed(), 10)
    finally:
        if bridge.poll() is None:
            os.killpg(bridge.pid, signal.SIGKILL)
            bridge.wait()
        for client in clients:
            await client.close()
    text = log.read_text(errors="replace")
    assert not Path(f"/proc/{janus_pid}").exists()
    assert "janus stopped" in text, text[-3000:]
    assert "lost Janus" not in text and "janus exited" not in text, text[-3000:]
    assert [x for x in text.splitlines() if any(n in x for n in SHUTDOWN_NOISE)] == []
