"""Attacks on the meeting, each of which must fail safely with an error and a line in
the bridge's log: a guest skipping the lobby through the raw protocol, a participant
granting itself rights, a client publishing audio and video without rights (measured
at the receiving page: silence and no picture), another room's file, path traversal in
file names and URLs, and markup in chat and names."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from tests.support.browser import chromium, tone_db
from tests.support.media_files import write_solid_y4m, write_tone_wav
from tests.support.meetings import (
    chat_texts,
    close,
    eventually,
    frames_grow,
    notice,
    open_room,
    person,
    sign_in,
)
from tests.support.procs import BridgeProcess, RoomSpec, UserSpec
from tests.support.wsclient import RawClient

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

HOST, HOST_PW, HOST_NAME = "ogretmen", "ogretmen-parola-1", "Ayla Öğretmen"
PART, PART_PW, PART_NAME = "ayse", "ayse-parola-12", "Ayşe Yılmaz"
TONE_HZ = 700
USERS = [UserSpec(HOST, HOST_PW, "host", HOST_NAME),
         UserSpec(PART, PART_PW, "participant", PART_NAME)]
ROOMS = [RoomSpec(a, a.title()) for a in ("lobi", "haklar", "yayin", "oda-a", "oda-b",
                                           "yollar", "isaret")]
FAKE_SDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bridge(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BridgeProcess]:
    proc = await asyncio.to_thread(BridgeProcess, tmp_path_factory.mktemp("security"),
                                   room_specs=ROOMS, users=USERS)
    yield proc
    code = proc.stop()
    print(f"---- bridge log (exit {code}) ----\n" + proc.log_tail(6000))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    tmp = tmp_path_factory.mktemp("security-media")
    video = write_solid_y4m(tmp / "green.y4m", (40, 200, 60), 320, 180)
    audio = write_tone_wav(tmp / "tone.wav", TONE_HZ)
    async with chromium(video=video, audio=audio) as b:
        yield b


async def host_client(bridge: BridgeProcess, room: str) -> tuple[RawClient, dict[str, Any]]:
    client = await RawClient.connect(bridge.ws_url)
    welcome = await client.sign_in(room, HOST, HOST_PW, client="bot")
    assert welcome["type"] == "welcome", welcome
    return client, welcome


def log_has(bridge: BridgeProcess, pattern: str) -> bool:
    return re.search(pattern, bridge.log_tail(200_000)) is not None


async def upload(bridge: BridgeProcess, token: str, name: str, data: bytes) -> int:
    """POST a multipart upload whose file name goes on the wire exactly as given (as a
    hostile client would send it: no quoting, no percent-encoding)."""
    boundary = "salonboundary7MA4YWxkTrZu0gW"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"'
            f"\r\nContent-Type: application/octet-stream\r\n\r\n").encode() + data + \
        f"\r\n--{boundary}--\r\n".encode()
    async with aiohttp.ClientSession() as http, http.post(
            f"{bridge.url}/api/files", data=body, headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": f"multipart/form-data; boundary={boundary}"}) as resp:
        await resp.read()
        return resp.status


# ---- a guest skipping the lobby -------------------------------------------------------

async def test_a_guest_cannot_skip_the_lobby_through_the_protocol(bridge: BridgeProcess) -> None:
    host, _ = await host_client(bridge, "lobi")
    guest = await RawClient.connect(bridge.ws_url)
    try:
        waiting = await guest.join("lobi", "SIRA BEKLEMEYEN")
        assert waiting["type"] == "lobby_waiting"
        gid = waiting["you"]["id"]
        attempts: list[dict[str, Any]] = [
            {"type": "chat", "text": "içeri girdim mi?"},
            {"type": "set_hand", "raised": True},
            {"type": "rename", "name": "EV SAHİBİ"},
            {"type": "poll_answer", "poll": 1, "option": 0},
            {"type": "set_media_state", "mic_muted": False},
            {"type": "admit", "participant": gid},
            {"type": "set_right", "participant": gid, "right": "audio", "granted": True},
            {"type": "publish", "sdp": FAKE_SDP},
            {"type": "subscribe_answer", "sdp": FAKE_SDP},
            {"type": "resubscribe"},
            {"type": "join", "protocol": 1, "room": "lobi", "name": "TEKRAR"},
        ]
        codes = []
        for i, message in enumerate(attempts, start=10):
            reply = await guest.request(message, i)
            assert reply["type"] == "error", (message, reply)
            codes.append(reply["code"])
        assert codes == ["not_admitted"] * 7 + ["not_admitted"] * 3 + ["already_joined"], codes
        # meanwhile the room goes on; nothing of it reaches the lobby
        await host.send({"type": "chat", "text": "yalnızca içeridekiler"})
        await host.send({"type": "poll_create", "question": "Gizli mi?", "options": ["E", "H"]})
        await asyncio.sleep(0.5)
        leaked = [m for m in guest.drain() if m["type"] not in ("pong", "error")]
        assert leaked == [], leaked
        # nor through HTTP with the lobby session's token
        async with aiohttp.ClientSession() as http, http.get(
                f"{bridge.url}/api/files",
                headers={"Authorization": f"Bearer {waiting['token']}"}) as resp:
            assert resp.status == 403
        # resuming the seat on a new connection is still the lobby
        again = await RawClient.connect(bridge.ws_url)
        try:
            resumed = await again.request({"type": "join", "protocol": 1, "room": "lobi",
                                           "token": waiting["token"]}, 1)
            assert resumed["type"] == "lobby_waiting"
        finally:
            await again.close()
        assert log_has(bridge, rf"refused chat by participant {gid} .*\(guest, lobby")
        assert log_has(bridge, rf"refused media for participant {gid} .*not admitted")
        assert log_has(bridge, rf"refused set audio right by participant {gid} .*not_admitted")
    finally:
        await guest.close()
        await host.close()


# ---- a participant granting itself rights ------------------------------------------

async def test_a_participant_cannot_grant_itself_rights(bridge: BridgeProcess) -> None:
    host, host_welcome = await host_client(bridge, "haklar")
    part = await RawClient.connect(bridge.ws_url)
    try:
        welcome = await part.sign_in("haklar", PART, PART_PW, client="bot")
        me, host_id = welcome["you"]["id"], host_welcome["you"]["id"]
        attempts: list[tuple[dict[str, Any], str]] = [
            ({"type": "set_right", "participant": me, "right": "audio", "granted": True},
             "not_host"),
            ({"type": "set_right", "participant": me, "right": "camera", "granted": True},
             "not_host"),
            ({"type": "set_media_state", "mic_muted": False}, "no_audio_right"),
            ({"type": "mute", "participant": host_id}, "not_host"),
            ({"type": "remove", "participant": host_id}, "not_host"),
            ({"type": "lower_hand", "participant": host_id}, "not_host"),
            ({"type": "poll_create", "question": "Kim?", "options": ["a", "b"]}, "not_host"),
            ({"type": "end_meeting"}, "not_host"),
        ]
        for i, (message, code) in enumerate(attempts, start=20):
            reply = await part.request(message, i)
            assert (reply["type"], reply["code"]) == ("error", code), (message, reply)
        # the room never saw the participant gain a right, nor the host lose anything
        await asyncio.sleep(0.3)
        seen = [m for m in host.drain() if m["type"] in ("participant_updated", "poll",
                                                         "participant_left", "meeting_ended")]
        assert not any(m.get("participant", {}).get("audio_right") and
                       m["participant"]["id"] == me for m in seen), seen
        assert [m["type"] for m in seen if m["type"] != "participant_updated"] == [], seen
        assert log_has(bridge, rf"refused set audio right by participant {me} .*not_host")
        assert log_has(bridge, rf"refused set camera right by participant {me} .*not_host")
        assert log_has(bridge, rf"refused set media state by participant {me} .*no_audio_right")
        assert log_has(bridge, rf"refused end meeting by participant {me} .*not_host")
    finally:
        await part.close()
        await host.close()


# ---- publishing without rights: the others receive silence and no picture ------------

FORCE_PUBLISH = """async () => {
  const conf = window.salon.conference;
  const s = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
  conf.setMediaState({mic_muted: false, camera_on: true});   // refused: no rights
  await conf.setOutgoing({audio: s.getAudioTracks()[0], video: s.getVideoTracks()[0]});
  return Object.entries(conf.pubSlots).filter(([, t]) => t.sender.track).map(([kind]) => kind);
}"""


async def test_publishing_without_rights_reaches_nobody(bridge: BridgeProcess,
                                                        browser: Browser) -> None:
    host = await open_room(browser, bridge.room_url("yayin"), "tr")
    part = await open_room(browser, bridge.room_url("yayin"))
    try:
        await sign_in(host, HOST, HOST_PW, "tr")
        await sign_in(part, PART, PART_PW)
        # a client that ignores the UI and sends its microphone and camera anyway
        assert await part.evaluate(FORCE_PUBLISH) == ["audio", "video"]
        await expect(notice(part, "The host has not given you audio rights yet.")).to_be_visible()
        tile = host.locator("figure[data-participant]").filter(has_text=PART_NAME)
        await expect(tile).to_be_visible()  # its streams reach Janus...
        await asyncio.sleep(1.5)
        silent = await tone_db(host, PART_NAME, TONE_HZ)
        print(f"tone without rights: {silent} dB")
        assert silent is None or silent < 6, silent  # ...but nobody hears
        assert not await frames_grow(host, PART_NAME, by=3, timeout=3)  # ...or sees it
        assert log_has(bridge,
                       r"refused set media state by participant \d+ 'Ayşe Yılmaz'.*no_audio_right")

        # the measurement works: with rights (and unmuted) the tone is loud
        await person(host, PART_NAME).get_by_role("button", name="Ses Hakkı Ver").click()
        await part.evaluate("() => window.salon.conference.setMediaState({mic_muted: false})")
        loud = await eventually(lambda: _over(tone_db(host, PART_NAME, TONE_HZ), 20), 20,
                                what="the tone once granted")
        print(f"tone with rights: {loud:.1f} dB")
        # camera rights: the picture starts moving with no action of the client (keyframe)
        await person(host, PART_NAME).get_by_role("button", name="Kamera Hakkı Ver").click()
        assert await frames_grow(host, PART_NAME, by=10, timeout=60), "no picture once granted"

        # taken back: silence and a still picture again, though the client keeps sending
        await person(host, PART_NAME).get_by_role("button", name="Ses Hakkını Al").click()
        await person(host, PART_NAME).get_by_role("button", name="Kamera Hakkını Al").click()
        await part.evaluate("""async () => {  // the rogue client puts its tracks back
            const c = window.salon.conference;
            const s = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
            await c.setOutgoing({audio: s.getAudioTracks()[0], video: s.getVideoTracks()[0]});
        }""")
        await asyncio.sleep(1.5)
        revoked = await tone_db(host, PART_NAME, TONE_HZ)
        print(f"tone after revoking: {revoked} dB")
        assert revoked is None or revoked < 6, revoked
        assert not await frames_grow(host, PART_NAME, by=3, timeout=3)
    finally:
        await close(host)
        await close(part)


async def _over(coro, threshold: float) -> float | None:  # type: ignore[no-untyped-def]
    db = await coro
    return db if db is not None and db > threshold else None


# ---- files: another room's, and path traversal -------------------------------------------

async def test_a_file_of_another_room_cannot_be_downloaded(bridge: BridgeProcess) -> None:
    host_a, welcome_a = await host_client(bridge, "oda-a")
    reader_b = await RawClient.connect(bridge.ws_url)
    try:
        assert await upload(bridge, welcome_a["token"], "gizli.txt", b"A odasinin sirri") == 201
        file_id = (await host_a.expect("file_added"))["file"]["id"]
        welcome_b = await reader_b.sign_in("oda-b", PART, PART_PW, client="bot")
        async with aiohttp.ClientSession() as http:
            for token, status in ((welcome_b["token"], 404), ("not-a-session-token", 401),
                                  (welcome_a["token"], 200)):
                async with http.get(f"{bridge.url}/api/files/{file_id}",
                                    headers={"Authorization": f"Bearer {token}"}) as r:
                    body = await r.read()
                    assert r.status == status, (token, r.status, body)
                    assert (b"sirri" in body) == (status == 200)
            async with http.get(f"{bridge.url}/api/files/{file_id}") as r:
                assert r.status == 401
        pid = welcome_b["you"]["id"]
        assert log_has(bridge, rf"refused download file by participant {pid} .*no_such_file")
    finally:
        await host_a.close()
        await reader_b.close()


async def test_path_traversal_in_file_names_and_urls(bridge: BridgeProcess) -> None:
    host, welcome = await host_client(bridge, "yollar")
    try:
        names = {
            "../../../../tmp/salon-evil.txt": "salon-evil.txt",
            "..\\..\\windows\\evil.bat": None,  # a quoted-string: backslashes escape
            "/etc/passwd": "passwd",
            "../": "file",
            ".bashrc": "bashrc",
            "..%2F..%2Fencoded.txt": None,
        }
        for original, label in names.items():
            assert await upload(bridge, welcome["token"], original, original.encode()) == 201
            shown = (await host.expect("file_added"))["file"]["name"]
            assert "/" not in shown and "\\" not in shown and not shown.startswith("."), shown
            assert label is None or shown == label, (original, shown)
        # the bytes live only under the vault, with names the bridge made up
        vault = bridge.state_dir / "files"
        stored = [p.name for p in vault.iterdir() if p.is_file()]
        assert len(stored) >= len(names)  # (and the other tests' files)
        assert all(re.fullmatch(r"[0-9a-f]{32}", n) for n in stored), stored
        assert not (bridge.state_dir.parent / "salon-evil.txt").exists()
        bearer = {"Authorization": f"Bearer {welcome['token']}"}
        async with aiohttp.ClientSession(headers=bearer) as http:
            async with http.get(f"{bridge.url}/api/files") as r:
                first = (await r.json())[0]
            async with http.get(f"{bridge.url}/api/files/{first['id']}") as r:
                assert r.headers["Content-Disposition"] == \
                    "attachment; filename*=UTF-8''salon-evil.txt"
                assert r.headers["Content-Type"] == "application/octet-stream"
            # and URLs that climb out of their directory find nothing
            for path in ("/api/files/..%2F..%2Fbridge.toml", "/api/files/../../bridge.toml",
                         "/static/../bridge.toml", "/static/..%2F..%2F..%2Fbridge.toml",
                         "/static/%2e%2e/%2e%2e/procs.py"):
                async with http.get(f"{bridge.url}{path}") as r:
                    body = await r.read()
                    assert r.status in (403, 404), (path, r.status)
                    assert b"state_dir" not in body and b"[server]" not in body
    finally:
        await host.close()


# ---- markup in chat and in names is shown as text ---------------------------------------

MARKUP = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>kalın</b>'


async def test_chat_and_name_markup_is_shown_as_text(bridge: BridgeProcess,
                                                     browser: Browser) -> None:
    host = await open_room(browser, bridge.room_url("isaret"), "tr")
    part = await RawClient.connect(bridge.ws_url)
    try:
        await sign_in(host, HOST, HOST_PW, "tr")
        await part.sign_in("isaret", PART, PART_PW, client="bot")
        await part.send({"type": "chat", "text": MARKUP})
        await part.send({"type": "rename", "name": "<i>Ayşe</i><script>x()</script>"})
        await eventually(lambda: _contains(chat_texts(host), MARKUP), what="the message as text")
        await expect(person(host, "<i>Ayşe</i><script>x()</script>")).to_be_visible()
        injected = await host.evaluate("""() => ({
            pwned: window.__pwned ?? null,
            elements: document.querySelectorAll(
              '.chat-log img, .chat-log script, .chat-log b, ' +
              '#participants i, #participants script').length
        })""")
        assert injected == {"pwned": None, "elements": 0}, injected
        # and nothing of it in the chat select's options either
        assert await host.locator("#chat-to option").all_inner_texts() == [
            "Herkes", "<i>Ayşe</i><script>x()</script>"]
    finally:
        await close(host)
        await part.close()


async def _contains(coro, item: str) -> bool:  # type: ignore[no-untyped-def]
    return item in await coro
