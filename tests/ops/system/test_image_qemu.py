"""The flashable image (make image) booted under qemu-system-aarch64 into a meeting, and
updated with RAUC: install, trial boot, commit; a broken update rolls back by itself; a
bundle with a bad signature is refused. See tests/ops/system/qemu.py for the machine and
its network (a tap in a namespace, 127/8 only). Emulated arm64 on x86 is slow: the whole
module takes about an hour on 2 shared cores.

The tests run in order on one card, each starting from the state the previous left:
    boot → bad signature → broken salon.toml → power cut → update → broken update.
The card is 1 GiB bigger than the image, as a real card is: the first boot grows the
state partition to its end. What the card is (its machine id, a file on the state
partition) must survive every boot after that: the power cut, the update, the rollback.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import netlab

from .conftest import REPO, remove_tree, timed, wait_until
from .qemu import (
    BRIDGE_PORT,
    HOST_IP,
    NETWORK_FILE,
    SYSCTL_FILE,
    Card,
    Guest,
    copy_image,
    have_tools,
    make_tap,
    room_config,
)

BUILD = REPO / "build/image"
BOOT_TIMEOUT = 1500  # power-on to "in meeting" under TCG: ~5-8 min measured, slack for load
CARD_EXTRA = 1 << 30  # the card is this much bigger than the image
STATE_MIB = 1024  # the state partition in the image (image-build/debian/build.sh)
BROKEN_TOML = '[room]\nname = "ODA QEMU"\n[bridge]\nurl = "not a url"\nroom = "testbim"\n'


def built(name: str) -> Path:
    path = BUILD / name
    if not path.exists():
        subprocess.run([str(REPO / "image-build/debian/build.sh"), "all"], check=True)
        subprocess.run([str(REPO / "image-build/debian/build.sh"), "bundle",
                        "--bundle-variant", "broken"], check=True)
    return path


class Bridge:
    """salon-bridge (with its Janus) in the test namespace, on the tap's address."""

    def __init__(self, node: netlab.Node, workdir: Path) -> None:
        self.log = (workdir / "bridge.log").open("wb")
        config = workdir / "bridge.toml"
        config.write_text(
            f'state_dir = "{workdir / "bridge-state"}"\nlog_level = "info"\n'
            f'[server]\nhost = "{HOST_IP}"\nport = {BRIDGE_PORT}\n'
            f'[janus]\nmedia_ip = "{HOST_IP}"\n'
            '[[rooms]]\naddress = "testbim"\ntitle = "Test BİM"\npolicy = "public"\n'
            'moderated = false\n')
        self.proc = subprocess.Popen(
            [*node.prefix(), str(REPO / ".venv/bin/salon-bridge"), "--config", str(config)],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


@pytest.fixture(scope="module")
def guest(timings: dict[str, float]) -> Iterator[Guest]:
    reason = have_tools() or netlab.available()
    if reason:
        pytest.skip(reason)
    image = built("salon-arm64.img")
    workdir = Path(tempfile.mkdtemp(prefix="salon-qemu-", dir="/var/tmp"))
    lab_files = workdir / "lab"
    lab_files.mkdir()
    (lab_files / "hosts").write_text("127.0.0.1 localhost\n")
    (lab_files / "resolv.conf").write_text("nameserver 127.0.0.1\n")
    node = netlab.Node("qemu-lab", lab_files / "hosts", lab_files / "resolv.conf")
    node.start()
    bridge = None
    machine = None
    try:
        make_tap(node)
        bridge = Bridge(node, workdir)
        card = Card(copy_image(image, workdir / "card.img"))
        with card.image.open("r+b") as f:  # sparse: costs no disk
            f.truncate(card.image.stat().st_size + CARD_EXTRA)
        key = workdir / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        # What an admin puts on the card: the room's file, the network, an SSH key.
        card.put("salon.toml", room_config())
        card.put("network/10-lab.network", NETWORK_FILE)
        card.put("network/sysctl.conf", SYSCTL_FILE)
        card.put("authorized_keys", key.with_suffix(".pub").read_text())
        machine = Guest(node, card, workdir, key)
        yield machine
    finally:
        if machine is not None:
            machine.power_cut()
        if bridge is not None:
            bridge.stop()
        node.close()
        if os.environ.get("SALON_KEEP_QEMU") != "1":
            remove_tree(workdir)


@pytest.fixture(scope="module")
def identity() -> dict[str, str]:
    """What the first boot found the card to be; later boots must find the same."""
    return {}


def assert_same_card(guest: Guest, identity: dict[str, str], after: str) -> None:
    now = guest.ssh("cat /etc/machine-id /data/kept-across-boots").stdout.split()
    assert now == [identity["machine_id"], identity["token"]], \
        f"after {after}: {now} (first boot: {identity})"
    # The journal's directory is named by the id: this boot writes where the others did.
    guest.ssh(f"test -d /var/log/journal/{identity['machine_id']}")


def boot_into_meeting(guest: Guest, timings: dict[str, float], label: str) -> float:
    """Power on and wait for /healthz "in meeting"; returns the seconds it took."""
    guest.start()
    try:
        wait_until(lambda: not guest.running() or guest.in_meeting(), BOOT_TIMEOUT,
                   f"{label}: the appliance in the meeting", interval=3)
    except BaseException:
        print(guest.console_tail())
        raise
    assert guest.running(), guest.console_tail()
    seconds = time.monotonic() - guest.powered_on
    timings[f"qemu {label}: power-on → in meeting"] = seconds
    print(f"[timing] qemu {label}: power-on → in meeting: {seconds:.0f} s")
    wait_until(lambda: guest.ssh("true", check=False, timeout=30).returncode == 0, 300,
               "SSH (provisioned from the card)", interval=3)
    return seconds


def reboot_into_meeting(guest: Guest, timings: dict[str, float], label: str) -> None:
    """`salon-reboot` in the guest (the next boot picks the slot), then "in meeting"."""
    guest.ssh("systemd-run --on-active=2 /usr/lib/salon-image/salon-reboot")
    # QEMU resets the machine in place: wait for the appliance to go away first.
    wait_until(lambda: not guest.in_meeting(), 300, "the appliance to stop", interval=2)
    guest.powered_on = time.monotonic()
    wait_until(lambda: guest.in_meeting(), BOOT_TIMEOUT, f"{label}: in the meeting", interval=3)
    seconds = time.monotonic() - guest.powered_on
    timings[f"qemu {label}: reboot → in meeting"] = seconds
    print(f"[timing] qemu {label}: reboot → in meeting: {seconds:.0f} s")
    wait_until(lambda: guest.ssh("true", check=False, timeout=30).returncode == 0, 300, "SSH",
               interval=3)


def confirmed(guest: Guest) -> bool:
    result = guest.ssh("systemctl show -P ActiveState,Result salon-update-confirm.service",
                       check=False)
    return sorted(result.stdout.split()) == ["active", "success"]  # -P order is systemd's


def booted_slot(guest: Guest) -> str:
    """A or B; empty while SSH does not answer (the appliance can be in the meeting
    before sshd has started)."""
    return guest.ssh("sed 's/.*rauc.slot=\\([AB]\\).*/\\1/' /proc/cmdline",
                     check=False).stdout.strip()


def test_the_image_boots_into_the_meeting(guest: Guest, timings: dict[str, float],
                                          identity: dict[str, str]) -> None:
    boot_into_meeting(guest, timings, "first boot")
    doc = guest.health()
    assert doc["config"]["source"] == "boot" and doc["config"]["valid"], doc["config"]
    assert doc["devices"]["camera"]["state"] == "simulated"
    wait_until(lambda: guest.ssh("systemctl is-active multi-user.target salon-appliance.service",
                                 check=False).stdout.split() == ["active", "active"],
               300, "multi-user.target", interval=3)
    # Read-only root, state on its own partition, the boot partition's salon.toml read.
    mounts = guest.ssh("findmnt -no TARGET,OPTIONS / ; findmnt -no SOURCE,TARGET /data;"
                       " findmnt -no TARGET /var/lib/salon; findmnt -no TARGET /boot/firmware")
    lines = mounts.stdout.splitlines()
    assert lines[0].split()[0] == "/" and lines[0].split()[1].startswith("ro"), lines
    assert lines[1].endswith("/data") and "/dev/vda4" in lines[1], lines
    assert lines[2:] == ["/var/lib/salon", "/boot/firmware"], lines
    assert guest.ssh("touch /usr/x", check=False).returncode != 0
    # The watchdog armed, the console target, and what the image says it is.
    settings = guest.ssh("systemctl show -P RuntimeWatchdogUSec; systemctl get-default;"
                         " cat /etc/salon-image-release;"
                         " grep -c . /usr/share/salon/image-manifest.txt").stdout.splitlines()
    assert settings[0] == "15s" and settings[1] == "multi-user.target", settings
    assert settings[2].startswith("salon "), settings
    assert int(settings[-1]) > 100, "the manifest lists every package with its version"
    # The booted slot is A, and RAUC knows it (GRUB back-end under UEFI).
    status = guest.rauc_status()
    assert status["booted"] == "A", status
    wait_until(lambda: confirmed(guest), 600, "the health gate marking slot A good", interval=5)
    # The card's own machine id, kept on the state partition (the root is shared).
    machine_id = guest.ssh("cat /etc/machine-id").stdout.strip()
    assert re.fullmatch("[0-9a-f]{32}", machine_id), machine_id
    assert guest.ssh("cat /data/machine-id").stdout.strip() == machine_id
    identity.update(machine_id=machine_id, token=secrets.token_hex(8))
    guest.ssh(f"echo {identity['token']} > /data/kept-across-boots && sync")


def test_the_state_partition_fills_the_card(guest: Guest) -> None:
    def sizes() -> list[int]:
        out = guest.ssh("cat /sys/class/block/vda/size /sys/class/block/vda4/start"
                        " /sys/class/block/vda4/size; df -B1 --output=size /data | tail -1")
        return [int(n) for n in out.stdout.split()]

    disk, start, size, _ = sizes()
    # The partition reaches the card's last whole MiB (it was 1 GiB short of it)...
    assert disk * 512 - (start + size) * 512 < 1 << 20, (disk, start, size)
    # ...and the filesystem on it followed (systemd-growfs, online, after the mount).
    grown = (STATE_MIB << 20) + CARD_EXTRA // 2  # df: less the inode tables and journal
    wait_until(lambda: sizes()[3] > grown, 300, "/data grown to the partition's size",
               interval=3)
    log = guest.ssh("journalctl -b -u salon-grow-state -o cat --no-pager").stdout
    assert "state partition grown from 1024 MiB" in log, log


def test_a_bundle_with_a_bad_signature_is_refused(guest: Guest, tmp_path: Path) -> None:
    # A well-formed bundle signed by a CA the image does not trust.
    pki = tmp_path / "rogue"
    pki.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(pki / "key.pem"),
                    "-out", str(pki / "cert.pem"), "-days", "30", "-subj", "/CN=Not Salon"],
                   check=True, capture_output=True)
    content = tmp_path / "content"
    content.mkdir()
    # Any payload: the signature is checked before it is looked at.
    (content / "rootfs.ext4").write_bytes(os.urandom(1 << 20))
    (content / "manifest.raucm").write_text(
        "[update]\ncompatible=salon-pi-arm64\nversion=9.9.9\n[bundle]\nformat=verity\n"
        "[image.rootfs]\nfilename=rootfs.ext4\n")
    bundle = tmp_path / "rogue.raucb"
    subprocess.run(["rauc", "bundle", f"--cert={pki / 'cert.pem'}", f"--key={pki / 'key.pem'}",
                    str(content), str(bundle)], check=True, capture_output=True)
    before = guest.rauc_status()
    guest.copy_in(bundle, "/tmp/rogue.raucb")
    result = guest.ssh("rauc install /tmp/rogue.raucb", check=False)
    assert result.returncode != 0
    assert "signature" in (result.stdout + result.stderr).lower(), result.stdout + result.stderr
    after = guest.rauc_status()
    assert [s for s in after["slots"]] == [s for s in before["slots"]]
    assert guest.in_meeting()


