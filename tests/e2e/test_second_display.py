"""Two screens: with `second_display = true` the room's people are on the first and the
meeting's panels (chat, participants, poll, files) on the second."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.controls_harness import controls_toml, room_under_test, settings_from, wait_for
from tests.support.procs import BridgeProcess
from tests.support.wsclient import RawClient

pytestmark = [pytest.mark.netns, pytest.mark.slow]


def drawn(renderer: object) -> list[str]:
    return [t.text for t in renderer.texts]  # type: ignore[attr-defined]


async def test_people_on_the_first_screen_panels_on_the_second(
    bridge: BridgeProcess, tmp_path: Path
) -> None:
    text = controls_toml(bridge.url, "testbim", "ODA İKİ EKRAN",
                         extra="").replace("[display]", "[display]\nsecond_display = true", 1)
    async with room_under_test(settings_from(text), tmp_path / "state") as room:
        app = room.app
        assert app.panels is not None
        await wait_for(lambda: app.state.connection == "in_meeting", 30, "the meeting")
        remote = await RawClient.connect(bridge.ws_url)
        await remote.join("testbim", "Uzak Ayşe")
        await remote.send({"type": "chat", "text": "iki ekranda merhaba"})
        await wait_for(lambda: "iki ekranda merhaba" in " ".join(drawn(app.panels.renderer)),
                       20, "the chat on the panels screen")
        people = " ".join(drawn(app.renderer))
        assert "Uzak Ayşe" in people  # the remote person's tile
        assert "iki ekranda merhaba" not in people  # no chat on the people screen
        await remote.close()
