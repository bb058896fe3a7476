"""The floor: hands (Söz Hakkı İste), audio and camera rights, mute, removal,
speaking time. Rights are decided here and enforced at Janus via JanusModerate."""

from __future__ import annotations

from datetime import datetime

from bridge.meetings import context as cx
from bridge.meetings import messages as msg
from bridge.meetings.effects import Disconnect, MediaAccess, Refused
from bridge.store.models import Admission, Participant

RIGHTS = ("audio", "camera")


def raise_hand(tx: cx.Tx, pid: int) -> None:
    scope = cx.actor(tx, pid, "raise hand")
    if scope.me.hand_raised_at is not None:
        return  # already queued: keep the place
    scope.me.hand_raised_at = tx.now
    cx.record(tx, scope.meeting, "hand_raised", actor_id=pid, subject_id=pid)
    cx.updated(tx, scope, scope.me)


def lower_hand(tx: cx.Tx, pid: int, subject_id: int | None) -> None:
    """Lower one's own hand, or (hosts only) someone else's."""
    scope = cx.actor(tx, pid, "lower hand")
    target = scope.me
    if subject_id is not None and subject_id != pid:
        if not scope.me.is_host:
            raise Refused(
                "not_host", "lower hand: only the host may lower another's hand", security=True
            )
        target = cx.subject(tx, scope, subject_id, "lower hand")
    if not cx.put_hand_down(tx, scope, target, "lowered", actor_id=pid):
        return
    cx.updated(tx, scope, target)
    if target.id != pid:
        cx.send(tx, target.id, msg.notice(msg.HAND_LOWERED_BY_HOST))


def _admitted_other(tx: cx.Tx, scope: cx.Scope, sid: int, action: str) -> Participant:
    target = cx.subject(tx, scope, sid, action)
    if target.admission is not Admission.ADMITTED:
        raise Refused("not_admitted", f"{action}: that participant is not in the meeting")
    if target.is_host:
        raise Refused("target_is_host", f"{action}: not applicable to a host")
    return target


def set_right(tx: cx.Tx, pid: int, subject_id: int, right: str, granted: bool) -> None:
    """Grant or take back audio rights or, separately, camera rights (hosts only)."""
    if right not in RIGHTS:
        raise Refused("bad_right", f"rights: unknown right {right!r}")
    action = f"{'grant' if granted else 'revoke'} {right}"
    scope = cx.host(tx, pid, action)
    target = _admitted_other(tx, scope, subject_id, action)
    if (target.audio_right if right == "audio" else target.camera_right) == granted:
        return
    if right == "audio":
        target.audio_right = granted
        if granted:  # the request to speak is answered
            cx.put_hand_down(tx, scope, target, "granted", actor_id=pid)
        else:
            cx.stop_talking(tx, scope, target)
    else:
        target.camera_right = granted
    kind = f"{right}_{'granted' if granted else 'revoked'}"
    cx.record(tx, scope.meeting, kind, actor_id=pid, subject_id=target.id)
    cx.updated(tx, scope, target)
    cx.send(tx, target.id, msg.notice(kind))
    tx.effects.append(cx.janus_state(scope, target))


def set_muted(tx: cx.Tx, pid: int, subject_id: int, muted: bool) -> None:
    """Mute or unmute oneself (Sesimi Bağla needs audio rights); a host may mute others."""
    scope = cx.actor(tx, pid, "mute" if muted else "unmute")
    if subject_id == pid:
        target = scope.me
        if not muted and not target.audio_right:
            raise Refused(
                "no_audio_right", "unmute: the host has not given you audio rights", security=True
            )
    else:
        if not scope.me.is_host:
            raise Refused("not_host", "mute: only the host may mute others", security=True)
        if not muted:
            raise Refused("not_allowed", "unmute: only participants unmute themselves")
        target = cx.subject(tx, scope, subject_id, "mute")
        if target.admission is not Admission.ADMITTED:
            raise Refused("not_admitted", "mute: that participant is not in the meeting")
    if target.muted == muted:
        return
    target.muted = muted
    if muted:
        cx.stop_talking(tx, scope, target)
    cx.record(
        tx, scope.meeting, "muted" if muted else "unmuted", actor_id=pid, subject_id=target.id
    )
    cx.updated(tx, scope, target)
    if target.id != pid:
        cx.send(tx, target.id, msg.notice(msg.MUTED_BY_HOST))
    tx.effects.append(cx.janus_state(scope, target))


def set_media_state(tx: cx.Tx, pid: int, mic_muted: bool | None, camera_on: bool | None
                    ) -> None:
    """What a participant switched on itself. Whether its camera is on is what Janus
    receives, never what a client says: a camera without camera rights is only refused
    (and logged), the mic is Sesimi Bağla or a mute of oneself."""
    if camera_on:
        me = tx.db.get(Participant, pid)  # a check only: no action taken, none counted
        if me is None or not me.camera_right:
            raise Refused("no_camera_right",
                          "camera: the host has not given you camera rights", security=True)
    if mic_muted is not None:
        set_muted(tx, pid, pid, mic_muted)


def remove(tx: cx.Tx, pid: int, subject_id: int) -> None:
    scope = cx.host(tx, pid, "remove")
    target = _admitted_other(tx, scope, subject_id, "remove")
    queue = cx.hand_queue(tx, scope.meeting.id)
    target.admission = Admission.REMOVED
    target.decided_at = tx.now
    cx.record(tx, scope.meeting, "removed", actor_id=pid, subject_id=target.id)
    if target.left_at is None:
        target.left_at = tx.now
        cx.stop_talking(tx, scope, target)
        cx.record(tx, scope.meeting, "left", subject_id=target.id, reason=msg.REASON_REMOVED)
        tx.effects.append(Disconnect(target.id, msg.REASON_REMOVED, target.epoch))
    cx.put_hand_down(tx, scope, target, "removed", actor_id=pid, queue_before=queue)
    cx.to_members(
        tx, scope, msg.left(target.id, msg.REASON_REMOVED)
    )


def talking(tx: cx.Tx, pid: int, is_talking: bool, at: datetime | None) -> None:
    """Janus's talking events; only audible speech (rights, unmuted) counts."""
    p = tx.db.get(Participant, pid)
    if p is None or p.admission is not Admission.ADMITTED or p.left_at is not None:
        return
    scope = cx.scope_of(tx, p)
    if at is not None:
        tx.now = at
    if is_talking:
        if p.talking_since is None and p.audio_right and not p.muted:
            p.talking_since = tx.now
            cx.record(tx, scope.meeting, "talk_start", subject_id=p.id)
    else:
        cx.stop_talking(tx, scope, p)


def media_access(tx: cx.Tx, pid: int) -> MediaAccess:
    """May this participant publish and subscribe now, and how Janus must mute it."""
    scope = cx.actor(tx, pid, "media")
    state = cx.janus_state(scope, scope.me)
    return MediaAccess(
        room=scope.room.address, audio_muted=state.audio_muted, camera_muted=state.camera_muted
    )