def test_a_broken_salon_toml_shows_the_error_and_keeps_the_last_good(guest: Guest) -> None:
    # An admin edits the card badly (here over SSH; on a PC it is the same FAT file).
    guest.ssh("cp /boot/firmware/salon.toml /data/good.toml && cat > /boot/firmware/salon.toml"
              " && sync && systemctl restart salon-appliance", input=BROKEN_TOML.encode())

    def running_on_last_good() -> bool:
        doc = guest.health()
        return bool(doc) and doc["config"]["source"] == "last-known-good" \
            and doc["meeting"]["state"] == "in_meeting"

    wait_until(running_on_last_good, 900,
               "the appliance back in the meeting on its last good config", interval=3)
    doc = guest.health()
    error = str(doc["config"]["error"])
    assert "url" in error and "salon.toml" in error, doc["config"]


def test_a_power_cut_mid_write_loses_nothing(guest: Guest, timings: dict[str, float],
                                             identity: dict[str, str]) -> None:
    # Writing on every partition when the power goes: the state partition (a big file and
    # the journal), the boot partition, and the appliance rewriting its last-good copy.
    guest.ssh("cp /data/good.toml /boot/firmware/salon.toml && sync")
    guest.ssh("systemctl restart salon-appliance")
    wait_until(lambda: (guest.health() or {}).get("config", {}).get("source") == "boot", 900,
               "the good file back in force (and copied as last-good)", interval=3)
    last_good = guest.ssh("sha256sum /var/lib/salon/last-good.*").stdout
    guest.ssh("nohup sh -c 'dd if=/dev/urandom of=/data/scratch bs=1M count=64 &"
              " cp /boot/firmware/a/initrd.img /boot/firmware/copy.tmp &"
              " systemctl restart salon-appliance; wait' >/dev/null 2>&1 &")
    time.sleep(4)
    guest.power_cut()
    # While the box is off, the card is edited badly again: only the last-good copy,
    # written before the cut, can bring the room back.
    guest.card.put("salon.toml", BROKEN_TOML)
    boot_into_meeting(guest, timings, "after a power cut")
    doc = guest.health()
    assert doc["config"]["source"] == "last-known-good", doc["config"]
    assert guest.ssh("sha256sum /var/lib/salon/last-good.*").stdout == last_good
    assert_same_card(guest, identity, "a power cut")
    # Every filesystem came back (fsck repaired what the cut left) and RAUC reads its state.
    guest.ssh("findmnt /data && findmnt /boot/firmware && rauc status >/dev/null")
    guest.ssh("rm -f /data/scratch /boot/firmware/copy.tmp")
    guest.ssh("cp /data/good.toml /boot/firmware/salon.toml 2>/dev/null || true; sync")


