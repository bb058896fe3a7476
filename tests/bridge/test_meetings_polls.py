"""Polls (Anket): drafts, opening, answers that change while open, results."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select

from bridge.store.models import PollAnswer
from salon import protocol as p
from tests.support.meetings_world import Person, World, ok, received, refused, types


def open_poll(world: World, host: Person, results_visible: bool = False) -> int:
    ok(
        world.meetings.create_poll(
            host.pid, "Ders nasıldı?", ["İyi", "Orta", "Kötü"], results_visible
        )
    )
    ok(world.meetings.open_poll(host.pid, 1))
    return 1


def test_only_hosts_create_and_drafts_are_theirs_alone(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    with caplog.at_level(logging.WARNING, "salon.meetings"):
        refused(world.meetings.create_poll(ali.pid, "Soru?", ["a", "b"]), "not_host")
    assert "refused create poll" in caplog.text
    created = ok(world.meetings.create_poll(host.pid, "Soru?", ["a", "b"]))
    assert types(created, host.pid) == ["poll"] and received(created, ali.pid) == []
    refused(world.meetings.answer_poll(ali.pid, 1, 0), "poll_not_open")
    again = world.sign_in("ali")
    assert received(again.joined, ali.pid)[0]["polls"] == []
    refused(world.meetings.create_poll(host.pid, "Tek seçenek?", ["a"]), "bad_poll")
    refused(world.meetings.create_poll(host.pid, " ", ["a", "b"]), "bad_poll")
    refused(world.meetings.create_poll(host.pid, "Boş seçenek?", ["a", ""]), "bad_poll")


def test_answers_change_while_open_and_hosts_see_live_results(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    guest = world.admitted_guest(host, "Misafir Bir")
    opened = ok(world.meetings.create_poll(host.pid, "Ders nasıldı?", ["İyi", "Orta", "Kötü"]))
    opened = ok(world.meetings.open_poll(host.pid, 1))
    assert received(opened, ali.pid)[0]["state"] == "open"
    assert types(opened, host.pid) == ["poll", "poll_results"]
    assert "poll_results" not in types(opened, ali.pid)

    first = ok(world.meetings.answer_poll(ali.pid, 1, 0))
    assert received(first, ali.pid) == [{"type": "poll_answer", "id": 1, "option": 0}]
    assert received(first, host.pid)[-1]["counts"] == [1, 0, 0]
    assert received(first, guest.pid) == []  # no live results for participants
    ok(world.meetings.answer_poll(guest.pid, 1, 0))
    changed = ok(world.meetings.answer_poll(ali.pid, 1, 2))
    assert received(changed, host.pid)[-1] == {
        "type": "poll_results",
        "id": 1,
        "counts": [1, 0, 1],
        "total": 2,
    }
    with world.store.transaction() as db:  # one answer per participant
        assert (
            len(db.scalars(select(PollAnswer).where(PollAnswer.participant_id == ali.pid)).all())
            == 1
        )
    refused(world.meetings.answer_poll(ali.pid, 1, 3), "bad_option")
    refused(world.meetings.answer_poll(ali.pid, 1, -1), "bad_option")


def test_closed_polls_take_no_answers_and_results_go_to_all_if_the_host_chooses(
    world: World,
) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    poll = open_poll(world, host)
    ok(world.meetings.answer_poll(ali.pid, poll, 1))
    closed = ok(world.meetings.close_poll(host.pid, poll))
    assert types(closed, ali.pid) == ["poll"]  # closed, results hidden
    assert types(closed, host.pid) == ["poll", "poll_results"]
    refused(world.meetings.answer_poll(ali.pid, poll, 0), "poll_not_open")
    refused(world.meetings.open_poll(host.pid, poll), "poll_state")
    shown = ok(world.meetings.show_poll_results(host.pid, poll, True))
    assert received(shown, ali.pid)[-1] == {
        "type": "poll_results",
        "id": 1,
        "counts": [0, 1, 0],
        "total": 1,
    }
    late = world.sign_in("sinif1")
    (view,) = received(late.joined, late.pid)[0]["polls"]
    assert view["counts"] == [0, 1, 0] and view["my_answer"] is None


def test_a_poll_message_never_overwrites_a_participants_own_answer(world: World) -> None:
    """What everyone is told of a poll (closed, results shown) is the same for all and
    so carries nobody's own answer: on the wire it has no my_answer (a client merges it
    into the poll it knows, where the answer stays marked). A welcome still has it."""
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    poll = open_poll(world, host)
    ok(world.meetings.answer_poll(ali.pid, poll, 2))
    closed = ok(world.meetings.close_poll(host.pid, poll))
    shown = ok(world.meetings.show_poll_results(host.pid, poll, True))
    for on_the_wire in received(closed, ali.pid) + received(shown, ali.pid):
        assert "my_answer" not in on_the_wire and on_the_wire["id"] == poll, on_the_wire
        if on_the_wire["type"] == "poll":
            assert "counts" not in on_the_wire
    again = world.sign_in("ali")
    welcome = p.parse_server_message(json.dumps(received(again.joined, ali.pid)[0]))
    assert isinstance(welcome, p.Welcome) and welcome.polls[0].my_answer == 2
    assert json.loads(p.dump(welcome))["polls"][0]["my_answer"] == 2


def test_closing_with_results_visible_shows_them_at_once(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    poll = open_poll(world, host)
    ok(world.meetings.answer_poll(ali.pid, poll, 0))
    closed = ok(world.meetings.close_poll(host.pid, poll, results_visible=True))
    assert types(closed, ali.pid) == ["poll", "poll_results"]
    assert received(closed, ali.pid)[0]["results_visible"] is True


def test_polls_of_another_room_are_out_of_reach(world: World) -> None:
    host = world.sign_in("ogretmen")
    poll = open_poll(world, host)
    other_host = world.sign_in("mudur", "kurul")
    stranger = world.sign_in("ali", "kurul")
    refused(world.meetings.answer_poll(stranger.pid, poll, 0), "no_such_poll")
    refused(world.meetings.close_poll(other_host.pid, poll), "no_such_poll")


def test_a_poll_prepared_before_the_meeting_outlives_it(world: World) -> None:
    host = world.sign_in("ogretmen")
    ok(world.meetings.create_poll(host.pid, "Sonraki ders?", ["Pazartesi", "Salı"]))
    ok(world.meetings.end_meeting(host.pid))
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    opened = ok(world.meetings.open_poll(host.pid, 1))
    assert received(opened, ali.pid)[0]["question"] == "Sonraki ders?"
    ok(world.meetings.answer_poll(ali.pid, 1, 1))
