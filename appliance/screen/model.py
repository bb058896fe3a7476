"""What the room's screens show, as plain frozen data.

The app builds a `ScreenModel` from the room state on every change; the renderer
draws it and decides nothing. Equal models draw equal pixels, which is what lets
the screen skip redraws (see `render.ScreenDriver`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

from appliance.provisioning.words import Language, Phrase

SelfViewPosition = Literal["top-left", "top-right", "bottom-left", "bottom-right"]


class Phase(StrEnum):
    """Which screen is up; the room state machine's connection phase."""

    STARTING = "starting"
    CONFIG_ERROR = "config_error"
    CONNECTING = "connecting"
    RECONNECTING = "reconnecting"
    LOBBY = "lobby"
    MEETING = "meeting"
    LEFT = "left"
    STANDBY = "standby"  # following a schedule, between meetings


class ScreenRole(StrEnum):
    """What one physical display shows when the room has one or two screens."""

    SINGLE = "single"  # people and panels on one screen
    PEOPLE = "people"  # two screens: video tiles and notices
    PANELS = "panels"  # two screens: participants, chat, poll, files, companion link


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the provisioning file, located for the admin. `text` is the
    validator's message as a phrase (shown in the screen's language); `message` is its
    English wording, used when there is no phrase."""

    file: str
    message: str
    line: int | None = None
    field: str | None = None
    text: Phrase | None = None


@dataclass(frozen=True)
class Participant:
    id: str
    name: str
    has_audio_right: bool = False
    talking: bool = False
    hand_position: int | None = None  # 1 = first in the hand queue
    is_self: bool = False
    hand_raised: bool = False  # the hand is up; its place may not be known yet
    muted: bool = False  # has the right but the mic is off (room button or host)
    camera_on: bool = True  # publishing video; False draws the "camera off" placeholder


@dataclass(frozen=True)
class SelfView:
    enabled: bool = True
    position: SelfViewPosition = "bottom-right"
    camera_on: bool = False


@dataclass(frozen=True)
class Notice:
    """A short message top right. `key` names an i18n string (see i18n.NOTICES);
    `args` fill its placeholders; `text` is used as-is when the key is unknown."""

    key: str
    shown_at: float = 0.0
    args: tuple[tuple[str, str], ...] = ()
    text: str = ""
    level: str = "info"  # "good", "info", "warning" or "error": the room decided it


@dataclass(frozen=True)
class ChatMessage:
    sender: str
    text: str
    private_to_room: bool = False  # sent only to this room, not to everyone ("Herkes")
    at: float = 0.0


@dataclass(frozen=True)
class Poll:
    question: str
    options: tuple[str, ...]
    opened_at: float
    answer: int | None = None  # index into options of the room's current answer


@dataclass(frozen=True)
class SharedFile:
    name: str
    size_bytes: int


@dataclass(frozen=True)
class StatusInfo:
    """The non-meeting screens: start-up, connecting, reconnecting, lobby, left.
    `progress` and `reason` are i18n keys (i18n.STATUS) or free text."""

    progress: str = ""
    reason: str = ""
    attempt: int = 0


@dataclass(frozen=True)
class ScheduledItem:
    """A meeting of the room's schedule as the standby screen lists it (local times)."""

    title: str
    start: str  # "09:00"
    end: str
    weekday: int = 0  # 0 = Monday, for "next: Tuesday 09:00"
    today: bool = True