def test_an_update_is_installed_tried_and_committed(guest: Guest, timings: dict[str, float],
                                                    identity: dict[str, str]) -> None:
    bundle = built("salon-good.raucb")
    guest.ssh("cat > /boot/firmware/salon.toml && sync && systemctl restart salon-appliance",
              input=room_config().encode())
    wait_until(lambda: (guest.health() or {}).get("config", {}).get("source") == "boot", 900,
               "the good file in force", interval=3)
    wait_until(lambda: confirmed(guest), 600, "slot A confirmed", interval=5)
    assert booted_slot(guest) == "A"
    done = timed("qemu bundle copied over SSH + rauc install", timings)
    guest.copy_in(bundle, "/data/update.raucb")
    started = time.monotonic()
    result = guest.ssh("rauc install /data/update.raucb", check=False, timeout=1800)
    timings["qemu rauc install (emulated)"] = time.monotonic() - started
    done()
    assert result.returncode == 0, result.stdout + result.stderr
    guest.ssh("rm /data/update.raucb")
    status = guest.rauc_status()
    assert status["boot_primary"] == "rootfs.1", status
    reboot_into_meeting(guest, timings, "update")
    assert booted_slot(guest) == "B"
    assert_same_card(guest, identity, "the update")
    # The boot before this one (slot A) is in this machine's journal.
    previous = guest.ssh("journalctl -b -1 -k -n 3 -o cat --no-pager", check=False)
    assert previous.returncode == 0 and previous.stdout.strip(), previous.stdout + previous.stderr
    wait_until(lambda: confirmed(guest), 600, "the health gate marking slot B good", interval=5)
    env = guest.ssh("grub-editenv /boot/firmware/EFI/salon/grubenv list").stdout
    assert "B_OK=1" in env and "B_TRY=0" in env and "ORDER=B A" in env, env


