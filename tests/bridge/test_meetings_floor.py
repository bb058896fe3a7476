"""Hands, audio and camera rights, mute, removal and speaking time."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bridge.meetings import Disconnect, JanusModerate
from tests.support.meetings_world import World, ok, received, refused, types


def moderations(result: object) -> list[JanusModerate]:
    return [e for e in getattr(result, "effects", ()) if isinstance(e, JanusModerate)]


def test_hands_are_queued_by_time_and_seen_by_everyone(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    guest = world.admitted_guest(host, "Misafir Bir")
    world.clock.tick(3)
    ok(world.meetings.raise_hand(guest.pid))
    world.clock.tick(2)
    raised = ok(world.meetings.raise_hand(ali.pid))
    (update,) = received(raised, host.pid)
    assert update["participant"]["hand_position"] == 2
    assert update["participant"]["hand_raised_at"] == "2026-03-02T08:30:05Z"
    world.clock.tick(2)
    assert ok(world.meetings.raise_hand(guest.pid)).effects == ()  # keeps its place
    late = world.sign_in("mudur")
    people = received(late.joined, late.pid)[0]["participants"]
    queue = {p["id"]: p["hand_position"] for p in people}
    assert queue == {host.id: None, ali.id: 2, guest.id: 1, late.id: None}


def test_when_a_hand_goes_down_those_behind_move_up_for_everyone(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    first = world.admitted_guest(host, "Birinci")
    second = world.admitted_guest(host, "İkinci")
    for person in (first, ali, second):
        world.clock.tick(1)
        ok(world.meetings.raise_hand(person.pid))
    lowered = ok(world.meetings.lower_hand(first.pid))
    positions = {
        u["participant"]["id"]: u["participant"]["hand_position"]
        for u in received(lowered, host.pid)
    }
    assert positions == {ali.id: 1, second.id: 2, first.id: None}
    gone = ok(world.meetings.leave(ali.pid, ali.epoch))
    moved, left = received(gone, host.pid)
    assert (moved["participant"]["id"], moved["participant"]["hand_position"]) == (second.id, 1)
    assert left == {"type": "participant_left", "id": ali.id, "reason": "left"}
    granted = ok(world.meetings.set_right(host.pid, second.pid, "audio", True))
    assert received(granted, host.pid)[0]["participant"]["hand_position"] is None


def test_a_dropped_connection_keeps_its_hand_and_comes_back_to_its_place(
    world: World,
) -> None:
    host = world.sign_in("ogretmen")
    room = world.admitted_guest(host, "Oda Bir")
    ali = world.sign_in("ali")
    for person in (room, ali):
        world.clock.tick(1)
        ok(world.meetings.raise_hand(person.pid))
    dropped = ok(world.meetings.leave(room.pid, room.epoch, "disconnected"))
    moved = [u for u in received(dropped, host.pid) if u["type"] == "participant_updated"]
    assert [(u["participant"]["id"], u["participant"]["hand_position"]) for u in moved] == [
        (ali.id, 1)]  # while the room is away, Ali is first
    back = ok(world.meetings.resume("testbim", room.token))
    assert received(back, room.pid)[0]["you"]["hand_position"] == 1
    behind = {u["participant"]["id"]: u["participant"]["hand_position"]
              for u in received(back, host.pid) if u["type"] == "participant_updated"}
    assert behind[ali.id] == 2
    # leaving on purpose lowers the hand
    left = ok(world.meetings.leave(room.pid, room.epoch + 1, "left"))
    assert (ali.id, 1) in [(u["participant"]["id"], u["participant"]["hand_position"])
                           for u in received(left, host.pid)
                           if u["type"] == "participant_updated"]


def test_a_participant_lowers_its_own_hand_and_only_a_host_lowers_others(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    guest = world.admitted_guest(host, "Misafir Bir")
    ok(world.meetings.raise_hand(ali.pid))
    ok(world.meetings.raise_hand(guest.pid))
    with caplog.at_level(logging.WARNING, "salon.meetings"):
        refused(world.meetings.lower_hand(guest.pid, ali.pid), "not_host")
    assert "refused lower hand by participant" in caplog.text
    lowered = ok(world.meetings.lower_hand(ali.pid))
    updates = {u["participant"]["id"]: u["participant"] for u in received(lowered, host.pid)}
    assert updates[ali.id]["hand_position"] is None
    assert updates[guest.id]["hand_position"] == 1  # moved up
    by_host = ok(world.meetings.lower_hand(host.pid, guest.pid))
    assert {"type": "notice", "code": "hand_lowered_by_host"} in received(by_host, guest.pid)


def test_host_grants_audio_then_separately_camera(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    guest = world.admitted_guest(host, "Misafir Bir")
    ok(world.meetings.raise_hand(guest.pid))
    audio = ok(world.meetings.set_right(host.pid, guest.pid, "audio", True))
    mine = received(audio, guest.pid)
    assert {"type": "notice", "code": "audio_granted"} in mine  # Ses Hakları Verildi
    (update,) = received(audio, ali.pid)  # everyone sees the mic mark
    assert update["participant"]["audio_right"] is True
    assert update["participant"]["camera_right"] is False
    assert update["participant"]["hand_position"] is None  # the request to speak was answered
    assert moderations(audio) == [JanusModerate(guest.pid, "testbim", False, True)]
    access = ok(world.meetings.media_access(guest.pid))
    assert (access.audio_muted, access.camera_muted) == (False, True)

    camera = ok(world.meetings.set_right(host.pid, guest.pid, "camera", True))
    assert {"type": "notice", "code": "camera_granted"} in received(camera, guest.pid)
    assert moderations(camera) == [JanusModerate(guest.pid, "testbim", False, False)]

    revoked = ok(world.meetings.set_right(host.pid, guest.pid, "audio", False))
    assert moderations(revoked) == [JanusModerate(guest.pid, "testbim", True, False)]
    assert {"type": "notice", "code": "audio_revoked"} in received(revoked, guest.pid)
    assert ok(world.meetings.set_right(host.pid, guest.pid, "audio", False)).effects == ()


@pytest.mark.parametrize("right", ["audio", "camera"])
def test_a_participant_cannot_grant_itself_rights(
    world: World, caplog: pytest.LogCaptureFixture, right: str
) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    with caplog.at_level(logging.WARNING, "salon.meetings"):
        refused(world.meetings.set_right(ali.pid, ali.pid, right, True), "not_host")
        refused(world.meetings.set_right(ali.pid, host.pid, right, False), "not_host")
    assert f"refused set {right} right by participant {ali.pid} 'Ali Yılmaz'" in caplog.text
    access = ok(world.meetings.media_access(ali.pid))
    assert access.audio_muted and access.camera_muted


def test_rights_do_not_apply_to_hosts_or_strangers(world: World) -> None:
    host = world.sign_in("ogretmen")
    other = world.sign_in("mudur")
    refused(world.meetings.set_right(host.pid, other.pid, "audio", False), "target_is_host")
    refused(world.meetings.set_right(host.pid, 999, "audio", True), "unknown_participant")
    refused(world.meetings.set_right(host.pid, other.pid, "screen", True), "bad_right")
    elsewhere = world.sign_in("ali", "kurul")
    refused(world.meetings.set_right(host.pid, elsewhere.pid, "audio", True), "unknown_participant")
    guest = world.guest("Misafir Bir")
    refused(world.meetings.set_right(host.pid, guest.pid, "audio", True), "not_admitted")


def test_unmuting_needs_audio_rights(world: World, caplog: pytest.LogCaptureFixture) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    ok(world.meetings.set_muted(ali.pid, ali.pid, True))  # muting is always allowed
    with caplog.at_level(logging.WARNING, "salon.meetings"):
        refused(world.meetings.set_muted(ali.pid, ali.pid, False), "no_audio_right")
    assert "no_audio_right" in caplog.text
    ok(world.meetings.set_right(host.pid, ali.pid, "audio", True))
    unmuted = ok(world.meetings.set_muted(ali.pid, ali.pid, False))  # Sesimi Bağla
    assert moderations(unmuted) == [JanusModerate(ali.pid, "testbim", False, True)]


def test_host_mutes_but_never_unmutes_someone(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    ok(world.meetings.set_right(host.pid, ali.pid, "audio", True))
    muted = ok(world.meetings.set_muted(host.pid, ali.pid, True))
    assert moderations(muted) == [JanusModerate(ali.pid, "testbim", True, True)]
    assert {"type": "notice", "code": "muted_by_host"} in received(muted, ali.pid)
    assert received(muted, host.pid)[0]["participant"]["mic_muted"] is True
    refused(world.meetings.set_muted(host.pid, ali.pid, False), "not_allowed")
    refused(world.meetings.set_muted(ali.pid, host.pid, True), "not_host")
    ok(world.meetings.set_muted(ali.pid, ali.pid, False))  # still has the right


def test_host_removes_a_participant_who_cannot_come_back(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    guest = world.admitted_guest(host, "Misafir Bir")
    with caplog.at_level(logging.WARNING, "salon.meetings"):
        refused(world.meetings.remove(guest.pid, ali.pid), "not_host")
    removed = ok(world.meetings.remove(host.pid, ali.pid))
    assert Disconnect(ali.pid, "removed", ali.epoch) in removed.effects
    assert received(removed, guest.pid) == [
        {"type": "participant_left", "id": ali.id, "reason": "removed"}
    ]
    assert ali.pid not in [
        pid for e in removed.effects if hasattr(e, "recipients") for pid in e.recipients
    ]
    refused(world.meetings.join_account("testbim", "ali", "doğru-parola-123"), "removed")
    refused(world.meetings.resume("testbim", ali.token), "removed")
    refused(world.meetings.chat(ali.pid, "geri döndüm"), "not_admitted")
    refused(world.meetings.media_access(ali.pid), "not_admitted")
    refused(world.meetings.remove(host.pid, world.sign_in("mudur").pid), "target_is_host")


def test_speaking_time_counts_only_audible_speech(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    t0 = world.clock.now
    # Without audio rights Janus silences it: talking does not count.
    ok(world.meetings.talking(ali.pid, True, t0))
    ok(world.meetings.talking(ali.pid, False, t0 + timedelta(seconds=5)))
    ok(world.meetings.set_right(host.pid, ali.pid, "audio", True))
    ok(world.meetings.talking(ali.pid, True, t0 + timedelta(seconds=10)))
    ok(world.meetings.talking(ali.pid, True, t0 + timedelta(seconds=11)))  # repeated start
    ok(world.meetings.talking(ali.pid, False, t0 + timedelta(seconds=13.5)))
    ok(world.meetings.talking(ali.pid, True, t0 + timedelta(seconds=20)))
    world.clock.now = t0 + timedelta(seconds=24)
    ok(world.meetings.set_muted(host.pid, ali.pid, True))  # muting ends the interval
    ok(world.meetings.talking(ali.pid, False, t0 + timedelta(seconds=30)))
    ok(world.meetings.talking(host.pid, True, t0 + timedelta(seconds=30)))
    world.clock.now = t0 + timedelta(seconds=32)
    ok(world.meetings.leave(host.pid, host.epoch))  # leaving ends it too
    report = ok(world.meetings.report(world.sign_in("mudur").pid)).report
    assert report is not None
    speaking = {row.participant: row.speaking_seconds for row in report.attendance}
    assert speaking[ali.pid] == round(3.5 + 4)
    assert speaking[host.pid] == 2


def test_media_access_follows_rights_and_open_floor_rooms(world: World) -> None:
    world.add_room("serbest", open_floor=True)
    host = world.sign_in("ogretmen", "serbest")
    # An open floor has no lobby: the guest is in at once, with both rights.
    guest = world.guest("Misafir Bir", "serbest")
    assert guest.joined.admitted
    refused(world.meetings.admit(host.pid, guest.pid), "not_waiting")
    access = ok(world.meetings.media_access(guest.pid))
    assert (access.room, access.audio_muted, access.camera_muted) == ("serbest", False, False)
    assert types(world.sign_in("ali", "serbest").joined, host.pid) == ["participant_joined"]


def test_a_camera_is_refused_without_camera_rights_and_the_domain_decides(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    refused(world.meetings.set_media_state(ali.pid, camera_on=True), "no_camera_right")
    ok(world.meetings.set_right(host.pid, ali.pid, "camera", True))
    assert ok(world.meetings.set_media_state(ali.pid, camera_on=True)).effects == ()
    # The mic in the same request: Sesimi Bağla still needs audio rights.
    refused(world.meetings.set_media_state(ali.pid, mic_muted=False, camera_on=True),
            "no_audio_right")
    ok(world.meetings.set_right(host.pid, ali.pid, "audio", True))
    ok(world.meetings.set_media_state(ali.pid, mic_muted=True))
    unmuted = ok(world.meetings.set_media_state(ali.pid, mic_muted=False, camera_on=True))
    assert types(unmuted, host.pid) == ["participant_updated"] and moderations(unmuted)
