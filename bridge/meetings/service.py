"""Meetings: the one object the transport calls.

Each method is one action in one transaction. It returns a Refusal (code and
message; logged, as a warning when security-relevant), or Done — or a Done
subclass carrying a value — whose `effects` the caller executes in order.
Methods are synchronous; call them from one thread at a time (AsyncMeetings in
bridge.meetings.runner does that for asyncio), except `authenticate`, which is
thread-safe and slow (argon2) and so belongs off that thread.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.meetings import (
    chat,
    files,
    floor,
    joining,
    outbox,
    polls,
    presenting,
    reports,
    schedule,
)
from bridge.meetings import context as cx
from bridge.meetings import messages as msg
from bridge.meetings.context import Guards, Limits
from bridge.meetings.effects import (
    Done,
    FileAdded,
    FileDownload,
    Files,
    JanusModerate,
    Joined,
    Listing,
    MediaAccess,
    Refusal,
    Refused,
    RoomView,
    Row,
    Sequenced,
)
from bridge.meetings.files import FileTooLarge, FileVault, Received, storage_refusal
from bridge.meetings.ratelimit import Buckets
from bridge.meetings.reports import ReportReady
from bridge.meetings.signin import THROTTLED
from bridge.store.accounts import Passwords, find_account, find_room
from bridge.store.db import Store, StoreBusy, StoreFull
from bridge.store.models import Account, Participant
from salon.protocol import RoomInfo

log = logging.getLogger("salon.meetings")

D = TypeVar("D", bound=Done)
Clock = Callable[[], datetime]


def store_refusal(action: str, exc: StoreBusy | StoreFull) -> Refusal:
    if isinstance(exc, StoreBusy):
        return Refusal("busy", f"{action}: the database is busy (another program holds "
                               "it); nothing was changed, try again in a moment")
    return Refusal("storage_full", f"{action}: the bridge's disk is full; nothing was "
                                   "changed")


def utc_now() -> datetime:
    return datetime.now(UTC)


class Meetings:
    def __init__(
        self,
        store: Store,
        files_dir: Path,
        *,
        clock: Clock = utc_now,
        limits: Limits | None = None,
        passwords: Passwords | None = None,
        node: str | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.limits = limits or Limits()
        self.passwords = passwords or Passwords()
        self.vault = FileVault(files_dir, self.limits.file_max_bytes)
        # ``node``: this process's name when several share the database (PostgreSQL):
        # actions lock their room, effects are numbered and stored (outbox.py), seats
        # remember their process and the rate limits are kept in the database.
        self.node = node
        self.guards = Guards.from_limits(
            self.limits, Buckets if node is None else outbox.bucket_maker(store))
        # Made now, not at the first unknown name: that one would otherwise cost two hashes.
        self._decoy = self.passwords.hasher.hash(secrets.token_hex(16))

    # -- start-up and housekeeping ---------------------------------------------------------

    def recover(self) -> int:
        """Call once at start-up: every connection of the previous run is gone (seats stay)."""
        with self.store.transaction() as db:
            return joining.recover(self._tx(db))

    def sweep(self) -> int:
        """Call every minute or so: ends meetings that have stood empty long enough."""
        with self.store.transaction() as db:
            tx = self._tx(db)
            if self.node is not None:
                outbox.forget_old_events(tx)
            return joining.sweep(tx)

    # -- several processes (node set) --------------------------------------------------------


    def heartbeat(self) -> None:
        """Call every few seconds: this process is alive (its seats are connected)."""
        assert self.node is not None
        with self.store.transaction() as db:
            outbox.heartbeat(self._tx(db), self.node)

    def seats_of_gone(self, gone_after: timedelta, including_mine: bool = False
                      ) -> list[tuple[int, int]]:
        """Seats (id, epoch) whose process stopped; leave each with ``leave``."""
        with self.store.transaction() as db:
            return outbox.seats_of_gone(self._tx(db), gone_after,
                                        self.node if including_mine else None)

    def events_after(self, room: str, after: int) -> list[Sequenced]:
        with self.store.transaction() as db:
            return outbox.events_after(self._tx(db), room, after)

    def last_events(self, rooms: list[str]) -> dict[str, int]:
        with self.store.transaction() as db:
            return outbox.last_seqs(self._tx(db), rooms)

    # -- entering and leaving --------------------------------------------------------------

    def room_info(self, address: str) -> RoomInfo | None:
        """What anyone at a room's address is told before entering (its title, whether
        guests may come and wait for the host), or None: no room there."""
        with self.store.transaction() as db:
            room = find_room(db, address)
            return None if room is None else msg.room(room)

    def authenticate(self, username: str, password: str, address: str = "local"
                     ) -> Account | Refusal:
        """Check a sign-in (Oturum Aç) from the client ``address``. Slow (argon2) and
        thread-safe: run it through a `SignInGate` (AsyncMeetings does)."""
        key = username.strip().lower()
        now = self.clock()
        # Failures are counted by address and by (address, account) — never by account
        # alone, so nobody elsewhere can lock an account out. A throttled attempt is not
        # even checked: otherwise the throttle would still answer whether a guess was right.
        if not self.guards.sign_in.allowed(address, key, now):
            log.warning("refused sign in as %r from %s: too many failed attempts", key, address,
                        extra={"EVENT": "sign-in-throttled"})
            return THROTTLED
        with self.store.transaction() as db:
            account = find_account(db, key)
        # An unknown name costs the same argon2 check, so timing does not reveal names.
        encoded = account.password_hash if account is not None else self._decoy
        ok = self.passwords.verify(encoded, password)
        if account is None or not ok or account.disabled:
            self.guards.sign_in.failed(address, key, now)
            log.warning("refused sign in as %r from %s: wrong user name, password, or disabled",
                        key, address, extra={"EVENT": "sign-in-failed"})
            return Refusal("bad_credentials", "sign in: wrong user name or password")
        self.guards.sign_in.succeeded(address, key, now)
        if self.passwords.needs_rehash(account.password_hash):
            self._rehash(account.id, password)
        return account

    def _rehash(self, account_id: int, password: str) -> None:
        with self.store.transaction() as db:
            account = db.get(Account, account_id)
            if account is not None:
                account.password_hash = self.passwords.hasher.hash(password)

    def join_authenticated(self, room: str, account_id: int) -> Joined | Refusal:
        """Join after `authenticate` succeeded (an account never waits in the lobby)."""

        def body(tx: cx.Tx) -> Joined:
            account = tx.db.get(Account, account_id)
            if account is None or account.disabled:
                raise Refused("bad_credentials", "sign in: account unavailable", security=True)
            return joining.join_account(tx, room, account)

        return self._run(f"join room {room!r}", None, body)

    def join_account(self, room: str, username: str, password: str, address: str = "local"
                     ) -> Joined | Refusal:
        account = self.authenticate(username, password, address)
        if isinstance(account, Refusal):
            return account
        return self.join_authenticated(room, account.id)

    def join_guest(self, room: str, display_name: str) -> Joined | Refusal:
        """Misafir olarak katıl: into the lobby of a public room."""
        return self._run(
            f"join room {room!r} as guest {display_name!r}",
            None,
            lambda tx: joining.join_guest(tx, room, display_name),
        )

    def resume(self, room: str, token: str) -> Joined | Refusal:
        """Take one's seat again on a new connection (after a drop or a bridge restart)."""
        return self._run(
            f"resume in room {room!r}", None, lambda tx: joining.resume(tx, room, token)
        )

    def participant_for_token(self, token: str) -> int | None:
        """The participant a session token belongs to (for HTTP downloads and reports)."""
        with self.store.transaction() as db:
            return db.scalar(
                select(Participant.id).where(Participant.token_hash == joining.token_hash(token))
            )

    def leave(self, pid: int, epoch: int | None = None, reason: str = "left") -> Done | Refusal:
        """The connection `epoch` of `pid` ended; call on every close. Stale ones are ignored."""
        return self._do("leave", pid, lambda tx: joining.leave(tx, pid, epoch, reason))

    def admit(self, host: int, guest: int) -> Done | Refusal:
        return self._do("admit", host, lambda tx: joining.admit(tx, host, guest))

    def deny(self, host: int, guest: int) -> Done | Refusal:
        return self._do("deny", host, lambda tx: joining.deny(tx, host, guest))

    def rename(self, pid: int, name: str) -> Done | Refusal:
        """Bilgilerimi Düzenle."""
        return self._do("rename", pid, lambda tx: joining.rename(tx, pid, name))

    def end_meeting(self, host: int) -> Done | Refusal:
        return self._do("end meeting", host, lambda tx: joining.end_meeting(tx, host))

    # -- the floor -------------------------------------------------------------------------

    def raise_hand(self, pid: int) -> Done | Refusal:
        """Söz Hakkı İste."""
        return self._do("raise hand", pid, lambda tx: floor.raise_hand(tx, pid))

    def lower_hand(self, pid: int, subject: int | None = None) -> Done | Refusal:
        return self._do("lower hand", pid, lambda tx: floor.lower_hand(tx, pid, subject))

    def set_right(self, host: int, subject: int, right: str, granted: bool) -> Done | Refusal:
        """right: "audio", "camera" or "present", granted separately."""
        return self._do(
            f"set {right} right",
            host,
            lambda tx: floor.set_right(tx, host, subject, right, granted),
        )

    def set_muted(self, pid: int, subject: int, muted: bool) -> Done | Refusal:
        """subject == pid: oneself (unmuting is Sesimi Bağla); else a host muting someone."""
        return self._do("mute", pid, lambda tx: floor.set_muted(tx, pid, subject, muted))

    def set_media_state(self, pid: int, mic_muted: bool | None = None,
                        camera_on: bool | None = None) -> Done | Refusal:
        """What the participant switched on itself, within the rights it holds."""
        return self._do("set media state", pid,
                        lambda tx: floor.set_media_state(tx, pid, mic_muted, camera_on))

    def remove(self, host: int, subject: int) -> Done | Refusal:
        return self._do("remove", host, lambda tx: floor.remove(tx, host, subject))

    def start_presenting(self, pid: int, via: str | None = None) -> Done | Refusal:
        """Ekranımı Paylaş: take the meeting's one presentation (`via` "companion": a
        room's seat through its companion page)."""
        return self._do("present", pid, lambda tx: presenting.start(tx, pid, via))

    def stop_presenting(self, pid: int, subject: int | None = None,
                        via: str | None = None) -> Done | Refusal:
        """End one's own presentation (made `via` the same way) or, for a host, anyone's."""
        return self._do("stop presenting", pid,
                        lambda tx: presenting.stop(tx, pid, subject, via))

    def talking(self, pid: int, is_talking: bool, at: datetime | None = None) -> Done | Refusal:
        """Janus said the publisher started or stopped talking."""
        return self._do("talking", pid, lambda tx: floor.talking(tx, pid, is_talking, at))

    def media_access(self, pid: int) -> MediaAccess | Refusal:
        """Ask before relaying any publish or subscribe: lobby and strangers get no media."""
        return self._run("media", pid, lambda tx: floor.media_access(tx, pid))

    # -- chat, polls -----------------------------------------------------------------------

    def chat(self, pid: int, text: str, to: int | None = None) -> Done | Refusal:
        """Sohbet: to=None is everyone (Herkes); else a private message to one participant."""
        return self._do("chat", pid, lambda tx: chat.send(tx, pid, text, to))

    def create_poll(
        self, host: int, question: str, options: list[str], results_visible: bool = False
    ) -> Done | Refusal:
        return self._do(
            "create poll",
            host,
            lambda tx: polls.create(tx, host, question, options, results_visible),
        )

    def open_poll(self, host: int, poll: int) -> Done | Refusal:
        return self._do("open poll", host, lambda tx: polls.open_(tx, host, poll))

    def close_poll(
        self, host: int, poll: int, results_visible: bool | None = None
    ) -> Done | Refusal:
        return self._do("close poll", host, lambda tx: polls.close(tx, host, poll, results_visible))

    def show_poll_results(self, host: int, poll: int, visible: bool) -> Done | Refusal:
        return self._do(
            "show poll results", host, lambda tx: polls.show_results(tx, host, poll, visible)
        )

    def answer_poll(self, pid: int, poll: int, option: int) -> Done | Refusal:
        return self._do("answer poll", pid, lambda tx: polls.answer(tx, pid, poll, option))

    def room_view(self, pid: int, used_by: str) -> RoomView | Refusal:
        """The room as ``pid`` sees it now (its welcome) for a phone companion acting
        for it; the use is recorded (who: ``used_by``) in the meeting's event log."""

        def body(tx: cx.Tx) -> RoomView:
            scope = cx.actor(tx, pid, "companion")
            cx.record(tx, scope.meeting, "companion_used", subject_id=pid, by=used_by)
            # The room's row is locked (cx.actor): no event of it lands in between.
            return RoomView(welcome=joining.welcome(tx, scope),
                            seq=scope.room.event_seq if tx.node is not None else None)

        return self._run("companion", pid, body)

    # -- files -----------------------------------------------------------------------------

    def check_upload(self, pid: int) -> Done | Refusal:
        """Ask before accepting an upload's bytes (only hosts upload)."""
        return self._do("upload file", pid, lambda tx: files.check_upload(tx, pid))

    def receive_file(self, source: BinaryIO | bytes) -> Received | Refusal:
        """Write an upload's bytes to the vault (no database, any thread); size-limited."""
        try:
            return self.vault.receive(files.read_chunks(source))
        except FileTooLarge as exc:
            log.warning("refused an upload larger than %d bytes", exc.limit)
            return Refusal("file_too_large", f"upload file: larger than {exc.limit} bytes")
        except OSError as exc:  # the vault removed what it had written
            log.error("could not store an upload: %s", exc)
            return storage_refusal("upload file", exc)

    def add_file(self, pid: int, original_name: str, received: Received) -> FileAdded | Refusal:
        """Make received bytes a file of the host's room; the bytes are discarded on refusal."""
        try:
            return self._run(
                "upload file",
                pid,
                lambda tx: files.add(tx, self.vault, pid, original_name, received),
            )
        finally:
            self.vault.discard(received)  # a no-op once kept

    def upload_file(
        self, pid: int, original_name: str, source: BinaryIO | bytes
    ) -> FileAdded | Refusal:
        checked = self.check_upload(pid)
        if isinstance(checked, Refusal):
            return checked
        received = self.receive_file(source)
        if isinstance(received, Refusal):
            return received
        return self.add_file(pid, original_name, received)

    def list_files(self, pid: int) -> Files | Refusal:
        def body(tx: cx.Tx) -> Files:
            scope = cx.actor(tx, pid, "list files")
            return Files(files=tuple(files.listing(tx, scope.room.id)))

        return self._run("list files", pid, body)

    def open_file(self, pid: int, file_id: int) -> FileDownload | Refusal:
        """Bilgisayarıma Kaydet: a room member's download of one of the room's files."""
        return self._run(
            "download file", pid, lambda tx: files.open_for_download(tx, self.vault, pid, file_id)
        )

    # -- reports ---------------------------------------------------------------------------

    def list_meetings(self, host: int) -> Listing | Refusal:
        return self._run(
            "list meetings",
            host,
            lambda tx: Listing(items=tuple(reports.meetings_of_room(tx, host))),
        )

    def report(self, host: int, meeting: int | None = None) -> ReportReady | Refusal:
        """A meeting's attendance and activity (default: the current one); hosts only."""
        return self._run(
            "report", host, lambda tx: ReportReady(report=reports.for_host(tx, host, meeting))
        )

    # -- the room's schedule (Takvim), hosts only ---------------------------------------------

    def schedule_view(self, host: int, calendars: list[Row]) -> Listing | Refusal:
        """`calendars`: every configured calendar with its status; the room's are shown."""
        return self._listing("schedule", host, lambda tx: schedule.view(tx, host, calendars))

    def schedule_add(self, host: int, form: object) -> Listing | Refusal:
        return self._listing("add to schedule", host, lambda tx: schedule.add(tx, host, form))

    def schedule_edit(self, host: int, entry: int, form: object) -> Listing | Refusal:
        return self._listing("edit schedule", host,
                             lambda tx: schedule.edit(tx, host, entry, form))

    def schedule_remove(self, host: int, entry: int) -> Listing | Refusal:
        return self._listing("remove from schedule", host,
                             lambda tx: schedule.remove(tx, host, entry))

    def schedule_import(self, host: int, name: str, data: bytes) -> Listing | Refusal:
        return self._listing("import schedule", host,
                             lambda tx: schedule.import_file(tx, host, name, data))

    def _listing(self, action: str, pid: int, body: Callable[[cx.Tx], Row]
                 ) -> Listing | Refusal:
        return self._run(action, pid, lambda tx: Listing(items=(body(tx),)))

    # -- the frame of every action ---------------------------------------------------------

    def _do(self, action: str, pid: int | None, body: Callable[[cx.Tx], object]) -> Done | Refusal:
        def done(tx: cx.Tx) -> Done:
            body(tx)
            return Done()

        return self._run(action, pid, done)

    def _run(self, action: str, pid: int | None, body: Callable[[cx.Tx], D]) -> D | Refusal:
        tx: cx.Tx | None = None
        try:
            with self.store.transaction() as db:
                tx = self._tx(db)
                value = body(tx)
                # Janus first: a right taken is cut at the media server before anyone is
                # told, so no client sees "stopped" while its media still flows (stable).
                tx.effects.sort(key=lambda e: not isinstance(e, JanusModerate))
                sequenced = outbox.stamp(tx)
        except Refused as refused:
            self._undo(tx)
            self._log_refusal(action, pid, refused)
            return refused.refusal
        except (StoreBusy, StoreFull) as exc:
            # Rolled back whole: nothing of the action happened, and the asker is told
            # so in words it can act on (busy: send it again shortly).
            self._undo(tx)
            log.warning("%s by participant %s not done: %s", action, pid, exc)
            return store_refusal(action, exc)
        except Exception:
            # A bug or a database failure: this action is lost, the service goes on.
            self._undo(tx)
            log.exception("%s by participant %s failed", action, pid)
            return Refusal("internal_error", f"{action}: failed on the server (logged)")
        assert tx is not None
        return dataclasses.replace(value, effects=tuple(tx.effects), sequenced=sequenced)

    def _tx(self, db: Session) -> cx.Tx:
        return cx.Tx(db, self.clock(), self.limits, self.guards, node=self.node)

    @staticmethod
    def _undo(tx: cx.Tx | None) -> None:
        for step in reversed(tx.undo if tx is not None else []):
            step()

    def _log_refusal(self, action: str, pid: int | None, refused: Refused) -> None:
        level = logging.WARNING if refused.security else logging.INFO
        if log.isEnabledFor(level):
            log.log(level, "refused %s by %s: %s", action, self._describe(pid), refused)

    def _describe(self, pid: int | None) -> str:
        if pid is None:
            return "a new connection"
        with self.store.transaction() as db:
            p = db.get(Participant, pid)
            if p is None:
                return f"participant {pid} (unknown)"
            scope = cx.scope_of(self._tx(db), p)
            return (
                f"participant {pid} {p.display_name!r} ({p.kind.value}, {p.admission.value}, "
                f"{'host' if p.is_host else 'not host'}) in /{scope.room.address}"
            )
