"""The state partition grows to the end of a bigger card
(image-build/debian/overlay/usr/lib/salon-image/salon-grow-state), run on a sparse disk
image laid out like the Salon image, the result read back with sfdisk. The whole boot
(resizepart, x-systemd.growfs on /data) is tests/ops/system/test_image_qemu.py's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
GROW = REPO / "image-build/debian/overlay/usr/lib/salon-image/salon-grow-state"
MIB = 1024 * 1024

pytestmark = pytest.mark.skipif(shutil.which("sfdisk") is None, reason="needs sfdisk (fdisk)")


def make_card(path: Path, card_mib: int, state_mib: int = 16) -> Path:
    """The image's table in small: boot, slot A, slot B, state last (MiB 4/8/8/state)."""
    subprocess.run(["truncate", "-s", f"{4 + 8 + 8 + 8 + state_mib}M", str(path)], check=True)
    layout = ("label: dos\nlabel-id: 0x5a10a000\nunit: sectors\n"
              "start=8192, size=16384, type=c, bootable\nsize=16384, type=83\n"
              f"size=16384, type=83\nsize={state_mib * 2048}, type=83\n")
    subprocess.run(["sfdisk", "-q", str(path)], input=layout, text=True, check=True)
    subprocess.run(["truncate", "-s", f"{card_mib}M", str(path)], check=True)
    return path


def table(path: Path) -> dict[str, Any]:
    out = subprocess.run(["sfdisk", "-J", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return dict(json.loads(out)["partitiontable"])


def grow(path: Path, partno: int = 4) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["python3", str(GROW), "--image", str(path), str(partno)],
                          capture_output=True, text=True, check=False)


def test_the_state_partition_grows_to_the_end_of_a_bigger_card(tmp_path: Path) -> None:
    card = make_card(tmp_path / "card.img", card_mib=1000)
    before = table(card)
    result = grow(card)
    assert result.returncode == 0, result.stderr
    assert "grown from 16 MiB to" in result.stdout
    after = table(card)
    state = after["partitions"][3]
    # Up to the card's last whole MiB, from where it started.
    assert state["start"] == before["partitions"][3]["start"]
    assert (state["start"] + state["size"]) * 512 == 1000 * MIB
    assert after["partitions"][:3] == before["partitions"][:3]
    assert after["id"] == before["id"]
    verify = subprocess.run(["sfdisk", "--verify", str(card)], capture_output=True, text=True,
                            check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_card_that_already_ends_there_is_left_alone(tmp_path: Path) -> None:
    card = make_card(tmp_path / "card.img", card_mib=44)  # exactly the image's size
    before = card.read_bytes()[:512]
    result = grow(card)
    assert result.returncode == 0, result.stderr
    assert "already reaches the end" in result.stdout
    assert card.read_bytes()[:512] == before


def test_a_partition_that_is_not_the_last_is_not_grown(tmp_path: Path) -> None:
    card = make_card(tmp_path / "card.img", card_mib=1000)
    before = card.read_bytes()[:512]
    result = grow(card, partno=2)
    assert result.returncode != 0
    assert "partition 3 lies after 2" in result.stderr + result.stdout
    assert card.read_bytes()[:512] == before


def test_a_disk_without_a_partition_table_is_refused(tmp_path: Path) -> None:
    blank = tmp_path / "blank.img"
    blank.write_bytes(bytes(4 * MIB))
    result = grow(blank)
    assert result.returncode != 0
    assert "no MBR partition table" in result.stderr + result.stdout
