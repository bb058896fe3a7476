"""System tests: the real .deb in a real Debian rootfs (booted with systemd-nspawn, or
run under qemu-user for arm64). Slow and root-only, so they run only when asked:

    SALON_SYSTEM_TESTS=1 .venv/bin/pytest tests/ops/system/test_nspawn.py
    SALON_SYSTEM_TESTS=1 .venv/bin/pytest tests/ops/system/test_image_arm64.py

Root filesystems come from mmdebstrap with the Debian mirror this machine already uses
(no other network) and are cached as tarballs in /var/cache/salon (SALON_CACHE); each
test session unpacks a fresh copy, so a test never dirties the cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CACHE = Path(os.environ.get("SALON_CACHE", "/var/cache/salon"))
MIRROR = os.environ.get("SALON_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"  # the suite this machine's mirror carries (the Pi runs trixie)
PYVER = "3.11"  # bookworm's python3
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = None
    if os.environ.get("SALON_SYSTEM_TESTS") != "1":
        reason = "system test: set SALON_SYSTEM_TESTS=1 (see tests/ops/system/conftest.py)"
    elif os.geteuid() != 0:
        reason = "system test: needs root (mmdebstrap, systemd-nspawn)"
    else:
        missing = [t for t in ("mmdebstrap", "systemd-nspawn", "dpkg-deb", "nsenter")
                   if shutil.which(t) is None]
        if missing:
            reason = f"system test: missing {', '.join(missing)} (apt-get install mmdebstrap " \
                     "systemd-container qemu-user-static binfmt-support)"
    if reason is None:
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=reason))


def timed(label: str, timings: dict[str, float]) -> Callable[[], None]:
    started = time.monotonic()

    def done() -> None:
        timings[label] = time.monotonic() - started
        print(f"[timing] {label}: {timings[label]:.1f} s")

    return done


@pytest.fixture(scope="session")
def timings() -> Iterator[dict[str, float]]:
    measured: dict[str, float] = {}
    yield measured
    report = CACHE / "last-system-test-timings.txt"
    with report.open("a") as out:
        for label, seconds in measured.items():
            out.write(f"{time.strftime('%F %T')} {label} {seconds:.1f}\n")


def build_deb(arch: str, timings: dict[str, float], package: str = "appliance") -> Path:
    """image-build/build-deb.sh for arch, into a fresh directory."""
    out = Path(tempfile.mkdtemp(prefix=f"salon-deb-{arch}-", dir="/var/tmp"))
    done = timed(f"build-deb {package} {arch}", timings)
    result = subprocess.run(
        [str(REPO / "image-build/build-deb.sh"), "--arch", arch, "--python", PYVER,
         "--package", package, "--out", str(out)],
        check=True, stdout=subprocess.PIPE, text=True, timeout=1800)
    done()
    return Path(result.stdout.strip().splitlines()[-1])


def rootfs_tarball(arch: str, packages: list[str], timings: dict[str, float]) -> Path:
    """A cached minbase rootfs with packages; built once per (arch, suite, packages)."""
    key = hashlib.sha256(f"{arch} {SUITE} {MIRROR} {sorted(packages)}".encode()).hexdigest()[:12]
    tarball = CACHE / f"rootfs-{SUITE}-{arch}-{key}.tar"
    if tarball.exists():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    if arch != "amd64":
        enable_binfmt(arch)
    done = timed(f"mmdebstrap {arch} (uncached)", timings)
    partial = tarball.with_suffix(".partial.tar")
    subprocess.run(
        ["mmdebstrap", f"--arch={arch}", "--variant=minbase", "--include=" + ",".join(packages),
         SUITE, str(partial), MIRROR],
        check=True, timeout=3600)
    partial.rename(tarball)
    done()
    return tarball


def unpack(tarball: Path, timings: dict[str, float]) -> Path:
    root = Path(tempfile.mkdtemp(prefix="salon-rootfs-", dir="/var/tmp"))
    done = timed(f"unpack {tarball.name}", timings)
    subprocess.run(["tar", "-C", str(root), "-xf", str(tarball)], check=True)
    done()
    return root


def enable_binfmt(arch: str) -> None:
    """qemu-user-static's binfmt handler (F flag: works inside chroots and containers)."""
    qemu = {"arm64": "qemu-aarch64"}[arch]
    binfmt = Path("/proc/sys/fs/binfmt_misc")
    if not (binfmt / "status").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(binfmt)], check=True)
    if not (binfmt / qemu).exists():
        subprocess.run(["update-binfmts", "--enable", qemu], check=True)
    assert (binfmt / qemu).exists(), f"{qemu} binfmt handler missing (qemu-user-static)"


def remove_tree(root: Path) -> None:
    subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=False)


def simulated_config(health_port: int = 8765) -> str:
    """The shipped example config, pointed at a closed local port instead of a bridge."""
    text = (REPO / "config/appliance.example.toml").read_text()
    text = text.replace('url = "http://127.0.0.1:8080"', 'url = "http://127.0.0.1:9"')
    return text.replace("port = 8765", f"port = {health_port}")


def wait_until(predicate: Callable[[], bool], timeout: float, what: str,
               interval: float = 0.5) -> float:
    """Poll predicate; returns the seconds it took, fails the test with `what` on timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
