"""Malformed and out-of-order protocol messages get error replies; the bridge keeps
serving everyone else."""

from __future__ import annotations

import aiohttp
import pytest

from tests.support.procs import BridgeProcess
from tests.support.wsclient import RawClient

pytestmark = pytest.mark.netns


async def test_bad_messages_get_errors_and_the_bridge_keeps_serving(bridge: BridgeProcess) -> None:
    good = await RawClient.connect(bridge.ws_url)
    welcome = await good.join("testbim", "Good Client")
    assert welcome["type"] == "welcome"
    assert welcome["room"] == {"address": "testbim", "title": "Test BİM", "policy": "public",
                              "open_floor": True}
    assert welcome["token"] and welcome["protocol"] == 1

    bad = await RawClient.connect(bridge.ws_url)
    cases: list[tuple[object, str]] = [
        ("this is not json", "bad_json"),
        (b"\xff\xfe\x00binary", "bad_json"),
        ({"no": "type"}, "bad_message"),
        ([1, 2, 3], "bad_message"),
        ({"type": "dance"}, "bad_message"),
        ({"type": "publish", "sdp": "v=0 something long enough"}, "not_joined"),
        ({"type": "publish", "sdp": "v=0 something long enough", "sending": ["screen"]},
         "bad_message"),
        ({"type": "subscribe_answer", "sdp": "v=0 something long enough"}, "not_joined"),
        ({"type": "join", "protocol": 1, "room": "../etc", "name": "x"}, "bad_message"),
        ({"type": "join", "protocol": 1, "room": "testbim", "name": ""}, "bad_message"),
        ({"type": "join", "protocol": 1, "room": "testbim", "name": "x", "admin": True},
         "bad_message"),
        ({"type": "join", "protocol": 99, "room": "testbim", "name": "x"}, "protocol_version"),
        ({"type": "join", "protocol": 1, "room": "nowhere", "name": "x"}, "no_such_room"),
        ({"type": "join", "protocol": 1, "room": "testbim"}, "bad_message"),
        ({"type": "join", "protocol": 1, "room": "testbim", "name": "x", "user": "u",
          "password": "p"}, "bad_message"),
        ({"type": "join", "protocol": 1, "room": "testbim", "user": "nobody"}, "bad_message"),
        ({"type": "chat", "text": "hello before joining"}, "not_joined"),
        ({"type": "set_right", "participant": "1", "right": "audio", "granted": True},
         "not_joined"),
        ({"type": "poll_answer", "poll": 1, "option": -1}, "bad_message"),
        ("x" * 300_000, "too_large"),
    ]
    for message, code in cases:
        await bad.send(message)  # type: ignore[arg-type]
        reply = await bad.expect("error")
        assert reply["code"] == code, (message if not isinstance(message, str) else message[:40],
                                       reply)
        assert reply["message"]

    # a joined client: out-of-order media messages
    joined = await bad.join("testbim", "Late Joiner", rid=7)
    assert joined["type"] == "welcome"
    reply = await bad.request({"type": "subscribe_answer", "sdp": "v=0 no offer was sent"}, 8)
    assert reply["code"] == "no_offer_pending"
    reply = await bad.request({"type": "join", "protocol": 1, "room": "testbim", "name": "x"}, 9)
    assert reply["code"] == "already_joined"
    reply = await bad.request({"type": "publish", "sdp": "v=0 this is not an sdp offer"}, 10)
    assert reply["type"] == "error" and reply["code"] == "media_error"

    # the first client saw the late joiner and still gets answers
    joined_event = await good.expect("participant_joined")
    assert joined_event["participant"]["name"] == "Late Joiner"
    assert (await good.request({"type": "ping"}, 2))["type"] == "pong"
    await bad.close()
    left = await good.expect("participant_left")
    assert left["id"] == joined_event["participant"]["id"]
    await good.close()
    assert bridge.alive()
    assert bridge.health()["janus"][0]["up"] is True


