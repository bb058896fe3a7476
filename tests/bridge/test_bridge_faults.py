"""Bad requests and a sick disk against a real bridge process: every one gets a clear
answer (a status and a code that say what happened), never a 500 or a traceback, and the
bridge goes on serving. Disk-full and read-only filesystems are real mounts (tmpfs in a
private mount namespace of the bridge process); the database lock is held by a second
process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.procs import (
    BIN,
    BridgeProcess,
    RoomSpec,
    UserSpec,
    free_port,
    media_ip,
    wait_until,
)
from tests.support.wsclient import RawClient

pytestmark = pytest.mark.netns
HOST = UserSpec("ogretmen", "host-password-1", role="host", display_name="Öğretmen Ayşe")
ROOM = RoomSpec("kurul", "Kurul")
KIB = 1024


def private_mount(target: Path, options: str) -> list[str]:
    """A prefix that runs the bridge in its own mount namespace with a tmpfs at
    ``target`` (nothing outside the bridge process sees the mount)."""
    script = 'mkdir -p "$0" && mount -t tmpfs -o "$1" salon-test "$0" && shift && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
            str(target), options]


def seen_by(bridge: BridgeProcess, path: Path) -> Path:
    """``path`` as the bridge process sees it (inside its mount namespace)."""
    return Path(f"/proc/{bridge.pid}/root") / path.relative_to("/")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def signed_in_host(bridge: BridgeProcess) -> tuple[RawClient, str]:
    """The host in the meeting (files and reports are for those in it) and its token."""
    client = await RawClient.connect(bridge.ws_url)
    welcome = await client.sign_in("kurul", HOST.name, HOST.password, client="browser")
    assert welcome["type"] == "welcome", welcome
    return client, str(welcome["token"])


async def answer(resp: aiohttp.ClientResponse) -> tuple[int, dict[str, Any]]:
    body = await resp.json(content_type=None)
    return resp.status, body


async def upload(http: aiohttp.ClientSession, bridge: BridgeProcess, token: str, name: str,
                 data: bytes) -> tuple[int, dict[str, Any]]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    async with http.post(bridge.url + "/api/files", data=form,
                         headers={"Authorization": f"Bearer {token}"}) as resp:
        return await answer(resp)


async def test_out_of_range_ids_and_a_body_that_is_not_multipart_get_clear_answers(
        tmp_path: Path, http: aiohttp.ClientSession) -> None:
    bridge = BridgeProcess(tmp_path, room_specs=[ROOM], users=[HOST])
    host, token = await signed_in_host(bridge)
    try:
        auth = {"Authorization": f"Bearer {token}"}
        huge = "9" * 40
        for path, code in ((f"/api/files/{huge}", "no_such_file"),
                           (f"/api/files/{2**31}", "no_such_file"),
                           (f"/api/reports/{huge}", "no_such_meeting")):
            async with http.get(bridge.url + path, headers=auth) as resp:
                status, body = await answer(resp)
            assert (status, body["code"]) == (404, code), (path, status, body)
        for data, kind in ((b"just some text", "text/plain"),
                           (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
                           (b"", "multipart/form-data")):
            async with http.post(bridge.url + "/api/files", data=data,
                                 headers={**auth, "Content-Type": kind}) as resp:
                status, body = await answer(resp)
            assert status == 400 and body["code"] == "bad_upload", (kind, status, body)
            assert "multipart" in body["message"]
        status, body = await upload(http, bridge, token, "ok.txt", b"merhaba")
        assert status == 201, body
        assert "Traceback" not in bridge.log_tail(1_000_000)
    finally:
        await host.close()
        bridge.stop()


async def test_a_full_disk_refuses_the_upload_clearly_and_leaves_nothing_behind(
        tmp_path: Path, http: aiohttp.ClientSession) -> None:
    files = tmp_path / "bridge-state" / "files"
    bridge = BridgeProcess(tmp_path, room_specs=[ROOM], users=[HOST],
                           prefix=private_mount(files, "size=1m"))
    host, token = await signed_in_host(bridge)
    try:
        # 2 MiB fails while the vault writes it; 6 MiB already while it is received
        for size in (2 * KIB * KIB, 6 * KIB * KIB):
            status, body = await upload(http, bridge, token, "big.bin", b"\x01" * size)
            assert (status, body["code"]) == (507, "storage_full"), (size, status, body)
            assert "full" in body["message"]
            left = sorted(p.name for p in seen_by(bridge, files).rglob("*"))
            assert left == ["incoming"], left  # nothing partial kept
        # the space is all there again: a file that fits is taken
        status, body = await upload(http, bridge, token, "small.txt", b"x" * 300 * KIB)
        assert status == 201, body
        async with http.get(bridge.url + "/api/files",
                            headers={"Authorization": f"Bearer {token}"}) as resp:
            assert [f["name"] for f in await resp.json()] == ["small.txt"]
        assert "Traceback" not in bridge.log_tail(1_000_000)
    finally:
        await host.close()
        bridge.stop()


LOCK_HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")  # the write lock, as an admin tool or a backup might hold it
print("locked", flush=True)
sys.stdin.read()  # until the test lets go
db.execute("ROLLBACK")
"""


