"""Channel messages under Discord's per-route rate limits: reveals always arrive, decoration gives way.

discord.py already paces each route bucket from the X-RateLimit headers and
retries a 429 a few times, but after its fifth 429 it raises and the message
is gone. A reveal (or an order's ending) must not be lost that way, so
`must` keeps retrying after `retry_after` for as long as it takes (within
`give_up_after_s`). A rolling step is decoration: `maybe` sends it only when
nothing that matters is waiting on the same channel and the channel is not
cooling down after a 429, and otherwise skips it.

Everything runs in the task that asks (the command's own task), never in the
path that acknowledges interactions, so a busy channel slows its reveals
down, not the bot's answers to anyone else.

A send whose caller gives up (the service's reveal timeout, a caller that left) is not cancelled: it runs to its
own end, bounded by discord.py's own pacing and timeouts. discord.py's webhook adapter leaves its per-interaction
lock held when a request is cancelled in the pause after an answer that spent the route's bucket, and later
requests on that interaction can then wait for ever.

At a stop, `close` gives what is in flight a grace period, then every `must`
still waiting (a 429's wait, a request discord.py holds for its bucket) ends
with `OutboxClosed`, and so does any `must` after it: the caller keeps what
did not go out (a reveal is stored and posted after the restart, reveal.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import discord

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_RETRY_S = 1.0
PRUNE_AT = 10_000


class OutboxClosed(RuntimeError):
    """The bot is stopping: this send did not go out (and will not from this process)."""


class Outbox:
    """Sends per channel: `must` (retried through 429s up to give_up_after_s) and `maybe` (skipped when the channel is
    busy). `retries` and `skipped` count what happened, for metrics and tests."""

    def __init__(self, *, give_up_after_s: float = 15 * 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._give_up_after_s = give_up_after_s
        self._clock = clock
        self._closed = asyncio.Event()
        self._pending: defaultdict[int, int] = defaultdict(int)  # channel id -> `must` sends in flight
        self._cool_until: dict[int, float] = {}  # channel id -> end of its last 429's wait
        self.retries = 0  # 429s waited out here, for metrics and tests
        self.skipped = 0  # decoration left out because the channel was busy
        self._orphans: set[asyncio.Future[Any]] = set()  # sends whose caller gave up, running to their end

    def busy(self, channel_id: int) -> bool:
        """True while a `must` send is in flight on the channel or it is cooling down after a 429."""
        return self._pending.get(channel_id, 0) > 0 or self._cool_until.get(channel_id, 0.0) > self._clock()

    @property
    def closed(self) -> bool:
        """True once close has begun: a `must` from then on raises OutboxClosed, a `maybe` is skipped."""
        return self._closed.is_set()

    def pending(self) -> int:
        """`must` sends in flight or waiting, over every channel."""
        return sum(self._pending.values())

    async def close(self, grace_s: float) -> None:
        """Let sends in flight finish for up to `grace_s`, then end every one still waiting with OutboxClosed."""
        await self._idle(grace_s)
        self._closed.set()
        await self._idle(grace_s)  # the ones woken unwind (their callers keep what did not go out)
        for orphan in list(self._orphans):  # the bot is going: nothing later waits on their interactions
            orphan.cancel()

    async def _idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def _unless_closed(self, step: Awaitable[T]) -> T:
        """Await `step`, or raise OutboxClosed (cancelling it) as soon as the outbox closes. When the caller is
        cancelled, `step` is left to run to its end (module docstring) and the cancel goes on up."""
        task = asyncio.ensure_future(step)
        closing = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({task, closing}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            if not task.done():
                self._orphans.add(task)
                task.add_done_callback(self._orphan_done)
            raise
        finally:
            closing.cancel()
        if not task.done():  # the outbox closed first
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if task.cancelled():
            raise OutboxClosed("the bot is stopping")
        return task.result()

    def _orphan_done(self, task: asyncio.Future[Any]) -> None:
        self._orphans.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.info("a send whose caller gave up failed: %s", type(task.exception()).__name__)

    async def must(self, channel_id: int, send: Callable[[], Awaitable[T]]) -> T:
        """Send until Discord takes it: a 429 waits its retry_after and tries again; other errors propagate.
        OutboxClosed once the bot is stopping (close): the send did not go out."""
        if self.closed:
            raise OutboxClosed("the bot is stopping")
        self._pending[channel_id] += 1
        deadline = self._clock() + self._give_up_after_s
        try:
            while True:
                try:
                    return await self._unless_closed(send())
                except discord.RateLimited as exc:
                    wait = exc.retry_after
                except discord.HTTPException as exc:
                    if exc.status != 429:
                        raise
                    wait = retry_after(exc)
                if self._clock() + wait > deadline:
                    raise TimeoutError(f"channel {channel_id} stayed rate-limited for {self._give_up_after_s:.0f} s")
                self.retries += 1
                self._cool(channel_id, wait)
                log.info("channel %s rate-limited: retrying in %.2f s", channel_id, wait)
                await self._unless_closed(asyncio.sleep(wait))
        finally:
            self._pending[channel_id] -= 1
            if not self._pending[channel_id]:
                del self._pending[channel_id]

    def _cool(self, channel_id: int, wait: float) -> None:
        now = self._clock()
        if len(self._cool_until) > PRUNE_AT:  # bounded: forget channels whose wait is over
            self._cool_until = {c: t for c, t in self._cool_until.items() if t > now}
        self._cool_until[channel_id] = max(self._cool_until.get(channel_id, 0.0), now + wait)

    async def maybe(self, channel_id: int, send: Callable[[], Awaitable[object]]) -> bool:
        """Send decoration unless the channel is busy; a refusal of any kind only skips it. True when sent."""
        if self.busy(channel_id) or self.closed:
            self.skipped += 1
            return False
        try:
            await self._unless_closed(send())
        except OutboxClosed:
            self.skipped += 1
            return False
        except discord.RateLimited as exc:
            self._cool(channel_id, exc.retry_after)
            self.skipped += 1
            return False
        except discord.HTTPException as exc:
            if exc.status == 429:
                self._cool(channel_id, retry_after(exc))
            self.skipped += 1
            return False
        return True


def retry_after(exc: discord.HTTPException) -> float:
    """The wait a 429 asked for (Retry-After header), or a second when it did not say."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        return max(0.0, float(headers.get("Retry-After", DEFAULT_RETRY_S)))
    except (TypeError, ValueError):
        return DEFAULT_RETRY_S
