"""The Raspberry Pi's A/B slot switch (image-build/debian/overlay/.../rauc-tryboot-backend):
RAUC's custom boot loader back-end over the firmware's one-shot `tryboot`, run against a
boot partition and state directory in a temporary folder. What the firmware itself does
with config.txt/tryboot.txt is the on-device smoke test's (image-build/smoke-test-on-pi.sh);
here: which file names which slot after each step RAUC takes.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OVERLAY = REPO / "image-build/debian/overlay"
BACKEND = OVERLAY / "usr/lib/salon-image/rauc-tryboot-backend"
CONFIG = REPO / "image-build/debian/boot/config.txt"


class Card:
    """A boot partition and a state partition, and the kernel command line of a boot."""

    def __init__(self, tmp: Path) -> None:
        self.boot = tmp / "boot"
        self.data = tmp / "data"
        self.cmdline = tmp / "cmdline"
        self.boot.mkdir()
        self.data.mkdir()
        (self.boot / "config.txt").write_text(CONFIG.read_text())
        self.boot_normally()

    def backend(self, *args: str, check: bool = True) -> str:
        env = {**os.environ, "SALON_BOOT_DIR": str(self.boot), "SALON_DATA_DIR": str(self.data),
               "SALON_CMDLINE": str(self.cmdline)}
        result = subprocess.run(["sh", str(BACKEND), *args], env=env, capture_output=True,
                                text=True, check=False)
        if check:
            assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def prefix(self, name: str) -> str:
        lines = (self.boot / name).read_text().splitlines()
        return [line for line in lines if line.startswith("os_prefix=")][-1]

    def boot_normally(self) -> None:
        """What the firmware does without the tryboot flag: config.txt's slot."""
        slot = self.prefix("config.txt").removeprefix("os_prefix=").rstrip("/").upper()
        self.cmdline.write_text(f"root=PARTUUID=x ro rauc.slot={slot} panic=10\n")

    def tryboot(self) -> None:
        """`reboot "0 tryboot"`: tryboot.txt's slot, once."""
        slot = self.prefix("tryboot.txt").removeprefix("os_prefix=").rstrip("/").upper()
        self.cmdline.write_text(f"root=PARTUUID=x ro rauc.slot={slot} panic=10\n")


@pytest.fixture
def card(tmp_path: Path) -> Card:
    return Card(tmp_path)


def install_into_b(card: Card) -> None:
    # RAUC's order: the target is marked bad while it is written, then made primary.
    card.backend("set-state", "B", "bad")
    card.backend("set-primary", "B")


def test_a_fresh_card_boots_slot_a(card: Card) -> None:
    assert card.backend("get-current") == "A"
    assert card.backend("get-primary") == "A"
    assert card.backend("get-state", "A") == "good"


def test_an_install_is_tried_once_and_committed_when_marked_good(card: Card) -> None:
    install_into_b(card)
    assert card.prefix("tryboot.txt") == "os_prefix=b/"
    assert card.prefix("config.txt") == "os_prefix=a/", "nothing committed before the trial"
    assert card.backend("get-primary") == "B"
    card.tryboot()
    assert card.backend("get-current") == "B"
    card.backend("set-state", "B", "good")  # the health gate passed
    assert card.prefix("config.txt") == "os_prefix=b/"
    assert card.backend("get-primary") == "B"
    card.boot_normally()
    assert card.backend("get-current") == "B"
    # Other settings in config.txt survive the rewrite.
    assert "upstream_kernel=1" in (card.boot / "config.txt").read_text()
    assert not list(card.boot.glob(".*.new"))


def test_a_trial_that_is_never_confirmed_falls_back(card: Card) -> None:
    install_into_b(card)
    card.tryboot()
    # The new slot hung: the watchdog reset the board, tryboot was one-shot.
    card.boot_normally()
    assert card.backend("get-current") == "A"
    assert card.prefix("config.txt") == "os_prefix=a/"


def test_a_trial_marked_bad_is_not_primary_and_stays_bad(card: Card) -> None:
    install_into_b(card)
    card.tryboot()
    card.backend("set-state", "B", "bad")  # the health gate failed
    assert card.backend("get-primary") == "A"
    assert card.backend("get-state", "B") == "bad"
    card.boot_normally()
    assert card.backend("get-current") == "A"


def test_marking_the_committed_slot_good_changes_nothing(card: Card) -> None:
    before = (card.boot / "config.txt").read_text()
    card.backend("set-state", "A", "good")
    assert (card.boot / "config.txt").read_text() == before


def test_unknown_command_is_refused(card: Card) -> None:
    env = {**os.environ, "SALON_BOOT_DIR": str(card.boot), "SALON_DATA_DIR": str(card.data)}
    result = subprocess.run(["sh", str(BACKEND), "frobnicate"], env=env, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 2 and "usage" in result.stderr
