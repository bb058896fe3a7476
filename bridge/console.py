"""The terminal the admin commands write to (user, room, schedule): their streams and
password handling, and one way to print a table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from bridge.store.accounts import Passwords


@dataclass
class Console:
    stdin: TextIO
    stdout: TextIO
    stderr: TextIO
    passwords: Passwords


def table(out: TextIO, header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
        print("  ".join(cells).rstrip(), file=out)