def test_an_update_whose_appliance_fails_rolls_back_by_itself(guest: Guest,
                                                              timings: dict[str, float],
                                                              identity: dict[str, str]) -> None:
    bundle = built("salon-broken.raucb")
    assert booted_slot(guest) == "B"
    guest.copy_in(bundle, "/data/update.raucb")
    result = guest.ssh("rauc install /data/update.raucb", check=False, timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr
    guest.ssh("rm /data/update.raucb")
    guest.ssh("systemd-run --on-active=2 /usr/lib/salon-image/salon-reboot")
    started = time.monotonic()
    # Slot A now holds an appliance that cannot start: the health gate marks it bad and
    # reboots, GRUB falls back to B, which comes back into the meeting. Nobody touches it.
    wait_until(lambda: not guest.in_meeting(), 300, "the reboot", interval=2)
    wait_until(lambda: guest.in_meeting() and booted_slot(guest) == "B", 2 * BOOT_TIMEOUT,
               "the rollback to slot B, in the meeting", interval=5)
    timings["qemu rollback: reboot into the bad update → back in meeting"] = \
        time.monotonic() - started
    status = guest.rauc_status()
    slots = {name: info for entry in status["slots"] for name, info in entry.items()}
    assert slots["rootfs.0"]["boot_status"] == "bad", slots
    assert slots["rootfs.1"]["boot_status"] == "good", slots
    assert_same_card(guest, identity, "the rollback")
    # The boot before this one was the bad slot's, under the same machine id (its root is
    # the broken update's): its health gate said why it gave up.
    log = guest.ssh("journalctl -b -1 -u salon-update-confirm --no-pager -o cat", check=False)
    assert "marking bad" in log.stdout, log.stdout + log.stderr
