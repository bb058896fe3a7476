"""Presenting (Ekranımı Paylaş): one presentation at a time per meeting.

The right to present is granted by the host like audio and camera rights (floor.py;
hosts always hold it). Holding the presentation opens the participant's content
publisher at Janus (JanusModerate.content_muted); ending it — by the presenter, by a
host, by revoking the right or by leaving — closes it again. The event log records
``present_start`` and ``present_stop`` (with its length), which reports read.

A room's seat may also present through its companion page opened on a laptop in the
room (``via="companion"``): under the room's right and as the room's one presentation,
but apart from the room's own content input, so each side starts and stops only its
own; a host stops either.
"""

from __future__ import annotations

from bridge.meetings import context as cx
from bridge.meetings import messages as msg
from bridge.meetings.effects import Refused
from bridge.store.models import Admission

VIA_COMPANION = "companion"


def start(tx: cx.Tx, pid: int, via: str | None = None) -> None:
    scope = cx.actor(tx, pid, "present")
    me = scope.me
    if not me.present_right:
        raise Refused("no_present_right", "present: the host has not given you the right to "
                      "present", security=True)
    if me.presenting_since is not None:
        if me.presenting_via == via:
            return
        raise Refused("presentation_busy", "present: this seat presents already "
                      + ("through its companion page" if me.presenting_via else
                         "from the room itself") + "; one presentation at a time")
    current = cx.presenter(tx, scope.meeting.id)
    if current is not None:
        raise Refused("presentation_busy", f"present: {current.display_name} is presenting; "
                      "one presentation at a time")
    me.presenting_since, me.presenting_via = tx.now, via
    if via is None:
        cx.record(tx, scope.meeting, "present_start", actor_id=pid, subject_id=pid)
    else:
        cx.record(tx, scope.meeting, "present_start", actor_id=pid, subject_id=pid, via=via)
    cx.updated(tx, scope, me)
    tx.effects.append(cx.janus_state(scope, me))


def stop(tx: cx.Tx, pid: int, subject_id: int | None, via: str | None = None) -> None:
    """End one's own presentation (the one made `via` the same way), or (hosts only)
    anyone's."""
    scope = cx.actor(tx, pid, "stop presenting")
    target = scope.me
    if subject_id is None and target.presenting_via != via:
        return  # the seat's other side presents: not this one's to stop
    if subject_id is not None and subject_id != pid:
        if not scope.me.is_host:
            raise Refused("not_host", "stop presenting: only the host may stop another's "
                          "presentation", security=True)
        target = cx.subject(tx, scope, subject_id, "stop presenting")
        if target.admission is not Admission.ADMITTED:
            raise Refused("not_admitted", "stop presenting: that participant is not in the "
                          "meeting")
    reason = "stopped" if target.id == pid else "stopped_by_host"
    if not cx.stop_presenting(tx, scope, target, actor_id=pid, reason=reason):
        return
    cx.updated(tx, scope, target)
    if target.id != pid:
        cx.send(tx, target.id, msg.notice(msg.PRESENTATION_STOPPED_BY_HOST))
    tx.effects.append(cx.janus_state(scope, target))
