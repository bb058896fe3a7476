"""Shared files (Dosyalar): hosts upload, admitted members list and download.

Bytes live under the state directory with names the bridge generates; the
uploader's file name is only ever a label in the database, never a path.
"""

from __future__ import annotations

import errno
import hashlib
import mimetypes
import os
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select

from bridge.meetings import context as cx
from bridge.meetings import messages as msg
from bridge.meetings.effects import FileAdded, FileDownload, Refusal, Refused
from bridge.store.models import Participant, StoredFile
from salon import protocol

STORED_NAME = re.compile(r"[0-9a-f]{32}")
CHUNK = 64 * 1024
MAX_NAME = 200
# Types a browser would render or run: always served as plain bytes.
ACTIVE_TYPES = ("text/html", "image/svg+xml", "text/xml", "application/xml", "text/javascript")


class FileTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"file larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Received:
    """Bytes written to the vault's incoming area, not yet part of any room."""

    path: Path
    size: int
    sha256: str


class FileVault:
    """The directory holding uploaded files: `root/<32 hex>`; `root/incoming/` for uploads."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.incoming = root / "incoming"
        self.incoming.mkdir(parents=True, exist_ok=True)
        # Made at service start: anything still incoming is from an interrupted upload.
        for stale in self.incoming.iterdir():
            stale.unlink(missing_ok=True)

    def receive(self, chunks: Iterable[bytes]) -> Received:
        """Write chunks to a new incoming file, enforcing the size limit as they come."""
        path = self.incoming / secrets.token_hex(16)
        digest = hashlib.sha256()
        size = 0
        try:
            with open(path, "xb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise FileTooLarge(self.max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return Received(path, size, digest.hexdigest())

    def keep(self, received: Received) -> str:
        """Move an incoming file into the vault; returns its generated stored name."""
        if received.path.parent != self.incoming:
            raise ValueError("not an incoming file of this vault")
        name = secrets.token_hex(16)
        os.replace(received.path, self.root / name)
        return name

    def remove(self, stored_name: str) -> None:
        self.path_of(stored_name).unlink(missing_ok=True)

    def discard(self, received: Received) -> None:
        received.path.unlink(missing_ok=True)

    def path_of(self, stored_name: str) -> Path:
        if not STORED_NAME.fullmatch(stored_name):
            raise ValueError(f"not a stored file name: {stored_name!r}")
        return self.root / stored_name


def storage_refusal(action: str, exc: OSError) -> Refusal:
    """An upload the disk could not take, in words for the uploader."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return Refusal("storage_full", f"{action}: the bridge's disk is full; ask its "
                                       "administrator to free space")
    return Refusal("storage_error", f"{action}: the bridge cannot store files now "
                                    f"({exc.strerror or exc})")


def read_chunks(source: BinaryIO | bytes) -> Iterable[bytes]:
    if isinstance(source, bytes):
        for start in range(0, len(source), CHUNK):
            yield source[start : start + CHUNK]
        return
    while chunk := source.read(CHUNK):
        yield chunk


def label(original: str) -> str:
    """The name shown and offered on download: last path part, printable, bounded."""
    text = unicodedata.normalize("NFC", original)
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    if not text:
        return "file"
    if len(text) > MAX_NAME:
        _, dot, ext = text.rpartition(".")
        keep = ext if dot and len(ext) <= 16 else ""
        text = text[: MAX_NAME - len(keep) - 1] + ("." + keep if keep else "")
    return text


def content_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed is None or guessed in ACTIVE_TYPES:
        return "application/octet-stream"
    return guessed


def info(tx: cx.Tx, f: StoredFile) -> protocol.FileEntry:
    uploader = tx.db.get(Participant, f.uploader_id) if f.uploader_id is not None else None
    return protocol.FileEntry(
        id=f.id,
        name=f.original_name,
        size=f.size,
        sha256=f.sha256,
        content_type=f.content_type,
        uploaded_at=msg.iso(f.uploaded_at) or "",
        uploader=uploader.display_name if uploader else "",
    )


def listing(tx: cx.Tx, room_id: int) -> list[protocol.FileEntry]:
    rows = tx.db.scalars(
        select(StoredFile).where(StoredFile.room_id == room_id).order_by(StoredFile.id)
    )
    return [info(tx, f) for f in rows]


def check_upload(tx: cx.Tx, pid: int) -> cx.Scope:
    return cx.host(tx, pid, "upload file")


def add(tx: cx.Tx, vault: FileVault, pid: int, original_name: str, received: Received) -> FileAdded:
    """Make received bytes a file of the uploader's room (the caller discards on refusal)."""
    scope = check_upload(tx, pid)
    name = label(original_name)
    stored = StoredFile(
        room_id=scope.room.id,
        original_name=name,
        stored_name=vault.keep(received),  # moved last: nothing after it can refuse
        content_type=content_type(name),
        size=received.size,
        sha256=received.sha256,
        uploader_id=pid,
        uploaded_at=tx.now,
    )
    tx.undo.append(lambda: vault.remove(stored.stored_name))
    tx.db.add(stored)
    tx.db.flush()
    cx.record(
        tx,
        scope.meeting,
        "file_uploaded",
        actor_id=pid,
        file=stored.id,
        name=name,
        size=stored.size,
    )
    added = info(tx, stored)
    cx.to_members(tx, scope, msg.file_added(added))
    return FileAdded(file=added)


def open_for_download(tx: cx.Tx, vault: FileVault, pid: int, file_id: int) -> FileDownload:
    scope = cx.actor(tx, pid, "download file")
    f = tx.db.get(StoredFile, file_id)
    if f is None or f.room_id != scope.room.id:
        # Same answer for "absent" and "another room's": no probing of other rooms.
        raise Refused("no_such_file", "download file: no such file in this room", security=True)
    path = vault.path_of(f.stored_name)
    if not path.is_file():
        raise Refused("file_missing", "download file: the file's bytes are gone from the disk")
    cx.record(tx, scope.meeting, "file_downloaded", actor_id=pid, file=f.id, name=f.original_name)
    return FileDownload(
        path=path, name=f.original_name, size=f.size, content_type=f.content_type, sha256=f.sha256
    )