async def test_hostile_values_get_clear_errors_and_the_connection_stays(
        bridge: BridgeProcess) -> None:
    """Each of these once escaped as a traceback: a closed socket (1006) or an
    ``internal_error`` from SQLite (integers beyond 64 bits)."""
    client = await RawClient.connect(bridge.ws_url)
    deep = "[" * 100_000 + "]" * 100_000
    cases: list[tuple[object, str, str]] = [
        (deep, "bad_json", ""),
        ('{"type": "ping", "x": ' + deep + "}", "bad_json", ""),
        ({"type": "ping", "id": True}, "bad_message", "id"),
        ({"type": "ping", "id": 2**70}, "bad_message", "id"),
        ({"type": "join", "protocol": "1", "room": "testbim", "name": "x"}, "bad_message",
         "protocol"),
        ({"type": "join", "protocol": 1.0, "room": "testbim", "name": "x"}, "bad_message",
         "protocol"),
    ]
    for message, code, field in cases:
        await client.send(message)  # type: ignore[arg-type]
        reply = await client.expect("error")
        assert reply["code"] == code, (str(message)[:60], reply)
        assert field in reply["message"], reply
    assert (await client.join("testbim", "Hostile Hilmi", rid=1))["type"] == "welcome"
    joined_cases: list[tuple[dict[str, object], str, str]] = [
        ({"type": "poll_answer", "poll": 2**70, "option": 0}, "bad_message", "poll"),
        ({"type": "poll_answer", "poll": 2**31, "option": 0}, "bad_message", "poll"),
        ({"type": "poll_answer", "poll": "1", "option": 0}, "bad_message", "poll"),
        ({"type": "poll_answer", "poll": 1, "option": True}, "bad_message", "option"),
        ({"type": "chat", "text": "merhaba", "to": "9" * 32}, "bad_message", "to"),
        ({"type": "chat", "text": "merhaba", "to": "99999999999"}, "bad_message", "to"),
        ({"type": "set_hand", "raised": "yes"}, "bad_message", "raised"),
        ({"type": "set_hand", "raised": 1}, "bad_message", "raised"),
        ({"type": "set_media_state", "mic_muted": "false"}, "bad_message", "mic_muted"),
        ({"type": "admit", "participant": 1}, "bad_message", "participant"),
        ({"type": "poll_answer", "poll": 1, "option": 0}, "no_such_poll", ""),
    ]
    for rid, (message, code, field) in enumerate(joined_cases, start=10):
        reply = await client.request(message, rid)
        assert reply["type"] == "error" and reply["code"] == code, (message, reply)
        assert field in reply["message"], reply
    # still the same connection, answering
    assert (await client.request({"type": "ping"}, 99))["type"] == "pong"
    await client.close()
    assert bridge.alive()


async def test_every_frame_over_the_limit_up_to_the_hard_cap_gets_too_large(
        bridge: BridgeProcess) -> None:
    from salon.protocol import MAX_FRAME_BYTES, MAX_MESSAGE_BYTES

    client = await RawClient.connect(bridge.ws_url)
    for size in (MAX_MESSAGE_BYTES + 1, 600 * 1024, 2 * 1024**2, MAX_FRAME_BYTES):
        await client.send("x" * size)
        reply = await client.expect("error", timeout=30)
        assert reply["code"] == "too_large", (size, reply)
        assert (await client.request({"type": "ping"}, size))["type"] == "pong"
    await client.close()
    # beyond the hard cap the socket is closed as "message too big", as documented (a
    # compressed frame, as browsers send, arrives whole, so the close code is seen)
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(bridge.ws_url, compress=15)
        await ws.send_str("x" * (MAX_FRAME_BYTES + 1024))
        closing = await ws.receive(timeout=30)
        assert closing.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 1009, closing
    assert bridge.alive()
    assert bridge.health()["janus"][0]["up"] is True
