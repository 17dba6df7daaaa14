"""The grinders' capacity, shared fairly between front ends (Discord, Telegram, the console).

Every pull takes a share of the grinding capacity from the time it is charged until its keys are ground and
stored (not while its reveal and DM wait on the platform). The rule:

- The capacity is `slots` units (VANIKEYS_GRIND_SLOTS; by default 4 per grind the grinder runs at once, a
  pull's database steps being inside its share too (bot/grinder.py), or REMOTE_SLOTS with remote GPUs). A
  pull or a 10-pull is one job and takes one unit.
- While nobody waits, a pull takes its units at once: one front end alone may use all of it.
- Once pulls wait, units go to the front end holding the fewest of them, its oldest pull first (ties: the
  front end whose first pull has waited longest). Two front ends saturating the box so hold about half each,
  and a pull waits behind its own front end's line, never behind another's backlog.
- Each front end's line is bounded (MAX_WAITING pulls): past it a pull is refused before anything is charged.

Telegram's own slot limit (bot/frontends/telegram) stays a bound on its handlers; this is the one place where
front ends meet.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.answers import ServiceError
from gpu_worker.i18n import _

MAX_WAITING = 256  # pulls one front end may have waiting for the grinders; past it the next one is refused
REMOTE_SLOTS = 64  # remote GPUs scale out: this bounds pulls in flight to them, the front ends sharing it fairly

Release = Callable[[], None]


@dataclass
class _Waiter:
    weight: int
    order: int
    granted: asyncio.Future[None] = field(repr=False)


class FairShare:
    """`slots` units of grinding capacity shared by the front ends: taken at once while nobody waits, else the
    next freed unit goes to the front end holding the fewest (its oldest pull first); each line holds at most
    `max_waiting` pulls."""

    def __init__(self, slots: int, *, max_waiting: int = MAX_WAITING) -> None:
        if slots < 1 or max_waiting < 0:
            raise ValueError("slots must be at least 1 and max_waiting not negative")
        self.slots = slots
        self.max_waiting = max_waiting
        self.in_use: defaultdict[str, int] = defaultdict(int)  # front end -> units held
        self._lines: dict[str, deque[_Waiter]] = {}  # front end -> its pulls waiting, oldest first
        self._order = itertools.count()

    @property
    def free(self) -> int:
        """Units nobody holds right now."""
        return self.slots - sum(self.in_use.values())

    def waiting(self, platform: str) -> int:
        """Pulls of this front end waiting for a unit."""
        return len(self._lines.get(platform, ()))

    async def acquire(self, platform: str, weight: int = 1) -> Release:
        """Wait for `weight` units (a job: one) for this front end; returns the release (idempotent: call it
        once done). ServiceError("busy") at once when this front end already has MAX_WAITING pulls waiting."""
        weight = max(1, min(weight, self.slots))
        if not self._lines and self.free >= weight:
            self.in_use[platform] += weight
            return self._release_once(platform, weight)
        line = self._lines.setdefault(platform, deque())
        if len(line) >= self.max_waiting:
            if not line:
                del self._lines[platform]
            raise ServiceError("busy", _("the grinders are busy with many pulls right now: try again in a minute"))
        waiter = _Waiter(weight, next(self._order), asyncio.get_running_loop().create_future())
        line.append(waiter)
        self._grant()
        try:
            await waiter.granted
        except asyncio.CancelledError:
            if waiter.granted.done() and not waiter.granted.cancelled():
                self._release(platform, weight)  # granted as the caller gave up: the units go back
            else:
                self._drop(platform, waiter)
            raise
        return self._release_once(platform, weight)

    def _release_once(self, platform: str, weight: int) -> Release:
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._release(platform, weight)

        return release

    def _release(self, platform: str, weight: int) -> None:
        self.in_use[platform] -= weight
        if self.in_use[platform] <= 0:
            del self.in_use[platform]
        self._grant()

    def _drop(self, platform: str, waiter: _Waiter) -> None:
        line = self._lines.get(platform)
        if line is not None and waiter in line:
            line.remove(waiter)
            if not line:
                del self._lines[platform]
        self._grant()

    def _grant(self) -> None:
        """Hand free units to the front end holding the fewest, oldest pull first, while its next pull fits."""
        while self._lines:
            platform = min(self._lines, key=lambda p: (self.in_use.get(p, 0), self._lines[p][0].order))
            line = self._lines[platform]
            head = line[0]
            if head.granted.done():  # its caller gave up (cancelled) and has not taken itself out yet
                line.popleft()
                if not line:
                    del self._lines[platform]
                continue
            if head.weight > self.free:
                return  # it waits for enough units; nobody overtakes it (a 10-pull is never starved)
            line.popleft()
            if not line:
                del self._lines[platform]
            self.in_use[platform] += head.weight
            head.granted.set_result(None)
