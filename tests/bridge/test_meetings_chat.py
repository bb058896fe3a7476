"""Chat (Sohbet): everyone or private, history, limits, text stays text."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, func, select

from bridge.meetings import Refusal
from bridge.store.models import ChatMessage
from tests.support.meetings_world import World, ok, received, refused


def test_a_message_to_everyone_reaches_the_room_but_not_the_lobby(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    waiting = world.guest("Misafir Bir")
    sent = ok(world.meetings.chat(ali.pid, "Herkese merhaba"))
    for pid in (host.pid, ali.pid):
        (message,) = received(sent, pid)
        assert message == {
            "type": "chat",
            "id": 1,
            "from": ali.id,
            "from_name": "Ali Yılmaz",
            "to": None,
            "text": "Herkese merhaba",
            "at": "2026-03-02T08:30:00Z",
        }
    assert received(sent, waiting.pid) == []


def test_a_private_message_reaches_only_sender_and_recipient(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    guest = world.admitted_guest(host, "Misafir Bir")
    sent = ok(world.meetings.chat(guest.pid, "hocam bir sorum var", to=host.pid))
    assert received(sent, host.pid)[0]["to"] == host.id
    assert received(sent, guest.pid)[0]["text"] == "hocam bir sorum var"
    assert received(sent, ali.pid) == []


def test_late_joiners_get_public_history_and_only_their_own_private_messages(
    world: World,
) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    ok(world.meetings.chat(host.pid, "bir"))
    ok(world.meetings.chat(host.pid, "ali'ye özel", to=ali.pid))
    ok(world.meetings.chat(ali.pid, "iki"))
    late = world.guest("Geç Gelen")
    admitted = ok(world.meetings.admit(host.pid, late.pid))
    texts = [m["text"] for m in received(admitted, late.pid)[0]["chat"]]
    assert texts == ["bir", "iki"]
    ok(world.meetings.leave(ali.pid, ali.epoch))
    back = ok(world.meetings.resume("testbim", ali.token))
    texts = [m["text"] for m in received(back, ali.pid)[0]["chat"]]
    assert texts == ["bir", "ali'ye özel", "iki"]


def test_markup_is_stored_and_relayed_as_the_exact_text(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    markup = '<img src=x onerror="alert(1)"><script>alert(2)</script> &amp; **kalın**'
    sent = ok(world.meetings.chat(ali.pid, markup))
    assert received(sent, host.pid)[0]["text"] == markup
    with world.store.transaction() as db:
        assert db.scalars(select(ChatMessage.text)).all() == [markup]


def test_control_characters_are_dropped_newlines_kept(world: World) -> None:
    world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    sent = ok(world.meetings.chat(ali.pid, "satır 1\nsatır\t2\x00\x1b[31m"))
    assert received(sent, ali.pid)[0]["text"] == "satır 1\nsatır\t2[31m"


def test_size_limit_and_empty_messages(world: World) -> None:
    ali = world.sign_in("ali")
    limit = world.meetings.limits.chat_max_chars
    ok(world.meetings.chat(ali.pid, "ş" * limit))
    refused(world.meetings.chat(ali.pid, "ş" * (limit + 1)), "chat_too_long")
    refused(world.meetings.chat(ali.pid, " \n\t "), "chat_empty")


def test_rate_limit_per_participant_refills_with_time(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    burst = world.meetings.limits.chat_burst
    for i in range(burst):
        ok(world.meetings.chat(ali.pid, f"mesaj {i}"))
    refused(world.meetings.chat(ali.pid, "bir tane daha"), "chat_rate_limited")
    ok(world.meetings.chat(host.pid, "hocanın sırası"))  # others are not affected
    world.clock.tick(1.0)
    ok(world.meetings.chat(ali.pid, "bir saniye sonra"))
    refused(world.meetings.chat(ali.pid, "hemen ardından"), "chat_rate_limited")
    with world.store.transaction() as db:
        assert len(db.scalars(select(ChatMessage)).all()) == burst + 2


def test_private_message_needs_a_present_recipient_of_the_same_meeting(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    waiting = world.guest("Misafir Bir")
    elsewhere = world.sign_in("mudur", "kurul")
    for to in (waiting.pid, elsewhere.pid, ali.pid, 999):
        refused(world.meetings.chat(ali.pid, "gizli", to=to), "no_such_recipient")
    ok(world.meetings.leave(host.pid, host.epoch))
    refused(world.meetings.chat(ali.pid, "gizli", to=host.pid), "no_such_recipient")


def test_a_full_database_refuses_clearly_and_keeps_no_part_of_the_action(world: World) -> None:
    """SQLite's own "database or disk is full" (the file may not grow: max_page_count)."""
    host = world.sign_in("ogretmen")

    def cap_at_todays_size(dbapi: Any, _record: Any) -> None:
        pages = dbapi.execute("PRAGMA page_count").fetchone()[0]
        dbapi.execute(f"PRAGMA max_page_count = {pages}")

    world.store.engine.dispose()  # new connections, each capped
    event.listen(world.store.engine, "connect", cap_at_todays_size)
    sent, result = 0, None
    for _ in range(200):
        world.clock.tick(10)  # within the chat rate limit
        result = world.meetings.chat(host.pid, "x" * 2000)
        if isinstance(result, Refusal):
            break
        sent += 1
    assert isinstance(result, Refusal) and result.code == "storage_full", result
    assert "full" in result.message
    with world.store.transaction() as db:  # the refused one left nothing behind
        assert db.scalar(select(func.count()).select_from(ChatMessage)) == sent