@dataclass(frozen=True)
class StandbyInfo:
    """The standby screen: the time, today's meetings, the next one, whether the clock
    can be trusted, and the last device check (part, "ok" | "failed", detail)."""

    clock: str = ""  # "09:12"
    day: int = 1
    month: int = 1
    year: int = 2026
    weekday: int = 0
    today: tuple[ScheduledItem, ...] = ()
    next: ScheduledItem | None = None
    clock_synced: bool = True
    schedule_known: bool = True
    checks: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class ScreenModel:
    phase: Phase
    product: str = "Salon"
    version: str = ""
    room_name: str = ""
    meeting_title: str = ""
    status: StatusInfo = StatusInfo()
    config_problems: tuple[ConfigProblem, ...] = ()
    running_last_good_config: bool = False
    participants: tuple[Participant, ...] = ()
    active_speaker_id: str | None = None
    self_view: SelfView = SelfView()
    notices: tuple[Notice, ...] = ()
    chat: tuple[ChatMessage, ...] = ()
    poll: Poll | None = None
    files: tuple[SharedFile, ...] = ()
    companion_url: str | None = None
    standby: StandbyInfo | None = None
    language: Language | None = None  # None: the renderer's language
    # The clock only matters for "poll open for 02:15"; it does not make models unequal,
    # so a ticking clock alone never forces a redraw (the driver compares the label).
    now: float = field(default=0.0, compare=False)

    @property
    def remote(self) -> tuple[Participant, ...]:
        return tuple(p for p in self.participants if not p.is_self)

    @property
    def me(self) -> Participant | None:
        return next((p for p in self.participants if p.is_self), None)

    def at(self, now: float) -> ScreenModel:
        return replace(self, now=now)


@dataclass
class _Pending:
    key: str
    args: tuple[tuple[str, str], ...]
    text: str
    level: str


class NoticeQueue:
    """Notices shown long enough to read, a few at a time, the rest waiting.

    Pure: every call takes the time. A notice gets a slot when one is free and keeps it
    for `show_seconds`; at most `max_visible` are up at once and the oldest leaves
    first. Pushing a notice whose key is already up or waiting does not stack a copy:
    the waiting one is updated, the visible one keeps its slot.
    """

    def __init__(
        self, show_seconds: float = 6.0, max_visible: int = 2, max_waiting: int = 8
    ) -> None:
        if show_seconds <= 0 or max_visible < 1 or max_waiting < 0:
            raise ValueError("show_seconds > 0, max_visible >= 1, max_waiting >= 0")
        self.show_seconds = show_seconds
        self.max_visible = max_visible
        self._visible: list[Notice] = []
        self._waiting: deque[_Pending] = deque(maxlen=max_waiting or None)
        self._max_waiting = max_waiting
        self._now = float("-inf")

    def push(
        self,
        key: str,
        now: float,
        args: tuple[tuple[str, str], ...] = (),
        text: str = "",
        level: str = "info",
    ) -> None:
        self._advance(now)
        for i, pending in enumerate(self._waiting):
            if pending.key == key:
                self._waiting[i] = _Pending(key, args, text, level)
                return
        if any(n.key == key and n.args == args and n.text == text for n in self._visible):
            return
        if self._max_waiting == 0 and len(self._visible) >= self.max_visible:
            return
        self._waiting.append(_Pending(key, args, text, level))
        self._advance(now)

    def visible(self, now: float) -> tuple[Notice, ...]:
        self._advance(now)
        return tuple(self._visible)

    def waiting(self, now: float) -> int:
        self._advance(now)
        return len(self._waiting)

    def next_change(self, now: float) -> float | None:
        """When the visible set changes next without a push (for the app's timer)."""
        self._advance(now)
        if not self._visible:
            return None
        return min(n.shown_at for n in self._visible) + self.show_seconds

    def _advance(self, now: float) -> None:
        if now < self._now:
            raise ValueError(f"time went backwards: {now} < {self._now}")
        self._now = now
        while True:
            self._visible.sort(key=lambda n: n.shown_at)
            if self._visible and self._visible[0].shown_at + self.show_seconds <= now:
                gone = self._visible.pop(0)
                # A waiting notice takes the freed slot at the moment it freed,
                # so time spent between calls is not lost from its reading time.
                self._promote(gone.shown_at + self.show_seconds)
                continue
            if self._waiting and len(self._visible) < self.max_visible:
                self._promote(now)
                continue
            return

    def _promote(self, at: float) -> None:
        if self._waiting and len(self._visible) < self.max_visible:
            p = self._waiting.popleft()
            self._visible.append(Notice(p.key, at, p.args, p.text, p.level))
