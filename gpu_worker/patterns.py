"""Vanity patterns: the grammar, validation with fix-it messages, and THE scorer.

    pattern := ['^'] term (' ' term)* ['$']
    term    := characters of the format's alphabet, '?' for any one character

Score (docs/design.md, "Score": the one definition everyone uses, the GPU kernel included):
left to right, for each term take the longest prefix of it that occurs at or
after the current position, at its leftmost occurrence, and move past it. A
'^'-anchored first term scores the longest prefix of it that starts the body;
a '$'-anchored last term the longest suffix of it that ends the body, starting
at or after the current position. '?' counts as a matched character.

Which body characters a term character accepts (`char_classes`):
- case-insensitive (the default for base58; hex is always case-insensitive):
  both cases of the letter;
- fuzzy look-alikes, groups 0/o, 1/i/l, 3/e, 4/a, 5/s, 7/t, 8/b: with
  case-insensitive matching every member in both cases; with exact case a
  letter accepts the group's digits and its letters in the same case, a
  digit accepts the group's letters in both cases;
- always intersected with the format's alphabet; '?' accepts the whole alphabet.

The format's fixed start may be typed after '^' and is dropped: for btc
'^1Love' means the same as '^Love' (a body starting with '1', an address
starting '11', is '^11...'); '^0xdead' for eth, '^TR' for trx, and
'^did:key:zQ3shX' or '^zQ3shX' for did likewise.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Literal

from .errors import VanikeysError
from .formats import HEX_ALPHABET, AddressFormat, get_format
from .i18n import N_, _
from .positions import body_components, max_body_length, possible_prefix

# The longest pattern anyone may type, in characters as typed: the service, every
# front end and the command line take it from here.
MAX_PATTERN_LENGTH = 64
MAX_TERMS = 8
FOR_EXAMPLE = N_(", e.g. {examples}")  # the suggestions a refusal ends with
TRY = N_(": try {examples}")
WILDCARD = "?"
LOOKALIKE_GROUPS = ("0o", "1il", "3e", "4a", "5s", "7t", "8b")
_LOOKALIKES = {c: group for group in LOOKALIKE_GROUPS for c in group}

CharClasses = tuple[tuple[frozenset[str], ...], ...]


@dataclass(frozen=True)
class Pattern:
    """A validated pattern for one format; build it with `parse_pattern`."""

    format_id: str
    text: str  # as typed
    terms: tuple[str, ...]  # fixed start dropped, hex lowercased, '?' kept
    anchored_start: bool
    anchored_end: bool
    case_insensitive: bool
    fuzzy: bool
    _classes: CharClasses = field(init=False, repr=False, compare=False)
    _matchers: tuple[_TermMatcher, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fmt = get_format(self.format_id)
        classes = tuple(
            tuple(accepted_chars(fmt, c, case_insensitive=self.case_insensitive, fuzzy=self.fuzzy) for c in term)
            for term in self.terms
        )
        object.__setattr__(self, "_classes", classes)
        # Case-insensitive matching also folds body characters outside the
        # alphabet (docs/design.md's example body has an 'O'); real bodies never have any.
        flags = re.ASCII | (re.IGNORECASE if self.case_insensitive else 0)
        object.__setattr__(self, "_matchers", tuple(_TermMatcher(term, flags) for term in classes))

    @property
    def max_score(self) -> int:
        """Total term characters: the score of a full match."""
        return sum(len(term) for term in self.terms)

    def __str__(self) -> str:
        return ("^" if self.anchored_start else "") + " ".join(self.terms) + ("$" if self.anchored_end else "")


def char_classes(pattern: Pattern) -> CharClasses:
    """For each term, for each of its characters, the body characters it accepts.

    After case folding and look-alikes, within the format's alphabet (canonical
    case); '?' accepts the whole alphabet. The odds model and the GPU pattern
    compiler build on this, so they accept exactly what `score` accepts.
    """
    return pattern._classes


term_classes = char_classes  # the name the kernel's pattern compiler uses


def accepted_chars(fmt: AddressFormat, char: str, *, case_insensitive: bool, fuzzy: bool) -> frozenset[str]:
    """The body characters one typed pattern character accepts (empty: it can never match)."""
    alphabet = frozenset(fmt.alphabet)
    if char == WILDCARD:
        return alphabet
    if not fmt.case_sensitive:
        case_insensitive = True
    wanted = {char}
    if fuzzy:
        for alike in _LOOKALIKES.get(char.lower(), ""):
            if alike.isdigit() or case_insensitive or char.isdigit():
                wanted |= {alike, alike.upper()}
            else:
                wanted.add(alike.upper() if char.isupper() else alike)
    if case_insensitive:
        wanted |= {c.lower() for c in wanted} | {c.upper() for c in wanted}
    return frozenset(wanted & alphabet)


def parse_pattern(
    format_id: str,
    text: str,
    *,
    case: Literal["insensitive", "exact"] = "insensitive",
    fuzzy: bool = False,
) -> Pattern:
    """Parse and validate a pattern; VanikeysError("bad_pattern") says why and what to type instead."""
    fmt = get_format(format_id)
    if case not in ("insensitive", "exact"):
        raise _bad(f"unknown case option {case!r}: use 'insensitive' or 'exact'")
    raw = text.strip() if isinstance(text, str) else ""
    if not raw:
        raise _bad(
            _("the pattern is empty: type the characters you want{examples}", examples=_for_example(fmt, case, fuzzy))
        )
    if len(raw) > MAX_PATTERN_LENGTH:
        raise _bad(
            _("the pattern is {length} characters long: use at most {most}", length=len(raw), most=MAX_PATTERN_LENGTH)
        )
    anchored_start, anchored_end = raw.startswith("^"), raw.endswith("$")
    inner = raw[1 if anchored_start else 0 : len(raw) - 1 if anchored_end else len(raw)]
    terms = inner.split()
    if anchored_start and terms:
        terms[0] = _drop_fixed_start(fmt, terms[0])
        if not terms[0]:
            terms.pop(0)
            anchored_start = False
            if not terms:
                starts = (
                    N_("every {title} identifier starts with {prefix}: type what should follow it{examples}")
                    if fmt.id == "did"
                    else N_("every {title} address starts with {prefix}: type what should follow it{examples}")
                )
                raise _bad(
                    _(
                        starts,
                        title=fmt.title,
                        prefix=repr(fmt.prefix),
                        examples=_for_example(fmt, case, fuzzy, f"^{fmt.prefix}{_example(fmt)}"),
                    )
                )
    if not fmt.case_sensitive:
        terms = [term.lower() for term in terms]
    case_insensitive = case == "insensitive" or not fmt.case_sensitive
    # The alphabet first: a fix suggested for anything else must not keep a character that never matches.
    for term in terms:
        for char in term:
            if char not in "^$" and not accepted_chars(fmt, char, case_insensitive=case_insensitive, fuzzy=fuzzy):
                raise _bad(_impossible_char_message(fmt, char, case_insensitive, fuzzy))
    if any("^" in term or "$" in term for term in terms):
        fixed = (
            ("^" if anchored_start else "")
            + " ".join(" ".join(term.replace("^", " ").replace("$", " ").split()) for term in terms)
            + ("$" if anchored_end else "")
        )
        raise _bad(
            _(
                "misplaced anchor: '^' goes only at the very start of a pattern and '$' only at the very end{examples}",
                examples=_for_example(
                    fmt, case, fuzzy, fixed, f"^{_example(fmt)[:2]} {_example(fmt)[2:]}$", prefix=TRY
                ),
            )
        )
    if not terms:
        raise _bad(
            _("the pattern has no characters to look for: type some{examples}", examples=_for_example(fmt, case, fuzzy))
        )
    if len(terms) > MAX_TERMS:
        raise _bad(
            _(
                "the pattern has {count} terms: use at most {most}, separated by single spaces",
                count=len(terms),
                most=MAX_TERMS,
            )
        )
    if anchored_start and anchored_end and len(terms) == 1:
        term = terms[0]
        raise _bad(
            _(
                "{typed} anchors one term at both ends: split it into a start and an end{examples}",
                typed=f"'^{term}$'",
                examples=_for_example(
                    fmt,
                    case,
                    fuzzy,
                    f"^{term[:2]} {term[2:]}$",
                    f"^{term[:1]} {term[1:]}$",
                    f"^{term} {_example(fmt)}$",
                    f"^{_example(fmt)[:2]} {_example(fmt)[2:]}$",
                ),
            )
        )
    pattern = Pattern(fmt.id, text, tuple(terms), anchored_start, anchored_end, case_insensitive, fuzzy)
    body_max = max_body_length(fmt.id)
    if pattern.max_score > body_max:
        raise _bad(
            _(
                "the pattern has {count} characters but {where} has at most {most} after {prefix}: shorten it",
                count=pattern.max_score,
                where=_an(fmt),
                most=body_max,
                prefix=repr(fmt.prefix),
            )
        )
    if anchored_start:
        _check_anchored_start(fmt, pattern)
    if anchored_end:
        _check_anchored_end(fmt, pattern)
    return pattern


def score(pattern: Pattern, body: str) -> int:
    """THE score of a body (the identifier without its fixed start) against a pattern."""
    return sum(end - start for start, end in match_spans(pattern, body))


def is_full(pattern: Pattern, body: str) -> bool:
    """Whether `body` matches every term of `pattern` (its score is the maximum)."""
    return score(pattern, body) == pattern.max_score


def match_spans(pattern: Pattern, body: str) -> list[tuple[int, int]]:
    """[start, end) body ranges of the matched part of each term, in order, empty ones left out.

    The lengths add up to `score`; used to highlight the match.
    """
    if not get_format(pattern.format_id).case_sensitive:
        body = body.lower()
    spans: list[tuple[int, int]] = []
    position = 0
    last = len(pattern._matchers) - 1
    for index, matcher in enumerate(pattern._matchers):
        if index == 0 and pattern.anchored_start:
            start, length = 0, matcher.longest_prefix_at_start(body)
        elif index == last and pattern.anchored_end:
            length = matcher.longest_suffix_at_end(body, position)
            start = len(body) - length
        else:
            start, length = matcher.longest_prefix_from(body, position)
        if length:
            spans.append((start, start + length))
            position = start + length
    return spans


class _TermMatcher:
    """Regular expressions for every prefix and suffix of one term's character classes."""

    def __init__(self, classes: tuple[frozenset[str], ...], flags: int) -> None:
        parts = [_regex_class(accepted) for accepted in classes]
        self.length = len(parts)
        self.prefixes = [re.compile("".join(parts[:j]), flags) for j in range(self.length + 1)]
        self.suffixes = [re.compile("".join(parts[self.length - s :]), flags) for s in range(self.length + 1)]

    # Each search below is monotone in the length (a longer match contains a
    # shorter one at the same place), so binary search finds the longest.
    def longest_prefix_from(self, body: str, position: int) -> tuple[int, int]:
        """(start, length) of the leftmost occurrence, at or after position, of the longest prefix found."""
        low, high, start = 0, min(self.length, len(body) - position), position
        while low < high:
            mid = (low + high + 1) // 2
            found = self.prefixes[mid].search(body, position)
            if found:
                low, start = mid, found.start()
            else:
                high = mid - 1
        if low:
            found = self.prefixes[low].search(body, position)
            assert found is not None
            start = found.start()
        return start, low

    def longest_prefix_at_start(self, body: str) -> int:
        low, high = 0, min(self.length, len(body))
        while low < high:
            mid = (low + high + 1) // 2
            if self.prefixes[mid].match(body):
                low = mid
            else:
                high = mid - 1
        return low

    def longest_suffix_at_end(self, body: str, position: int) -> int:
        low, high = 0, min(self.length, len(body) - position)
        while low < high:
            mid = (low + high + 1) // 2
            if self.suffixes[mid].fullmatch(body, len(body) - mid):
                low = mid
            else:
                high = mid - 1
        return low


