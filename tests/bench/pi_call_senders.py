"""Cheap, real remote senders for bench_pi_call's 9-tile variant: one process, N aiortc peers.

    python tests/bench/pi_call_senders.py --ws URL --room ROOM --count 8 --clip CLIP.npz

Each sender joins the room through the bridge's protocol as a bot (tests/support/wsclient
RawClient), publishes one H.264 video m-line and one Opus m-line to Janus, and answers no
subscription offer (it receives nothing: eight receivers of eight streams would be the
machine's whole budget). Nothing is encoded while they run: the video is a PacketClip
(appliance/devices/camera_packets.py: the test pattern at 640×360@30 encoded once by x264,
an IDR every loop and an all-IDR copy for keyframe requests) and the audio one second of
a quiet tone encoded once by libopus; aiortc only packetizes, encrypts and sends them —
what Janus and the appliance get is a camera's ordinary RTP. Each sender's picture
advances at 30 fps on the wall clock, its audio every 20 ms.

Prints "ready N" on stdout once every sender has Janus's answer, then runs until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import psutil
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from appliance.devices.camera import PTS_TIME_BASE
from appliance.devices.camera_packets import PacketClip
from appliance.media.audio import FRAME_SAMPLES, SAMPLE_RATE
from appliance.media.audio_send import OPUS_TIME_BASE, OpusFrameEncoder
from appliance.media.video import h264_preferences, observe_sender_feedback
from tests.support.rtc_seat import NO_ICE_SERVERS
from tests.support.wsclient import RawClient

SIZE = (640, 360)
FPS = 30.0


class Senders:
    """This module as a child process (the bench's own loop stays free; its CPU is
    measured apart)."""

    def __init__(self, ws_url: str, room: str, count: int, clip: Path, log: Path) -> None:
        self.count, self.log_path = count, log
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--ws", ws_url, "--room", room,
             "--count", str(count), "--clip", str(clip)],
            stdout=subprocess.PIPE, stderr=self._log, text=True)

    async def ready(self, timeout: float = 90.0) -> None:
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            line = await asyncio.to_thread(self.proc.stdout.readline)
        if not line.startswith("ready"):
            raise RuntimeError(f"senders: {line!r}\n{self.log_tail()}")

    @property
    def names(self) -> list[str]:
        return [sender_name(i) for i in range(self.count)]

    def procs(self) -> list[psutil.Process]:
        try:
            return [psutil.Process(self.proc.pid)]
        except psutil.NoSuchProcess:
            return []

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_text()[-chars:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def sender_name(i: int) -> str:
    return f"Sender {i + 1}"


def opus_loop(hz: float, seconds: float = 1.0, dbfs: float = -30.0) -> list[bytes]:
    """A quiet tone as Opus packets, 20 ms each, encoded once (a whole number of cycles
    per loop, so the loop is seamless)."""
    frames = round(seconds * SAMPLE_RATE / FRAME_SAMPLES)
    n = frames * FRAME_SAMPLES
    hz = round(hz * n / SAMPLE_RATE) * SAMPLE_RATE / n
    t = np.arange(n) / SAMPLE_RATE
    pcm = (10 ** (dbfs / 20) * 32767 * np.sin(2 * math.pi * hz * t)).astype(np.int16)
    encoder = OpusFrameEncoder()
    packets: list[bytes] = []
    for k in range(frames):
        packets += encoder.encode(pcm[k * FRAME_SAMPLES:(k + 1) * FRAME_SAMPLES])
    return packets


class _Paced(MediaStreamTrack):
    """recv() waits for the next slot of `period` on the monotonic clock (no catch-up
    burst after a late wake-up: a slot already past is skipped, as a camera drops it)."""

    period = 1.0

    def __init__(self) -> None:
        super().__init__()
        self._start: float | None = None
        self._next = 0
        self.skipped = 0

    async def _slot(self) -> tuple[int, bool]:
        """The slot to send, and whether it follows the previous one."""
        now = time.monotonic()
        if self._start is None:
            self._start = now
        slot = max(self._next, math.ceil((now - self._start) / self.period - 1e-6))
        await asyncio.sleep(max(0.0, self._start + slot * self.period - now))
        follows = slot == self._next
        self.skipped += slot - self._next
        self._next = slot + 1
        return slot, follows


class ClipVideo(_Paced):
    """The clip's access units as av.Packets; an IDR at the start, after a skipped slot
    and on PLI/FIR (`keyframe_wanted`)."""

    kind = "video"

    def __init__(self, clip: PacketClip) -> None:
        super().__init__()
        self.clip, self.period = clip, 1.0 / clip.fps
        self.keyframe_wanted = True
        self.keyframes_asked = 0

    def ask_keyframe(self) -> None:
        self.keyframes_asked += 1
        self.keyframe_wanted = True

    async def recv(self) -> av.Packet:
        slot, follows = await self._slot()
        index = slot % self.clip.frames
        idr = self.keyframe_wanted or not follows
        self.keyframe_wanted = False
        packet = av.Packet(self.clip.idr[index] if idr and index else self.clip.stream[index])
        packet.pts = packet.dts = round(slot * 90_000 / self.clip.fps)
        packet.time_base = PTS_TIME_BASE
        return packet


class LoopAudio(_Paced):
    kind = "audio"
    period = FRAME_SAMPLES / SAMPLE_RATE

    def __init__(self, packets: list[bytes]) -> None:
        super().__init__()
        self.packets = packets

    async def recv(self) -> av.Packet:
        slot, _ = await self._slot()
        packet = av.Packet(self.packets[slot % len(self.packets)])
        packet.pts = packet.dts = slot * FRAME_SAMPLES
        packet.time_base = OPUS_TIME_BASE
        return packet


async def publish(ws_url: str, room: str, name: str, clip: PacketClip,
                  audio: list[bytes]) -> tuple[RawClient, RTCPeerConnection]:
    client = await RawClient.connect(ws_url)
    welcome = await client.join(room, name)
    if welcome.get("type") != "welcome":
        raise RuntimeError(f"{name}: {welcome}")
    pc = RTCPeerConnection(NO_ICE_SERVERS)
    audio_t = pc.addTransceiver(LoopAudio(audio), direction="sendonly")
    audio_t.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("audio").codecs
                                 if c.mimeType.lower() == "audio/opus"])
    video = ClipVideo(clip)
    video_t = pc.addTransceiver(video, direction="sendonly")
    video_t.setCodecPreferences(h264_preferences())
    observe_sender_feedback(video_t.sender, video.ask_keyframe, lambda bps: None)
    await pc.setLocalDescription(await pc.createOffer())
    answer = await client.request({"type": "publish", "sdp": pc.localDescription.sdp,
                                   "sending": ["audio", "video"]}, 2, timeout=30.0)
    if answer.get("type") != "publish_answer":
        raise RuntimeError(f"{name}: {answer}")
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    return client, pc


async def run(args: argparse.Namespace) -> None:
    clip = PacketClip.load(Path(args.clip))
    tones = [opus_loop(300.0 + 60.0 * i) for i in range(args.count)]
    seats = []
    for i in range(args.count):
        seats.append(await publish(args.ws, args.room, sender_name(i), clip, tones[i]))
    print(f"ready {len(seats)}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for client, pc in seats:
        with contextlib.suppress(Exception):
            await pc.close()
            await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ws", required=True)
    parser.add_argument("--room", required=True)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--clip", required=True, help="a PacketClip .npz at 640x360@30")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
