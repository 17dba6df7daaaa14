"""Outgoing messages, queued per chat and paced to Telegram's limits, never dropping a reveal.

Telegram allows about 20 messages a minute in a group and about 30 a second
overall; past that it answers 429 with `retry_after`. A handler hands its message
to the chat's queue and goes on (`post`), or waits for the sent Message when it
needs its id (`call`). Each chat has one worker task, alive only while its queue
holds work, so a busy group delays only itself. A reveal that has to wait is
sent late; when several reveals wait in one busy group they are folded into
digest messages ("3 more pulls: …"), as many lines as one message holds, rather
than dropped. A reveal still waiting when the outbox closes (the bot stopping),
or posted after that, is kept in `unsent` for the front end to store and post
after the restart.

A group's budget is shared fairly: reveals go first, then whoever has waited
longest since the bot last answered them (`owner`), first come first served
within one person. So one person sending fifty commands a second delays only
their own answers. A notice that only matters for a while (a cooldown's "slow
down") carries `stale_after_s` and is dropped once stale, and one person's
notices with the same `fold_key` are folded into the newest: these are the only
messages ever dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from telegram.error import NetworkError, RetryAfter, TelegramError

from bot.frontends.telegram.text_size import lines_in_one_digest

log = logging.getLogger(__name__)

Send = Callable[[], Awaitable[Any]]
DigestSender = Callable[[int, list[str]], Awaitable[Any]]


def retry_after_s(err: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that retry_after will become a timedelta
        warnings.simplefilter("ignore")
        value = err.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class SlidingWindow:
    """At most `limit` events in any `window_s` seconds."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._times: deque[float] = deque()

    def _prune(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window_s:
            self._times.popleft()

    def wait_s(self) -> float:
        now = self._clock()
        self._prune(now)
        if len(self._times) < self.limit:
            return 0.0
        return self._times[0] + self.window_s - now

    def free(self) -> int:
        self._prune(self._clock())
        return max(0, self.limit - len(self._times))

    def record(self) -> None:
        self._times.append(self._clock())

    def idle(self) -> bool:
        self._prune(self._clock())
        return not self._times


@dataclass
class _Item:
    send: Send
    future: asyncio.Future[Any]
    digest_line: str | None = None  # set for a reveal: what it becomes inside a digest
    must_deliver: bool = False      # retried through 429s until it goes (reveals, final edits)
    owner: int | None = None        # the person it answers: a group's budget is shared fairly between people
    expires_at: float | None = None  # a notice that is pointless after this (on the outbox's clock): dropped
    fold_key: object = None         # a newer item with the same key replaces this one while it waits
    best_effort: bool = False       # tried once: a 429 drops it (a progress edit the next one supersedes)


@dataclass(frozen=True)
class OutboxLimits:
    group_messages: int = 20       # per group ...
    group_window_s: float = 60.0   # ... per this many seconds
    overall_per_s: int = 30        # all chats together, per second
    fold_after: int = 2            # reveals waiting in one busy group before they become a digest
    retries: int = 8               # 429 retries for ordinary messages (off the handlers' path: cheap to wait)
    must_retries: int = 20         # ... and for reveals and final edits
    max_retry_wait_s: float = 120.0
    digest_chars: int = 3600       # digest lines per message, in UTF-16 units (Telegram's 4096 with the title)


@dataclass
class Outbox:
    digest: DigestSender
    limits: OutboxLimits = field(default_factory=OutboxLimits)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._queues: dict[int, deque[_Item]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._groups: dict[int, SlidingWindow] = {}
        self._answered: dict[tuple[int, int | None], float] = {}  # (chat, person) -> when the bot last answered them there
        self._overall = SlidingWindow(self.limits.overall_per_s, 1.0, self.clock)
        self.folded = 0  # reveals that went out inside a digest
        self.closed = False
        self.unsent: dict[int, list[str]] = {}  # chat id -> digest lines of reveals that never went out

    # ---- what handlers call ------------------------------------------------------

    def post(self, chat_id: int, send: Send, *, digest_line: str | None = None, must_deliver: bool = False,
             owner: int | None = None, stale_after_s: float | None = None, fold_key: object = None,
             best_effort: bool = False) -> asyncio.Future[Any]:
        """Queue send() for chat_id and return at once; the future holds its result (or error; None when a
        notice went stale or was folded into a newer one before it could go)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_consume)
        if self.closed:  # stopping: fail at once, so no handler waits on a message that will never go
            if digest_line is not None:
                self._keep_unsent(chat_id, [digest_line])
            future.set_exception(NetworkError("the bot is stopping"))
            return future
        expires_at = None if stale_after_s is None else self.clock() + stale_after_s
        item = _Item(send, future, digest_line, must_deliver or digest_line is not None, owner, expires_at, fold_key,
                     best_effort)
        queue = self._queues.setdefault(chat_id, deque())
        if fold_key is not None:
            for index, waiting in enumerate(queue):
                if waiting.fold_key == fold_key:  # the newer notice takes the older one's place in the queue
                    queue[index] = item
                    _settle_dropped(waiting.future)
                    break
            else:
                queue.append(item)
        else:
            queue.append(item)
        if chat_id not in self._workers:
            task = asyncio.get_running_loop().create_task(self._drain(chat_id))
            self._workers[chat_id] = task
        return future

    async def call(self, chat_id: int, send: Send, **kwargs: Any) -> Any:
        """Queue send() and wait for its result."""
        return await asyncio.shield(self.post(chat_id, send, **kwargs))

    def free_in(self, chat_id: int) -> int:
        """How many messages this chat may send now without waiting (groups; others: the overall budget)."""
        pending = len(self._queues.get(chat_id, ()))
        window = self._window(chat_id)
        room = window.free() if window is not None else self._overall.free()
        return max(0, room - pending)

    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def tracked_chats(self) -> int:
        """Chats with any state held (queues, workers, windows): bounded by recent activity."""
        return len(set(self._queues) | set(self._workers) | set(self._groups))

    async def idle(self, timeout: float = 30.0) -> None:
        """Wait until every queue is empty (tests, shutdown)."""
        deadline = self.clock() + timeout
        while self._workers and self.clock() < deadline:
            await asyncio.wait(list(self._workers.values()), timeout=max(0.0, deadline - self.clock()))

    async def close(self) -> None:
        """Stop sending: whatever is still queued fails with NetworkError (a TelegramError), so a handler
        waiting on it goes on at once (a key delivery then answers False and the key stays in the vault).
        Reveals among it are kept in `unsent`."""
        self.closed = True
        for task in list(self._workers.values()):
            task.cancel()
        for task in list(self._workers.values()):
            try:
                await task
            except asyncio.CancelledError:
                pass
        for chat_id, queue in self._queues.items():
            self._keep_unsent(chat_id, [item.digest_line for item in queue if item.digest_line is not None])
            for item in queue:
                _fail(item.future, NetworkError("the bot is stopping"))
        self._queues.clear()
        self._workers.clear()

    def _keep_unsent(self, chat_id: int, lines: list[str]) -> None:
        if lines:
            self.unsent.setdefault(chat_id, []).extend(lines)

    # ---- the worker ------------------------------------------------------------------

    def _window(self, chat_id: int) -> SlidingWindow | None:
        if chat_id >= 0:
            return None  # private chats: only the overall budget (and Telegram's 429s) apply
        window = self._groups.get(chat_id)
        if window is None:
            window = self._groups[chat_id] = SlidingWindow(self.limits.group_messages, self.limits.group_window_s,
                                                           self.clock)
        return window

    async def _until_free(self, chat_id: int) -> None:
        """Wait until this chat may send (its group's window and the overall budget), recording nothing."""
        window = self._window(chat_id)
        while True:
            wait = max(window.wait_s() if window is not None else 0.0, self._overall.wait_s())
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    async def _permit(self, chat_id: int) -> None:
        await self._until_free(chat_id)
        window = self._window(chat_id)
        if window is not None:
            window.record()
        self._overall.record()

    def _take_next(self, chat_id: int, queue: deque[_Item]) -> _Item | None:
        """The next message for this chat, off the queue: stale notices dropped first; in a group, a reveal,
        else the earliest message of the person answered least recently (None when only stale ones were left)."""
        now = self.clock()
        for stale in [item for item in queue if item.expires_at is not None and item.expires_at <= now]:
            queue.remove(stale)
            _settle_dropped(stale.future)
        if not queue:
            return None
        chosen = queue[0]
        if self._window(chat_id) is not None and chosen.digest_line is None:
            chosen = next((item for item in queue if item.digest_line is not None), None) or min(
                queue, key=lambda item: self._answered.get((chat_id, item.owner), 0.0))  # min: the first of equals
        queue.remove(chosen)
        if len(self._answered) > 4096:  # bounded: forgetting who was answered only costs a little fairness
            self._answered.clear()
        self._answered[(chat_id, chosen.owner)] = now
        return chosen

    def _should_fold(self, chat_id: int, queue: deque[_Item]) -> bool:
        window = self._window(chat_id)
        if window is None or window.wait_s() <= 0:
            return False
        return sum(1 for item in queue if item.digest_line is not None) >= self.limits.fold_after

    async def _drain(self, chat_id: int) -> None:
        queue = self._queues[chat_id]
        in_flight: list[_Item] = []  # taken off the queue: failed here if the worker is cancelled (close)
        try:
            while queue:
                if self._should_fold(chat_id, queue):
                    reveals = [item for item in queue if item.digest_line is not None]
                    folded = reveals[:lines_in_one_digest([item.digest_line or "" for item in reveals],
                                                          self.limits.digest_chars)]
                    for item in folded:
                        queue.remove(item)
                    in_flight = folded
                    lines = [item.digest_line or "" for item in folded]
                    item = _Item(lambda lines=lines: self.digest(chat_id, lines), asyncio.get_running_loop().create_future(),
                                 None, True)
                    await self._send(chat_id, item)
                    self.folded += len(folded)
                    for original in folded:
                        _settle_like(original.future, item.future)
                    in_flight = []
                    continue
                await self._until_free(chat_id)  # choose what goes only once it can go: fair, and never stale
                item = self._take_next(chat_id, queue)
                if item is None:
                    continue
                in_flight = [item]
                await self._send(chat_id, item)
                in_flight = []
        except asyncio.CancelledError:
            # In flight at the stop: it may or may not have reached Telegram. A reveal is kept to post again
            # (seen twice at worst, never lost).
            self._keep_unsent(chat_id, [item.digest_line for item in in_flight if item.digest_line is not None])
            for item in in_flight:
                _fail(item.future, NetworkError("the bot is stopping"))
            raise
        finally:
            self._workers.pop(chat_id, None)
            if not queue:
                self._queues.pop(chat_id, None)
            self._forget_idle_windows()

    async def _send(self, chat_id: int, item: _Item) -> None:
        # Waiting out a 429 holds the chat's queue: only what must arrive (or an ordinary answer) waits; a
        # best-effort message gives up at once rather than delay everything behind it.
        attempts = (self.limits.must_retries if item.must_deliver else 0 if item.best_effort
                    else self.limits.retries)
        for attempt in range(attempts + 1):
            await self._permit(chat_id)
            try:
                result = await item.send()
            except RetryAfter as err:
                wait = retry_after_s(err)
                if attempt == attempts or wait > self.limits.max_retry_wait_s:
                    _fail(item.future, err)
                    return
                log.info("429 in chat %s: retrying in %.1f s", chat_id, wait)
                await asyncio.sleep(wait)
                continue
            except TelegramError as err:
                _fail(item.future, err)
                return
            except Exception as err:  # a bug in a send callable must not kill the chat's worker
                log.exception("outgoing message failed")
                _fail(item.future, err)
                return
            if not item.future.done():
                item.future.set_result(result)
            return

    def _forget_idle_windows(self) -> None:
        if len(self._groups) > 256:
            for chat_id in [c for c, w in self._groups.items() if c not in self._workers and w.idle()]:
                del self._groups[chat_id]


def _consume(future: asyncio.Future[Any]) -> None:
    """Nobody may wait on a posted message: read its exception so asyncio does not log it as lost."""
    if not future.cancelled():
        future.exception()


def _settle_dropped(future: asyncio.Future[Any]) -> None:
    """A notice that went stale or was folded into a newer one: it is done, and nothing was sent."""
    if not future.done():
        future.set_result(None)


def _fail(future: asyncio.Future[Any], err: BaseException) -> None:
    if not future.done():
        future.set_exception(err)


def _settle_like(target: asyncio.Future[Any], source: asyncio.Future[Any]) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())  # type: ignore[arg-type]
    else:
        target.set_result(source.result())
