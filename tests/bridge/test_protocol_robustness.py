"""Malformed and out-of-order protocol messages get error replies; the bridge keeps
serving everyone else."""

from __future__ import annotations

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
