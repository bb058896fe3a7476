"""Shared fixtures: the real bridge (with its real Janus) as a child process."""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.support.procs import BridgeProcess

# Playwright's assertions wait as long as its page actions (set to 20 s on every page):
# its own 5 s is a timing claim a shared, busy machine does not keep (a browser and a
# bridge scheduled late). A passing assertion returns as soon as it holds.
expect.set_options(timeout=20_000)

IN_NETNS = os.environ.get("SALON_IN_NETNS") == "1"


# A test's time bound (pyproject's `timeout`, or its own `@pytest.mark.timeout(s)`).
# pytest-timeout's default way to enforce it raises from a signal handler in whatever
# frame runs at that moment: in an asyncio test that is often one of aiortc's tasks,
# which then never says it has exited, so closing its PeerConnection in the teardown
# waited forever and the whole run hung (seen twice in test_schedule.py). So an async
# test's body is bounded by asyncio itself (its task is cancelled: its `finally`
# blocks close what they opened, and it fails with a TimeoutError), and pytest-timeout
# stays as the backstop for a hang outside the body: after the bound plus
# KILL_MARGIN_S it prints every thread's stack and ends the run, which fails instead
# of hanging until CI's limit.
KILL_MARGIN_S = 300
_BODY_BOUND = pytest.StashKey[float]()


def test_bound(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None and (marker.args or "timeout" in marker.kwargs):
        return float(marker.kwargs.get("timeout", marker.args[0] if marker.args else 0))
    given = item.config.getoption("timeout", None)  # --timeout on the command line
    return float(given if given is not None else item.config.getini("timeout") or 0)


def bound_async_tests(items: list[pytest.Item]) -> None:
    for item in items:
        if not isinstance(item, pytest.Function) or not inspect.iscoroutinefunction(item.obj):
            continue
        bound = test_bound(item)
        if bound > 0:
            item.stash[_BODY_BOUND] = bound
            item.add_marker(pytest.mark.timeout(bound + KILL_MARGIN_S, method="thread"),
                            append=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):  # type: ignore[no-untyped-def]
    bound = item.stash.get(_BODY_BOUND, None)
    if bound is None or not isinstance(item, pytest.Function):
        return (yield)
    body = item.obj

    @functools.wraps(body)
    async def bounded(*args: Any, **kwargs: Any) -> Any:
        limit = asyncio.timeout(bound)
        try:
            async with limit:
                return await body(*args, **kwargs)
        except TimeoutError as exc:
            if not limit.expired():
                raise  # the test's own TimeoutError, not the bound
            raise TimeoutError(f"the test ran past its bound of {bound:.0f} s "
                               "(its task was cancelled; the traceback says where it was)"
                               ) from exc

    item.obj = bounded
    try:
        return (yield)
    finally:
        item.obj = body


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    bound_async_tests(items)
    if IN_NETNS:
        return
    skip = pytest.mark.skip(reason="needs the private network namespace: run via scripts/in-netns")
    for item in items:
        if "netns" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def bridge(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[BridgeProcess]:
    proc = BridgeProcess(tmp_path, rooms=[("testbim", "Test BİM"), ("other", "Other room")])
    yield proc
    code = proc.stop()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(f"---- bridge log (exit {code}) ----\n" + proc.log_tail())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    rep = yield
    setattr(item, "rep_" + rep.when, rep)
    return rep


# livekit's echo canceller runs on a Rust (tokio) runtime whose worker threads can panic
# while CPython finalizes ("panic in a function that cannot unwind", then abort): seen once
# under `stress-ng --cpu 2` after 836 passed, turning a green run into make's "Aborted".
# Once pytest has said everything, leave without finalizing, keeping its exit status.
_exit_status: int | None = None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    import sys

    if _exit_status is not None and "livekit" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status)
