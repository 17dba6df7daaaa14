"""The odds model: exact where it can be checked exactly, and against sampled keys (real ones included)."""

from __future__ import annotations

import itertools
import math
import random

import pytest

import gpu_worker.odds as odds_module
from gpu_worker.formats import FORMATS, get_format, identifier_from_secret
from gpu_worker.odds import (
    Odds,
    Tier,
    exact as exact_module,
    odds,
    one_in_pulls,
    p_best_at_least,
    p_full_in,
    rarity,
    rarity_table,
    tier_for,
)
from gpu_worker.odds.bodies import LengthClass, length_classes
from gpu_worker.odds.chain import ChainModel
from gpu_worker.odds.exact import ScoreModel
from gpu_worker.odds.sampling import against_sample, sampled_body
from gpu_worker.patterns import char_classes, parse_pattern, score
from gpu_worker.positions import (
    body_components,
    position_distribution,
    prefix_probability,
)

# -- the numeric ranges ----------------------------------------------------------


def test_btc_second_character_matches_the_measured_skew() -> None:
    # Measured on real addresses: after the '1', each lowercase letter about
    # 0.08% of the time, each digit or capital about 4.3%.
    first = position_distribution("btc", 0)
    assert abs(sum(first.values()) - 1) < 1e-12
    for char in "abcdefghijkmnopqrstuvwxyz":
        assert 0.0006 < first[char] < 0.0009
    for char in "23456789ABCDEFGHJKLMNP":
        assert 0.042 < first[char] < 0.044
    assert 0.0035 < first["1"] < 0.0045  # a hash starting with a zero byte: 1/256


def test_body_mixtures() -> None:
    for format_id in FORMATS:
        components = body_components(format_id)
        assert abs(sum(c.weight for c in components) - 1) < 1e-12
    assert {c.length for c in body_components("btc") if c.weight > 1e-8} == {31, 32, 33}
    assert {c.length for c in body_components("trx")} == {33}
    assert {c.length for c in body_components("did")} == {44}
    assert {c.length for c in body_components("eth")} == {40}
    # Deep in the body every base58 position is uniform.
    middle = position_distribution("btc", 20)
    assert max(abs(p - 1 / 58) for p in middle.values()) < 1e-9


def test_prefix_probability_is_exact_for_uniform_hex() -> None:
    pattern = parse_pattern("eth", "^de?d")
    assert prefix_probability("eth", char_classes(pattern)[0]) == pytest.approx(16**-3, rel=1e-12)


# -- exact values ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("format_id", "text", "p_full"),
    [
        ("eth", "^dead", 16.0**-4),
        ("eth", "beef$", 16.0**-4),
        ("eth", "^dead beef$", 16.0**-8),
        ("eth", "a", 1 - (15 / 16) ** 40),
        ("eth", "^?", 1.0),
        ("trx", "^TA", None),  # None: P(that character right after the fixed start)
        ("trx", "^TZ", None),
        ("btc", "^1a", None),
    ],
)
def test_exact_values(format_id: str, text: str, p_full: float | None) -> None:
    model = odds(parse_pattern(format_id, text, case="exact"))
    if p_full is None:
        p_full = position_distribution(format_id, 0)[text[-1]]
    assert model.p_full == pytest.approx(p_full, rel=1e-3)
    assert model.expected_keys == pytest.approx(1 / p_full, rel=1e-3)


def test_probabilities_are_a_tail() -> None:
    model = odds(parse_pattern("btc", "GO BE AWE SOME"))
    assert model.p_at_least[0] == 1.0
    assert len(model.p_at_least) == 12
    assert all(a >= b for a, b in zip(model.p_at_least, model.p_at_least[1:], strict=False))
    assert model.p_full == model.p_at_least[-1] > 0
    assert model.expected_keys == 1 / model.p_full


def _tiny_body(length: int, alphabet: str) -> LengthClass:
    uniform = {c: 1 / len(alphabet) for c in alphabet}
    return LengthClass(length, 1.0, tuple(uniform for _ in range(length)), None)


