"""Per-user cooldowns per action, shared by slash commands and buttons (a button is no way around one)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from bot.metrics import rate_limited

PRUNE_AT = 50_000


class Cooldowns:
    """Per (action, user id): seconds per action (an action not named has none); clock is monotonic seconds. Past
    PRUNE_AT entries the expired ones are dropped."""

    def __init__(self, seconds: Mapping[str, float], clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = dict(seconds)
        self._clock = clock
        self._next_allowed: dict[tuple[str, int], float] = {}

    def wait_left(self, action: str, user_id: int) -> float:
        """0 when the user may do `action` now (and starts its cooldown), else the seconds left to wait."""
        now = self._clock()
        key = (action, user_id)
        left = self._next_allowed.get(key, 0.0) - now
        if left > 0:
            rate_limited("discord", action)
            return left
        self._next_allowed[key] = now + self._seconds.get(action, 0.0)
        if len(self._next_allowed) > PRUNE_AT:
            self._next_allowed = {k: t for k, t in self._next_allowed.items() if t > now}
        return 0.0

    def release(self, action: str, user_id: int) -> None:
        """Forget a cooldown that was started for an action that did not happen (the service refused it)."""
        self._next_allowed.pop((action, user_id), None)
