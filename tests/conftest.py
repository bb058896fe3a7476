"""Shared fixtures: the real bridge (with its real Janus) as a child process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.support.procs import BridgeProcess

# Playwright's assertions wait as long as its page actions (set to 20 s on every page):
# its own 5 s is a timing claim a shared, busy machine does not keep (a browser and a
# bridge scheduled late). A passing assertion returns as soon as it holds.
expect.set_options(timeout=20_000)

IN_NETNS = os.environ.get("SALON_IN_NETNS") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
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
