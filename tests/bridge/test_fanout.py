"""Room events between bridge processes, on the in-process bus (bridge/bus.py LocalBus):
each process carries them out in the room's order, whatever order the bus brings them
in; one seen twice is carried out once; a gap is read back from the database (here a
list standing for it); a process's own events keep what only it carries out."""

from __future__ import annotations

import asyncio
import json

from bridge.bus import EVENTS, LocalBus, LocalHub, room_subject
from bridge.fanout import Fanout
from bridge.meetings.effects import Disconnect, Effect, SendTo, Sequenced
from salon import protocol as p

ROOM = "sinif"


class Process:
    """One bridge process's fan-out: what it carried out, in order."""

    def __init__(self, name: str, hub: LocalHub, stored: list[Sequenced]) -> None:
        self.done: list[tuple[str, int]] = []
        self.stored = stored

        async def carry_out(effect: Effect) -> None:
            assert isinstance(effect, Disconnect | SendTo)
            self.done.append((effect.reason if isinstance(effect, Disconnect) else "send",
                              effect.participant))

        async def read_events(room: str, after: int) -> list[Sequenced]:
            return [e for e in self.stored if e.room == room and e.seq > after]

        async def last_events(rooms: list[str]) -> dict[str, int]:
            return {room: max((e.seq for e in self.stored if e.room == room), default=0)
                    for room in rooms}

        async def on_live(room: str, person: dict[str, object]) -> None:
            pass

        self.fanout = Fanout(LocalBus(hub), name, carry_out, read_events, last_events, on_live)


def event(seq: int, node: str, *effects: Effect) -> Sequenced:
    return Sequenced(room=ROOM, seq=seq, shared=effects, node=node)


def bus_message(e: Sequenced) -> bytes:
    from bridge.meetings.outbox import to_json
    return json.dumps({"room": e.room, "seq": e.seq, "node": e.node,
                       "effects": [to_json(x) for x in e.shared]}).encode()


async def deliver(bus: LocalBus, e: Sequenced) -> None:
    """As the network hands a message over, in whatever order the test chooses."""
    await bus.deliver(room_subject(EVENTS, e.room), bus_message(e))


async def started(*procs: Process, room: str = ROOM) -> None:
    for proc in procs:
        await proc.fanout.start()
        await proc.fanout.follow(room)


async def test_events_are_carried_out_in_the_rooms_order_once_each() -> None:
    hub, stored = LocalHub(), []
    a, b = Process("a", hub, stored), Process("b", hub, stored)
    await started(a, b)
    # b's first action in the room (number 1): from then on it follows the room.
    first = event(1, "b", Disconnect(1, "one"))
    stored.append(first)
    await b.fanout.own((*first.shared, SendTo(9, p.Pong())), first)
    assert b.done == [("one", 1), ("send", 9)], "its own effects, the private one too"
    # Numbers 3 and 2 arrive in that order, 3 twice: b carries out 2, then 3, once.
    two, three = event(2, "a", Disconnect(2, "two")), event(3, "a", Disconnect(3, "three"))
    stored += [two, three]
    await deliver(hub.buses[1], three)
    assert b.done[-1] == ("send", 9), "3 waits for 2"
    await deliver(hub.buses[1], two)
    await deliver(hub.buses[1], three)
    assert b.done[2:] == [("two", 2), ("three", 3)]
    await a.fanout.close()
    await b.fanout.close()


async def test_a_gap_is_read_back_from_the_database() -> None:
    hub, stored = LocalHub(), []
    b = Process("b", hub, stored)
    await started(b)
    first = event(1, "b")
    stored.append(first)
    await b.fanout.own((), first)
    lost, later = event(2, "a", Disconnect(2, "lost")), event(3, "a", Disconnect(3, "later"))
    stored += [lost, later]
    await deliver(hub.buses[0], later)  # 2 never comes by the bus
    for _ in range(100):
        if len(b.done) == 2:
            break
        await asyncio.sleep(0.05)
    assert b.done == [("lost", 2), ("later", 3)]
    assert b.fanout.resyncs >= 1
    # And a last event that never came: found by comparing with the database.
    stored.append(event(4, "a", Disconnect(4, "last")))
    await b.fanout.check()
    assert b.done[-1] == ("last", 4)
    await b.fanout.close()


