"""Command arguments as people type them: `/pull GO BE btc 10 --exact`.

A pattern may hold spaces (its terms), so options are read from the end: a
count, a format id, a public key, and the flags --exact / --fuzzy anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gpu_worker.formats import FORMATS
from gpu_worker.numbers import parse_int

from gpu_worker.patterns import MAX_PATTERN_LENGTH as MAX_PATTERN_CHARS  # the one pattern-length limit

_PUBKEY = re.compile(r"(0[23][0-9a-fA-F]{64}|04[0-9a-fA-F]{128})")


class ArgError(ValueError):
    """A one-line message saying what to type instead. It never repeats what was typed, so it may be
    shown in a group (numbers: VanikeysError from gpu_worker.numbers, which goes privately)."""


@dataclass(frozen=True)
class PatternArgs:
    pattern: str
    format_id: str = "btc"
    count: int = 1
    pubkey: str | None = None
    exact_case: bool = False
    fuzzy: bool = False


def _flags(args: list[str]) -> tuple[list[str], bool, bool]:
    words = [a for a in args if a.strip() and a.lower() not in ("--exact", "--fuzzy")]
    lowered = {a.lower() for a in args}
    return words, "--exact" in lowered, "--fuzzy" in lowered


def _take_format(words: list[str]) -> str:
    if len(words) > 1 and words[-1].lower() in FORMATS:
        return words.pop().lower()
    return "btc"


def parse_pull(args: list[str]) -> PatternArgs:
    words, exact, fuzzy = _flags(args)
    count = 1
    if len(words) > 1 and (words[-1].isdigit() or words[-1].isdecimal()):
        count = parse_int(words.pop(), what="the number of pulls (1 or 10)", minimum=1, maximum=10)
        if count not in (1, 10):
            raise ArgError("Pull 1 or 10 at a time: type /pull <pattern> [format] 10 for a 10-pull.")
    format_id = _take_format(words)
    if not words:
        raise ArgError("Say what to look for: /pull <pattern> [format] [10], e.g. /pull ^Love btc")
    return PatternArgs(_pattern(words), format_id, count, None, exact, fuzzy)


def _pattern(words: list[str]) -> str:
    pattern = " ".join(words)
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ArgError(f"A pattern is at most {MAX_PATTERN_CHARS} characters; shorten it.")
    return pattern


def parse_order(args: list[str]) -> PatternArgs:
    words, exact, fuzzy = _flags(args)
    pubkey = words.pop() if len(words) > 1 and _PUBKEY.fullmatch(words[-1]) else None
    format_id = _take_format(words)
    if not words:
        raise ArgError("Say what to order: /order <pattern> [format] [pubkey], e.g. /order ^Love btc")
    return PatternArgs(_pattern(words), format_id, 1, pubkey, exact, fuzzy)


def parse_odds(args: list[str]) -> PatternArgs:
    words, exact, fuzzy = _flags(args)
    format_id = _take_format(words)
    if not words:
        raise ArgError("Say which pattern: /odds <pattern> [format], e.g. /odds ^Love btc")
    return PatternArgs(_pattern(words), format_id, 1, None, exact, fuzzy)
