"""A meeting larger than one Janus (issue 19): one bridge with two real Janus servers and
``listeners_per_server = 2``. The first two people receive on the meeting's server (A),
the next ones on B, where the bridge relays each speaker they receive (the VideoRoom's
remote publishers, bridge/janus/cascade.py). Listeners on B see and hear the teacher;
a pupil's voice reaches them while the right holds and stops when the host takes it
away (enforced at A, so on B too); the teacher publishing anew reaches them again; the
teacher's shared screen reaches them; the last of them leaving takes the relays off B;
and when B dies, its listeners are placed on A and receive again by themselves. aiortc
participants, all in the test's namespace."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import cluster as cl
from tests.support.procs import BridgeProcess, RoomSpec
from tests.support.rtc_seat import RtcSeat, Seat, seat_in

pytestmark = [pytest.mark.netns, pytest.mark.slow,
              pytest.mark.skipif(not Path(cl.JANUS).exists(), reason="janus not installed")]

ROOM = "konferans"


@dataclass
class Pool:
    a: cl.JanusProcess
    b: cl.JanusProcess
    bridge: BridgeProcess


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[Pool]:
    a = cl.JanusProcess(tmp_path / "janus-a")
    b = cl.JanusProcess(tmp_path / "janus-b")
    bridge = None
    try:
        (tmp_path / "bridge").mkdir()
        bridge = BridgeProcess(
            tmp_path / "bridge", room_specs=(RoomSpec(ROOM, "Büyük Sınıf"),),
            users=(cl.HOST,),
            janus_toml=('mode = "remote"\nlisteners_per_server = 2\n'
                        + a.server_toml("a") + b.server_toml("b")))
        yield Pool(a, b, bridge)
    finally:
        for proc in (bridge, b, a):
            if proc is not None:
                proc.stop()


async def still(listener: RtcSeat, who: str, kind: str, settle: float = 3.0,
                watch: float = 3.0) -> int:
    """How many frames of ``who``'s ``kind`` arrived over ``watch`` seconds, after
    ``settle`` seconds for what was on its way."""
    await asyncio.sleep(settle)
    before = listener.count(who, kind)
    await asyncio.sleep(watch)
    return listener.count(who, kind) - before


@contextlib.asynccontextmanager
async def janus_rooms(pool: Pool) -> AsyncIterator[tuple[cl.JanusRoom, cl.JanusRoom]]:
    rooms = cl.JanusRoom(pool.a, ROOM), cl.JanusRoom(pool.b, ROOM)
    try:
        for room in rooms:
            await room.open()
        yield rooms
    finally:
        for room in rooms:
            await room.close()


async def test_listeners_beyond_a_server_receive_on_another_through_relays(pool: Pool
                                                                           ) -> None:
    seats: list[Seat] = []
    async with janus_rooms(pool) as (on_a, on_b):
        try:
            teacher = await seat_in(pool.bridge, ROOM, "Öğretmen")
            seats.append(teacher)
            await teacher.rtc.publish(("audio", "video"))
            pupil = await seat_in(pool.bridge, ROOM, "Öğrenci 1", teacher)  # the second on A
            far = [await seat_in(pool.bridge, ROOM, f"Öğrenci {i}", teacher) for i in (2, 3)]
            seats += [pupil, *far]

            # Everyone sees and hears the teacher; those placed on B through a relay.
            for seat in (pupil, *far):
                await seat.rtc.more(teacher.id, "video")
                await seat.rtc.more(teacher.id, "audio")
            assert await on_b.remote_publishers() == {teacher.id}, "relayed to B"
            assert await on_a.remote_publishers() == set(), "A has the teacher itself"

            # A pupil's voice, while the right holds, reaches B too (a second relay)...
            await teacher.set_right(pupil, "audio", granted=True)
            await pupil.rtc.publish(("audio",))
            for seat in far:
                await seat.rtc.more(pupil.id, "audio")
            # ...and not once the host takes the right away: muted at A, silent on B.
            await teacher.set_right(pupil, "audio", granted=False)
            assert await still(far[0].rtc, pupil.id, "audio") == 0
            assert far[0].rtc.count(teacher.id, "audio") > 0

            # The teacher publishes anew (a new PeerConnection): B's listeners get it.
            await teacher.rtc.publish(("audio", "video"))
            for seat in far:
                await seat.rtc.more(teacher.id, "video")

            # The teacher's shared screen reaches B too (its own feed, relayed).
            teacher.rid += 1
            assert (await teacher.rtc.client.request({"type": "present", "active": True},
                                                     teacher.rid))["type"] == "ok"
            await teacher.rtc.publish_content()
            for seat in far:
                await seat.rtc.more(teacher.id, "content-video")

            # B's last listener leaving takes the relays off B.
            for seat in far:
                await seat.rtc.close()
                seats.remove(seat)
            await on_b.until_remote(set())  # no relay left on B

            # Two more are placed on B again; then B dies: they are placed on A and
            # receive again by themselves (media_reset, as after any Janus restart).
            late = [await seat_in(pool.bridge, ROOM, f"Öğrenci {i}", teacher) for i in (4, 5)]
            seats += late
            for seat in late:
                await seat.rtc.more(teacher.id, "video")
            assert teacher.id in await on_b.remote_publishers()
            pool.b.proc.kill()
            for seat in late:
                async with asyncio.timeout(60):
                    while seat.rtc.resets == 0:
                        await asyncio.sleep(0.1)
                await seat.rtc.more(teacher.id, "video")
                await seat.rtc.more(teacher.id, "audio")
        finally:
            for seat in seats:
                await seat.rtc.close()


async def test_the_meetings_janus_killed_the_meeting_moves_to_the_other(pool: Pool) -> None:
    """The meeting's own server dies while the other is up: its people are told
    ``media_reset`` at once, and publish and receive on the other by themselves."""
    seats: list[Seat] = []
    rooms = {"a": cl.JanusRoom(pool.a, ROOM), "b": cl.JanusRoom(pool.b, ROOM)}
    try:
        for room in rooms.values():
            await room.open()
        teacher = await seat_in(pool.bridge, ROOM, "Öğretmen")
        seats.append(teacher)
        await teacher.rtc.publish(("audio", "video"))
        pupil = await seat_in(pool.bridge, ROOM, "Öğrenci 1", teacher)
        seats.append(pupil)
        await pupil.rtc.more(teacher.id, "video")
        home = [name for name, room in rooms.items() if teacher.id in await room.publishers()]
        assert len(home) == 1, home
        other = "b" if home[0] == "a" else "a"
        (pool.a if home[0] == "a" else pool.b).proc.kill()
        for seat in (teacher, pupil):
            async with asyncio.timeout(60):
                while seat.rtc.resets == 0:
                    await asyncio.sleep(0.1)
        await pupil.rtc.more(teacher.id, "video")
        await pupil.rtc.more(teacher.id, "audio")
        assert teacher.id in await rooms[other].publishers()
    finally:
        for seat in seats:
            await seat.rtc.close()
        for room in rooms.values():
            with contextlib.suppress(Exception):
                await room.close()
