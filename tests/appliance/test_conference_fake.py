"""The conference client on the fake bridge (appliance/conference/fake.py): how it
enters, what it makes of the bridge's messages, and how it keeps its seat through
drops, restarts and being sent away. No bridge, no Janus, no network."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from appliance import room, view
from appliance.conference import client as c
from appliance.conference.fake import FakeBridge
from appliance.meeting_data import MeetingData, reduce
from salon import protocol as p


class NoTracks:
    """A room without camera and microphone: the client publishes nothing."""

    def new_tracks(self) -> tuple[None, None]:
        return None, None


class Appliance:
    """A running conference client and every event it reported."""

    def __init__(self, bridge: FakeBridge, credentials: c.Credentials) -> None:
        self.events: list[c.ConferenceEvent] = []
        self.changed = asyncio.Event()
        self.client = c.BridgeClient(
            "https://bridge.example/", "testbim", credentials, NoTracks(), self._on_event,
            backoff=c.Backoff(base_s=0.001, cap_s=0.005), dial=bridge.dial)
        self.task: asyncio.Task[None] | None = None

    def _on_event(self, event: c.ConferenceEvent) -> None:
        self.events.append(event)
        self.changed.set()

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    async def until(self, check: Callable[[], object], timeout: float = 2.0) -> None:
        async with asyncio.timeout(timeout):
            while not check():
                self.changed.clear()
                await self.changed.wait()


DEVICE = c.Credentials(user="oda1", password="parola-oda-1")


@pytest.fixture
def bridge() -> FakeBridge:
    return FakeBridge(others=[p.Participant(id="3", name="Ayşe Öğretmen", role="host",
                                            audio_right=True, camera_right=True)])


@pytest.fixture
async def appliance(bridge: FakeBridge) -> AsyncIterator[Appliance]:
    a = Appliance(bridge, DEVICE)
    a.task = asyncio.create_task(a.client.run())
    yield a
    a.task.cancel()
    await asyncio.gather(a.task, return_exceptions=True)


async def test_the_room_signs_in_and_learns_the_room(
        appliance: Appliance, bridge: FakeBridge) -> None:
    await appliance.until(lambda: appliance.of(c.Joined))
    join = bridge.sent_of(p.Join)[0]
    assert (join.user, join.password, join.client, join.token) == (
        "oda1", "parola-oda-1", "appliance", None)
    assert appliance.of(c.Joined)[0].you.id == "7"
    assert set(appliance.of(c.ParticipantsChanged)[-1].participants) == {"7", "3"}
    assert appliance.of(c.MeetingData), "the welcome's chat, polls and files"


async def test_the_socket_names_the_room_for_a_balancer(
        appliance: Appliance, bridge: FakeBridge) -> None:
    """``?room=``: a balancer in front of several bridge processes keeps a room on one."""
    await appliance.until(lambda: appliance.of(c.Joined))
    assert bridge.dialled == ["wss://bridge.example/ws?room=testbim"]
    assert c.websocket_url("http://127.1.0.1:8080", "5-A sınıfı") == (
        "ws://127.1.0.1:8080/ws?room=5-A+s%C4%B1n%C4%B1f%C4%B1")


async def test_participants_come_change_and_go(
        appliance: Appliance, bridge: FakeBridge) -> None:
    await appliance.until(lambda: appliance.of(c.Joined))
    bridge.join(p.Participant(id="9", name="Veli Can"))
    await appliance.until(lambda: "9" in appliance.client.participants)
    bridge.update("9", talking=True)
    await appliance.until(lambda: appliance.client.participants["9"].talking)
    bridge.leave("9")
    await appliance.until(lambda: "9" not in appliance.client.participants)
    assert set(appliance.of(c.ParticipantsChanged)[-1].participants) == {"7", "3"}


async def test_rights_granted_and_revoked_reach_the_rooms_own_record(
        appliance: Appliance, bridge: FakeBridge) -> None:
    await appliance.until(lambda: appliance.of(c.Joined))
    bridge.grant("audio")
    bridge.grant("camera")
    await appliance.until(lambda: appliance.client.participants["7"].camera_right)
    assert appliance.client.participants["7"].audio_right
    bridge.revoke("audio")
    await appliance.until(lambda: not appliance.client.participants["7"].audio_right)
    assert appliance.client.participants["7"].camera_right


async def test_what_the_room_asks_reaches_the_bridge_in_the_protocol(
        appliance: Appliance, bridge: FakeBridge) -> None:
    await appliance.until(lambda: appliance.of(c.Joined))
    appliance.client.send_soon(p.SetHand(type="set_hand", raised=True))
    hand = await bridge.wait_sent(p.SetHand)
    assert hand[0].raised
    link = await appliance.client.companion_link()
    assert link.path.startswith("/c/") and link.expires_in_s == 900


async def test_notices_and_errors_are_reported(
        appliance: Appliance, bridge: FakeBridge) -> None:
    await appliance.until(lambda: appliance.of(c.Joined))
    bridge.say(p.Notice(code="muted_by_host"))
    bridge.say(p.Error(code="no_camera_right", message="camera: not yours"))
    await appliance.until(lambda: appliance.of(c.BridgeError))
    assert [n.code for n in appliance.of(c.NoticeReceived)] == ["muted_by_host"]
    assert appliance.of(c.BridgeError)[0].code == "no_camera_right"


async def test_a_dropped_connection_takes_the_same_seat_again(
        appliance: Appliance, bridge: FakeBridge) -> None:
    await appliance.until(lambda: appliance.of(c.Joined))
    first_token = appliance.client.token
    await bridge.drop()
    await appliance.until(lambda: len(appliance.of(c.Joined)) == 2)
    again = bridge.sent_of(p.Join)[1]
    assert again.token == first_token and again.user is None, "resumed, not signed in anew"
    assert appliance.of(c.Disconnected)[0].reason.startswith("bridge closed the connection")


@pytest.fixture
def quick_pings(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Pings every 50 ms (set before the client starts: its loop reads it each round)."""
    monkeypatch.setattr(c, "PING_INTERVAL_S", 0.05)
    return monkeypatch