def _regex_class(accepted: frozenset[str]) -> str:
    return "[" + "".join(re.escape(c) for c in sorted(accepted)) + "]"


def _bad(message: str) -> VanikeysError:
    return VanikeysError("bad_pattern", message)


_suggesting = threading.local()  # set while a suggestion is being checked: no suggestions for suggestions


def _for_example(fmt: AddressFormat, case: str, fuzzy: bool, *candidates: str, prefix: str = FOR_EXAMPLE) -> str:
    """', e.g. ...': the first candidate (else the format's own examples) that parses, or '' if none does."""
    if getattr(_suggesting, "active", False):
        return ""
    _suggesting.active = True
    try:
        fallbacks = (f"^{_example(fmt)}", _example(fmt).lower(), _example(fmt)[:2])
        good = []
        for candidate in candidates or fallbacks:
            if candidate not in good and _parses(fmt, candidate, case, fuzzy):
                good.append(candidate)
                if candidates or len(good) == 2:
                    break
        if not good and candidates:
            good = [c for c in fallbacks if _parses(fmt, c, case, fuzzy)][:1]
    finally:
        _suggesting.active = False
    return _(prefix, examples=_(" or ").join(f"'{c}'" for c in good)) if good else ""


def _parses(fmt: AddressFormat, candidate: str, case: str, fuzzy: bool) -> bool:
    if len(candidate.strip()) > MAX_PATTERN_LENGTH:
        return False
    try:
        parse_pattern(fmt.id, candidate, case=case, fuzzy=fuzzy)  # type: ignore[arg-type]
    except VanikeysError:
        return False
    return True


