"""gpu_worker/numbers.py: the one parser for typed numbers."""

from __future__ import annotations

import pytest

from gpu_worker.errors import VanikeysError
from gpu_worker.numbers import is_ascii_number, parse_count, parse_decimal, parse_int


def test_counts_the_way_people_write_them() -> None:
    texts = ["200000", "200_000", "200,000", "200k", "1.5M", "1e6", "2^28", " 7 "]
    assert [parse_count(t, what="keys", minimum=1, maximum=10**15) for t in texts] == [
        200_000,
        200_000,
        200_000,
        200_000,
        1_500_000,
        1_000_000,
        1 << 28,
        7,
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("1e309", "far too large"),
        ("9" * 400, "far too large"),
        ("2^4096", "far too large"),
        ("1e16", "out of range"),
        ("0", "out of range"),
        ("²", "not a number"),
        ("٣", "not a number"),
        ("1.5", "not a whole number"),
        ("-3", "is negative"),
        ("x" * 1000, "not a number"),
    ],
)
def test_bad_counts_say_why_in_one_short_line(text: str, words: str) -> None:
    with pytest.raises(VanikeysError) as caught:
        parse_count(text, what="keys", minimum=1, maximum=10**15)
    assert caught.value.code == "bad_number"
    assert words in caught.value.message
    assert "\n" not in caught.value.message and len(caught.value.message) < 160


def test_ints_are_ascii_digits_only() -> None:
    assert parse_int("42", what="n", minimum=1, maximum=100) == 42
    for text in ("٣", "²", "１２", "4e1", "9" * 400, "101"):
        with pytest.raises(VanikeysError):
            parse_int(text, what="n", minimum=1, maximum=100)
    assert is_ascii_number("10") and not is_ascii_number("²")


def test_decimals_for_seconds() -> None:
    assert parse_decimal("2.5", what="seconds", minimum=0.1, maximum=60) == 2.5
    assert parse_decimal("60", what="seconds", minimum=0.1, maximum=60) == 60.0
    for text in ("1e309", "inf", "nan", "٣", "-1", "61", "0.05", "1.2.3", "", "3\u200b"):
        with pytest.raises(VanikeysError) as caught:
            parse_decimal(text, what="seconds", minimum=0.1, maximum=60)
        assert caught.value.code == "bad_number"
