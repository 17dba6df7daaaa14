"""The odds LRU keeps odds, not patterns: a Pattern carries its compiled regular expressions (about 5 KB), and
a full cache of Pattern keys (2,048 of them) held some 10 MB of a long-running bot's memory."""

from __future__ import annotations

import gc
import weakref

import pytest

import gpu_worker.odds as odds_module
from gpu_worker.odds import cache as cache_module, cached_odds, odds
from gpu_worker.patterns import parse_pattern


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    odds_module.clear_odds_cache()


def test_a_cached_pattern_is_not_kept_alive_by_the_cache() -> None:
    pattern = parse_pattern("btc", "^kqzw")
    expected = odds(pattern)
    gone = weakref.ref(pattern)
    del pattern
    gc.collect()
    assert gone() is None, "the odds cache holds the Pattern (and its compiled regexes) alive"
    assert cached_odds(parse_pattern("btc", "^kqzw")) is expected  # still found by an equal pattern


def test_patterns_that_differ_only_in_case_or_fuzziness_have_their_own_odds() -> None:
    plain = odds(parse_pattern("btc", "^kQst", case="exact"))
    folded = odds(parse_pattern("btc", "^kQst"))
    fuzzy = odds(parse_pattern("btc", "^kQst", fuzzy=True))
    assert len({plain.p_full, folded.p_full, fuzzy.p_full}) == 3
    assert cached_odds(parse_pattern("btc", "^kQst", case="exact")) is plain
    assert cached_odds(parse_pattern("btc", "^kQst", fuzzy=True)) is fuzzy
    assert cached_odds(parse_pattern("eth", "^abcd")) is None


def test_a_full_cache_holds_none_of_its_patterns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "ODDS_CACHE_SIZE", 20)
    letters = "abcdefghijkmnopqrstuvwxyz"
    alive = []
    for i in range(40):
        pattern = parse_pattern("btc", "^" + letters[i % 25] + letters[(i * 7) % 25] + letters[(i * 11) % 25])
        odds(pattern)
        alive.append(weakref.ref(pattern))
    del pattern
    gc.collect()
    assert len(cache_module._CACHE) == 20
    assert [ref for ref in alive if ref() is not None] == []
