"""The kernel planner's cache of compiled patterns is bounded: a long-lived worker does not grow with every pattern."""

from __future__ import annotations

from gpu_worker.kernel_plan import COMPILED_PATTERNS_KEPT, compile_pattern
from gpu_worker.patterns import parse_pattern


def _distinct_patterns(count: int) -> list:
    alphabet = "abcdefghijkmnopqrstuvwxyz"
    texts = [f"^{a}{b}{c}" for a in alphabet for b in alphabet for c in alphabet][:count]
    return [parse_pattern("btc", text) for text in texts]


def test_compiled_patterns_are_kept_up_to_the_bound_and_recent_ones_stay() -> None:
    compile_pattern.cache_clear()
    patterns = _distinct_patterns(COMPILED_PATTERNS_KEPT + 40)
    first = compile_pattern(patterns[0])
    assert compile_pattern(patterns[0]) is first  # a hit hands back the same compiled object
    for pattern in patterns:
        compile_pattern(pattern)
    info = compile_pattern.cache_info()
    assert info.currsize == COMPILED_PATTERNS_KEPT
    assert info.maxsize == COMPILED_PATTERNS_KEPT
    recent = compile_pattern(patterns[-1])
    assert compile_pattern.cache_info().hits == info.hits + 1  # the most recent is still cached
    assert compile_pattern(patterns[0]) is not first  # the oldest was let go and compiles afresh
    assert bytes(compile_pattern(patterns[0])) == bytes(first)  # to the same bytes
    assert recent is compile_pattern(patterns[-1])
