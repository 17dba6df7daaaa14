"""The model's tier chances for one pull, and the binomial interval the transparency page draws."""

from __future__ import annotations

import math

from bot.results import TIER_ORDER
from gpu_worker.odds import Odds, rarity_table


def tier_chances(odds: Odds, pull_keys: int) -> dict[str, float]:
    """P(a pull of `pull_keys` keys has its best key in each tier), from the odds model; sums to 1."""
    rows = rarity_table(odds, pull_keys)
    chances = dict.fromkeys(TIER_ORDER, 0.0)
    for i, row in enumerate(rows):
        above = rows[i + 1].p_best_at_least if i + 1 < len(rows) else 0.0
        tier = str(getattr(row.tier, "value", row.tier)).capitalize()
        chances[tier] += max(0.0, row.p_best_at_least - above)
    return chances


def wilson(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval (95% by default) for a binomial share; (0, 1) with no trials."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)
