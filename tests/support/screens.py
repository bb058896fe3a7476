"""Screen models and what a renderer drew, for the screen tests."""

from __future__ import annotations

from appliance.screen.model import Participant, Phase, ScreenModel, SelfView
from appliance.screen.render import Renderer
from appliance.screen.text import DrawnText

HD = (1920, 1080)


def remote(n: int, **fields: object) -> tuple[Participant, ...]:
    return tuple(Participant(f"p{i}", f"Kişi {i}", **fields) for i in range(n))  # type: ignore[arg-type]


def meeting(people: tuple[Participant, ...], **fields: object) -> ScreenModel:
    return ScreenModel(Phase.MEETING, room_name="Öğretmenler Odası", participants=people,
                       self_view=SelfView(enabled=False), **fields)  # type: ignore[arg-type]


def texts(renderer: Renderer, area: str | None = None) -> list[DrawnText]:
    return [t for t in renderer.texts if area is None or t.area == area]


def joined(renderer: Renderer, area: str) -> str:
    return " ".join(t.text for t in texts(renderer, area))
