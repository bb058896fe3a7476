"""Running the synchronous domain from asyncio.

All actions go through one worker thread, in arrival order: each action is one
short transaction, so serializing them makes every action atomic with respect
to the others (no check-then-act races between two hosts) without locks, and
the event loop never waits on the disk. Password checks (argon2, ~0.1 s) run
through a `SignInGate` instead: a bounded number at once on threads of their own, so
a flood of sign-ins never stalls the room (bridge/meetings/signin.py).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from bridge.meetings.effects import Joined, Refusal
from bridge.meetings.service import Meetings
from bridge.meetings.signin import SignInGate

P = ParamSpec("P")
R = TypeVar("R")
BUSY_RETRY_S = 2.0
BUSY_GIVE_UP_S = 300.0  # then the next start's recovery records it


class AsyncMeetings:
    """`await runner.call(meetings.chat, pid, "merhaba")` — any Meetings method."""

    def __init__(self, meetings: Meetings, sign_in: SignInGate | None = None) -> None:
        self.meetings = meetings
        self.sign_in = sign_in or SignInGate()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="salon-meetings")

    async def call(self, method: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(method, *args, **kwargs)
        )

    async def call_until_done(self, method: Callable[P, R], *args: P.args,
                              **kwargs: P.kwargs) -> R:
        """For what the bridge itself must record (a connection's end): a database held
        by another program (`busy`) is waited out, not lost."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + BUSY_GIVE_UP_S
        while True:
            result = await self.call(method, *args, **kwargs)
            busy = isinstance(result, Refusal) and result.code == "busy"
            if not busy or loop.time() > give_up:
                return result
            await asyncio.sleep(BUSY_RETRY_S)

    async def join_account(self, room: str, username: str, password: str,
                           address: str = "local") -> Joined | Refusal:
        account = await self.sign_in.run(address, functools.partial(
            self.meetings.authenticate, username, password, address))
        if isinstance(account, Refusal):
            return account
        return await self.call(self.meetings.join_authenticated, room, account.id)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.sign_in.close()
