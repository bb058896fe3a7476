"""A provisioning file for tests: the smallest valid one plus what a test adds."""

from __future__ import annotations

from appliance.provisioning.loader import Settings, validate_text

BASE = """
[room]
name = "Room 1"
[bridge]
url = "https://salon.example.org"
room = "testbim"
"""


def settings(extra: str) -> Settings:
    parsed, problems = validate_text(BASE + extra)
    assert parsed is not None, problems
    return parsed
