"""Outgoing messages, queued per chat and paced to Telegram's limits, never dropping a reveal.

Telegram allows about 20 messages a minute in a group and about 30 a second
overall; past that it answers 429 with `retry_after`. A handler hands its message
to the chat's queue and goes on (`post`), or waits for the sent Message when it
needs its id (`call`). Each chat has one worker task, alive only while its queue
holds work, so a busy group delays only itself. A reveal that has to wait is
sent late; when several reveals wait in one busy group they are folded into
digest messages ("3 more pulls: …"), as many lines as one message holds, rather
than dropped.

What a group would lose at a stop is handed to a `Keeper` (`keep=`, or a reveal's
digest line): a message that has to wait in a group is kept as soon as it is
queued, so it survives a hard kill too, and forgotten once it went out; whatever
is still queued when the outbox closes (the bot stopping), or posted after that,
is kept then. The front end stores what is kept and posts it after the restart
(bot/frontends/telegram/kept.py). Key deliveries are never kept: an undelivered
key waits in the vault.

Pacing: each send is counted in its chat's window when it starts and counted
again at the moment Telegram's answer arrives, which is no earlier than Telegram
saw it: a send that was slow to arrive cannot make the next one look early to
Telegram (a 429 that the bot's own count did not predict).

A group's budget is shared fairly: reveals go first, then whoever has waited
longest since the bot last answered them (`owner`), first come first served
within one person. So one person sending fifty commands a second delays only
their own answers. A notice that only matters for a while (a cooldown's "slow
down") carries `stale_after_s` and is dropped once stale, and one person's
notices with the same `fold_key` are folded into the newest: these are the only
messages ever dropped. An `urgent` message (an admin's /config answer) goes
before everything else waiting in its chat.
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
from typing import Any, Protocol

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.frontends.telegram.text_size import lines_in_one_digest

log = logging.getLogger(__name__)

Send = Callable[[], Awaitable[Any]]
DigestSender = Callable[[int, list[str]], Awaitable[Any]]


def retry_after_s(err: RetryAfter) -> float:
    """The seconds a 429 asks us to wait, whether python-telegram-bot gives them as a number or a timedelta."""
    with warnings.catch_warnings():  # PTB 22 warns that retry_after will become a timedelta
        warnings.simplefilter("ignore")
        value = err.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class SlidingWindow:
    """At most `limit` events in any `window_s` seconds. An event may be moved later (`settle`): a send counts
    from when Telegram's answer came back, the latest moment Telegram can have counted it."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._times: list[list[float]] = []  # one cell per event, so that `settle` can move it; at most `limit`-ish

    def _prune(self, now: float) -> None:
        self._times = [cell for cell in self._times if cell[0] > now - self.window_s]

    def wait_s(self) -> float:
        """Seconds until one more event fits in the window; 0 when it fits now."""
        now = self._clock()
        self._prune(now)
        if len(self._times) < self.limit:
            return 0.0
        return min(cell[0] for cell in self._times) + self.window_s - now

    def free(self) -> int:
        """How many more events fit in the window now."""
        self._prune(self._clock())
        return max(0, self.limit - len(self._times))

    def record(self) -> list[float]:
        """Count one event now; returns its cell, for `settle` to move later."""
        cell = [self._clock()]
        self._times.append(cell)
        return cell

    def settle(self, cell: list[float]) -> None:
        """The event happened no earlier than now (its answer just came back)."""
        cell[0] = max(cell[0], self._clock())

    def idle(self) -> bool:
        """True when no event is left in the window."""
        self._prune(self._clock())
        return not self._times


@dataclass(eq=False)
class Kept:
    """A message the outbox may have to keep for after a stop: a reveal's digest line (`kind` "reveal") or a
    whole message (`kind` "message", `text` as the front end encodes it). `row` is the keeper's own mark."""

    chat_id: int
    kind: str
    text: str
    row: object = None
    waiting: bool = False  # handed to the keeper (and not yet forgotten)


class Keeper(Protocol):
    """Where kept messages go. Both calls return at once (a keeper that writes to a database queues the write)."""

    def keep(self, kept: Kept) -> None:
        """It waits (or the outbox closed before it went): keep it to post after a restart."""

    def forget(self, kept: Kept) -> None:
        """It went out, or its chat refuses it for good: no longer kept."""


class UnsentKeeper:
    """Keeps in memory: what is left in `kept` when the outbox closes is what the front end must store."""

    def __init__(self) -> None:
        self.kept: dict[int, Kept] = {}

    def keep(self, kept: Kept) -> None:
        """Hold `kept` until it is forgotten."""
        self.kept[id(kept)] = kept

    def forget(self, kept: Kept) -> None:
        """Drop `kept`; nothing happens when it is not held."""
        self.kept.pop(id(kept), None)

    @property
    def unsent(self) -> dict[int, list[str]]:
        """Chat id -> the digest lines of reveals kept, in the order they were kept."""
        lines: dict[int, list[str]] = {}
        for kept in self.kept.values():
            if kept.kind == "reveal":
                lines.setdefault(kept.chat_id, []).append(kept.text)
        return lines


