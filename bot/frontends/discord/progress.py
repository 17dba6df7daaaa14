"""Order progress edits under a channel's rate limit: only the newest per message, spaced, after what matters.

Each order reports progress every couple of seconds, and many orders may sit in
one channel, which shares one bucket (5 edits or posts per 5 s) with the
reveals. A progress edit is droppable (only the newest is worth showing), so
`offer` only records it, replacing any older edit still waiting for the same
message, and returns at once (the grinder that reports it never waits on
Discord). One drainer per channel sends the waiting edits oldest message
first, one at a time, at most one every `gap_s`, and only while the outbox has
no reveal or order ending in flight on that channel and the channel is not
cooling down after a 429. An order's ending calls `settle` first: its waiting
progress is dropped and a progress edit already in flight is waited out, so the
ending is always the last edit the message gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from bot.frontends.discord.outbox import Outbox

log = logging.getLogger(__name__)

BUSY_POLL_S = 0.1  # how often a drainer looks again at a channel busy with reveals


class ProgressEdits:
    """The order progress edits waiting per channel and their drainers (module docstring); `sent`, `replaced` and
    `dropped` count the outcomes, for tests and metrics."""

    def __init__(self, outbox: Outbox, *, gap_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._outbox = outbox
        self._gap_s = gap_s
        self._clock = clock
        self._waiting: dict[int, OrderedDict[int, Callable[[], Awaitable[object]]]] = {}  # channel -> message -> edit
        self._next_at: dict[int, float] = {}  # channel -> earliest time of its next progress edit
        self._in_flight: dict[tuple[int, int], asyncio.Event] = {}
        self._drainers: dict[int, asyncio.Task[None]] = {}
        self.sent = 0  # progress edits Discord took
        self.replaced = 0  # progress edits dropped for a newer one of the same message
        self.dropped = 0  # progress edits refused (429, channel busy) or cut short by the order's ending

    def offer(self, channel_id: int, message_id: int, edit: Callable[[], Awaitable[object]]) -> None:
        """Show this progress when the channel allows; an older edit still waiting for the message is dropped."""
        waiting = self._waiting.setdefault(channel_id, OrderedDict())
        if message_id in waiting:
            self.replaced += 1  # keeps its place in the line: every order's message gets its turn
        waiting[message_id] = edit
        if channel_id not in self._drainers:
            task = asyncio.create_task(self._drain(channel_id), name=f"progress-{channel_id}")
            self._drainers[channel_id] = task

    async def settle(self, channel_id: int, message_id: int) -> None:
        """Before a message's last edit: drop its waiting progress and wait out the one in flight, if any."""
        waiting = self._waiting.get(channel_id)
        if waiting is not None and waiting.pop(message_id, None) is not None:
            self.dropped += 1
        in_flight = self._in_flight.get((channel_id, message_id))
        if in_flight is not None:
            await in_flight.wait()

    def waiting(self) -> int:
        """Progress edits not yet sent, over all channels (for tests and metrics)."""
        return sum(len(w) for w in self._waiting.values()) + len(self._in_flight)

    async def close(self) -> None:
        """Cancel every drainer and forget the waiting edits (progress is droppable); an edit in flight is cut short."""
        drainers = list(self._drainers.values())
        for task in drainers:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*drainers, return_exceptions=True)
        self._waiting.clear()

    async def _drain(self, channel_id: int) -> None:
        try:
            while waiting := self._waiting.get(channel_id):
                pause = self._next_at.get(channel_id, 0.0) - self._clock()
                if pause > 0 or self._outbox.busy(channel_id):
                    await asyncio.sleep(max(pause, BUSY_POLL_S if self._outbox.busy(channel_id) else 0.0))
                    continue
                message_id, edit = waiting.popitem(last=False)
                self._next_at[channel_id] = self._clock() + self._gap_s
                done = self._in_flight[(channel_id, message_id)] = asyncio.Event()
                try:
                    if await self._outbox.maybe(channel_id, edit):
                        self.sent += 1
                    else:
                        self.dropped += 1
                except Exception as exc:  # a message deleted, permissions gone: progress only, never fatal
                    self.dropped += 1
                    log.info("progress edit in channel %s failed (%s)", channel_id, type(exc).__name__)
                finally:
                    del self._in_flight[(channel_id, message_id)]
                    done.set()
        finally:
            self._drainers.pop(channel_id, None)
            if not self._waiting.get(channel_id):
                self._waiting.pop(channel_id, None)
            if self._next_at.get(channel_id, 0.0) <= self._clock():
                self._next_at.pop(channel_id, None)
