"""The bridge's domain tests share one world (tests/support/meetings_world.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.meetings_world import World, make_world


@pytest.fixture
def world(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = make_world(tmp_path, tmp_path_factory)
    yield w
    w.close()
