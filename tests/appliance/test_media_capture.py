"""The microphone read on its own capture thread (`ThreadedMicrophone`)."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from appliance.devices.audio import CHUNK_SAMPLES, AudioDeviceError, Microphone, Samples
from appliance.media.capture import ThreadedMicrophone, unthreaded


class Numbered(Microphone):
    """Chunks numbered 0, 1, 2 … every 10 ms; remembers which threads read it."""

    def __init__(self, fail_after: int | None = None, hang: bool = False) -> None:
        super().__init__()
        self.threads: set[str] = set()
        self.fail_after, self.hang = fail_after, hang

    async def _read_chunk(self) -> Samples:
        self.threads.add(threading.current_thread().name)
        if self.hang:
            await asyncio.sleep(3600)  # a device that never delivers
        await asyncio.sleep(0.01)
        if self.fail_after is not None and self.chunks_read >= self.fail_after:
            raise OSError("device unplugged")
        return np.full(CHUNK_SAMPLES, self.chunks_read % 30000, np.int16)


async def test_chunks_come_in_order_from_the_capture_thread() -> None:
    inner = Numbered()
    mic = ThreadedMicrophone(inner)
    assert unthreaded(mic) is inner and unthreaded(inner) is inner
    mic.start()
    try:
        chunks = [int((await mic.read())[0]) for _ in range(20)]
        time.sleep(0.1)  # the event loop busy for 100 ms: capture goes on meanwhile
        late = [int((await mic.read())[0]) for _ in range(10)]
    finally:
        mic.stop()
    assert chunks == list(range(20))
    assert late == list(range(20, 30))  # nothing lost while the loop was busy
    assert inner.threads == {"mic-capture"} and not inner.running


async def test_stopping_closes_the_device_at_once_even_while_a_read_waits() -> None:
    inner = Numbered(hang=True)
    mic = ThreadedMicrophone(inner)
    mic.start()
    await asyncio.sleep(0.05)
    assert inner.running
    started = time.monotonic()
    mic.stop()
    assert not inner.running and time.monotonic() - started < 0.5
    with pytest.raises(AudioDeviceError):
        await mic.read()


async def test_a_failing_device_fails_the_reader_and_keeps_capturing_after() -> None:
    mic = ThreadedMicrophone(Numbered(fail_after=3))
    mic.start()
    try:
        assert [int((await mic.read())[0]) for _ in range(3)] == [0, 1, 2]
        with pytest.raises(OSError, match="unplugged"):
            await mic.read()
    finally:
        mic.stop()
