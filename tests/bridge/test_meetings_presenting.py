"""Presenting: the right (granted like audio and camera, hosts always hold it), one
presentation per meeting, the host stopping anyone's, Janus's content mute, reports."""

from __future__ import annotations

from bridge.meetings import JanusModerate
from tests.support.meetings_world import World, ok, received, refused


def content_moderations(result: object) -> list[tuple[int, bool]]:
    return [(e.participant, e.content_muted) for e in getattr(result, "effects", ())
            if isinstance(e, JanusModerate)]


def shown(result: object, pid: int, subject: str) -> dict[str, object]:
    updates = [u["participant"] for u in received(result, pid)  # type: ignore[arg-type]
               if u["type"] == "participant_updated" and u["participant"]["id"] == subject]
    assert updates, f"no update about {subject}"
    return updates[-1]


def test_the_host_holds_the_right_and_others_get_it_from_the_host(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    welcome = received(ali.joined, ali.pid)[0]
    rights = {p["id"]: p["present_right"] for p in welcome["participants"]}
    assert rights == {host.id: True, ali.id: False}
    refused(world.meetings.start_presenting(ali.pid), "no_present_right")
    refused(world.meetings.set_right(ali.pid, ali.pid, "present", True), "not_host")
    granted = ok(world.meetings.set_right(host.pid, ali.pid, "present", True))
    assert {"type": "notice", "code": "present_granted"} in received(granted, ali.pid)
    assert shown(granted, host.pid, ali.id)["present_right"] is True
    assert content_moderations(granted) == [(ali.pid, True)]  # the right alone opens nothing
    started = ok(world.meetings.start_presenting(ali.pid))
    assert shown(started, host.pid, ali.id)["presenting"] is True
    assert content_moderations(started) == [(ali.pid, False)]
    assert ok(world.meetings.start_presenting(ali.pid)).effects == ()  # already presenting


def test_one_presentation_at_a_time_and_the_next_after_it_ends(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    ok(world.meetings.set_right(host.pid, ali.pid, "present", True))
    ok(world.meetings.start_presenting(host.pid))
    busy = refused(world.meetings.start_presenting(ali.pid), "presentation_busy")
    assert "Öğretmen Ayşe" in busy.message
    stopped = ok(world.meetings.stop_presenting(host.pid))
    assert shown(stopped, ali.pid, host.id)["presenting"] is False
    assert content_moderations(stopped) == [(host.pid, True)]
    ok(world.meetings.start_presenting(ali.pid))


def test_the_host_stops_anyones_presentation_and_nobody_else_may(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    guest = world.admitted_guest(host, "Misafir Bir")
    ok(world.meetings.set_right(host.pid, ali.pid, "present", True))
    ok(world.meetings.start_presenting(ali.pid))
    refused(world.meetings.stop_presenting(guest.pid, ali.pid), "not_host")
    stopped = ok(world.meetings.stop_presenting(host.pid, ali.pid))
    assert {"type": "notice", "code": "presentation_stopped_by_host"} in received(
        stopped, ali.pid)
    assert content_moderations(stopped) == [(ali.pid, True)]
    assert ok(world.meetings.stop_presenting(host.pid, ali.pid)).effects == ()


def test_revoking_the_right_or_leaving_ends_the_presentation(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    ok(world.meetings.set_right(host.pid, ali.pid, "present", True))
    ok(world.meetings.start_presenting(ali.pid))
    revoked = ok(world.meetings.set_right(host.pid, ali.pid, "present", False))
    view = shown(revoked, host.pid, ali.id)
    assert (view["present_right"], view["presenting"]) == (False, False)
    assert content_moderations(revoked) == [(ali.pid, True)]
    ok(world.meetings.start_presenting(host.pid))
    ok(world.meetings.leave(host.pid, host.epoch, "disconnected"))
    ok(world.meetings.set_right(world.sign_in("mudur").pid, ali.pid, "present", True))
    ok(world.meetings.start_presenting(ali.pid))  # the host's presentation left with it


def test_reports_record_who_presented_when_and_for_how_long(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    ok(world.meetings.set_right(host.pid, ali.pid, "present", True))
    world.clock.tick(10)
    ok(world.meetings.start_presenting(ali.pid))
    world.clock.tick(95)
    ok(world.meetings.stop_presenting(host.pid, ali.pid))
    world.clock.tick(5)
    ok(world.meetings.start_presenting(host.pid))
    world.clock.tick(30)  # still presenting when the report is made
    report = ok(world.meetings.report(host.pid)).report
    seconds = {row.participant: row.presenting_seconds for row in report.attendance}
    assert seconds == {host.pid: 30, ali.pid: 95}
    shows = [(a.kind, a.at, a.actor, a.subject) for a in report.activity
             if a.kind.startswith("present_")]
    assert shows == [
        ("present_granted", "2026-03-02T08:30:00Z", "Öğretmen Ayşe", "Ali Yılmaz"),
        ("present_start", "2026-03-02T08:30:10Z", "Ali Yılmaz", "Ali Yılmaz"),
        ("present_stop", "2026-03-02T08:31:45Z", "Öğretmen Ayşe", "Ali Yılmaz"),
        ("present_start", "2026-03-02T08:31:50Z", "Öğretmen Ayşe", "Öğretmen Ayşe"),
    ]
    stop = next(a for a in report.activity if a.kind == "present_stop")
    assert "ms=95000" in stop.details and "reason=stopped_by_host" in stop.details


def test_in_an_open_floor_room_everyone_may_present_one_at_a_time(world: World) -> None:
    world.add_room("serbest", open_floor=True)
    first = world.guest("Birinci", "serbest")
    second = world.guest("İkinci", "serbest")
    ok(world.meetings.start_presenting(first.pid))
    refused(world.meetings.start_presenting(second.pid), "presentation_busy")


def test_janus_is_told_before_anyone_hears_a_right_was_taken(world: World) -> None:
    """The content is cut at the media server first: no client is told "stopped" while
    the presenter's media still reaches the others (effects are carried out in order)."""
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    for right in ("present", "camera", "audio"):
        ok(world.meetings.set_right(host.pid, ali.pid, right, True))
    ok(world.meetings.start_presenting(ali.pid))
    for result in (ok(world.meetings.stop_presenting(host.pid, ali.pid)),
                   ok(world.meetings.set_right(host.pid, ali.pid, "camera", False)),
                   ok(world.meetings.set_right(host.pid, ali.pid, "audio", False))):
        kinds = [isinstance(e, JanusModerate) for e in result.effects]
        assert True in kinds and kinds == sorted(kinds, reverse=True), result.effects
