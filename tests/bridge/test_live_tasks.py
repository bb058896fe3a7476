"""A participant's background media work (subscription updates, talking) is cancelled
when it leaves: cancelled before it ever ran, nothing is left un-awaited, and a failure
is logged with what failed."""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings

import pytest

from bridge.live import LiveParticipant


async def _nothing(_: object) -> None:
    pass


async def reconcile(feeds: set[str]) -> None:
    await asyncio.sleep(0)


async def fails() -> None:
    raise RuntimeError("janus said no")


async def test_work_cancelled_before_it_ran_leaves_nothing_unawaited() -> None:
    lp = LiveParticipant(id="4", client="browser", send_text=_nothing)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(5):
            lp.spawn(reconcile({"1", "2"}), "subscription update")
        for task in list(lp.tasks):  # what LiveRoom.remove does when a participant leaves
            task.cancel()
        await asyncio.sleep(0.05)
        gc.collect()
    assert not lp.tasks
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []


async def test_a_failure_is_logged_with_what_failed(caplog: pytest.LogCaptureFixture) -> None:
    lp = LiveParticipant(id="4", client="browser", send_text=_nothing)
    with caplog.at_level(logging.ERROR, "salon.live"):
        lp.spawn(fails(), "subscription update")
        await asyncio.sleep(0.05)
    assert "subscription update failed for 4" in caplog.text and "janus said no" in caplog.text
    assert not lp.tasks
