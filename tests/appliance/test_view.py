"""What the room's own screen says about the room itself, from the state machine through
the view to the pixels: its raised hand and its live camera last as long as they do,
not as long as a notice."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from appliance import room, view
from appliance.screen.model import NoticeQueue
from appliance.screen.render import Renderer
from salon import protocol as p

NOTICE_S = 6.0


class Room:
    """The state machine, its notices and the bridge's view of this room, as the app
    keeps them (app.py), drawn at 1080p."""

    def __init__(self) -> None:
        self.state = room.RoomState()
        self.notices = NoticeQueue(show_seconds=NOTICE_S)
        self.me = p.Participant(id="7", name="ODA 1 – ANKARA", client="appliance")
        self.others = {"3": p.Participant(id="3", name="Ayşe Öğretmen", audio_right=True)}
        self.renderer = Renderer((1920, 1080), "tr")

    def step(self, event: room.Event, now: float) -> None:
        self.state, commands = room.step(self.state, event)
        for command in commands:
            if isinstance(command, room.ShowNotice):
                self.notices.push(command.key, now)

    def bridge_says(self, **fields: object) -> None:
        self.me = self.me.model_copy(update=fields)

    def screen(self, now: float) -> tuple[list[str], list[str]]:
        """(header texts, notice texts) on the screen at `now`."""
        model = view.screen_model(view.ViewInputs(
            state=self.state, room_name="ODA 1 – ANKARA", meeting_title="Zümre",
            version="1", language="tr", me=self.me, others=self.others,
            notices=self.notices.visible(now), self_view=True,
            self_view_position="bottom-right"))
        self.renderer.render(model, {})
        texts = self.renderer.texts
        return ([t.text for t in texts if t.area == "header"],
                [t.text for t in texts if t.area.startswith("notice")])


def test_the_rooms_raised_hand_stays_on_its_screen_after_the_notice_fades() -> None:
    r = Room()
    r.step(room.Started("power-on"), 0.0)
    r.step(room.Admitted(audio_right=True, camera_right=True), 0.0)  # an open floor
    r.bridge_says(audio_right=True, camera_right=True, mic_muted=False)
    header, _ = r.screen(1.0)
    assert "Mikrofon açık" in header and not any("☝" in t for t in header)

    r.step(room.ButtonPressed("hand"), 2.0)
    header, notices = r.screen(2.5)  # before the bridge's echo
    assert "Söz Hakkı İstendi" in notices and "☝ Söz istendi" in header
    r.step(room.HandChanged(raised=True, position=1), 3.0)
    r.bridge_says(hand_position=1)
    header, notices = r.screen(2.0 + NOTICE_S + 30.0)  # the notice is long gone
    assert notices == []
    assert "☝ Söz sırası 1" in header and "Mikrofon açık" in header  # as others see ✋ 1

    r.step(room.HandChanged(raised=False), 40.0)
    r.bridge_says(hand_position=None)
    header, _ = r.screen(41.0)
    assert not any("☝" in t for t in header)


def test_the_rooms_screen_says_when_its_camera_is_live() -> None:
    r = Room()
    r.step(room.Started("power-on"), 0.0)
    r.step(room.Admitted(), 0.0)
    r.step(room.RightsChanged(audio=False, camera=True), 1.0)  # the host grants the camera
    r.bridge_says(camera_right=True)
    header, notices = r.screen(1.5)
    assert not room.camera_sending(r.state) and "Kamera açık" not in header
    assert "Kamera Hakkı Verildi — kamera düğmesiyle açın" in " ".join(notices)
    r.step(room.ButtonPressed("camera"), 2.0)  # somebody in the room goes live
    header, _ = r.screen(2.0 + NOTICE_S + 30.0)
    assert room.camera_sending(r.state) and "Kamera açık" in header
    r.step(room.CameraFailed("unplugged"), 50.0)
    assert "Kamera açık" not in r.screen(51.0)[0]
    r.step(room.CameraRecovered(), 52.0)
    assert "Kamera açık" in r.screen(53.0)[0]
    r.step(room.RightsChanged(audio=False, camera=False), 54.0)
    assert "Kamera açık" not in r.screen(55.0)[0]
