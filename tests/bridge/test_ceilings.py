"""The ceilings' policy (bridge/janus/ceiling.py), with time passed in: loss lowers one
step at a time, a quiet link raises it, and a rise that brings loss back makes the next
one wait longer (for a send ceiling, not as long)."""

from __future__ import annotations

from bridge.janus.ceiling import (
    PROBE_AFTER_MAX_S,
    SEND_CAPS_BPS,
    SEND_PROBE_AFTER_MAX_S,
    STEP_DOWN_EVERY_S,
    ReceiveCeiling,
    SendCeiling,
)


def test_loss_lowers_the_ceiling_one_layer_at_a_time_and_caps_what_is_asked() -> None:
    ceiling = ReceiveCeiling()
    assert ceiling.cap("high") == "high" and ceiling.next_rise_at() is None
    assert ceiling.lost(100.0) and ceiling.layer == "medium"
    assert not ceiling.lost(101.0), "the lower layer gets time to take effect"
    assert ceiling.cap("high") == "medium" and ceiling.cap("low") == "low"
    assert ceiling.lost(101.0 + STEP_DOWN_EVERY_S) and ceiling.layer == "low"
    assert not ceiling.lost(200.0) and ceiling.layer == "low", "low is the floor"
    assert ceiling.cap("medium") == "low"


def test_a_quiet_link_gets_the_next_layer_back_one_at_a_time() -> None:
    ceiling = ReceiveCeiling(probe_after_s=10)
    ceiling.lost(0.0)
    ceiling.lost(5.0)
    assert ceiling.layer == "low"
    assert not ceiling.tick(14.0), "quiet for less than the wait since the last loss"
    assert ceiling.next_rise_at() == 15.0
    assert ceiling.tick(15.0) and ceiling.layer == "medium"
    assert not ceiling.tick(20.0)
    assert ceiling.tick(25.0) and ceiling.layer == "high"
    assert ceiling.next_rise_at() is None and not ceiling.tick(1000.0)


def test_a_rise_that_brings_loss_back_doubles_the_wait_and_one_that_holds_resets_it() -> None:
    ceiling = ReceiveCeiling(probe_after_s=10)
    ceiling.lost(0.0)
    assert ceiling.tick(10.0) and ceiling.layer == "high"
    assert ceiling.lost(12.0) and ceiling.layer == "medium"  # high was too much
    assert ceiling.next_rise_at() == 12.0 + 20
    for _ in range(10):  # it keeps failing: the wait grows to its bound, no further
        rise_at = ceiling.next_rise_at()
        assert rise_at is not None and ceiling.tick(rise_at)
        ceiling.lost(rise_at + 1)
    assert ceiling.probe_after_s == PROBE_AFTER_MAX_S
    rise_at = ceiling.next_rise_at()
    assert rise_at is not None and ceiling.tick(rise_at) and ceiling.layer == "high"
    assert ceiling.lost(rise_at + PROBE_AFTER_MAX_S + 60)  # held for long, then a loss
    assert ceiling.probe_after_s == 10



def test_a_send_ceiling_steps_down_to_its_floor_and_waits_at_most_its_own_bound() -> None:
    ceiling = SendCeiling(probe_after_s=10)
    assert ceiling.bitrate is None, "at first: the room's own bitrate"
    now = 0.0
    while ceiling.lost(now):
        now += STEP_DOWN_EVERY_S
    assert ceiling.bitrate == SEND_CAPS_BPS[0] and ceiling.level == 0
    for _ in range(10):  # every rise fails
        rise_at = ceiling.next_rise_at()
        assert rise_at is not None and ceiling.tick(rise_at)
        ceiling.lost(rise_at + 1)
    assert ceiling.probe_after_s == SEND_PROBE_AFTER_MAX_S < PROBE_AFTER_MAX_S
