"""Command arguments as people type them: `/pull GO BE btc 10 --exact`, for the text front ends (Telegram, console).

A pattern may hold spaces (its terms), so options are read from the end: a
count, a format id, a public key, and the flags --exact / --fuzzy anywhere.

What is left is the pattern, unless it holds something that was clearly meant
as an option: a format id anywhere but last (`^Lo btc 1e3`), or a coin we do not
make keys for in the format's place (`^Lov doge`). Those are refused before
anything is spent, with the command to type instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gpu_worker.formats import FORMATS
from gpu_worker.i18n import _
from gpu_worker.numbers import parse_int
from gpu_worker.patterns import MAX_PATTERN_LENGTH as MAX_PATTERN_CHARS  # the one pattern-length limit

_PUBKEY = re.compile(r"(0[23][0-9a-fA-F]{64}|04[0-9a-fA-F]{128})")


class ArgError(ValueError):
    """A one-line message saying what to type instead. It never repeats what was typed, so it may be
    shown in a group (numbers: VanikeysError from gpu_worker.numbers, which goes privately)."""

    def __init__(self, message: str, code: str = "bad_pattern") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class PatternArgs:
    """A pull, order or odds command's arguments: pattern, format, count, optional public key and matching options."""

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


# Tickers people type in the format's place that VaniKeys does not make keys for. A pattern term that happens
# to spell one needs the format named after it (`/pull ^Lov doge btc`), which the refusal says.
UNSUPPORTED_COINS = frozenset(
    {
        "ada",
        "algo",
        "atom",
        "avax",
        "bch",
        "bnb",
        "bsc",
        "btg",
        "dash",
        "doge",
        "dot",
        "etc",
        "fil",
        "ltc",
        "matic",
        "near",
        "pol",
        "sol",
        "sui",
        "ton",
        "usdc",
        "usdt",
        "xlm",
        "xmr",
        "xrp",
        "xtz",
        "zec",
    }
)
_FORMAT_LIST = ", ".join(FORMATS)


def _take_format(words: list[str], usage: str) -> str:
    format_id = "btc"
    if len(words) > 1 and words[-1].lower() in FORMATS:
        format_id = words.pop().lower()
    elif len(words) > 1 and words[-1].lower() in UNSUPPORTED_COINS:
        coin = words[-1].lower()
        raise ArgError(
            _(
                "VaniKeys makes {formats} keys, not {coin}. To look for the letters '{coin}' instead, name "
                "the format after the pattern: {usage}, ending in '{coin} btc'",
                formats=_FORMAT_LIST,
                coin=coin,
                usage=usage,
            ),
            "bad_format",
        )
    misplaced = next((w.lower() for w in words if w.lower() in FORMATS), None)
    if misplaced is not None and len(words) > 1:
        raise ArgError(
            _("'{format}' is a format: put it right after the pattern, as in {usage}", format=misplaced, usage=usage),
            "bad_format",
        )
    return format_id


def parse_pull(args: list[str]) -> PatternArgs:
    """`/pull <pattern> [format] [10]` as PatternArgs; ArgError says what to type for a bad count, format or pattern."""
    words, exact, fuzzy = _flags(args)
    count = 1
    if len(words) > 1 and (words[-1].isdigit() or words[-1].isdecimal()):
        count = parse_int(words.pop(), what=_("the number of pulls (1 or 10)"), minimum=1, maximum=10)
        if count not in (1, 10):
            raise ArgError(_("Pull 1 or 10 at a time: type /pull <pattern> [format] 10 for a 10-pull."), "bad_count")
    format_id = _take_format(words, _("/pull <pattern> [format] [10]"))
    if not words:
        raise ArgError(_("Say what to look for: /pull <pattern> [format] [10], e.g. /pull ^Love btc"))
    return PatternArgs(_pattern(words), format_id, count, None, exact, fuzzy)


def _pattern(words: list[str]) -> str:
    pattern = " ".join(words)
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ArgError(_("A pattern is at most {n} characters; shorten it.", n=MAX_PATTERN_CHARS))
    return pattern


def parse_order(args: list[str]) -> PatternArgs:
    """`/order <pattern> [format] [pubkey]` as PatternArgs; ArgError says what to type instead."""
    words, exact, fuzzy = _flags(args)
    pubkey = words.pop() if len(words) > 1 and _PUBKEY.fullmatch(words[-1]) else None
    format_id = _take_format(words, _("/order <pattern> [format] [pubkey]"))
    if not words:
        raise ArgError(_("Say what to order: /order <pattern> [format] [pubkey], e.g. /order ^Love btc"))
    return PatternArgs(_pattern(words), format_id, 1, pubkey, exact, fuzzy)


def parse_odds(args: list[str]) -> PatternArgs:
    """`/odds <pattern> [format]` as PatternArgs; ArgError says what to type instead."""
    words, exact, fuzzy = _flags(args)
    format_id = _take_format(words, "/odds <pattern> [format]")
    if not words:
        raise ArgError(_("Say which pattern: /odds <pattern> [format], e.g. /odds ^Love btc"))
    return PatternArgs(_pattern(words), format_id, 1, None, exact, fuzzy)
