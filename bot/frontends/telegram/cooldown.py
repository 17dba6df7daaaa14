"""Per-user cooldowns, so one person cannot flood a group with pulls or the CPU with /odds.

A cooldown starts when an action is accepted and is given back when the action is
refused (a refused /pull does not make the corrected retry wait).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.metrics import rate_limited

MAX_TRACKED = 50_000


class Cooldowns:
    """One kind of per-user cooldown (`action` labels its metric): `seconds` between accepted actions, in memory.

    Expired entries are forgotten once more than MAX_TRACKED people are tracked; a restart forgets them all."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic, *, action: str = "paid") -> None:
        self._seconds = seconds
        self._action = action  # the metric's label: "paid" (pulls, orders) or "odds"
        self._clock = clock
        self._next_allowed: dict[str, float] = {}
        self._prune_at = MAX_TRACKED
        self._pruned_at = clock()

    def wait_left(self, user_id: str) -> float:
        """0 when the user may act now (and starts their cooldown), else the seconds to wait."""
        now = self._clock()
        left = self._next_allowed.get(user_id, 0.0) - now
        if left > 0:
            rate_limited("telegram", self._action)
            return left
        if self._seconds > 0:
            self._next_allowed[user_id] = now + self._seconds
        size = len(self._next_allowed)
        # Forget expired entries, at most once per cooldown period unless the table doubled (no O(n) per call).
        if size > MAX_TRACKED and (size > self._prune_at or now - self._pruned_at >= self._seconds):
            self._next_allowed = {uid: t for uid, t in self._next_allowed.items() if t > now}
            self._prune_at = max(MAX_TRACKED, 2 * len(self._next_allowed))
            self._pruned_at = now
        return 0.0

    def give_back(self, user_id: str) -> None:
        """The action was refused: it does not count."""
        self._next_allowed.pop(user_id, None)

    def __len__(self) -> int:
        return len(self._next_allowed)
