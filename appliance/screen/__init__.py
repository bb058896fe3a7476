"""The room's screens: a pure model of what to show, layout geometry, and the renderer."""

from appliance.screen.model import (
    ChatMessage,
    ConfigProblem,
    Notice,
    NoticeQueue,
    Participant,
    Phase,
    Poll,
    ScreenModel,
    ScreenRole,
    SelfView,
    SharedFile,
    StatusInfo,
)

__all__ = [
    "ChatMessage",
    "ConfigProblem",
    "Notice",
    "NoticeQueue",
    "Participant",
    "Phase",
    "Poll",
    "ScreenModel",
    "ScreenRole",
    "SelfView",
    "SharedFile",
    "StatusInfo",
]