@pytest.mark.parametrize(
    "text",
    ["ab", "ab ab", "aa a", "a? ba", "ab ba$", "a b c", "abc cb$", "^ab ba", "^a? b$", "^ba a a$", "c$", "aab"],
)
def test_simulation_is_exact_on_every_body(text: str) -> None:
    """Against every body of length 7 over 'abc' (hex letters), uniform: the model must be exact."""
    pattern = parse_pattern("eth", text)
    alphabet, length = "abc", 7
    bodies = ["".join(chars) for chars in itertools.product(alphabet, repeat=length)]
    counted = [0] * (pattern.max_score + 1)
    for body in bodies:
        counted[score(pattern, body)] += 1
    body = _tiny_body(length, alphabet)
    if pattern.anchored_start:
        first = char_classes(pattern)[0]

        def starts(j: int) -> float:
            return math.prod(len(set(alphabet) & first[q]) / len(alphabet) for q in range(j))

        masses = tuple(starts(j) - (starts(j + 1) if j < len(first) else 0) for j in range(len(first) + 1))
        body = LengthClass(length, 1.0, body.marginals, masses)
    model = ScoreModel(pattern).distribution(body)
    assert model == pytest.approx([c / len(bodies) for c in counted], abs=1e-12)


def test_term_by_term_fallback_is_close(monkeypatch: pytest.MonkeyPatch) -> None:
    pattern = parse_pattern("btc", "ab cd ef gh")
    exact = odds(pattern)
    monkeypatch.setattr(exact_module, "MAX_WORK", 0)
    odds_module.clear_odds_cache()
    try:
        fallback = odds(pattern)
    finally:
        odds_module.clear_odds_cache()
    assert fallback.p_at_least == pytest.approx(exact.p_at_least, rel=0.05)
    assert fallback.p_full == pytest.approx(exact.p_full, rel=1e-9)


def test_many_short_terms_stay_quick() -> None:
    # 8 terms: the exact simulation gives way to the term-by-term model.
    model = odds(parse_pattern("btc", "ab cd ef gh jk mn pq rs"))
    assert 0 < model.p_full < 1e-15
    body = _tiny_body(33, get_format("btc").alphabet)
    assert ChainModel(ScoreModel(parse_pattern("btc", "ab cd")), [body]).distribution()[0] > 0


# -- against sampled bodies ------------------------------------------------------

rng = random.Random(20261123)


def _sampled_body(format_id: str) -> str:
    return sampled_body(format_id, rng)


def _check_against_sample(
    format_id: str, patterns: list, bodies: list[str], *, rel: float = 0.10, at_least: int = 500
) -> int:
    """Model within `rel` of the measured frequency for every score seen at least `at_least` times expected."""
    checked = 0
    for pattern in patterns:
        for row in against_sample(pattern, odds(pattern), bodies, at_least=at_least):
            assert row.measured == pytest.approx(row.expected, rel=rel), (format_id, str(pattern), row)
            checked += 1
    return checked


SAMPLED_PATTERNS = {
    "btc": [
        ("^a", {}),
        ("^Z", {"case": "exact"}),
        ("^2", {}),
        ("GO BE AWE SOME", {}),
        ("go go", {}),
        ("ab$", {}),
        ("^? z k$", {}),
        ("te st", {"fuzzy": True}),
    ],
    "trx": [("^TZ", {}), ("^Tm", {}), ("^T?a b", {}), ("xy z$", {})],
    "did": [("^zQ3shM", {}), ("^zQ3shw", {}), ("^zQ3shz", {}), ("ab cd", {})],
    "eth": [("dead beef", {}), ("^a?c 0f$", {}), ("c0ffee", {})],
}


@pytest.mark.parametrize("format_id", sorted(SAMPLED_PATTERNS))
def test_model_matches_sampled_bodies(format_id: str) -> None:
    bodies = [_sampled_body(format_id) for _ in range(15_000)]
    patterns = [parse_pattern(format_id, text, **options) for text, options in SAMPLED_PATTERNS[format_id]]
    assert _check_against_sample(format_id, patterns, bodies) >= len(patterns)


def test_model_matches_real_keys_end_to_end() -> None:
    """Real keys: secret -> coincurve -> the format's identifier -> the scorer."""
    key_rng = random.Random(7)
    for format_id, texts in (("btc", ["GO BE AWE SOME", "^2", "ab"]), ("eth", ["dead beef", "^a 0$"])):
        fmt = get_format(format_id)
        bodies = [fmt.body(identifier_from_secret(fmt, key_rng.randrange(1, 2**255))) for _ in range(6_000)]
        patterns = [parse_pattern(format_id, text) for text in texts]
        assert _check_against_sample(format_id, patterns, bodies) >= len(texts)


def test_skew_matters_the_uniform_guess_would_fail() -> None:
    # Under a uniform guess '^a' would be 2/58 = 3.4%; it is 4.4% ('A' is common, 'a' rare).
    model = odds(parse_pattern("btc", "^a"))
    assert model.p_full == pytest.approx(0.0443, abs=0.001)
    assert odds(parse_pattern("btc", "^a", case="exact")).p_full < 0.001


