"""Patterns: grammar, validation messages, character classes, and the scorer against a brute-force reading."""

from __future__ import annotations

import itertools
import random
import re

import pytest
from hypothesis import assume, example, given, settings, strategies as st

from gpu_worker.errors import VanikeysError
from gpu_worker.formats import BASE58_ALPHABET, HEX_ALPHABET, get_format
from gpu_worker.patterns import (
    MAX_TERMS,
    Pattern,
    char_classes,
    match_spans,
    parse_pattern,
    score,
    term_classes,
)
from gpu_worker.positions import possible_prefix


def brute_force_score(pattern: Pattern, body: str) -> int:
    """docs/design.md's Score rule read literally: try every length, every start, no shortcuts."""
    classes = char_classes(pattern)
    if get_format(pattern.format_id).alphabet == HEX_ALPHABET:
        body = body.lower()

    def fits(char: str, accepted: frozenset[str]) -> bool:
        return char in accepted or (pattern.case_insensitive and char.swapcase() in accepted)

    def occurs_at(term: tuple[frozenset[str], ...], start: int) -> bool:
        return start + len(term) <= len(body) and all(fits(body[start + q], term[q]) for q in range(len(term)))

    position = total = 0
    for index, term in enumerate(classes):
        if index == 0 and pattern.anchored_start:
            taken = max(j for j in range(len(term) + 1) if occurs_at(term[:j], 0))
            total, position = total + taken, taken
        elif index == len(classes) - 1 and pattern.anchored_end:
            total += max(
                s
                for s in range(len(term) + 1)
                if len(body) - s >= position and occurs_at(term[len(term) - s :], len(body) - s)
            )
        else:
            for j in range(len(term), -1, -1):
                starts = [start for start in range(position, len(body) - j + 1) if occurs_at(term[:j], start)]
                if starts:
                    total += j
                    position = starts[0] + j if j else position
                    break
    return total


# -- the scorer ---------------------------------------------------------------


def test_design_example_scores_ten_of_eleven() -> None:
    pattern = parse_pattern("btc", "GO BE AWE SOME")
    body = "zzGOxxBExAWxSOMEx"
    assert (score(pattern, body), pattern.max_score) == (10, 11)
    assert match_spans(pattern, body) == [(2, 4), (6, 8), (9, 11), (12, 16)]
    assert brute_force_score(pattern, body) == 10


@pytest.mark.parametrize(
    ("format_id", "text", "options", "body", "expected"),
    [
        ("btc", "^Love", {}, "LovexyzLove", 4),
        ("btc", "^Love", {}, "xLove", 0),
        ("btc", "^Love", {}, "LoZe", 2),
        ("btc", "Love", {"case": "exact"}, "love", 0),
        ("btc", "Love", {"case": "exact"}, "xxLoxxLove", 4),
        ("btc", "dead$", {}, "xxxxdead", 4),
        ("btc", "dead$", {}, "xxxxdeadx", 0),
        ("btc", "dead$", {}, "xxxxxxad", 2),
        ("btc", "ab cd$", {}, "xxabcd", 4),
        ("btc", "abc cd$", {}, "xxabcd", 4),  # only the "d" of "cd": the "c" was used by "abc"
        ("btc", "a?c", {}, "xxaZc", 3),
        ("btc", "to", {"fuzzy": True}, "xx7o", 2),
        ("btc", "t0", {"fuzzy": True}, "xx7o", 2),
        ("eth", "^dead beef$", {}, "DEADbeef" + "1" * 24 + "0000BEEF", 8),
        ("eth", "c0ffee", {}, "00C0FFEE00", 6),
        ("btc", "ab ab", {}, "xxABxxx", 2),
    ],
)
def test_scores(format_id: str, text: str, options: dict, body: str, expected: int) -> None:
    pattern = parse_pattern(format_id, text, **options)
    assert score(pattern, body) == expected
    assert brute_force_score(pattern, body) == expected
    assert sum(end - start for start, end in match_spans(pattern, body)) == expected


SMALL_BASE58 = "aAbB12xX"


@st.composite
def pattern_and_body(draw: st.DrawFn) -> tuple[Pattern, str]:
    format_id = draw(st.sampled_from(["btc", "eth"]))
    alphabet = SMALL_BASE58 if format_id == "btc" else "abAB12cC"
    terms = draw(st.lists(st.text(alphabet=alphabet + "?", min_size=1, max_size=4), min_size=1, max_size=4))
    anchored_start = draw(st.booleans())
    anchored_end = draw(st.booleans())
    text = ("^" if anchored_start else "") + " ".join(terms) + ("$" if anchored_end else "")
    try:
        pattern = parse_pattern(
            format_id, text, case=draw(st.sampled_from(["insensitive", "exact"])), fuzzy=draw(st.booleans())
        )
    except VanikeysError:
        assume(False)
        raise
    body = draw(st.text(alphabet=alphabet, min_size=0, max_size=20))
    return pattern, body


