"""Run a local Janus as a child process: start it, wait until it answers, restart it
when it dies, stop it on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from bridge.janus.config import LocalJanusLayout, write_local_janus_config

log = logging.getLogger("salon.janus")

PR_SET_PDEATHSIG = 1


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    # Janus must not outlive a bridge that was killed with SIGKILL.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


async def janus_answers(url: str, api_secret: str, timeout: float = 2.0) -> bool:
    """True when a Janus WebSocket API at ``url`` answers an ``info`` request."""
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(
            url, protocols=("janus-protocol",), timeout=aiohttp.ClientWSTimeout(ws_close=timeout)
        ) as ws:
            await ws.send_json({"janus": "info", "transaction": "probe", "apisecret": api_secret})
            msg = await ws.receive(timeout=timeout)
            return msg.type == aiohttp.WSMsgType.TEXT and '"server_info"' in msg.data
    except (TimeoutError, OSError, aiohttp.ClientError):
        return False


class LocalJanus:
    """Supervises one local Janus process.

    ``on_restart`` is awaited each time a new Janus process is answering after the
    previous one died, so the gateway can reconnect and tell clients to republish.
    """

    def __init__(
        self,
        state_dir: Path,
        media_ip: str | None,
        rtp_port_range: str = "20000-40000",
        binary: str = "janus",
        on_restart: Callable[[], Awaitable[None]] | None = None,
        public_ip: str | None = None,
    ) -> None:
        self.binary = shutil.which(binary) or binary
        self.layout: LocalJanusLayout = write_local_janus_config(
            state_dir / "janus", free_tcp_port(), free_tcp_port(), media_ip, rtp_port_range,
            public_ip=public_ip,
        )
        self.on_restart = on_restart
        self.restarts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self, ready_timeout: float = 20.0) -> None:
        await self._spawn(ready_timeout)
        self._watch = asyncio.create_task(self._watch_loop(), name="janus-supervisor")

    async def _spawn(self, ready_timeout: float) -> None:
        log_path = self.layout.root / "janus.log"
        with log_path.open("ab") as out:
            self._proc = await asyncio.create_subprocess_exec(
                self.binary, "-F", str(self.layout.root), "-C", str(self.layout.config_file),
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
                preexec_fn=_die_with_parent,
                # Its own session: a Ctrl-C in the bridge's terminal goes to the bridge
                # alone, which leaves the meetings first and then stops Janus (stop()).
                start_new_session=True,
            )
        log.info("janus started", extra={"EVENT": "janus-start", "PID": self._proc.pid})
        deadline = asyncio.get_running_loop().time() + ready_timeout
        while asyncio.get_running_loop().time() < deadline:
            if self._proc.returncode is not None:
                break
            if await janus_answers(self.layout.ws_url, self.layout.api_secret):
                return
            await asyncio.sleep(0.1)
        tail = log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"Janus did not come up (log {log_path}):\n{tail}")

    async def _watch_loop(self) -> None:
        backoff = 0.2
        while not self._stopping:
            assert self._proc is not None
            code = await self._proc.wait()
            if self._stopping:
                return
            log.error("janus exited with %s; restarting", code, extra={"EVENT": "janus-died"})
            await asyncio.sleep(backoff)
            try:
                await self._spawn(ready_timeout=20.0)
            except (RuntimeError, OSError) as exc:
                log.error("janus restart failed: %s", exc)
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = 0.2
            self.restarts += 1
            if self.on_restart is not None:
                await self.on_restart()

    async def stop(self) -> None:
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5.0)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        log.info("janus stopped", extra={"EVENT": "janus-stop"})

    def kill_for_test(self) -> None:
        """Kill Janus hard, as a crash would (used by tests and the chaos bench)."""
        if self._proc is not None and self._proc.returncode is None:
            os.kill(self._proc.pid, signal.SIGKILL)
