"""One Telegram pull's choreography: rolling, the reveal, the private key, in the order the group sees them.

The rules (each one is a branch below, and a test in tests/telegram/test_reveal.py):

1. The grind ends (the service calls `on_reveal` with the stored result): the pull's slot is given back
   and the suspense (the rolling steps, "typing…") stops. What is left is sending, which waits on
   Telegram's pace, not on the CPU.
2. In a private chat, a reveal without a card is held to head the key's own message: one message, not
   two, under Telegram's 30 a second. If no key message carried it (the delivery never came or failed),
   it goes on its own after the pull.
3. In a group with room for a message now, the reveal is posted and the DM waits for it (at most
   `wait_s`): the group sees the pull before its owner gets the key.
4. In a group at its message limit, the reveal is queued (sent late or folded into a digest; the outbox
   keeps it across a stop or a kill) and the DM goes at once: waiting would hold the pull for the
   group's pace.
5. In a private chat, a card (a photo, which cannot carry the key) is posted and the DM follows in the
   same chat's queue, which keeps their order: no wait.
6. A service that never called `on_reveal`: the DM went already; the reveal is posted after the pull.
7. A pull that fails takes its held reveal back: it never rides on another message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from telegram.error import TelegramError

from bot.answers import PullAnswer

# Queues the reveal (before_delivery: whether the key is still to come); the future settles once it is out.
PostReveal = Callable[[PullAnswer, bool], "asyncio.Future[Any]"]


@dataclass
class RevealPorts:
    """What the choreography needs from the front end: how to post, hold and take back a reveal, and
    whether the chat may send a message now."""

    post: PostReveal
    hold: Callable[[PullAnswer], None]  # keep the reveal to head the key's own message
    take_held: Callable[[str], bool]  # by job id: True when it was still held (no DM carried it)
    has_room: Callable[[], bool]  # the chat may send a message now, without waiting


@dataclass
class PullReveal:
    """The order of one pull's messages (see the module's rules); one object per pull."""

    ports: RevealPorts
    in_group: bool
    wait_s: float
    _held: list[str] = field(default_factory=list)
    _revealed: bool = False
    _release: Callable[[], None] | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def start(self, suspense: Coroutine[Any, Any, None]) -> None:
        """Run a piece of suspense (the rolling steps, "typing…") until the grind ends (rule 1)."""
        self._tasks.append(asyncio.ensure_future(suspense))

    @asynccontextmanager
    async def grinding(self, release: Callable[[], None]) -> AsyncIterator[None]:
        """Around the service's pull: `release` gives the pull's slot back once the grind ends; on a failure
        the held reveal is taken back (rule 7); either way the suspense stops."""
        self._release = release
        try:
            yield
        except BaseException:
            for job_id in self._held:
                self.ports.take_held(job_id)
            self._held.clear()
            raise
        finally:
            self._end_grind()

    async def on_reveal(self, answer: PullAnswer) -> None:
        """The service's hook: the result is stored and the DM waits until this returns."""
        self._end_grind()
        if not self.in_group and not answer.card_png:  # rule 2
            self.ports.hold(answer)
            self._held.append(answer.job_id)
            return
        must_wait = self.in_group and self.ports.has_room()  # rule 3 (else rule 4 or 5)
        posted = self.ports.post(answer, True)
        self._revealed = True
        if not must_wait:
            return
        try:
            await asyncio.wait_for(asyncio.shield(posted), self.wait_s)
        except (TimeoutError, TelegramError):
            pass  # late or refused: the key goes all the same

    def after_pull(self, answer: PullAnswer) -> None:
        """The pull returned (its DM tried): queue what is still owed."""
        if self._held:
            job_id = self._held.pop()
            if self.ports.take_held(job_id) or not answer.delivered:  # rule 2: no key message carried it
                self.ports.post(answer, False)
        elif not self._revealed:  # rule 6
            self.ports.post(answer, False)

    def _end_grind(self) -> None:
        if self._release is not None:
            self._release()
            self._release = None
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
