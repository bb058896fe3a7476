"""Closing a PeerConnection in the middle of its DTLS handshake (the room leaving, a
peer rebuilt) is a normal event, not an error: with the appliance's loop handler it is
one INFO line, and asyncio's "Task exception was never retrieved" traceback is gone.
Two real aiortc peers over the namespace's 127.1.0.1 (scripts/in-netns)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from aiortc import AudioStreamTrack, RTCConfiguration, RTCPeerConnection, VideoStreamTrack

from appliance.conference import closing_race

pytestmark = pytest.mark.netns

# Loop turns after ICE completes at which a close lands inside the DTLS handshake; the
# handshake's own packets cross the kernel between turns, so a sweep finds the window
# whatever the machine's load.
TURNS = range(0, 24)


async def close_after(turns: int) -> None:
    offerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    answerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        offerer.addTransceiver(AudioStreamTrack(), direction="sendonly")
        offerer.addTransceiver(VideoStreamTrack(), direction="sendonly")
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        await offerer.setRemoteDescription(answerer.localDescription)
        async with asyncio.timeout(30):
            while offerer.iceConnectionState != "completed":
                await asyncio.sleep(0)
        for _ in range(turns):
            await asyncio.sleep(0)
        await offerer.close()
        await asyncio.sleep(0.2)  # aiortc's connect task runs to its end
    finally:
        await offerer.close()
        await answerer.close()


def landed_in_handshake(record: logging.LogRecord) -> bool:
    """The close met aiortc's connect task: our INFO line, or asyncio's report of it."""
    return "closed while it was still connecting" in record.getMessage() or (
        record.exc_info is not None and "RTCIceTransport is closed" in str(record.exc_info[1]))


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO)
    yield caplog


async def test_a_connection_closed_in_its_handshake_is_one_info_line(
        records: pytest.LogCaptureFixture) -> None:
    closing_race.install(asyncio.get_running_loop())
    hits = 0
    for _ in range(3):  # a sweep that never landed in the handshake is run again
        for turns in TURNS:
            await close_after(turns)
        hits = sum(landed_in_handshake(r) for r in records.records)
        if hits:
            break
    assert hits, "no close landed in the DTLS handshake: the test exercised nothing"
    errors = [r.getMessage() for r in records.records if r.levelno >= logging.ERROR]
    assert errors == []


async def test_other_unretrieved_task_errors_still_reach_asyncio(
        records: pytest.LogCaptureFixture) -> None:
    closing_race.install(asyncio.get_running_loop())

    async def fails() -> None:
        raise RuntimeError("a real fault")

    task = asyncio.ensure_future(fails())
    await asyncio.sleep(0.05)
    del task
    import gc
    gc.collect()
    await asyncio.sleep(0)
    assert any("never retrieved" in r.getMessage() and r.levelno == logging.ERROR
               for r in records.records)