async def test_another_process_hears_its_peers_and_not_itself() -> None:
    hub, stored = LocalHub(), []
    a, b = Process("a", hub, stored), Process("b", hub, stored)
    await started(a, b)
    for proc, seq in ((a, 1), (b, 2)):  # each starts following with its own action
        e = event(seq, proc.fanout.node, Disconnect(seq, proc.fanout.node))
        stored.append(e)
        await proc.fanout.own(e.shared, e)
    assert a.done == [("a", 1), ("b", 2)], "a saw b's event after its own"
    assert b.done == [("b", 2)], "b started following at its own event"
    await a.fanout.close()
    await b.fanout.close()


async def test_a_process_hears_only_the_rooms_it_follows() -> None:
    """Each room its own subjects: a process that holds nobody of a room neither hears
    nor keeps its events (with room affinity, a room costs one process); its own action
    there (leaving a dead process's seat, say) is carried out at once and heard by the
    followers; following again starts afresh."""
    hub, stored = LocalHub(), []
    a, b = Process("a", hub, stored), Process("b", hub, stored)
    await started(a)
    await b.fanout.start()
    await b.fanout.follow("baska-sinif")
    mine = event(1, "a", Disconnect(1, "a's"))
    await a.fanout.own(mine.shared, mine)
    assert b.done == [] and ROOM not in b.fanout.rooms, "b does not follow the room"
    theirs = event(2, "b", Disconnect(2, "b's"))
    await b.fanout.own(theirs.shared, theirs)
    assert b.done == [("b's", 2)], "carried out at once, with no order kept"
    assert a.done == [("a's", 1), ("b's", 2)], "and heard where the room is followed"
    assert ROOM not in b.fanout.rooms

    # Two connections follow; one done, the room is still followed; both, it is dropped.
    await b.fanout.follow(ROOM)
    await b.fanout.follow(ROOM)
    await b.fanout.unfollow(ROOM)
    third = event(3, "a", Disconnect(3, "third"))
    await a.fanout.own(third.shared, third)
    await b.fanout.own(event(4, "b").shared, event(4, "b"))
    assert b.fanout.follows(ROOM) and b.fanout.following() == [ROOM]
    await b.fanout.unfollow(ROOM)
    assert not b.fanout.follows(ROOM) and ROOM not in b.fanout.rooms
    fifth = event(5, "a", Disconnect(5, "fifth"))
    await a.fanout.own(fifth.shared, fifth)
    assert ("fifth", 5) not in b.done, "nothing heard after the last one left"
    # Following afresh: b's order starts at its next own event, not at the old one.
    await b.fanout.follow(ROOM)
    sixth = event(6, "b")
    await b.fanout.own(sixth.shared, sixth)
    seventh = event(7, "a", Disconnect(7, "seventh"))
    await a.fanout.own(seventh.shared, seventh)
    assert b.done[-1] == ("seventh", 7)
    await a.fanout.close()
    await b.fanout.close()


def test_a_rooms_subject_is_one_nats_token_whatever_its_address() -> None:
    for room in ("sinif", "5-A sınıfı", "a.b.c", "oda*>"):
        subject = room_subject(EVENTS, room)
        kind, token = subject.split(".")[1:]
        assert kind == "events" and token and all(c.isalnum() or c in "-_" for c in token)
    assert room_subject(EVENTS, "a.b") != room_subject(EVENTS, "a_b")


async def test_a_process_with_no_action_of_its_own_starts_after_the_view_it_gave() -> None:
    """A phone companion enters with the room's view (numbered up to some event) and no
    action: its process carries out what comes after that view, and nothing before."""
    hub, stored = LocalHub(), []
    a, b = Process("a", hub, stored), Process("b", hub, stored)
    await started(a, b)
    for seq in (1, 2):
        e = event(seq, "a", Disconnect(seq, f"before-{seq}"))
        await a.fanout.own(e.shared, e)
    third = event(3, "a", Disconnect(3, "after"))
    await a.fanout.own(third.shared, third)  # came while b's view (up to 2) was read
    await b.fanout.start_after(ROOM, 2)
    assert b.done == [("after", 3)]
    fourth = event(4, "a", Disconnect(4, "later"))
    await a.fanout.own(fourth.shared, fourth)
    assert b.done == [("after", 3), ("later", 4)]
    await a.fanout.close()
    await b.fanout.close()
