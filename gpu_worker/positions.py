"""What a random identifier's body looks like, position by position, derived from numeric ranges.

An identifier's body is not uniform text. A base58 body is the encoding of a
number drawn uniformly from a known range, so its leading characters are
skewed (after a Bitcoin address's '1' a lowercase letter is rare) and its
length varies (a Bitcoin body is 32 or 33 characters, more leading '1's when
the hash starts with zero bytes). This module describes each format's body as
a mixture of `BodyComponent`s: within a component the body has a fixed length
and is `lead` followed by the digits of a number uniform in [lo, hi).

Everything here is exact integer arithmetic on those ranges: the probability
that a body starts with given characters (the set of numbers whose digits
start a given way is an interval per length) and each position's character
distribution. The odds model and pattern validation read these; nobody
guesses a distribution by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from .formats import BASE58_ALPHABET, FIELD_PRIME, HEX_ALPHABET, get_format


@dataclass(frozen=True)
class BodyComponent:
    """Bodies that are `lead` + the digits of a number uniform in [lo, hi), digits [skip:].

    The number is written with exactly `digits` digits (zero-padded for hex;
    for base58 every number in the range has exactly that many digits). The
    first `skip` digits are the same for the whole range: they belong to the
    format's fixed start, not to the body.
    """

    weight: float  # probability that a random body comes from this component
    lead: str  # literal start of the body (btc: one '1' per leading zero byte of the hash)
    alphabet: str
    digits: int
    skip: int
    lo: int
    hi: int

    @property
    def length(self) -> int:
        """The body length of identifiers in this component (lead characters plus digits, minus the skipped ones)."""
        return len(self.lead) + self.digits - self.skip

    @property
    def radix(self) -> int:
        """The number base of the component's digits (its alphabet's size)."""
        return len(self.alphabet)

    def digit_position(self, body_position: int) -> int:
        """The digit index that body position `body_position` shows (positions past the lead)."""
        return self.skip + body_position - len(self.lead)

    def position_distribution(self, body_position: int) -> dict[str, float]:
        """P(body[body_position] == c) for every character c with nonzero probability."""
        return _position_distribution(self, body_position)

    def prefix_probability(self, classes: Sequence[frozenset[str]]) -> float:
        """P(body[q] in classes[q] for every q < len(classes)), exact."""
        return self.prefix_count(classes) / (self.hi - self.lo)

    def prefix_count(self, classes: Sequence[frozenset[str]]) -> int:
        """How many numbers of [lo, hi) give a body starting with characters from `classes`."""
        if len(classes) > self.length:
            return 0
        lead_part, digit_part = classes[: len(self.lead)], classes[len(self.lead) :]
        if any(self.lead[q] not in accepted for q, accepted in enumerate(lead_part)):
            return 0
        index = {c: d for d, c in enumerate(self.alphabet)}
        allowed: list[frozenset[int] | None] = [None] * self.skip
        allowed += [frozenset(index[c] for c in accepted if c in index) for accepted in digit_part]
        return _count_below(self.hi, self.digits, self.radix, allowed) - _count_below(
            self.lo, self.digits, self.radix, allowed
        )


def _count_below(limit: int, width: int, radix: int, allowed: list[frozenset[int] | None]) -> int:
    """Numbers in [0, limit) whose zero-padded `width`-digit form has digit q in allowed[q]."""
    sizes = [radix if a is None else len(a) for a in allowed] + [radix] * (width - len(allowed))
    if limit >= radix**width:
        total = 1
        for size in sizes:
            total *= size
        return total
    suffix = [1] * (width + 1)
    for q in range(width - 1, -1, -1):
        suffix[q] = suffix[q + 1] * sizes[q]
    total = 0
    for q in range(width):
        digit = (limit // radix ** (width - 1 - q)) % radix
        accepted = allowed[q] if q < len(allowed) else None
        smaller = digit if accepted is None else sum(1 for d in accepted if d < digit)
        total += smaller * suffix[q + 1]
        if accepted is not None and digit not in accepted:
            break
    return total


def _count_digit(limit: int, place: int, radix: int, digit: int) -> int:
    """Numbers in [0, limit) whose digit at place value `place` equals `digit`."""
    block = place * radix
    return (limit // block) * place + min(max(limit % block - digit * place, 0), place)


@cache
def _position_distribution(component: BodyComponent, body_position: int) -> dict[str, float]:
    if body_position < len(component.lead):
        return {component.lead[body_position]: 1.0}
    position = component.digit_position(body_position)
    place = component.radix ** (component.digits - 1 - position)
    size = component.hi - component.lo
    distribution = {}
    for digit, char in enumerate(component.alphabet):
        count = _count_digit(component.hi, place, component.radix, digit) - _count_digit(
            component.lo, place, component.radix, digit
        )
        if count:
            distribution[char] = count / size
    return distribution


def _digits_of(value: int, alphabet: str) -> str:
    out = []
    while value:
        value, digit = divmod(value, len(alphabet))
        out.append(alphabet[digit])
    return "".join(reversed(out))


def _split_by_length(
    weight: float, lead: str, alphabet: str, fixed_digits: str, lo: int, hi: int
) -> list[BodyComponent]:
    """Components for numbers uniform in [lo, hi), one per digit count; checks the fixed digits."""
    radix = len(alphabet)
    parts = []
    width = max(1, len(_digits_of(lo, alphabet)))
    while radix ** (width - 1) < hi:
        part_lo, part_hi = max(lo, radix ** (width - 1)), min(hi, radix**width)
        if part_lo < part_hi:
            for end in (part_lo, part_hi - 1):
                assert _digits_of(end, alphabet).startswith(fixed_digits), (fixed_digits, end)
            parts.append(
                BodyComponent(
                    weight * (part_hi - part_lo) / (hi - lo), lead, alphabet, width, len(fixed_digits), part_lo, part_hi
                )
            )
        width += 1
    return parts


def _btc_components() -> tuple[BodyComponent, ...]:
    # 0x00 || hash160 || checksum: the 24 bytes after the version byte are a
    # uniform number h < 2**192. base58 writes each leading zero byte as '1',
    # so z leading zero bytes of h give a body of '1' * z + digits of h.
    parts: list[BodyComponent] = []
    for zeros in range(24):
        lo, hi = 1 << (184 - 8 * zeros), 1 << (192 - 8 * zeros)
        if zeros == 23:
            lo = 1
        parts += _split_by_length((hi - lo) / 2**192, "1" * zeros, BASE58_ALPHABET, "", lo, hi)
    return tuple(parts)


def _trx_components() -> tuple[BodyComponent, ...]:
    # 0x41 || 20-byte address || checksum: a number uniform in [0x41 * 2**192, 0x42 * 2**192).
    return tuple(_split_by_length(1.0, "", BASE58_ALPHABET, "T", 0x41 << 192, 0x42 << 192))


def _did_components() -> tuple[BodyComponent, ...]:
    # 0xe7 0x01 || 0x02|0x03 || x, with x a curve x-coordinate (uniform below p).
    parts: list[BodyComponent] = []
    for parity in (2, 3):
        lo = ((0xE701 << 8) | parity) << 256
        parts += _split_by_length(0.5, "", BASE58_ALPHABET, "Q3sh", lo, lo + FIELD_PRIME)
    return tuple(parts)


def _eth_components() -> tuple[BodyComponent, ...]:
    return (BodyComponent(1.0, "", HEX_ALPHABET, 40, 0, 0, 16**40),)


_BUILDERS = {"btc": _btc_components, "did": _did_components, "eth": _eth_components, "trx": _trx_components}


@cache
def body_components(format_id: str) -> tuple[BodyComponent, ...]:
    """The mixture a random body of this format is drawn from; weights sum to 1."""
    return _BUILDERS[get_format(format_id).id]()


@cache
def body_lengths(format_id: str) -> tuple[int, ...]:
    """Every body length with non-negligible probability (> 1e-12), ascending."""
    return tuple(sorted({c.length for c in body_components(format_id) if c.weight > 1e-12}))


def max_body_length(format_id: str) -> int:
    """The longest body an identifier of `format_id` can have."""
    return max(c.length for c in body_components(format_id))


def prefix_probability(format_id: str, classes: Sequence[frozenset[str]]) -> float:
    """P(a random body starts with characters from classes[0], classes[1], ...), exact."""
    return sum(c.weight * c.prefix_probability(classes) for c in body_components(format_id))


def possible_prefix(format_id: str, classes: Sequence[frozenset[str]]) -> bool:
    """Whether any body at all starts that way (exact, not rounded to a float)."""
    return any(c.prefix_count(classes) > 0 for c in body_components(format_id))


def position_distribution(format_id: str, body_position: int) -> dict[str, float]:
    """P(body[body_position] == c), over all bodies long enough to have that position."""
    totals: dict[str, float] = {}
    for component in body_components(format_id):
        if body_position < component.length:
            for char, p in component.position_distribution(body_position).items():
                totals[char] = totals.get(char, 0.0) + component.weight * p
    mass = sum(totals.values())
    return {char: p / mass for char, p in totals.items()}