async def test_a_short_outage_keeps_the_session_and_its_media(
        quick_pings: pytest.MonkeyPatch, appliance: Appliance, bridge: FakeBridge) -> None:
    quick_pings.setattr(c, "SILENT_LIMIT_S", 30.0)
    await appliance.until(lambda: appliance.of(c.Joined))
    bridge.go_silent()
    pings = len(bridge.sent_of(p.Ping))
    await asyncio.sleep(0.5)  # pings go unanswered meanwhile
    bridge.go_silent(False)
    await bridge.wait_sent(p.Ping, pings + 1)  # heard again
    assert bridge.connections == 1 and appliance.client.sessions == 1
    assert not appliance.of(c.Disconnected)


async def test_a_bridge_silent_past_the_limit_is_given_up_and_the_seat_resumed(
        quick_pings: pytest.MonkeyPatch, appliance: Appliance, bridge: FakeBridge) -> None:
    quick_pings.setattr(c, "SILENT_LIMIT_S", 0.3)
    await appliance.until(lambda: appliance.of(c.Joined))
    bridge.go_silent()
    await appliance.until(lambda: appliance.of(c.Disconnected), timeout=10)
    assert "nothing from the bridge" in appliance.of(c.Disconnected)[0].reason
    bridge.go_silent(False)
    await appliance.until(lambda: len(appliance.of(c.Joined)) == 2, timeout=10)
    assert bridge.sent_of(p.Join)[1].token is not None, "the seat resumed"
    assert appliance.client.sessions == 2


async def test_a_restarting_bridge_is_waited_for_and_the_seat_resumed(
        appliance: Appliance, bridge: FakeBridge) -> None:
    await appliance.until(lambda: appliance.of(c.Joined))
    bridge.up = False  # it goes down right after saying so
    await bridge.bye("restarting", code=1012)
    await appliance.until(lambda: appliance.of(c.Disconnected))
    assert appliance.of(c.Disconnected)[0].reason == "the bridge is restarting"
    bridge.come_up()
    await appliance.until(lambda: len(appliance.of(c.Joined)) == 2)
    assert bridge.sent_of(p.Join)[-1].token is not None


async def test_sent_away_the_room_does_not_keep_its_seat(
        appliance: Appliance, bridge: FakeBridge) -> None:
    await appliance.until(lambda: appliance.of(c.Joined))
    await bridge.bye("removed")
    await appliance.until(lambda: appliance.of(c.SentAway))
    assert appliance.of(c.SentAway)[0].reason == "removed"
    await appliance.until(lambda: len(bridge.sent_of(p.Join)) == 2)
    assert bridge.sent_of(p.Join)[1].token is None, "a new entry, not the old seat"


async def test_a_seat_that_is_gone_is_entered_anew(
        appliance: Appliance, bridge: FakeBridge) -> None:
    await appliance.until(lambda: appliance.of(c.Joined))
    bridge.tokens.clear()  # the bridge forgot the seat (the meeting ended meanwhile)
    await bridge.drop()
    await appliance.until(lambda: len(appliance.of(c.Joined)) == 2)
    tries = bridge.sent_of(p.Join)
    assert [j.token is not None for j in tries] == [False, True, False]


async def test_a_guest_room_waits_in_the_lobby_until_admitted() -> None:
    bridge = FakeBridge(lobby=True)
    guest = Appliance(bridge, c.Credentials(name="ODA 1 – ANKARA"))
    task = asyncio.create_task(guest.client.run())
    try:
        await guest.until(lambda: guest.of(c.WaitingInLobby))
        assert not guest.of(c.Joined)
        bridge.admit()
        await guest.until(lambda: guest.of(c.Joined))
        assert bridge.sent_of(p.Join)[0].name == "ODA 1 – ANKARA"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_bridge_that_is_down_is_retried_with_backoff(bridge: FakeBridge) -> None:
    bridge.up = False
    a = Appliance(bridge, DEVICE)
    task = asyncio.create_task(a.client.run())
    try:
        await a.until(lambda: len(a.of(c.Disconnected)) >= 3)
        assert [e.attempt for e in a.of(c.Connecting)][:3] == [1, 2, 3]
        bridge.come_up()
        await a.until(lambda: a.of(c.Joined))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_chat_from_the_bridge_reaches_the_rooms_screen(
        appliance: Appliance, bridge: FakeBridge) -> None:
    await appliance.until(lambda: appliance.of(c.Joined))
    bridge.say(p.ChatMessage.model_validate({"id": 1, "from": "3", "from_name": "Ayşe",
                                             "text": "Hoş geldiniz", "at": "2026-03-02T08:30:00Z"}))
    await appliance.until(lambda: len(appliance.of(c.MeetingData)) == 2)
    data = MeetingData()
    for event in appliance.of(c.MeetingData):
        data = reduce(data, event.message, now=1.0)
    screen = view.screen_model(view.ViewInputs(
        state=room.RoomState(connection="in_meeting"), room_name="ODA 1", meeting_title="",
        version="1", language="tr", me=appliance.client.me,
        others={k: v for k, v in appliance.client.participants.items() if k != "7"},
        notices=(), self_view=False, self_view_position="bottom-right", meeting=data))
    assert [(m.sender, m.text) for m in screen.chat] == [("Ayşe", "Hoş geldiniz")]
    assert [x.name for x in screen.participants] == ["Ayşe Öğretmen", "ODA 1"]
