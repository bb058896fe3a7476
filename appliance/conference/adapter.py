"""The conference adapter: between the bridge client and the room's state machine.

Bridge messages become room events: the bridge's record of this room, each time it
sends one, says what changed (rights, hand); its notices say what the host did. Room
commands that ask the bridge for something become protocol messages. The adapter
also keeps what the screen reads of the meeting: who is in it, its title, its chat,
polls and files. It decides nothing about the room: appliance/room.py does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from appliance import meeting_data, room
from appliance.conference import client as conf
from appliance.health import HealthSink
from salon import protocol as p

log = logging.getLogger("salon.appliance")

# A notice about the meeting's content (not the room's state): key and its arguments.
NoticeSink = Callable[[str, tuple[tuple[str, str], ...]], None]


class ConferenceAdapter:
    def __init__(
        self,
        dispatch: Callable[[room.Event], None],
        health: HealthSink,
        *,
        show_notice: NoticeSink,
        streams_changed: Callable[[list[conf.RemoteStream]], None],
        trust_changed: Callable[[], None],
    ) -> None:
        self.dispatch = dispatch
        self.health = health
        self.show_notice = show_notice
        self.streams_changed = streams_changed
        self.trust_changed = trust_changed  # /healthz says "error" while it is refused
        self.client: conf.BridgeClient | None = None
        self.me: p.Participant | None = None
        self.others: dict[str, p.Participant] = {}
        self.meeting_title = ""
        self.meeting = meeting_data.MeetingData()
        self.reconnect_reason = ""
        self.untrusted_bridge: str | None = None  # why its certificate was refused, until in

    # ---- room commands → bridge messages ------------------------------------------

    def carry_out(self, command: room.BridgeRequest) -> None:
        """A request of the room's to the bridge (joining and leaving are the app's)."""
        if isinstance(command, room.SetHand):
            self._send(p.SetHand(type="set_hand", raised=command.raised))
        elif isinstance(command, room.ReportMic):
            self._send(p.SetMediaState(type="set_media_state", mic_muted=command.muted))

    def _send(self, message: p.Inbound) -> None:
        if self.client is not None:
            self.client.send_soon(message)

    # ---- bridge events → room events ----------------------------------------------

    def on_event(self, event: conf.ConferenceEvent) -> None:
        if isinstance(event, conf.Connecting):
            self.dispatch(room.Connecting(attempt=event.attempt))
        elif isinstance(event, conf.Joined):
            self._joined(event)
        elif isinstance(event, conf.ParticipantsChanged):
            self._participants_changed(event)
        elif isinstance(event, conf.RemoteMediaChanged):
            self.streams_changed(event.streams)
        elif isinstance(event, conf.Disconnected):
            self.reconnect_reason = event.reason
            self.me, self.others = None, {}
            self.health.count_reconnect()
            self.dispatch(room.Disconnected(reason=event.reason))
        elif isinstance(event, conf.WaitingInLobby):
            self.dispatch(room.InLobby())
        elif isinstance(event, conf.MeetingData):
            self.meeting = meeting_data.reduce(self.meeting, event.message, time.time())
            self._meeting_notice(event.message)
        elif isinstance(event, conf.NoticeReceived):
            if event.code == "muted_by_host":
                self.dispatch(room.MutedByHost(muted=True))
            elif event.code == "hand_lowered_by_host":
                self.dispatch(room.HandLoweredByHost())
        elif isinstance(event, conf.SentAway):
            self.dispatch(room.Removed(reason=event.reason))
        elif isinstance(event, conf.BridgeUntrusted):
            self.untrusted_bridge = event.detail
            self.health.record_error(f"tls: {event.detail}")
            self.trust_changed()
        elif isinstance(event, conf.BridgeError):
            log.warning("bridge error %s: %s", event.code, event.message)
            self.health.record_error(f"bridge: {event.code}: {event.message}")

    def _joined(self, event: conf.Joined) -> None:
        self.me, self.meeting_title, self.reconnect_reason = event.you, event.room.title, ""
        self.untrusted_bridge = None
        you = event.you
        self.dispatch(room.Admitted(
            audio_right=you.audio_right, camera_right=you.camera_right,
            hand_raised=you.hand_position is not None, hand_position=you.hand_position,
            mic_muted=you.mic_muted))

    def _participants_changed(self, event: conf.ParticipantsChanged) -> None:
        me_id = self.me.id if self.me else None
        self.others = {pid: x for pid, x in event.participants.items() if pid != me_id}
        new = event.changed
        if self.me is None or new is None or new.id != me_id:
            return
        old, self.me = self.me, new
        # The bridge sent this room's record: what it says changed reaches the room.
        if (old.audio_right, old.camera_right) != (new.audio_right, new.camera_right):
            self.dispatch(room.RightsChanged(audio=new.audio_right, camera=new.camera_right))
        if old.hand_position != new.hand_position:
            self.dispatch(room.HandChanged(raised=new.hand_position is not None,
                                           position=new.hand_position))

    def _meeting_notice(self, message: p.ServerMessage) -> None:
        """New content in the meeting: a poll opened, a private message, a shared file."""
        if isinstance(message, p.PollInfo) and message.state == "open":
            self.show_notice("poll_opened", (("question", message.question),))
        elif isinstance(message, p.ChatMessage) and message.to is not None:
            self.show_notice("chat_private", (("sender", message.from_name),))
        elif isinstance(message, p.FileAdded):
            self.show_notice("file_shared", (("name", message.file.name),))
