"""The room's presenting rules, for appliance/room.py: pure data in, pure data out.

Kept apart from room.py for size; room.py holds a `ContentState` in its state and
calls these functions from its handlers. The rules:

- the room sends content only in the meeting, with the right to present, while the
  bridge says it holds the meeting's one presentation, and while its input is plugged
  in (`sending`);
- the room asks the bridge to present (`RequestPresent(True)`) when it wants to and
  may: in the meeting, with the right, its input plugged in. It wants to when the
  input is plugged in during the meeting (provisioning's `[content] present_on_plug`)
  or on a long press of the camera button; the wish lasts across a reconnect and
  waits for a right not yet granted; unplugging, another long press, the host stopping
  the presentation, the right taken back and the session ending drop it;
- the bridge's word on who presents is final (`PresentationChanged`): a refusal or
  the host's stop ends the room's wish rather than asking again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from appliance.room_commands import (
    Command,
    Event,
    HandLed,
    Notice,
    NoticeLevel,
    RequestPresent,
    ShowNotice,
)

# --- events (room.py re-exports them) ---------------------------------------------------


@dataclass(frozen=True)
class ContentPlugged(Event):
    """Something is on the content input now (a laptop on the HDMI dongle)."""


@dataclass(frozen=True)
class ContentUnplugged(Event):
    pass


@dataclass(frozen=True)
class PresentationChanged(Event):
    """The bridge's roster says whether this room holds the meeting's presentation."""

    active: bool


@dataclass(frozen=True)
class PresentationStoppedByHost(Event):
    pass


@dataclass(frozen=True)
class PresentRefused(Event):
    """The bridge refused the room's `present`: someone else presents (`busy`) or the
    room lacks the right."""

    busy: bool = True


#: The events this module's rules answer (tests check room.py hands each of them here).
EVENTS: tuple[type[Event], ...] = (ContentPlugged, ContentUnplugged, PresentationChanged,
                                   PresentationStoppedByHost, PresentRefused)


# --- state ------------------------------------------------------------------------------



@dataclass(frozen=True)
class ContentState:
    plugged: bool = False
    """Something is on the content input (a laptop on the HDMI dongle)."""
    present_right: bool = False
    """The bridge's right to present, held by this room."""
    wanted: bool = False
    """The room wants to present (plugged in, or a long press)."""
    presenting: bool = False
    """The bridge says this room holds the meeting's presentation."""
    on_plug: bool = False
    """Provisioning's [content] present_on_plug."""


Result = tuple[ContentState, list[Command]]


def sending(c: ContentState, in_meeting: bool) -> bool:
    """Whether content may be captured and sent."""
    return in_meeting and c.present_right and c.presenting and c.plugged


def asking(c: ContentState, in_meeting: bool) -> bool:
    """Whether the room wants the presentation and may have it."""
    return in_meeting and c.present_right and c.wanted and c.plugged


def _notice(key: Notice) -> ShowNotice:
    return ShowNotice(key, LEVELS.get(key, "info"))


#: How the screen marks a notice (the room decides: appliance/room.py's levels).
LEVELS: dict[str, NoticeLevel] = {
    "present_granted": "good", "present_revoked": "warning",
    "presentation_stopped_by_host": "warning", "presentation_busy": "warning"}


def plugged(c: ContentState, in_meeting: bool) -> Result:
    if c.plugged:
        return c, []
    wish = in_meeting and c.on_plug
    new = replace(c, plugged=True, wanted=c.wanted or wish)
    if wish and not c.present_right:
        return new, [HandLed("nudge"), _notice("present_right_needed")]
    return new, []


def unplugged(c: ContentState) -> Result:
    if not c.plugged:
        return c, []
    return replace(c, plugged=False, wanted=False), []


def long_press(c: ContentState) -> Result:
    """The camera button held (the caller has checked the room is in the meeting)."""
    if c.wanted or c.presenting:
        return replace(c, wanted=False), [_notice("presenting_stopped")]
    if not c.plugged:
        return c, [_notice("content_not_plugged")]
    new = replace(c, wanted=True)
    if not c.present_right:
        return new, [HandLed("nudge"), _notice("present_right_needed")]
    return new, []


def right_changed(c: ContentState, granted: bool) -> Result:
    if granted == c.present_right:
        return c, []
    if granted:
        return replace(c, present_right=True), [_notice("present_granted")]
    return replace(c, present_right=False, wanted=False, presenting=False), [
        _notice("present_revoked")]


def presentation_changed(c: ContentState, active: bool) -> Result:
    """The bridge says whether this room holds the presentation (its roster). Losing it
    does not by itself ask again: the bridge ended it for a reason (its notice says)."""
    if active == c.presenting:
        return c, []
    if active:
        return replace(c, presenting=True), [_notice("presenting_started")]
    return replace(c, presenting=False), [_notice("presenting_stopped")] if c.wanted else []


def stopped_by_host(c: ContentState) -> Result:
    """The host ended the room's presentation: over now, whatever the roster says yet."""
    return replace(c, wanted=False, presenting=False), [
        _notice("presentation_stopped_by_host")]


def refused(c: ContentState, busy: bool) -> Result:
    """The bridge refused the room's `present` (someone else presents, or no right)."""
    if not c.wanted:
        return c, []
    return replace(c, wanted=False), [_notice("presentation_busy" if busy
                                              else "present_right_needed")]


def session_dropped(c: ContentState, reconnecting: bool) -> ContentState:
    """Everything the bridge granted goes; the wish only survives a reconnect."""
    return replace(c, present_right=False, presenting=False, wanted=c.wanted and reconnecting)


def admitted(c: ContentState, present_right: bool, presenting: bool) -> ContentState:
    """The bridge's snapshot on (re)join."""
    return replace(c, present_right=present_right, presenting=presenting,
                   wanted=c.wanted or (presenting and c.plugged))


def step(c: ContentState, event: Event, connection: str) -> Result:
    """One of `EVENTS`; the bridge's word counts only in a session."""
    if isinstance(event, ContentPlugged):
        return plugged(c, connection == "in_meeting")
    if isinstance(event, ContentUnplugged):
        return unplugged(c)
    if connection not in ("in_lobby", "in_meeting"):
        return c, []
    if isinstance(event, PresentationChanged):
        return presentation_changed(c, event.active)
    if isinstance(event, PresentationStoppedByHost):
        return stopped_by_host(c)
    if isinstance(event, PresentRefused):
        return refused(c, event.busy)
    raise TypeError(f"not a presenting event: {event!r}")


def requests(old: ContentState, old_in: bool, new: ContentState, new_in: bool) -> list[Command]:
    """`present` for the bridge when the room's asking changes: asking starts (and the
    room does not present already), or the room stops wanting what it holds."""
    if asking(new, new_in) and not asking(old, old_in) and not new.presenting:
        return [RequestPresent(True)]
    unwanted = new_in and new.presenting and not new.wanted
    if unwanted and (old.wanted or not old.presenting or not old_in):
        return [RequestPresent(False)]
    return []
