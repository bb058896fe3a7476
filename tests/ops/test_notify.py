"""sd_notify over a real unix datagram socket, as systemd's manager would read it."""

from __future__ import annotations

import os
import socket
import uuid
from typing import TYPE_CHECKING

import pytest

from appliance.service.notify import Notifier, watchdog_interval_s

if TYPE_CHECKING:
    from tests.ops.conftest import NotifySocket


def test_ready_and_status_arrive_as_one_datagram(notify_socket: NotifySocket) -> None:
    notifier = Notifier(str(notify_socket.path))
    assert notifier.enabled
    assert notifier.ready("joining 5A")
    assert notify_socket.recv() == "READY=1\nSTATUS=joining 5A"
    notifier.status("in meeting 5A\nas Room 5A")  # a newline must not start a new assignment
    assert notify_socket.recv() == "STATUS=in meeting 5A as Room 5A"
    notifier.watchdog()
    assert notify_socket.recv() == "WATCHDOG=1"
    notifier.stopping("bye")
    assert notify_socket.recv() == "STOPPING=1\nSTATUS=bye"
    notifier.extend_timeout(2.5)
    assert notify_socket.recv() == "EXTEND_TIMEOUT_USEC=2500000"
    notifier.close()


def test_abstract_namespace_socket() -> None:
    name = f"salon-test-{uuid.uuid4().hex}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(b"\0" + name.encode())
    server.settimeout(2)
    try:
        Notifier("@" + name).ready()
        assert server.recv(100) == b"READY=1"
    finally:
        server.close()


def test_reads_notify_socket_from_environment_and_can_unset_it(
    notify_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(notify_socket.path))
    monkeypatch.setenv("WATCHDOG_USEC", "15000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    notifier = Notifier(unset_environment=True)
    assert notifier.watchdog_interval_s == 15.0
    assert "NOTIFY_SOCKET" not in os.environ  # a child process cannot speak for us
    assert notifier.watchdog()
    assert notify_socket.recv() == "WATCHDOG=1"


def test_off_systemd_everything_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier()
    assert not notifier.enabled
    assert notifier.ready("x") is False
    assert notifier.watchdog() is False


def test_a_vanished_manager_does_not_raise(tmp_path: os.PathLike[str]) -> None:
    notifier = Notifier(os.path.join(tmp_path, "nobody-listens"))
    assert notifier.status("still alive") is False


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "abc"}, None),
        ({"WATCHDOG_USEC": "20000000"}, 20.0),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval_s(dict(env)) == expected
