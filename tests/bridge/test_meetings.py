"""Meetings domain on a real SQLite file: joining, lobby, names, resume and restart.

The world these tests drive is tests/support/meetings_world.py (fixture `world` in
tests/bridge/conftest.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from bridge.meetings import Disconnect, Meetings, Refusal
from tests.support.meetings_world import (
    PASSWORD,
    World,
    ok,
    person,
    received,
    refused,
    types,
)

Attempt = Callable[[Meetings, int, int], object]


# -- signing in ---------------------------------------------------------------------------


def test_host_signs_in_and_sees_the_room(world: World) -> None:
    host = world.sign_in("ogretmen")
    assert host.joined.admitted
    (welcome,) = received(host.joined, host.pid)
    assert welcome["type"] == "welcome"
    assert welcome["room"] == {"address": "testbim", "title": "Oda testbim", "policy": "public",
                              "open_floor": False}
    assert welcome["you"]["role"] == "host"
    assert welcome["you"]["audio_right"] and welcome["you"]["camera_right"]  # hosts hold the floor
    assert welcome["lobby"] == []


def test_participant_joins_without_rights_and_everyone_is_told(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    me = received(ali.joined, ali.pid)[0]["you"]
    assert (me["audio_right"], me["camera_right"], me["role"]) == (False, False, "participant")
    assert types(ali.joined, host.pid) == ["participant_joined"]
    assert received(ali.joined, ali.pid)[0]["lobby"] is None  # only hosts see the lobby


def test_device_account_joins_as_device(world: World) -> None:
    world.sign_in("ogretmen")
    box = world.sign_in("sinif1")
    assert received(box.joined, box.pid)[0]["you"]["role"] == "device"


def test_wrong_password_and_disabled_account_are_refused_and_logged(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "salon.meetings"):
        refused(world.meetings.join_account("testbim", "ali", "yanlış-parola"), "bad_credentials")
        refused(world.meetings.join_account("testbim", "nobody", PASSWORD), "bad_credentials")
    assert "'ali'" in caplog.text and "'nobody'" in caplog.text
    with world.store.transaction() as db:
        from bridge.store.accounts import find_account

        account = find_account(db, "ali")
        assert account is not None
        account.disabled = True
    refused(world.meetings.join_account("testbim", "ali", PASSWORD), "bad_credentials")


def test_wrong_passwords_throttle_the_guessing_address_not_the_account(world: World) -> None:
    limits = world.meetings.limits.sign_in
    guesser, teacher = "203.0.113.9", "198.51.100.20"
    for _ in range(limits.account_failures):
        refused(world.meetings.join_account("testbim", "ali", "yanlış-parola", guesser),
                "bad_credentials")
    refused(world.meetings.join_account("testbim", "ali", "yanlış-parola", guesser),
            "sign_in_throttled")
    # While throttled even the right password is not checked, or guessing would go on.
    refused(world.meetings.join_account("testbim", "ali", PASSWORD, guesser), "sign_in_throttled")
    # The account's owner elsewhere is not locked out; the guesser's other names are not
    # blocked by this account's count (only by the address's own budget, below).
    ok(world.meetings.join_account("testbim", "ali", PASSWORD, teacher))
    ok(world.meetings.join_account("testbim", "ogretmen", PASSWORD, guesser))
    # The (address, account) bucket refills with time.
    world.clock.tick(limits.account_refill_s + 1)
    ok(world.meetings.join_account("testbim", "ali", PASSWORD, guesser))


def test_an_address_spraying_user_names_runs_out_of_its_own_budget(world: World) -> None:
    limits = world.meetings.limits.sign_in
    sprayer, teacher = "203.0.113.9", "198.51.100.20"
    for i in range(limits.address_failures):
        refused(world.meetings.join_account("testbim", f"kimse{i}", "parola-123", sprayer),
                "bad_credentials")
    refused(world.meetings.join_account("testbim", "ogretmen", PASSWORD, sprayer),
            "sign_in_throttled")
    ok(world.meetings.join_account("testbim", "ogretmen", PASSWORD, teacher))
    world.clock.tick(limits.address_refill_s + 1)
    ok(world.meetings.join_account("testbim", "ogretmen", PASSWORD, sprayer))


def test_unknown_room(world: World) -> None:
    refused(world.meetings.join_guest("yok", "Misafir"), "no_such_room")
    refused(world.meetings.join_account("yok", "ali", PASSWORD), "no_such_room")


# -- guests and the lobby -----------------------------------------------------------------


def test_private_room_rejects_guests_with_a_log_line(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "salon.meetings"):
        refused(world.meetings.join_guest("ozel", "Misafir"), "room_private")
    assert "join room 'ozel' as guest 'Misafir'" in caplog.text and "room_private" in caplog.text
    ok(world.meetings.join_account("ozel", "ali", PASSWORD))  # accounts may


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Behiç Çelebi – Ankara MEM", "guest_name_capitals"),
        ("BEHİÇ ÇELEBİ", "guest_name_dash"),
        ("BEHİÇ – ANKARA MEM", "guest_name_words"),
        ("BEHİÇ ÇELEB1 – ANKARA MEM", "guest_name_letters"),
        ("BEHİÇ ÇELEBİ – ???", "guest_name_unit"),
        ("   ", "bad_name"),
    ],
)
def test_guest_name_form_is_enforced_with_a_clear_message(
    world: World, name: str, code: str
) -> None:
    refusal = refused(world.meetings.join_guest("kurul", name), code)
    assert "BEHİÇ ÇELEBİ – ANKARA MEM" in refusal.message or code == "bad_name"


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("BEHİÇ ÇELEBİ – ANKARA MEM", "BEHİÇ ÇELEBİ – ANKARA MEM"),
        ("BEHİÇ ÇELEBİ - ANKARA MEM", "BEHİÇ ÇELEBİ – ANKARA MEM"),
        ("  ŞÜKRÜ  ĞÖÇER-ÖZ —  İZMİR/BUCA  ", "ŞÜKRÜ ĞÖÇER-ÖZ – İZMİR/BUCA"),
        ("AHMET YILMAZ-ANKARA", "AHMET YILMAZ – ANKARA"),
    ],
)
def test_guest_names_in_the_guides_form_are_accepted(world: World, typed: str, shown: str) -> None:
    host = world.sign_in("ogretmen", "kurul")
    guest = world.guest(typed, "kurul")
    lobby = received(guest.joined, host.pid)
    assert lobby == [
        {
            "type": "lobby",
            "waiting": [{"id": guest.id, "name": shown, "since": "2026-03-02T08:30:00Z"}],
        }
    ]


def test_free_names_where_the_room_does_not_require_the_form(world: World) -> None:
    guest = world.guest("behiç \u202eevil\u0007")  # bidi override and bell are dropped
    assert received(guest.joined, guest.pid)[0]["you"]["name"] == "behiç evil"


def test_a_lobby_guest_waits_and_receives_nothing_of_the_room(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    guest = world.guest("Misafir Bir")
    assert types(guest.joined, guest.pid) == ["lobby_waiting"]
    assert types(guest.joined, host.pid) == ["lobby"]
    assert types(guest.joined, ali.pid) == []  # participants do not see the lobby
    # The room goes on; nothing of it reaches the lobby.
    chat = ok(world.meetings.chat(host.pid, "hoş geldiniz"))
    hand = ok(world.meetings.raise_hand(ali.pid))
    for result in (chat, hand):
        assert received(result, guest.pid) == []
        assert received(result, ali.pid) != []


@pytest.mark.parametrize(
    "attempt",
    [
        lambda m, g, h: m.chat(g, "içeri alın"),
        lambda m, g, h: m.raise_hand(g),
        lambda m, g, h: m.media_access(g),
        lambda m, g, h: m.list_files(g),
        lambda m, g, h: m.open_file(g, 1),
        lambda m, g, h: m.answer_poll(g, 1, 0),
        lambda m, g, h: m.rename(g, "Yeni Ad"),
        lambda m, g, h: m.admit(g, g),
        lambda m, g, h: m.set_right(g, g, "audio", True),
        lambda m, g, h: m.report(g),
    ],
    ids=[
        "chat",
        "hand",
        "media",
        "files",
        "download",
        "poll",
        "rename",
        "admit-self",
        "grant-self",
        "report",
    ],
)
def test_a_guest_cannot_skip_the_lobby(
    world: World, caplog: pytest.LogCaptureFixture, attempt: Attempt
) -> None:
    host = world.sign_in("ogretmen")
    guest = world.guest("Misafir Bir")
    with caplog.at_level(logging.WARNING, "salon.meetings"):
        refused(attempt(world.meetings, guest.pid, host.pid), "not_admitted")
    assert f"participant {guest.pid} 'Misafir Bir' (guest, lobby" in caplog.text


def test_only_a_host_admits(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    guest = world.guest("Misafir Bir")
    with caplog.at_level(logging.WARNING, "salon.meetings"):
        refused(world.meetings.admit(ali.pid, guest.pid), "not_host")
    assert "refused admit" in caplog.text and "'Ali Yılmaz'" in caplog.text


def test_host_admits_a_guest_who_then_gets_the_room(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    ok(world.meetings.chat(host.pid, "erken gelenlere merhaba"))
    guest = world.guest("Misafir Bir")
    admitted = ok(world.meetings.admit(host.pid, guest.pid))
    (welcome,) = received(admitted, guest.pid)
    assert welcome["type"] == "welcome"
    assert [p["id"] for p in welcome["participants"]] == [host.id, ali.id, guest.id]
    assert [m["text"] for m in welcome["chat"]] == ["erken gelenlere merhaba"]
    assert types(admitted, ali.pid) == ["participant_joined"]
    assert types(admitted, host.pid) == ["participant_joined", "lobby"]
    assert received(admitted, host.pid)[1]["waiting"] == []
    assert ok(world.meetings.media_access(guest.pid)).audio_muted is True


def test_host_sees_the_queue_in_arrival_order_and_on_arrival(world: World) -> None:
    first = world.guest("Birinci")
    world.clock.tick(5)
    second = world.guest("İkinci")
    host = world.sign_in("ogretmen")
    welcome = received(host.joined, host.pid)[0]
    assert [w["id"] for w in welcome["lobby"]] == [first.id, second.id]


def test_denied_guest_is_told_disconnected_and_cannot_come_back(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    guest = world.guest("Misafir Bir")
    denied = ok(world.meetings.deny(host.pid, guest.pid))
    assert received(denied, guest.pid) == [{"type": "denied"}]
    assert Disconnect(guest.pid, "denied", guest.epoch) in denied.effects
    assert received(denied, ali.pid) == []
    refused(world.meetings.resume("testbim", guest.token), "removed")
    refused(world.meetings.admit(host.pid, guest.pid), "not_waiting")
    refused(world.meetings.chat(guest.pid, "merhaba"), "not_admitted")


def test_a_guest_who_left_the_lobby_cannot_be_admitted(world: World) -> None:
    host = world.sign_in("ogretmen")
    guest = world.guest("Misafir Bir")
    left = ok(world.meetings.leave(guest.pid, guest.epoch))
    assert received(left, host.pid) == [{"type": "lobby", "waiting": []}]
    refused(world.meetings.admit(host.pid, guest.pid), "not_waiting")


def test_a_host_cannot_admit_into_another_rooms_meeting(world: World) -> None:
    host = world.sign_in("ogretmen", "kurul")
    guest = world.guest("Misafir Bir", "testbim")
    refused(world.meetings.admit(host.pid, guest.pid), "unknown_participant")


# -- names --------------------------------------------------------------------------------


def test_rename_is_seen_by_everyone(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    renamed = ok(world.meetings.rename(ali.pid, "Ali Y. (10-A)"))
    for pid in (host.pid, ali.pid):
        (update,) = received(renamed, pid)
        assert update["type"] == "participant_updated"
        assert update["participant"]["name"] == "Ali Y. (10-A)"


def test_guest_keeps_the_guides_form_when_renaming(world: World) -> None:
    host = world.sign_in("ogretmen", "kurul")
    guest = world.admitted_guest(host, "BEHİÇ ÇELEBİ – ANKARA MEM", "kurul")
    refused(world.meetings.rename(guest.pid, "behiç"), "guest_name_capitals")
    ok(world.meetings.rename(guest.pid, "BEHİÇ ÇELEBİ - ANKARA İL MEM"))


# -- connections, resume, restart ---------------------------------------------------------


def test_leave_tells_the_room_and_a_stale_close_changes_nothing(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    again = world.sign_in("ali")  # a second sign-in takes the seat over
    assert again.pid == ali.pid and again.epoch == ali.epoch + 1
    assert Disconnect(ali.pid, "replaced", ali.epoch) in again.joined.effects
    assert received(again.joined, host.pid) == []  # nobody left, nobody came
    stale = ok(world.meetings.leave(ali.pid, ali.epoch))
    assert stale.effects == ()
    ok(world.meetings.chat(ali.pid, "hâlâ buradayım"))
    gone = ok(world.meetings.leave(ali.pid, again.epoch))
    assert received(gone, host.pid) == [
        {"type": "participant_left", "id": ali.id, "reason": "left"}
    ]
    refused(world.meetings.chat(ali.pid, "merhaba"), "not_in_meeting")


def test_resume_keeps_the_seat_with_its_rights(world: World) -> None:
    host = world.sign_in("ogretmen")
    guest = world.admitted_guest(host, "Misafir Bir")
    ok(world.meetings.set_right(host.pid, guest.pid, "audio", True))
    ok(world.meetings.leave(guest.pid, guest.epoch, "connection_lost"))
    back = person(ok(world.meetings.resume("testbim", guest.token)))
    assert back.pid == guest.pid and back.joined.admitted
    me = received(back.joined, back.pid)[0]["you"]
    assert me["audio_right"] is True
    assert types(back.joined, host.pid) == ["participant_joined"]
    refused(world.meetings.resume("kurul", guest.token), "bad_token")
    refused(world.meetings.resume("testbim", "forged-token"), "bad_token")


def test_every_resume_hands_out_a_new_token_and_the_old_one_is_refused(world: World) -> None:
    host = world.sign_in("ogretmen")
    guest = world.admitted_guest(host, "Misafir Bir")
    ok(world.meetings.leave(guest.pid, guest.epoch, "connection_lost"))
    back = person(ok(world.meetings.resume("testbim", guest.token)))
    assert back.token != guest.token and back.pid == guest.pid
    # The old token (copied from a shared PC, say) takes nothing over any more.
    refused(world.meetings.resume("testbim", guest.token), "bad_token")
    assert world.meetings.participant_for_token(guest.token) is None
    assert world.meetings.participant_for_token(back.token) == guest.pid
    again = person(ok(world.meetings.resume("testbim", back.token)))  # a reload: again new
    assert again.token not in (guest.token, back.token)
    refused(world.meetings.resume("testbim", back.token), "bad_token")


def test_lobby_guest_resumes_into_the_lobby_not_the_room(world: World) -> None:
    host = world.sign_in("ogretmen")
    guest = world.guest("Misafir Bir")
    ok(world.meetings.leave(guest.pid, guest.epoch))
    back = person(ok(world.meetings.resume("testbim", guest.token)))
    assert not back.joined.admitted
    assert types(back.joined, back.pid) == ["lobby_waiting"]
    assert received(back.joined, host.pid)[0]["waiting"][0]["id"] == guest.id


def test_state_survives_a_bridge_restart(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    guest = world.admitted_guest(host, "Misafir Bir")
    ok(world.meetings.set_right(host.pid, ali.pid, "camera", True))
    ok(world.meetings.raise_hand(guest.pid))
    ok(world.meetings.chat(host.pid, "yeniden başlatmadan önce"))
    ok(world.meetings.chat(ali.pid, "gizli not", to=host.pid))
    ok(world.meetings.create_poll(host.pid, "Hazır mısınız?", ["Evet", "Hayır"]))
    ok(world.meetings.open_poll(host.pid, 1))
    ok(world.meetings.answer_poll(ali.pid, 1, 1))

    world.clock.tick(30)
    assert world.restart() == 3  # three connections were open
    refused(world.meetings.chat(ali.pid, "merhaba"), "not_in_meeting")

    host_back = person(ok(world.meetings.resume("testbim", host.token)))
    ali_back = person(ok(world.meetings.resume("testbim", ali.token)))
    welcome = received(ali_back.joined, ali_back.pid)[0]
    assert welcome["you"]["camera_right"] is True and welcome["you"]["audio_right"] is False
    assert [m["text"] for m in welcome["chat"]] == ["yeniden başlatmadan önce", "gizli not"]
    assert welcome["polls"][0]["my_answer"] == 1
    assert [p["id"] for p in welcome["participants"]] == [host_back.id, ali.id]
    guest_back = person(ok(world.meetings.resume("testbim", guest.token)))
    # A dropped connection (here: the bridge restarted) keeps the seat, its admission and
    # its raised hand, back at its place in the queue; only leaving lowers a hand.
    assert received(guest_back.joined, guest_back.pid)[0]["you"]["hand_position"] == 1


def test_an_empty_meeting_ends_after_the_idle_time_and_a_new_one_starts(world: World) -> None:
    host = world.sign_in("ogretmen")
    ok(world.meetings.chat(host.pid, "ilk toplantı"))
    ok(world.meetings.leave(host.pid, host.epoch))
    world.clock.tick(60)
    again = world.sign_in("ogretmen")  # within the idle time: the same meeting
    assert received(again.joined, again.pid)[0]["meeting"] == 1
    ok(world.meetings.leave(again.pid, again.epoch))
    world.clock.tick(16 * 60)
    assert world.meetings.sweep() == 1
    refused(world.meetings.resume("testbim", again.token), "session_expired")
    fresh = world.sign_in("ogretmen")
    welcome = received(fresh.joined, fresh.pid)[0]
    assert welcome["meeting"] == 2 and welcome["chat"] == []


def test_a_join_after_the_idle_time_starts_a_new_meeting(world: World) -> None:
    guest = world.guest("Misafir Bir")
    ok(world.meetings.leave(guest.pid, guest.epoch))
    world.clock.tick(15 * 60)
    host = world.sign_in("ogretmen")
    assert received(host.joined, host.pid)[0]["meeting"] == 2
    ok(world.meetings.end_meeting(host.pid))
    report = ok(world.meetings.report(world.sign_in("ogretmen").pid, 1)).report
    assert report.ended == "2026-03-02T08:30:00Z"  # when it fell empty


def test_host_ends_the_meeting_for_everyone(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    guest = world.guest("Misafir Bir")
    refused(world.meetings.end_meeting(ali.pid), "not_host")
    ended = ok(world.meetings.end_meeting(host.pid))
    assert types(ended, ali.pid) == ["meeting_ended"]
    assert received(ended, guest.pid) == []
    assert {e.participant for e in ended.effects if isinstance(e, Disconnect)} == {
        host.pid,
        ali.pid,
        guest.pid,
    }
    refused(world.meetings.resume("testbim", ali.token), "session_expired")


# -- the asyncio runner -------------------------------------------------------------------


async def test_async_runner_serializes_actions_on_one_thread(world: World) -> None:
    import asyncio
    import threading

    from bridge.meetings import AsyncMeetings

    runner = AsyncMeetings(world.meetings)
    try:
        host = ok(await runner.join_account("testbim", "ogretmen", PASSWORD))
        refused(await runner.join_account("testbim", "ogretmen", "yanlış"), "bad_credentials")
        guests = await asyncio.gather(
            *(runner.call(world.meetings.join_guest, "testbim", f"Misafir {i}") for i in range(20))
        )
        admitted = await asyncio.gather(
            *(
                runner.call(world.meetings.admit, host.participant, ok(g).participant)
                for g in guests
            )
        )
        assert all(not isinstance(a, Refusal) for a in admitted)
        threads = set(await asyncio.gather(*(runner.call(threading.get_ident) for _ in range(10))))
        assert len(threads) == 1 and threading.get_ident() not in threads
        report = ok(await runner.call(world.meetings.report, host.participant)).report
        assert sum(row.kind == "admitted" for row in report.activity) == 20
    finally:
        runner.close()
