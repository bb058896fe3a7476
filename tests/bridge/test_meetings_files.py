"""Files (Dosyalar): host uploads, members list and download, nobody escapes the vault."""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path

import pytest

from bridge.meetings import FileAdded, Limits, Meetings
from tests.support.meetings_world import CHEAP, PASSWORD, World, ok, received, refused


def vault_files(world: World) -> list[Path]:
    root = world.root / "files"
    return sorted(p for p in root.iterdir() if p.is_file())


def test_host_uploads_and_everyone_in_the_room_sees_it(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    waiting = world.guest("Misafir Bir")
    data = b"%PDF-1.7 sunum" * 1000
    added = ok(world.meetings.upload_file(host.pid, "Ders 1 – Sunum.pdf", io.BytesIO(data)))
    assert isinstance(added, FileAdded) and added.file is not None
    assert added.file.name == "Ders 1 – Sunum.pdf"
    assert added.file.sha256 == hashlib.sha256(data).hexdigest()
    assert added.file.size == len(data) and added.file.content_type == "application/pdf"
    (notice,) = received(added, ali.pid)
    assert notice["type"] == "file_added" and notice["file"]["uploader"] == "Öğretmen Ayşe"
    assert received(added, waiting.pid) == []
    (stored,) = vault_files(world)
    assert stored.read_bytes() == data
    assert len(stored.name) == 32 and "Sunum" not in stored.name
    late = world.sign_in("sinif1")
    assert [f["name"] for f in received(late.joined, late.pid)[0]["files"]] == [
        "Ders 1 – Sunum.pdf"
    ]
    listing = ok(world.meetings.list_files(ali.pid))
    assert [f.id for f in listing.files] == [added.file.id]


def test_members_download_with_their_session(world: World) -> None:
    host = world.sign_in("ogretmen")
    guest = world.admitted_guest(host, "Misafir Bir")
    added = ok(world.meetings.upload_file(host.pid, "resim.png", b"\x89PNG..."))
    assert added.file is not None
    pid = world.meetings.participant_for_token(guest.token)
    assert pid == guest.pid
    download = ok(world.meetings.open_file(pid, added.file.id))
    assert download.path.read_bytes() == b"\x89PNG..."
    assert (download.name, download.content_type) == ("resim.png", "image/png")
    assert world.meetings.participant_for_token("not-a-token") is None


def test_participants_cannot_upload_and_their_bytes_are_not_kept(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    with caplog.at_level(logging.WARNING, "salon.meetings"):
        refused(world.meetings.upload_file(ali.pid, "virus.exe", b"MZ"), "not_host")
    assert "refused upload file by participant" in caplog.text
    # Even bytes received before the check (a racing upload) are discarded.
    received_bytes = ok(world.meetings.receive_file(b"MZ"))
    refused(world.meetings.add_file(ali.pid, "virus.exe", received_bytes), "not_host")
    assert vault_files(world) == [] and list((world.root / "files/incoming").iterdir()) == []


def test_size_limit_is_enforced_while_receiving(tmp_path: Path, world: World) -> None:
    small = Meetings(
        world.store,
        tmp_path / "small",
        clock=world.clock,
        passwords=CHEAP,
        limits=Limits(file_max_bytes=1000),
    )
    host = ok(small.join_account("testbim", "ogretmen", PASSWORD)).participant
    ok(small.upload_file(host, "tam.bin", b"x" * 1000))
    refused(small.upload_file(host, "büyük.bin", io.BytesIO(b"x" * 1001)), "file_too_large")
    assert len(list((tmp_path / "small").iterdir())) == 2  # one file and incoming/
    assert list((tmp_path / "small/incoming").iterdir()) == []


@pytest.mark.parametrize(
    ("uploaded", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("/absolute/path/notlar.txt", "notlar.txt"),
        ("..", "file"),
        (".bashrc", "bashrc"),
        ("a\x00b\u202e.txt", "ab.txt"),
        ("", "file"),
    ],
)
def test_path_traversal_names_are_only_labels(world: World, uploaded: str, shown: str) -> None:
    host = world.sign_in("ogretmen")
    added = ok(world.meetings.upload_file(host.pid, uploaded, b"icerik"))
    assert added.file is not None and added.file.name == shown
    (stored,) = vault_files(world)
    assert stored.parent == world.root / "files"
    download = ok(world.meetings.open_file(host.pid, added.file.id))
    assert download.path == stored and download.name == shown


def test_active_content_is_never_served_as_such(world: World) -> None:
    host = world.sign_in("ogretmen")
    for name in ("sayfa.html", "çizim.svg", "betik.js", "adsız"):
        added = ok(world.meetings.upload_file(host.pid, name, b"<script>alert(1)</script>"))
        assert added.file is not None
        assert added.file.content_type == "application/octet-stream", name


def test_files_of_another_room_cannot_be_downloaded(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    host = world.sign_in("ogretmen")
    added = ok(world.meetings.upload_file(host.pid, "gizli.pdf", b"gizli"))
    assert added.file is not None
    stranger = world.sign_in("ali", "kurul")
    with caplog.at_level(logging.WARNING, "salon.meetings"):
        missing = refused(world.meetings.open_file(stranger.pid, added.file.id), "no_such_file")
        absent = refused(world.meetings.open_file(stranger.pid, 12345), "no_such_file")
    assert missing == absent  # no way to tell "another room's" from "none"
    assert "refused download file by participant" in caplog.text and "/kurul" in caplog.text
    refused(world.meetings.list_files(world.guest("Misafir Bir").pid), "not_admitted")


def test_lobby_and_departed_participants_cannot_download(world: World) -> None:
    host = world.sign_in("ogretmen")
    ali = world.sign_in("ali")
    added = ok(world.meetings.upload_file(host.pid, "ödev.docx", b"odev"))
    assert added.file is not None
    waiting = world.guest("Misafir Bir")
    refused(world.meetings.open_file(waiting.pid, added.file.id), "not_admitted")
    ok(world.meetings.leave(ali.pid, ali.epoch))
    refused(world.meetings.open_file(ali.pid, added.file.id), "not_in_meeting")


def test_files_and_their_list_survive_a_restart(world: World) -> None:
    host = world.sign_in("ogretmen")
    added = ok(world.meetings.upload_file(host.pid, "kalıcı.txt", b"kalici"))
    assert added.file is not None
    (world.root / "files/incoming/yarim").write_bytes(b"interrupted upload")
    world.restart()
    assert list((world.root / "files/incoming").iterdir()) == []
    back = ok(world.meetings.resume("testbim", host.token))
    assert [f["name"] for f in received(back, host.pid)[0]["files"]] == ["kalıcı.txt"]
    assert ok(world.meetings.open_file(host.pid, added.file.id)).path.read_bytes() == b"kalici"


def test_an_upload_is_undone_when_its_transaction_fails(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    host = world.sign_in("ogretmen")
    received_bytes = ok(world.meetings.receive_file(b"yarim kalacak"))
    world.store.engine.dispose()
    with world.store.transaction() as db:  # the next commit fails: the table is gone
        db.connection().exec_driver_sql("ALTER TABLE files RENAME TO files_gone")
    with caplog.at_level(logging.ERROR, "salon.meetings"):
        refused(world.meetings.add_file(host.pid, "a.txt", received_bytes), "internal_error")
    assert "upload file by participant 1 failed" in caplog.text and "no such table" in caplog.text
    assert vault_files(world) == []
    ok(world.meetings.chat(host.pid, "the service goes on"))