def _example(fmt: AddressFormat) -> str:
    return "cafe" if fmt.alphabet == HEX_ALPHABET else "Love"


def _drop_fixed_start(fmt: AddressFormat, term: str) -> str:
    starts = [fmt.prefix]
    if fmt.id == "did":
        starts.append(fmt.prefix.removeprefix("did:key:"))  # 'zQ3sh', as it appears after 'did:key:'
    for start in starts:
        if term.startswith(start) or (not fmt.case_sensitive and term.lower().startswith(start.lower())):
            return term[len(start) :]
    return term


def _impossible_char_message(fmt: AddressFormat, typed: str, case_insensitive: bool, fuzzy: bool) -> str:
    where = _an(fmt)
    char = typed if typed.isprintable() else ascii(typed)[1:-1]  # a control or invisible character, spelled out
    if fmt.alphabet == HEX_ALPHABET:
        alike = accepted_chars(fmt, typed, case_insensitive=True, fuzzy=True)
        hint = (
            _(" (with fuzzy matching {char} matches {alike})", char=f"'{char}'", alike=_listing(alike))
            if alike and not fuzzy
            else ""
        )
        return _(
            "{char} is not a hex digit and never appears in {where}: use only 0-9 and a-f{hint}",
            char=f"'{char}'",
            where=where,
            hint=hint,
        )
    if typed.isalnum() and typed.isascii():
        if not case_insensitive:
            other = accepted_chars(fmt, typed, case_insensitive=True, fuzzy=False)
            if other:
                return _(
                    "{char} never appears in {where} (base58 has no 0, O, I or l): drop exact case and {char} "
                    "matches {other}",
                    char=f"'{char}'",
                    where=where,
                    other=_listing(other),
                )
        alike = accepted_chars(fmt, typed, case_insensitive=case_insensitive, fuzzy=True)
        if alike and not fuzzy:
            return _(
                "{char} never appears in {where} (base58 has no 0, O, I or l): type {alike} instead, or turn on "
                "fuzzy look-alikes",
                char=f"'{char}'",
                where=where,
                alike=_listing(alike),
            )
        return _(
            "{char} never appears in {where} (base58 has no 0, O, I or l): leave it out", char=f"'{char}'", where=where
        )
    return _(
        "{char} is not a base58 character and never appears in {where}: use letters and digits (no 0, O, I or "
        "l), '?' for any character, spaces between terms",
        char=f"'{char}'",
        where=where,
    )


