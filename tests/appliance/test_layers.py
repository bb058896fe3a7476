"""The room asks for the simulcast layer that fits the tile it draws a video in."""

from __future__ import annotations

from appliance.media.layers import NOT_DRAWN_AFTER_S, DrawnSize, LayerChooser, layer_for_height


def test_heights_map_to_layers_as_in_the_web_client() -> None:
    assert [layer_for_height(h) for h in (180, 240, 360, 480, 720, 1080)] == \
        ["low", "low", "medium", "medium", "high", "high"]


def test_only_changes_are_sent_and_a_tile_that_shrinks_gets_the_low_layer() -> None:
    big, small = DrawnSize(), DrawnSize()
    sent: list[dict[str, str]] = []
    chooser = LayerChooser(lambda: {"1": big, "3": small}, sent.append)
    big.drawn((1280, 720))
    small.drawn((320, 180))
    chooser.step()
    chooser.step()
    assert sent == [{"1": "high", "3": "low"}]
    big.drawn((426, 240))  # the layout now shows more people: the tile shrank
    chooser.step()
    assert sent[-1] == {"1": "low"}
    chooser.forget()  # a new subscription: everything is asked again
    chooser.step()
    assert sent[-1] == {"1": "low", "3": "low"}


def test_a_video_not_drawn_lately_gets_the_low_layer() -> None:
    seen = DrawnSize()
    seen.drawn((1920, 1080))
    assert seen.layer(seen.at + 1) == "high"
    assert seen.layer(seen.at + NOT_DRAWN_AFTER_S + 1) == "low"
    assert DrawnSize().layer(0.0) == "low"