@dataclass
class _Item:
    send: Send
    future: asyncio.Future[Any]
    digest_line: str | None = None  # set for a reveal: what it becomes inside a digest
    must_deliver: bool = False  # retried through 429s until it goes (reveals, final edits)
    owner: int | None = None  # the person it answers: a group's budget is shared fairly between people
    expires_at: float | None = None  # a notice that is pointless after this (on the outbox's clock): dropped
    fold_key: object = None  # a newer item with the same key replaces this one while it waits
    best_effort: bool = False  # tried once: a 429 drops it (a progress edit the next one supersedes)
    keep: Kept | None = None  # what to keep of it if it cannot go before a stop (None: nothing)
    urgent: bool = False  # goes before everything else waiting in its chat


@dataclass(frozen=True)
class OutboxLimits:
    """Telegram's pace, as the outbox keeps to it: per-group and overall budgets, retries on 429, digest sizes."""

    group_messages: int = 20  # per group ...
    group_window_s: float = 60.0  # ... per this many seconds
    overall_per_s: int = 30  # all chats together, per second
    fold_after: int = 2  # reveals waiting in one busy group before they become a digest
    retries: int = 8  # 429 retries for ordinary messages (off the handlers' path: cheap to wait)
    must_retries: int = 20  # ... and for reveals and final edits
    max_retry_wait_s: float = 120.0
    digest_chars: int = 3600  # digest lines per message, in UTF-16 units (Telegram's 4096 with the title)


