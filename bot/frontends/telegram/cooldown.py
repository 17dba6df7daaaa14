"""Per-user cooldowns between paid actions, so one person cannot flood a group with pulls."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.metrics import rate_limited


class Cooldowns:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._next_allowed: dict[str, float] = {}

    def wait_left(self, user_id: str) -> float:
        """0 when the user may act now (and starts their cooldown), else the seconds to wait."""
        now = self._clock()
        left = self._next_allowed.get(user_id, 0.0) - now
        if left > 0:
            rate_limited("telegram", "paid")
            return left
        self._next_allowed[user_id] = now + self._seconds
        if len(self._next_allowed) > 50_000:
            self._next_allowed = {uid: t for uid, t in self._next_allowed.items() if t > now}
        return 0.0