@settings(max_examples=400, deadline=None)
@given(pattern_and_body())
def test_score_matches_brute_force(case: tuple[Pattern, str]) -> None:
    pattern, body = case
    assert score(pattern, body) == brute_force_score(pattern, body)


@settings(max_examples=200, deadline=None)
@given(pattern_and_body())
def test_spans_are_ordered_disjoint_matches(case: tuple[Pattern, str]) -> None:
    pattern, body = case
    spans = match_spans(pattern, body)
    assert sum(end - start for start, end in spans) == score(pattern, body) <= pattern.max_score
    assert all(0 <= start < end <= len(body) for start, end in spans)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=BASE58_ALPHABET, min_size=32, max_size=33))
@example("Love" + "x" * 28)
def test_full_match_iff_every_character_scored(body: str) -> None:
    pattern = parse_pattern("btc", "^Lo ve x$")
    assert (score(pattern, body) == pattern.max_score) == (
        body.lower().startswith("lo") and "ve" in body[2:-1].lower() and body.lower().endswith("x")
    )


# -- grammar and normalisation --------------------------------------------------


@pytest.mark.parametrize(
    ("format_id", "text", "terms", "anchored_start", "anchored_end"),
    [
        ("btc", "^1Love", ("Love",), True, False),
        ("btc", "^11ab", ("1ab",), True, False),  # an address starting '11'
        ("btc", "  cafe   babe  ", ("cafe", "babe"), False, False),
        ("btc", "^Lo ve$", ("Lo", "ve"), True, True),
        ("eth", "^0xDEAD", ("dead",), True, False),
        ("eth", "^0XDEAD beef$", ("dead", "beef"), True, True),
        ("trx", "^TR", ("R",), True, False),
        ("did", "^did:key:zQ3shZ", ("Z",), True, False),
        ("did", "^zQ3shZ", ("Z",), True, False),
        ("btc", "^1 abc", ("abc",), False, False),
    ],
)
def test_parse_normalises(format_id: str, text: str, terms: tuple, anchored_start: bool, anchored_end: bool) -> None:
    pattern = parse_pattern(format_id, text)
    assert pattern.terms == terms
    assert (pattern.anchored_start, pattern.anchored_end) == (anchored_start, anchored_end)
    assert pattern.text == text
    assert pattern.max_score == sum(len(t) for t in terms)


def test_hex_is_case_insensitive_whatever_is_asked() -> None:
    pattern = parse_pattern("eth", "BEEF", case="exact")
    assert pattern.case_insensitive
    assert score(pattern, "00beef00") == 4


def test_base58_default_is_case_insensitive() -> None:
    assert parse_pattern("btc", "go").case_insensitive
    assert not parse_pattern("btc", "go", case="exact").case_insensitive


# -- character classes ------------------------------------------------------------


def test_char_classes() -> None:
    assert term_classes is char_classes
    assert char_classes(parse_pattern("btc", "g")) == ((frozenset("gG"),),)
    assert char_classes(parse_pattern("btc", "O")) == ((frozenset("o"),),)  # base58 has no 'O'
    assert char_classes(parse_pattern("btc", "l")) == ((frozenset("L"),),)  # nor 'l'
    assert char_classes(parse_pattern("btc", "?")) == ((frozenset(BASE58_ALPHABET),),)
    assert char_classes(parse_pattern("btc", "0", fuzzy=True)) == ((frozenset("o"),),)
    assert char_classes(parse_pattern("btc", "e", fuzzy=True)) == ((frozenset("eE3"),),)
    assert char_classes(parse_pattern("btc", "E", case="exact", fuzzy=True)) == ((frozenset("E3"),),)
    assert char_classes(parse_pattern("btc", "3", case="exact", fuzzy=True)) == ((frozenset("3eE"),),)
    assert char_classes(parse_pattern("btc", "i", fuzzy=True)) == ((frozenset("1iL"),),)
    assert char_classes(parse_pattern("eth", "o", fuzzy=True)) == ((frozenset("0"),),)
    assert char_classes(parse_pattern("eth", "Ab", fuzzy=True)) == ((frozenset("a4"), frozenset("b8")),)
    assert char_classes(parse_pattern("eth", "?")) == ((frozenset(HEX_ALPHABET),),)


