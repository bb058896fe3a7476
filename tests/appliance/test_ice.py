"""The room's choice among the bridge's TURN URLs (aiortc takes one per PeerConnection):
TLS first, then TCP, then UDP; the next one after a connection that never came up;
no server at all (and never a public STUN server) when the bridge names none."""

from __future__ import annotations

from appliance.conference.ice import IceChoice
from salon import protocol as p

URLS = ["turn:t.test:3478?transport=udp", "turn:t.test:3478?transport=tcp",
        "turns:t.test:443?transport=tcp", "stun:t.test:3478"]


def servers(password: str = "pw") -> list[p.IceServer]:
    return [p.IceServer(urls=URLS, username="1:7", credential=password)]


async def test_tls_first_then_tcp_then_udp_after_failures() -> None:
    ice = IceChoice()
    ice.update(servers())
    seen = []
    for _ in range(4):
        pc, url = ice.new_peer_connection()
        config = pc._RTCPeerConnection__configuration  # type: ignore[attr-defined]
        assert [s.urls for s in config.iceServers] == [[url]]
        assert config.iceServers[0].username == "1:7"
        seen.append(url)
        ice.never_connected(url)
        await pc.close()
    assert seen == [URLS[2], URLS[1], URLS[0], URLS[2]]


async def test_a_failure_of_an_older_connection_does_not_skip_a_url() -> None:
    ice = IceChoice()
    ice.update(servers())
    _, first = ice.new_peer_connection()
    ice.never_connected(first)   # the publisher failed on TLS: TCP next
    ice.never_connected(first)   # the subscriber, built on TLS too, fails as well
    assert ice.url == URLS[1]


async def test_fresh_credentials_keep_the_url_that_works() -> None:
    ice = IceChoice()
    ice.update(servers())
    ice.never_connected(ice.url)
    ice.update(servers("fresh"))
    pc, url = ice.new_peer_connection()
    assert url == URLS[1]
    assert pc._RTCPeerConnection__configuration.iceServers[0].credential == "fresh"  # type: ignore[attr-defined]
    await pc.close()


async def test_no_servers_means_none_at_all() -> None:
    pc, url = IceChoice().new_peer_connection()
    assert url is None
    assert pc._RTCPeerConnection__configuration.iceServers == []  # type: ignore[attr-defined]
    await pc.close()
