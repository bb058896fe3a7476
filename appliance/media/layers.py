"""The simulcast layer the room asks for, per remote video, from the size it draws it at.

Browsers publish three layers (docs/protocol.md, "Simulcast and layers"); the room
draws each participant in a tile of its layout, and the screen thread converts the
newest frame to that tile's size (`FrameSlot.rgb`), which the slot remembers. Once a
second `LayerChooser` turns each slot's drawn height into a layer — the web client's
thresholds, so a grid tile gets the low layer and the one large tile the high — and
hands the changes to the bridge client (`video_layers`). A video not drawn lately
(off screen, in standby) gets the low layer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Literal

Layer = Literal["low", "medium", "high"]
PERIOD_S = 1.0
NOT_DRAWN_AFTER_S = 3.0


def layer_for_height(px: int) -> Layer:
    if px <= 240:
        return "low"
    if px <= 480:
        return "medium"
    return "high"


class DrawnSize:
    """What a slot was last drawn at (set on the screen thread, read on the loop)."""

    def __init__(self) -> None:
        self.size: tuple[int, int] | None = None
        self.at = 0.0

    def drawn(self, size: tuple[int, int]) -> None:
        self.size, self.at = size, time.monotonic()

    def layer(self, now: float) -> Layer:
        if self.size is None or now - self.at > NOT_DRAWN_AFTER_S:
            return "low"
        return layer_for_height(self.size[1])


class LayerChooser:
    """Sends only what changed; `forget()` when the subscription's m-lines change."""

    def __init__(self, drawn_by_mid: Callable[[], Mapping[str, DrawnSize]],
                 send: Callable[[dict[str, Layer]], None]) -> None:
        self.drawn_by_mid = drawn_by_mid
        self.send = send
        self.asked: dict[str, Layer] = {}

    def forget(self) -> None:
        self.asked = {}

    def step(self, now: float | None = None) -> dict[str, Layer]:
        now = time.monotonic() if now is None else now
        wanted = {mid: d.layer(now) for mid, d in self.drawn_by_mid().items()}
        changed = {mid: layer for mid, layer in wanted.items() if self.asked.get(mid) != layer}
        if changed:
            self.send(changed)
            self.asked.update(changed)
        return changed

    async def run(self) -> None:
        while True:
            await asyncio.sleep(PERIOD_S)
            self.step()