async def test_a_database_locked_by_another_process_answers_busy_and_loses_nothing(
        tmp_path: Path) -> None:
    bridge = BridgeProcess(tmp_path, room_specs=[ROOM], users=[HOST])
    host = await RawClient.connect(bridge.ws_url)
    other = await RawClient.connect(bridge.ws_url)
    holder: subprocess.Popen[str] | None = None
    try:
        assert (await host.sign_in("kurul", HOST.name, HOST.password))["type"] == "welcome"
        assert (await other.join("kurul", "Misafir Bir"))["type"] == "lobby_waiting"
        await host.expect("lobby")
        holder = subprocess.Popen(
            [sys.executable, "-c", LOCK_HOLDER, str(bridge.state_dir / "salon.sqlite3")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert holder.stdout is not None
        assert await asyncio.to_thread(holder.stdout.readline) == "locked\n"

        reply = await host.request({"type": "chat", "text": "kilitli"}, 5, timeout=60)
        assert reply["type"] == "error" and reply["code"] == "busy", reply
        assert "try again" in reply["message"]
        # a guest leaving meanwhile, its departure refused as busy too: it is not lost,
        # only late
        await other.close()
        await asyncio.to_thread(wait_until, lambda: "leave by participant 2 not done"
                                in bridge.log_tail(1_000_000), 60, "the departure refused")
        # (the host's connection itself is fine)
        assert (await host.request({"type": "ping"}, 6))["type"] == "pong"

        holder.communicate("", timeout=10)
        await host.expect_where(lambda m: m["type"] == "lobby" and m["waiting"] == [],
                                60, "the guest's departure from the lobby")
        reply = await host.request({"type": "chat", "text": "açık"}, 7, timeout=60)
        assert reply["type"] == "ok", reply
        # the refused chat was not half-recorded: only the second one exists
        late = await RawClient.connect(bridge.ws_url)
        welcome = await late.sign_in("kurul", HOST.name, HOST.password)
        assert [c["text"] for c in welcome["chat"]] == ["açık"]
        await late.close()
        assert "Traceback" not in bridge.log_tail(1_000_000)
    finally:
        if holder is not None and holder.poll() is None:
            holder.kill()
        await host.close()
        bridge.stop()


def test_a_read_only_state_directory_is_named_in_one_clear_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = tmp_path / "bridge.toml"
    config.write_text(f'state_dir = "{state}"\n[server]\nport = {free_port()}\n'
                      f'[janus]\nmedia_ip = "{media_ip()}"\n')
    run = subprocess.run(
        [*private_mount(state, "ro,size=1m"), str(BIN / "salon-bridge"), "--config",
         str(config)], capture_output=True, text=True, timeout=60)
    assert run.returncode not in (0, None)
    assert "Traceback" not in run.stderr, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert str(state) in last and "read-only" in last.lower(), run.stderr