# -- validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("format_id", "text", "options", "needle"),
    [
        ("btc", "", {}, "empty"),
        ("btc", "   ", {}, "empty"),
        ("btc", "^", {}, "no characters"),
        ("btc", "GO", {"case": "exact"}, "drop exact case"),
        ("btc", "l", {"case": "exact"}, "'l' matches 'L'"),
        ("btc", "0", {}, "type 'o' instead"),
        ("btc", "a-b", {}, "not a base58 character"),
        ("btc", "a.b", {}, "not a base58 character"),
        ("eth", "g", {}, "not a hex digit"),
        ("eth", "o", {}, "with fuzzy matching 'o' matches '0'"),
        ("eth", "0xdead", {}, "'x' is not a hex digit"),
        ("trx", "^a", {"case": "exact"}, "never continues with 'a'"),
        ("did", "^1", {}, "never continues with '1'"),
        ("did", "^A", {"case": "exact"}, "never continues with 'A'"),
        ("btc", "^1", {}, "type what should follow it"),
        ("btc", "^ab$", {}, "split it"),
        ("btc", "ab^cd", {}, "only at the very start"),
        ("btc", "ab$cd", {}, "only at the very end"),
        ("btc", " ".join("a" * (MAX_TERMS + 1)), {}, f"at most {MAX_TERMS}"),
        ("btc", "a" * 34, {}, "at most 33"),
        ("eth", "a" * 41, {}, "at most 40"),
        ("btc", "x" * 65, {}, "at most 64"),
    ],
)
def test_refusals_say_why_and_what_instead(format_id: str, text: str, options: dict, needle: str) -> None:
    with pytest.raises(VanikeysError) as caught:
        parse_pattern(format_id, text, **options)
    assert caught.value.code == "bad_pattern"
    message = str(caught.value)
    assert needle in message
    assert "\n" not in message and ":" in message  # one line, the reason then what to do


@pytest.mark.parametrize(
    ("format_id", "text", "options"),
    [
        ("btc", "go", {}),
        ("btc", "GO", {}),
        ("btc", "0", {"fuzzy": True}),
        ("trx", "^a", {}),  # case-insensitive: 'A' can follow 'T'
        ("did", "^zQ3shM", {"case": "exact"}),
        ("btc", "^1111", {}),  # a body starting '111': rare, possible
        ("btc", "a" * 33, {}),
        ("btc", "^ab cd$", {}),
    ],
)
def test_accepts_possible_patterns(format_id: str, text: str, options: dict) -> None:
    parse_pattern(format_id, text, **options)


def test_anchored_positions_follow_the_numeric_ranges() -> None:
    def first_chars(format_id: str) -> set[str]:
        return {c for c in BASE58_ALPHABET if possible_prefix(format_id, (frozenset(c),))}

    trx = first_chars("trx")
    assert len(trx) == 25 and not any(c.islower() for c in trx)
    did = first_chars("did")
    assert not any(c.isdigit() or "A" <= c <= "L" for c in did)
    assert len(first_chars("btc")) == 58  # any character can follow the '1', some rarely
    for format_id, start, chars in (("trx", "T", trx), ("did", "zQ3sh", did)):
        for c in BASE58_ALPHABET:
            accepted = c in chars
            try:
                parse_pattern(format_id, "^" + start + c, case="exact")
            except VanikeysError:
                assert not accepted
            else:
                assert accepted


def test_patterns_travel_to_worker_processes() -> None:
    """The python grinder ships patterns to other processes: they must pickle and still score the same."""
    import pickle

    pattern = parse_pattern("btc", "^Lo ve x$", fuzzy=True)
    copy = pickle.loads(pickle.dumps(pattern))
    assert copy == pattern and hash(copy) == hash(pattern)
    assert score(copy, "LoZveZZx") == score(pattern, "LoZveZZx") == 5


# -- one length limit; suggestions that parse -----------------------------------------


def test_one_pattern_length_limit() -> None:
    from gpu_worker.patterns import MAX_PATTERN_LENGTH

    assert MAX_PATTERN_LENGTH == 64
    longest = "a" + " " * (MAX_PATTERN_LENGTH - 2) + "b"
    assert parse_pattern("btc", longest).terms == ("a", "b")
    with pytest.raises(VanikeysError, match="at most 64"):
        parse_pattern("btc", longest + "c")


_SUGGESTION = re.compile(r"(?:e\.g\.|try) '([^']*)'(?: or '([^']*)')?")


def _suggestions(message: str) -> list[str]:
    return [text for found in _SUGGESTION.findall(message) for text in found if text]


def test_the_misplaced_anchor_fix_for_everyone_is_not_suggested() -> None:
    with pytest.raises(VanikeysError) as caught:
        parse_pattern("btc", "^@everyone$")
    assert "'@'" in caught.value.message
    assert all("@" not in s for s in _suggestions(caught.value.message))


@pytest.mark.parametrize("format_id", ["btc", "eth", "did", "trx"])
def test_every_suggested_pattern_parses(format_id: str) -> None:
    rng = random.Random(format_id)
    pool = "^$ ?@aAbBcdeFlLoO0123xzZ:!" + get_format(format_id).alphabet[:10]
    typed = [
        "^@everyone$",
        "^abc$",
        "a$b",
        "^^",
        "$",
        "^$",
        "",
        "^0x",
        "^did:key:zQ3sh",
        "^T",
        "^1",
        "ab ^cd",
        "^l0ve$",
    ]
    typed += ["".join(rng.choice(pool) for _ in range(rng.randint(1, 12))) for _ in range(400)]
    suggested = 0
    for text in typed:
        for options in ({}, {"case": "exact"}, {"fuzzy": True}):
            try:
                parse_pattern(format_id, text, **options)
            except VanikeysError as exc:
                for suggestion in _suggestions(exc.message):
                    parse_pattern(format_id, suggestion, **options)  # raises if a suggestion does not parse
                    suggested += 1
    assert suggested > 50
