"""docs/protocol.md describes every message of the schema module, and nothing else."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from salon import protocol as p

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


def message_types(union: object) -> set[str]:
    members = typing.get_args(typing.get_args(union)[0])
    return {m.model_fields["type"].annotation.__args__[0] for m in members}


def test_every_message_type_is_documented() -> None:
    documented = set(re.findall(r"`([a-z_]+)(?: \{|`)", DOC))
    for kind in message_types(p.ClientMessage) | message_types(p.ServerMessage):
        assert kind in documented, f"docs/protocol.md does not describe '{kind}'"


def test_documented_version_is_the_schema_version() -> None:
    assert f"version {p.PROTOCOL_VERSION}" in DOC


def test_every_bye_reason_is_documented() -> None:
    for reason in p.BYE_REASONS:
        assert f"`{reason}`" in DOC, f"docs/protocol.md does not explain bye '{reason}'"
