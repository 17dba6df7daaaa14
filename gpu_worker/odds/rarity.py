"""What a pull's best is worth: the odds of one key, and the rarity tier of the best of N (docs/odds.md).

X = 1 / P(the best of N keys scores >= s) = 1 / (1 - (1 - P(score >= s))^N);
tiers by X alone (a full match is a badge beside the tier, never a tier of its own).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class Odds:
    """A pattern's odds for one random key: the full-match chance and P(score >= s) for every score."""

    p_full: float  # P(one random key matches fully)
    p_at_least: tuple[float, ...]  # index s: P(score >= s), s = 0..max_score
    expected_keys: float  # 1 / p_full: keys to grind, on average, for a full match

    @property
    def max_score(self) -> int:
        """The highest score a key can reach on this pattern (a full match)."""
        return len(self.p_at_least) - 1


class Tier(str, Enum):
    """The rarity tiers, rarest last; the value is the name people see."""

    COMMON = "Common"
    UNCOMMON = "Uncommon"
    RARE = "Rare"
    EPIC = "Epic"
    LEGENDARY = "Legendary"
    MYTHIC = "Mythic"


# Lowest "1 in X pulls" for each tier, rarest first.
TIER_THRESHOLDS: tuple[tuple[float, Tier], ...] = (
    (10_000.0, Tier.MYTHIC),
    (1000.0, Tier.LEGENDARY),
    (100.0, Tier.EPIC),
    (10.0, Tier.RARE),
    (3.0, Tier.UNCOMMON),
    (0.0, Tier.COMMON),
)


@dataclass(frozen=True)
class Rarity:
    """How rare a best result is: its tier and the pulls it takes, on average, to get one this good."""

    tier: Tier
    one_in_pulls: float  # X: pulls it takes, on average, for a best this good (inf: never)


@dataclass(frozen=True)
class ScoreRarity:
    """One row of `rarity_table`: what a pull's best scoring `score` would be worth."""

    score: int
    p_at_least: float  # one key
    p_best_at_least: float  # best of the pull's keys
    one_in_pulls: float
    tier: Tier


def p_full_in(odds: Odds, keys: int) -> float:
    """P(at least one full match among `keys` random keys)."""
    return _p_any(odds.p_full, keys)


def p_best_at_least(odds: Odds, score: int, keys: int) -> float:
    """P(the best of `keys` random keys scores at least `score`)."""
    if score <= 0:
        return 1.0
    if score > odds.max_score:
        return 0.0
    return _p_any(odds.p_at_least[score], keys)


def one_in_pulls(odds: Odds, score: int, pull_keys: int) -> float:
    """X: how many pulls of `pull_keys` keys it takes, on average, for a best of at least `score`."""
    p = p_best_at_least(odds, score, pull_keys)
    return 1.0 / p if p > 0 else math.inf


def tier_for(one_in: float) -> Tier:
    """The tier of a result that takes `one_in` pulls on average (docs/odds.md: by that figure alone)."""
    return next(tier for threshold, tier in TIER_THRESHOLDS if one_in >= threshold)


def rarity(odds: Odds, score: int, pull_keys: int) -> Rarity:
    """The rarity of a pull of `pull_keys` keys whose best key scored `score`."""
    x = one_in_pulls(odds, score, pull_keys)
    return Rarity(tier_for(x), x)


def rarity_table(odds: Odds, pull_keys: int) -> list[ScoreRarity]:
    """For every score 0..max_score: its odds, and its worth as the best of a pull (for `vanikeys odds`)."""
    rows = []
    for s in range(odds.max_score + 1):
        r = rarity(odds, s, pull_keys)
        rows.append(ScoreRarity(s, odds.p_at_least[s], p_best_at_least(odds, s, pull_keys), r.one_in_pulls, r.tier))
    return rows


def _p_any(p: float, keys: int) -> float:
    """1 - (1 - p)^keys, accurate for tiny p and huge keys."""
    if keys <= 0 or p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    return -math.expm1(keys * math.log1p(-p))
