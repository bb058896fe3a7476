"""The native self-test that the image test runs under qemu and the Pi smoke test runs."""

from __future__ import annotations

import pytest

from appliance.service import selftest


def test_checks_do_real_work_and_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert selftest.main(["numpy", "h264", "pygame"]) == 0
    out = capsys.readouterr().out
    assert "PASS  h264" in out and "5 frames 320x240 encoded and decoded" in out
    assert out.rstrip().endswith("3 passed, 0 failed")


def test_a_failing_check_fails_the_run_and_the_others_still_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> str:
        raise ImportError("libcamera.so.0.3: cannot open shared object file")

    monkeypatch.setitem(selftest.CHECKS, "camera-stack", broken)
    assert selftest.main(["camera-stack", "numpy"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  camera-stack" in out and "libcamera.so.0.3" in out
    assert "PASS  numpy" in out
    assert out.rstrip().endswith("1 passed, 1 failed")
