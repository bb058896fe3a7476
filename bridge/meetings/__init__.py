"""The meetings domain: rooms, lobby, hands, rights, chat, polls, files, reports.

It decides; the transport carries out. See Meetings (service.py) for the calls
and effects.py for what comes back.
"""

from bridge.meetings.context import Limits
from bridge.meetings.effects import (
    Broadcast,
    Disconnect,
    Done,
    Effect,
    FileAdded,
    FileDownload,
    Files,
    JanusModerate,
    Joined,
    Listing,
    MediaAccess,
    Message,
    Refusal,
    RoomView,
    SendTo,
)
from bridge.meetings.files import Received
from bridge.meetings.reports import Report, ReportReady, activity_csv, attendance_csv
from bridge.meetings.runner import AsyncMeetings
from bridge.meetings.service import Meetings, utc_now

__all__ = [
    "AsyncMeetings",
    "Broadcast",
    "Disconnect",
    "Done",
    "Effect",
    "FileAdded",
    "FileDownload",
    "Files",
    "JanusModerate",
    "Joined",
    "Limits",
    "Listing",
    "MediaAccess",
    "Meetings",
    "Message",
    "Received",
    "Refusal",
    "Report",
    "ReportReady",
    "RoomView",
    "SendTo",
    "activity_csv",
    "attendance_csv",
    "utc_now",
]