@dataclass
class Outbox:
    """Per-chat queues of sends paced to `limits`, each drained by its own worker task while it holds work.

    `digest` sends a busy group's folded reveals as one message; `keeper` is told what to keep for after a stop.
    Once `close` ran, every post fails at once (what it carries is kept). See the module docstring for the order."""

    digest: DigestSender
    limits: OutboxLimits = field(default_factory=OutboxLimits)
    clock: Callable[[], float] = time.monotonic
    keeper: Keeper = field(default_factory=UnsentKeeper)

    def __post_init__(self) -> None:
        self._queues: dict[int, deque[_Item]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._groups: dict[int, SlidingWindow] = {}
        self._answered: dict[
            tuple[int, int | None], float
        ] = {}  # (chat, person) -> when the bot last answered them there
        self._overall = SlidingWindow(self.limits.overall_per_s, 1.0, self.clock)
        self.folded = 0  # reveals that went out inside a digest
        self.dropped_at_close = 0  # messages nothing could keep (a /card picture) that a stop left unsent
        self.closed = False

    # ---- what handlers call ------------------------------------------------------

    def post(
        self,
        chat_id: int,
        send: Send,
        *,
        digest_line: str | None = None,
        must_deliver: bool = False,
        owner: int | None = None,
        stale_after_s: float | None = None,
        fold_key: object = None,
        best_effort: bool = False,
        keep: Kept | None = None,
        urgent: bool = False,
    ) -> asyncio.Future[Any]:
        """Queue send() for chat_id and return at once; the future holds its result (or error; None when a
        notice went stale or was folded into a newer one before it could go). A reveal's `digest_line` is
        also what is kept of it, unless `keep` says otherwise."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_consume)
        if keep is None and digest_line is not None:
            keep = Kept(chat_id, "reveal", digest_line)
        if self.closed:  # stopping: fail at once, so no handler waits on a message that will never go
            self._keep(keep)
            future.set_exception(NetworkError("the bot is stopping"))
            return future
        expires_at = None if stale_after_s is None else self.clock() + stale_after_s
        item = _Item(
            send,
            future,
            digest_line,
            must_deliver or digest_line is not None,
            owner,
            expires_at,
            fold_key,
            best_effort,
            keep,
            urgent,
        )
        queue = self._queues.setdefault(chat_id, deque())
        window = self._window(chat_id)
        if window is not None and (queue or chat_id in self._workers or window.wait_s() > 0):
            self._keep(keep)  # it waits behind the group's limit: kept now, so even a hard kill does not lose it
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
        """How many sends still wait in the queues, over all chats (one taken for sending no longer counts)."""
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
        What can be kept of it is handed to the keeper; the rest is counted in `dropped_at_close`."""
        self.closed = True
        for task in list(self._workers.values()):
            task.cancel()
        for task in list(self._workers.values()):
            try:
                await task
            except asyncio.CancelledError:
                pass
        for queue in self._queues.values():
            for item in queue:
                self._keep_at_close(item)
                _fail(item.future, NetworkError("the bot is stopping"))
        self._queues.clear()
        self._workers.clear()

    def _keep(self, kept: Kept | None) -> None:
        if kept is not None and not kept.waiting:
            kept.waiting = True
            self.keeper.keep(kept)

    def _keep_at_close(self, item: _Item) -> None:
        if item.keep is not None:
            self._keep(item.keep)
        elif not item.best_effort and item.expires_at is None and not item.future.done():
            self.dropped_at_close += 1  # a progress edit or a cooldown notice is no loss; anything else is counted

    def _went(self, item: _Item) -> None:
        """The item's send is over: forget what was kept of it, unless it may still have to go (the outbox
        closing, a network failure, 429s past their retries): that stays kept for after the restart."""
        kept = item.keep
        if kept is None or not kept.waiting or not item.future.done() or item.future.cancelled():
            return
        error = item.future.exception()
        if error is None or isinstance(error, (BadRequest, Forbidden)):
            kept.waiting = False
            self.keeper.forget(kept)

    # ---- the worker ------------------------------------------------------------------

    def _window(self, chat_id: int) -> SlidingWindow | None:
        if chat_id >= 0:
            return None  # private chats: only the overall budget (and Telegram's 429s) apply
        window = self._groups.get(chat_id)
        if window is None:
            window = self._groups[chat_id] = SlidingWindow(
                self.limits.group_messages, self.limits.group_window_s, self.clock
            )
        return window

    async def _until_free(self, chat_id: int) -> None:
        """Wait until this chat may send (its group's window and the overall budget), recording nothing."""
        window = self._window(chat_id)
        while True:
            wait = max(window.wait_s() if window is not None else 0.0, self._overall.wait_s())
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    async def _permit(self, chat_id: int) -> Callable[[], None]:
        """Wait for room, count the send, and return what to call when Telegram's answer has come back."""
        await self._until_free(chat_id)
        window = self._window(chat_id)
        counted = [(window, window.record())] if window is not None else []
        counted.append((self._overall, self._overall.record()))

        def settle() -> None:
            for which, cell in counted:
                which.settle(cell)

        return settle

    def _take_next(self, chat_id: int, queue: deque[_Item]) -> _Item | None:
        """The next message for this chat, off the queue: stale notices dropped first; in a group, a reveal,
        else the earliest message of the person answered least recently (None when only stale ones were left)."""
        now = self.clock()
        for stale in [item for item in queue if item.expires_at is not None and item.expires_at <= now]:
            queue.remove(stale)
            _settle_dropped(stale.future)
        if not queue:
            return None
        chosen = next((item for item in queue if item.urgent), queue[0])
        if self._window(chat_id) is not None and chosen.digest_line is None and not chosen.urgent:
            chosen = next((item for item in queue if item.digest_line is not None), None) or min(
                queue, key=lambda item: self._answered.get((chat_id, item.owner), 0.0)
            )  # min: the first of equals
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
                    in_flight = self._take_digest(queue)
                    await self._send_folded(chat_id, in_flight)
                else:
                    await self._until_free(chat_id)  # choose what goes only once it can go: fair, and never stale
                    chosen = self._take_next(chat_id, queue)
                    if chosen is None:
                        continue
                    in_flight = [chosen]
                    await self._send(chat_id, chosen)
                    self._went(chosen)
                in_flight = []
        except asyncio.CancelledError:
            # In flight at the stop: it may or may not have reached Telegram. It is kept to post again (seen
            # twice at worst, never lost).
            for item in in_flight:
                self._keep_at_close(item)
                _fail(item.future, NetworkError("the bot is stopping"))
            raise
        finally:
            self._workers.pop(chat_id, None)
            if not queue:
                self._queues.pop(chat_id, None)
            self._forget_idle_windows()

    def _take_digest(self, queue: deque[_Item]) -> list[_Item]:
        """The waiting reveals that fit one digest message, off the queue (oldest first)."""
        reveals = [item for item in queue if item.digest_line is not None]
        folded = reveals[: lines_in_one_digest([item.digest_line or "" for item in reveals], self.limits.digest_chars)]
        for item in folded:
            queue.remove(item)
        return folded

    async def _send_folded(self, chat_id: int, folded: list[_Item]) -> None:
        lines = [item.digest_line or "" for item in folded]

        def send() -> Awaitable[Any]:
            return self.digest(chat_id, lines)

        digest = _Item(send, asyncio.get_running_loop().create_future(), None, True)
        await self._send(chat_id, digest)
        self.folded += len(folded)
        for original in folded:
            _settle_like(original.future, digest.future)
            self._went(original)

    async def _send(self, chat_id: int, item: _Item) -> None:
        # Waiting out a 429 holds the chat's queue: only what must arrive (or an ordinary answer) waits; a
        # best-effort message gives up at once rather than delay everything behind it.
        attempts = self.limits.must_retries if item.must_deliver else 0 if item.best_effort else self.limits.retries
        for attempt in range(attempts + 1):
            settle = await self._permit(chat_id)
            try:
                try:
                    result = await item.send()
                finally:
                    settle()
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
    elif (err := source.exception()) is not None:
        target.set_exception(err)
    else:
        target.set_result(source.result())
