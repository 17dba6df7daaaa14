"""The odds model: how likely one random key is to score at least s, and what a pull's best is worth.

`odds(pattern)` gives P(score >= s) for every s and P(full match), for one
random key, computed rather than sampled. The specification (the body
distribution, the score rule's simulation, how a model is chosen, the error
and cost bounds, the rarity rule and tiers) is docs/odds.md. By module:

- bodies: the body's distribution, one entry per body length, position marginals;
- exact: the exact model, the score rule simulated on every body at once;
- chain, term_search: the chain model, terms one at a time in numpy, for
  patterns past the exact model's budget;
- model: which of the two computes a pattern;
- cache: the per-process LRU of computed odds;
- rarity: the odds type, the rarity of a pull's best, tiers;
- sampling: bodies sampled the way each format builds them, and the check of
  the model against them (tests and benchmarks/odds_bound.py).
"""

from __future__ import annotations

from .cache import ODDS_CACHE_SIZE, cached_odds, clear_odds_cache, odds, remember_odds
from .rarity import (
    TIER_THRESHOLDS,
    Odds,
    Rarity,
    ScoreRarity,
    Tier,
    one_in_pulls,
    p_best_at_least,
    p_full_in,
    rarity,
    rarity_table,
    tier_for,
)

__all__ = [
    "ODDS_CACHE_SIZE",
    "TIER_THRESHOLDS",
    "Odds",
    "Rarity",
    "ScoreRarity",
    "Tier",
    "cached_odds",
    "clear_odds_cache",
    "odds",
    "one_in_pulls",
    "p_best_at_least",
    "p_full_in",
    "rarity",
    "rarity_table",
    "remember_odds",
    "tier_for",
]
