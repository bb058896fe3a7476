"""A meeting larger than one Janus with several bridge processes (issue 19): two bridges
on one PostgreSQL and one NATS, two real Janus servers, ``listeners_per_server = 2``.
The teacher's seat on bridge 1 publishes and a listener on bridge 2 fills the meeting's
server; then a listener on bridge 2 and one on bridge 1 are both placed beyond it
(each process counts the other's listeners, as announced), on the other server, where
the teacher is relayed once: made by the teacher's process, adopted by the other (the
edge lists the teacher once, the origin forwards exactly one ``relay-<edge>``). The teacher
publishing anew reaches them all again, and the teacher leaving takes the relay off the
edge, whichever process made it. aiortc participants, each seat connected to a chosen
bridge (not through the proxy, whose round-robin would make the split a matter of
order)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.janus.cascade import rendezvous
from tests.support import cluster as cl
from tests.support.procs import BridgeProcess, RoomSpec
from tests.support.rtc_seat import Seat, seat_in

pytestmark = [pytest.mark.netns, pytest.mark.slow,
              pytest.mark.skipif(cl.available() is not None, reason=str(cl.available()))]

ROOM = "konferans"
NAMES = ("a", "b")
# The meeting's server, as every process picks it (rendezvous hashing over those up).
ORIGIN = max(NAMES, key=lambda name: rendezvous(ROOM, name))
EDGE = next(name for name in NAMES if name != ORIGIN)


@pytest.fixture
def two(tmp_path: Path) -> Iterator[cl.Cluster]:
    with cl.bridge_cluster(tmp_path, (RoomSpec(ROOM, "Büyük Sınıf"),), janus_names=NAMES,
                           janus_extra="listeners_per_server = 2\n") as c:
        yield c


def logged(bridge: BridgeProcess, text: str) -> bool:
    return text in bridge.log_path.read_text(errors="replace")


async def until_logged(bridge: BridgeProcess, text: str, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not logged(bridge, text):
            await asyncio.sleep(0.2)


async def until_forwarded(origin: cl.JanusRoom, feed: str, expected: list[str],
                          timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while (await origin.remotizations(feed) or []) != expected:
            await asyncio.sleep(0.2)


async def test_listeners_of_two_processes_share_one_relay_on_the_edge(two: cl.Cluster
                                                                      ) -> None:
    first, second = two.bridges
    janus = dict(zip(NAMES, two.januses, strict=True))
    origin, edge = cl.JanusRoom(janus[ORIGIN], ROOM), cl.JanusRoom(janus[EDGE], ROOM)
    seats: list[Seat] = []
    try:
        await origin.open()
        await edge.open()
        teacher = await seat_in(first, ROOM, "Öğretmen")  # receives on the origin
        seats.append(teacher)
        await teacher.rtc.publish(("audio", "video"))

        # The meeting's server is full with the teacher and this one; bridge 1 knows
        # that only from bridge 2's announcement, bridge 2 the teacher from bridge 1's.
        near = await seat_in(second, ROOM, "Öğrenci 0", teacher)
        seats.append(near)
        await near.rtc.more(teacher.id, "video")
        assert await edge.remote_publishers() == set(), "no relay for the origin's own"

        # So bridge 2's next listener goes to the edge; bridge 1, told where it
        # receives, relays the teacher there, and bridge 2 adopts that relay.
        far2 = await seat_in(second, ROOM, "Öğrenci 1", teacher)
        seats.append(far2)
        for kind in ("video", "audio"):
            await far2.rtc.more(teacher.id, kind)
        relayed = f"relaying {teacher.id} of room {ROOM} to Janus {EDGE}"
        await until_logged(first, relayed)
        await until_logged(second, f"relay of {teacher.id} of room {ROOM} to Janus {EDGE} "
                                   "found live: adopted")
        assert await edge.remote_publishers() == {teacher.id}
        assert logged(second, f"{far2.id} of room {ROOM} receives on Janus {EDGE}")
        assert not logged(second, f"{near.id} of room {ROOM} receives on Janus")

        # Bridge 1's listener goes to the edge too (the origin is full; the edge has
        # one of bridge 2's) and receives through the same relay.
        far1 = await seat_in(first, ROOM, "Öğrenci 2", teacher)
        seats.append(far1)
        for kind in ("video", "audio"):
            await far1.rtc.more(teacher.id, kind)
        assert logged(first, f"{far1.id} of room {ROOM} receives on Janus {EDGE}")
        assert await edge.remote_publishers() == {teacher.id}
        assert await origin.remotizations(teacher.id) == [f"relay-{EDGE}"]
        assert await origin.remote_publishers() == set(), "the origin has the teacher itself"

        # The teacher publishes anew (a new PeerConnection, other streams possibly):
        # bridge 1 drops the relay wherever it is, and both listeners get the new one.
        await teacher.rtc.publish(("audio", "video"))
        for seat in (near, far1, far2):
            for kind in ("video", "audio"):
                await seat.rtc.more(teacher.id, kind)
        assert await edge.remote_publishers() == {teacher.id}
        await until_forwarded(origin, teacher.id, [f"relay-{EDGE}"])
        assert not logged(second, relayed), "bridge 2 never made a relay of its own"

        # The teacher leaves: the relay goes off the edge, though bridge 2's listener
        # is still there and whichever process made it.
        await teacher.rtc.close()
        seats.remove(teacher)
        await edge.until_remote(set(), timeout=60)
        # No forwarding left (None: the teacher's publisher is gone from it already).
        assert not await origin.remotizations(teacher.id)
    finally:
        for seat in seats:
            await seat.rtc.close()
        await origin.close()
        await edge.close()
