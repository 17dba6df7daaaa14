"""The process's odds, per pattern: computed once, kept in a bounded LRU shared by every thread."""

from __future__ import annotations

import threading
from collections import OrderedDict

from ..patterns import Pattern
from .model import compute
from .rarity import Odds


def odds(pattern: Pattern) -> Odds:
    """The model's odds for one random key of the pattern's format (cached per pattern, LRU)."""
    known = cached_odds(pattern)
    if known is None:
        known = compute(pattern)
        remember_odds(pattern, known)
    return known


def cached_odds(pattern: Pattern) -> Odds | None:
    """The odds if this process has them (no computing)."""
    key = _cache_key(pattern)
    with _CACHE_LOCK:
        known = _CACHE.get(key)
        if known is not None:
            _CACHE.move_to_end(key)
        return known


def remember_odds(pattern: Pattern, known: Odds) -> None:
    """Keep odds computed elsewhere (bot.odds_cache computes them in a worker process)."""
    key = _cache_key(pattern)
    with _CACHE_LOCK:
        _CACHE[key] = known
        _CACHE.move_to_end(key)
        while len(_CACHE) > ODDS_CACHE_SIZE:
            _CACHE.popitem(last=False)


def _cache_key(pattern: Pattern) -> _PatternKey:
    """What makes two patterns equal, without the Pattern itself: a Pattern carries its compiled regular
    expressions (two per character), about 5 KB, and a full cache of Pattern keys held some 10 MB."""
    return (
        pattern.format_id,
        pattern.text,
        pattern.terms,
        pattern.anchored_start,
        pattern.anchored_end,
        pattern.case_insensitive,
        pattern.fuzzy,
    )


def clear_odds_cache() -> None:
    """Forget every memoised odds result (tests and benchmarks that must start cold)."""
    with _CACHE_LOCK:
        _CACHE.clear()


# Patterns' odds, least recently used first: bounded, shared by every thread of the process.
ODDS_CACHE_SIZE = 2048
_PatternKey = tuple[str, str, tuple[str, ...], bool, bool, bool, bool]
_CACHE: OrderedDict[_PatternKey, Odds] = OrderedDict()
_CACHE_LOCK = threading.Lock()