def _an(fmt: AddressFormat) -> str:
    """'a Bitcoin (P2PKH) address', 'an Ethereum address', 'a did:key (secp256k1) identifier'."""
    if fmt.id == "did":
        return _("a {title} identifier", title=fmt.title)
    return (
        _("an {title} address", title=fmt.title)
        if fmt.title[0].lower() in "aeiou"
        else _("a {title} address", title=fmt.title)
    )


def _listing(chars: frozenset[str]) -> str:
    return _(" or ").join(f"'{c}'" for c in sorted(chars))


def _check_anchored_start(fmt: AddressFormat, pattern: Pattern) -> None:
    first = pattern._classes[0]
    for k in range(1, len(first) + 1):
        if possible_prefix(fmt.id, first[:k]):
            continue
        typed = pattern.terms[0]
        possible = sorted(c for c in fmt.alphabet if possible_prefix(fmt.id, first[: k - 1] + (frozenset(c),)))
        start = fmt.prefix + typed[: k - 1]
        raise _bad(
            _(
                "{where} starting {start} never continues with {char} (after ^ it can only be {possible}): "
                "change that character or drop the '^'",
                where=_an(fmt),
                start=repr(start),
                char=f"'{typed[k - 1]}'",
                possible=_ranges(possible, fmt.alphabet),
            )
        )


def _check_anchored_end(fmt: AddressFormat, pattern: Pattern) -> None:
    last = pattern._classes[-1]
    for component in body_components(fmt.id):
        start = component.length - len(last)
        if start >= 0 and all(
            accepted & component.position_distribution(start + q).keys() for q, accepted in enumerate(last)
        ):
            return
    ends = (
        N_("no {title} identifier ends with {term}: change it or drop the '$'")
        if fmt.id == "did"
        else N_("no {title} address ends with {term}: change it or drop the '$'")
    )
    raise _bad(_(ends, title=fmt.title, term=repr(pattern.terms[-1])))


def _ranges(chars: list[str], alphabet: str) -> str:
    """'1-9, A-H, J-N' style listing of characters, in alphabet order."""
    indices = sorted(alphabet.index(c) for c in chars)
    runs: list[list[int]] = []
    for i in indices:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ", ".join(alphabet[r[0]] if len(r) == 1 else f"{alphabet[r[0]]}-{alphabet[r[-1]]}" for r in runs)