# -- pulls and rarity -------------------------------------------------------------


def test_p_full_in_is_accurate_for_tiny_odds_and_huge_budgets() -> None:
    model = Odds(1e-20, (1.0, 1e-20), 1e20)
    assert p_full_in(model, 2**28) == pytest.approx(2**28 * 1e-20, rel=1e-9)
    assert p_full_in(model, 0) == 0.0
    sure = Odds(0.5, (1.0, 0.5), 2.0)
    assert p_full_in(sure, 10) == pytest.approx(1 - 0.5**10)


def test_rarity_tiers_follow_one_in_pulls() -> None:
    model = Odds(1e-12, (1.0, 0.5, 1e-3, 1e-4, 1e-5, 1e-9, 1e-12), 1e12)
    pull = 100
    assert rarity(model, 0, pull).tier is Tier.COMMON
    assert rarity(model, 1, pull).tier is Tier.COMMON  # certain in 100 keys
    x2 = 1 / (1 - (1 - 1e-3) ** 100)
    assert rarity(model, 2, pull).one_in_pulls == pytest.approx(x2)  # about 10.5
    assert rarity(model, 2, pull).tier is Tier.RARE
    assert rarity(model, 3, pull).tier is Tier.EPIC  # about 100.5
    assert rarity(model, 4, pull).tier is Tier.LEGENDARY  # about 1000.5
    assert rarity(model, 6, pull).tier is Tier.MYTHIC
    assert one_in_pulls(model, 4, pull) == pytest.approx(1 / (1 - (1 - 1e-5) ** 100))
    assert p_best_at_least(model, 7, pull) == 0.0


def test_tier_boundaries() -> None:
    assert tier_for(2.99) is Tier.COMMON
    assert tier_for(3.0) is Tier.UNCOMMON
    assert tier_for(9.99) is Tier.UNCOMMON
    assert tier_for(10.0) is Tier.RARE
    assert tier_for(100.0) is Tier.EPIC
    assert tier_for(1000.0) is Tier.LEGENDARY
    assert tier_for(9_999.0) is Tier.LEGENDARY
    assert tier_for(10_000.0) is Tier.MYTHIC
    assert tier_for(math.inf) is Tier.MYTHIC
    assert tier_for(1.0) is Tier.COMMON  # however full the match: the badge is separate


def test_rarity_table_for_the_cli() -> None:
    model = odds(parse_pattern("btc", "^Love"))
    rows = rarity_table(model, 2**20)
    assert [row.score for row in rows] == [0, 1, 2, 3, 4]
    assert rows[-1].tier is Tier.COMMON  # a full ^Love is found in most pulls of 2^20 keys: Common, not Mythic
    hard = rarity_table(odds(parse_pattern("btc", "^Lovely")), 2**20)
    assert [row.tier for row in hard][-2:] == [Tier.RARE, Tier.LEGENDARY]
    assert all(a.one_in_pulls <= b.one_in_pulls for a, b in itertools.pairwise(rows))
    assert rows[1].p_at_least == model.p_at_least[1]


# -- the chain model (the fallback for expensive patterns) ---------------------------


def _exact_distribution(pattern) -> list[float]:
    model = ScoreModel(pattern)
    out = [0.0] * (pattern.max_score + 1)
    for body in length_classes(pattern):
        for s, p in enumerate(model.distribution(body)):
            out[s] += body.weight * p
    return out


def _tail(distribution: list[float]) -> list[float]:
    return [sum(distribution[s:]) for s in range(len(distribution))]


@pytest.mark.parametrize(
    ("format_id", "text", "options"),
    [
        ("btc", "GO BE AWE SOME", {}),
        ("btc", "ab ab ab ab ab ab ab ab", {}),  # repeated terms: the guard carries 'no ab from here on'
        ("btc", "Love Love Love Love", {"fuzzy": True}),
        ("btc", "a b c d e f g h", {}),
        ("btc", "a? a? a? a?", {}),
        ("eth", "dead beef cafe", {}),
        ("eth", "a?c? e?f? ????", {}),
        ("btc", "go go", {}),
        ("btc", "^7mn SU?r ?9", {"fuzzy": True}),
        ("btc", "^? z k$", {}),
        ("did", "^zQ3shab cd", {}),
    ],
)
def test_chain_model_agrees_with_the_exact_simulation(
    monkeypatch: pytest.MonkeyPatch, format_id: str, text: str, options: dict
) -> None:
    """Every tail probability, however small, within 8% of the exact simulation; full matches exact."""
    monkeypatch.setattr(exact_module, "MAX_WORK", 10**9)
    pattern = parse_pattern(format_id, text, **options)
    exact = _tail(_exact_distribution(pattern))
    chain = _tail(ChainModel(ScoreModel(pattern), length_classes(pattern)).distribution())
    assert chain == pytest.approx(exact, rel=0.08)
    assert chain[-1] == pytest.approx(exact[-1], rel=1e-9)


