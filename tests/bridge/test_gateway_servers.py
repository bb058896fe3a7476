"""Which Janus server hosts a room when one is lost and comes back (bridge/gateway/pool.py):
two fake Janus servers, no process, no network."""

from __future__ import annotations

from bridge.gateway import MediaGateway
from bridge.janus.fake import FakeJanus
from tests.support.fake_janus import ADMIN_KEY, ROOM, endpoint, until


async def gateway_of(fakes: dict[str, FakeJanus], shared: bool) -> MediaGateway:
    gw = MediaGateway([endpoint(f, n) for n, f in fakes.items()], shared=shared)
    await gw.start()
    await until(lambda: all(s.up.is_set() for s in gw.servers), "both servers")
    return gw


async def test_a_lost_servers_rooms_move_and_with_several_processes_come_back() -> None:
    fakes = {"a": FakeJanus(admin_key=ADMIN_KEY), "b": FakeJanus(admin_key=ADMIN_KEY)}
    gw = await gateway_of(fakes, shared=True)
    lost_rooms: list[str] = []
    gw.on_server_lost = lambda server: lost_rooms.append(server.endpoint.name)
    try:
        home = gw.server_for(ROOM)
        other = next(s for s in gw.servers if s is not home)
        await fakes[home.endpoint.name].go_away()
        await until(lambda: lost_rooms == [home.endpoint.name], "the server lost")
        assert gw.server_for(ROOM) is other, "moved to the server that is up"
        fakes[home.endpoint.name].come_back()
        await until(home.up.is_set, "the server back")
        # Every process picks a room's server alike: back it goes (those of this
        # process are told media_reset by the web side, bridge/web/app.py).
        assert gw.rooms_returning(home) == [ROOM]
        assert gw.server_for(ROOM) is home
    finally:
        await gw.close()


async def test_with_one_process_a_moved_room_stays_and_none_moves_with_nowhere_to_go(
        ) -> None:
    fakes = {"a": FakeJanus(admin_key=ADMIN_KEY), "b": FakeJanus(admin_key=ADMIN_KEY)}
    gw = await gateway_of(fakes, shared=False)
    try:
        home = gw.server_for(ROOM)
        other = next(s for s in gw.servers if s is not home)
        await fakes[home.endpoint.name].go_away()
        await until(lambda: not home.up.is_set(), "the server lost")
        assert gw.server_for(ROOM) is other
        await fakes[other.endpoint.name].go_away()  # now none is up: the room stays
        await until(lambda: not other.up.is_set(), "the other lost too")
        assert gw.room_server[ROOM] is other
        fakes[home.endpoint.name].come_back()
        await until(home.up.is_set, "the first back")
        assert gw.rooms_returning(home) == [] and gw.room_server[ROOM] is other
    finally:
        await gw.close()
