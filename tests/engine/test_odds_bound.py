"""The odds model's cost is bounded for every pattern the parser accepts (docs/odds.md, "Cost bound").

CPU time of one cold computation (the pattern cache cleared, the per-format body
tables warm, as in an odds worker): at most 300 ms for any pattern and 100 ms at
the 99th percentile of a fixed adversarial set; memory under 256 MB. The bounds
are the issue's, on a shared 2-core machine: CPU time, not wall time, so the
neighbours' load counts only through the cache and the shared core.
"""

from __future__ import annotations

import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from benchmarks.odds_bound import NAMED, ORDINARY, adversarial, parsed, percentile
from gpu_worker.errors import VanikeysError
from gpu_worker.formats import FORMATS, get_format
from gpu_worker.odds import clear_odds_cache, odds
from gpu_worker.patterns import MAX_PATTERN_LENGTH, MAX_TERMS, Pattern, parse_pattern

WORST_MS = 300.0
P99_MS = 100.0
MEMORY_MB = 256


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    for format_id in FORMATS:
        odds(parse_pattern(format_id, "ab"))


def _cpu_ms(pattern: Pattern, repeats: int = 3) -> float:
    """The pattern's CPU cost from scratch, the least of up to `repeats` tries: a busy machine (the suite's other
    workers beside this one) only ever adds to a measurement, so the least is the pattern's own cost. A try
    under half the 99th-percentile bound is not repeated: no lesser figure could change a verdict."""
    least = float("inf")
    for _ in range(repeats):
        clear_odds_cache()
        began = time.process_time()
        odds(pattern)
        least = min(least, (time.process_time() - began) * 1000)
        if least <= P99_MS / 2:
            break
    return least


@st.composite
def patterns(draw: st.DrawFn) -> Pattern:
    """Adversarial patterns: long '?' runs, many short terms, repeats, fuzzy and case mixes, anchors, four formats."""
    format_id = draw(st.sampled_from(sorted(FORMATS)))
    alphabet = get_format(format_id).alphabet
    letters = draw(st.sampled_from([alphabet[:2], alphabet[:3], alphabet[::5], alphabet]))  # few: repeats
    piece = st.one_of(
        st.integers(1, 22).map(lambda n: "?" * n),  # a run of wildcards
        st.text(alphabet=letters, min_size=1, max_size=6),
        st.text(alphabet=letters + "?", min_size=1, max_size=12),
    )
    term = st.lists(piece, min_size=1, max_size=3).map("".join)
    terms = draw(st.lists(term, min_size=1, max_size=MAX_TERMS))
    text = (draw(st.sampled_from(["", "^"])) + " ".join(terms) + draw(st.sampled_from(["", "$"])))[:MAX_PATTERN_LENGTH]
    case = draw(st.sampled_from(["insensitive", "exact"]))
    fuzzy = draw(st.booleans())
    try:
        return parse_pattern(format_id, text.strip(), case=case, fuzzy=fuzzy)
    except VanikeysError:
        assume(False)
        raise


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(patterns())
def test_no_accepted_pattern_costs_more_than_the_worst_case_bound(pattern: Pattern) -> None:
    took = _cpu_ms(pattern)
    assert took <= WORST_MS, f"{pattern.format_id} {pattern.text!r}: {took:.0f} ms of CPU"


def test_the_issues_patterns_are_bounded() -> None:
    """They took 13 s, 27 s, and more than 68 s with 5.4 GB."""
    for case in NAMED[:3]:
        pattern = parsed(case)
        assert pattern is not None
        took = _cpu_ms(pattern)
        assert took <= WORST_MS, (case, took)


def test_the_adversarial_set_within_the_99th_percentile_bound() -> None:
    """The 99th percentile over ordinary and seeded adversarial patterns; the named worst cases within the worst bound.

    The named ones are the slowest known (up to about 150 ms at load 15): they stand for the tail, not the
    distribution, so they count against the worst-case bound only.
    """
    times = [_cpu_ms(p) for case in ORDINARY + adversarial(count=120) if (p := parsed(case)) is not None]
    assert len(times) == len(ORDINARY) + 120
    assert percentile(times, 0.99) <= P99_MS, sorted(times)[-5:]
    named = [_cpu_ms(p) for case in NAMED if (p := parsed(case)) is not None]
    assert max(times + named) <= WORST_MS, sorted(named)[-3:]


def test_memory_stays_under_its_bound() -> None:
    """Peak memory allocated while computing the issue's three and the chain model's heaviest (numpy's arrays
    included; tracemalloc slows the model about threefold, so not the whole set)."""
    for case in [*NAMED[:3], NAMED[5]]:
        pattern = parsed(case)
        assert pattern is not None
        clear_odds_cache()
        tracemalloc.start()
        try:
            odds(pattern)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < MEMORY_MB << 20, (case, peak >> 20)