def test_one_term_patterns_are_exact_in_the_chain_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exact_module, "MAX_WORK", 10**9)
    for format_id, text in [("btc", "abcdefghijk"), ("eth", "dead?beef"), ("btc", "a?a?a?a"), ("did", "Zz1aZz$")]:
        pattern = parse_pattern(format_id, text, fuzzy=True)
        chain = ChainModel(ScoreModel(pattern), length_classes(pattern)).distribution()
        assert chain == pytest.approx(_exact_distribution(pattern), rel=1e-9, abs=1e-300)


# Patterns past the exact simulation's budget (the ones that took seconds): the chain model answers them.
HARD_PATTERNS = {
    "btc": [
        ("abcd efgh ijkm nopq", {}),
        ("ab cd ef gh jk mn pq rs", {}),
        ("Love Love Love Love", {"fuzzy": True}),
        ("abcd abcd abcd abcd abcd abcd abcd abcd", {}),
        ("a?c? e?g? i?k? m?o?", {}),
        ("^abc defg hijk mnop$", {}),
    ],
    # Not here: a term repeated further on than the next one ('dead beef cafe babe dead beef cafe babe'): the
    # guard covers only the next term, and that pattern's middle scores come out up to 15% high.
    "eth": [("dead beef cafe babe", {}), ("beef beef cafe cafe", {}), ("1eet 5a1e 7ea5 0b0e", {"fuzzy": True})],
    "did": [("abcdefghijk mnopqrstuvw xyzABCDEFGH JKLMNPQRSTU", {}), ("abcd efgh ijkm nopq rstu vwxy zABC DEFG", {})],
    "trx": [("abcd efgh ijkm nopq", {}), ("go go go go go go go go", {"fuzzy": True})],
}


def test_hard_patterns_go_to_the_chain_model(monkeypatch: pytest.MonkeyPatch) -> None:
    used = []
    real = ChainModel.distribution
    monkeypatch.setattr(ChainModel, "distribution", lambda self: used.append(1) or real(self))
    for format_id, cases in HARD_PATTERNS.items():
        for text, options in cases:
            odds_module.clear_odds_cache()
            before = len(used)
            odds(parse_pattern(format_id, text, **options))
            assert len(used) == before + 1, (format_id, text)
    odds_module.clear_odds_cache()


@pytest.mark.parametrize("format_id", sorted(HARD_PATTERNS))
def test_hard_patterns_match_sampled_bodies(format_id: str) -> None:
    bodies = [_sampled_body(format_id) for _ in range(15_000)]
    patterns = [parse_pattern(format_id, text, **options) for text, options in HARD_PATTERNS[format_id]]
    assert _check_against_sample(format_id, patterns, bodies) >= 2 * len(patterns)


# Terms with long runs of '?' (the automaton of a 20-character run has a million bitap masks; the model took
# 13-68 s and up to 5.4 GB on these): the search keeps its longest partial matches only (docs/odds.md, "Error
# bounds"). Measured against 30,000 sampled bodies: worst 1.8-8.3% on these; asserted within 12% for every
# score expected at least 1,000 times in 20,000 (sampling noise about 3%).
LONG_RUNS = {
    "btc": ["a?????????????b ??????????????c", "a??? b??? c??? d??? e??? f??? g??? h???"],
    "eth": ["a??????????????b ???????????????c", "a?????????????????b ?????????????????c"],
    "did": ["a????????????????????b a????????????????????b"],
}


@pytest.mark.parametrize("format_id", sorted(LONG_RUNS))
def test_long_wildcard_runs_match_sampled_bodies(format_id: str) -> None:
    bodies = [_sampled_body(format_id) for _ in range(20_000)]
    patterns = [parse_pattern(format_id, text) for text in LONG_RUNS[format_id]]
    assert _check_against_sample(format_id, patterns, bodies, rel=0.12, at_least=1000) >= 4 * len(patterns)
