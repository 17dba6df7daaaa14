"""The body's distribution for the odds models: one entry per body length that matters, position marginals."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cache

from ..patterns import Pattern, char_classes
from ..positions import body_components

# Body lengths below this share of the probability are left out (for an
# anchored start: below this share of every way the first term can start).
NEGLIGIBLE_SHARE = 1e-6


@dataclass(frozen=True)
class LengthClass:
    """All bodies of one length, merged: position marginals and first-term guess masses are mixtures."""

    length: int
    weight: float
    marginals: tuple[dict[str, float], ...]
    first_term_masses: tuple[float, ...] | None  # P(an anchored first term takes exactly j), given this length


def length_classes(pattern: Pattern) -> list[LengthClass]:
    """The body's distribution, one entry per body length that matters.

    Components of the same length (btc: bodies with and without leading '1's)
    are merged position by position; each anchored-start mass is summed
    exactly from the components' interval counts.
    """
    components = body_components(pattern.format_id)
    first = char_classes(pattern)[0] if pattern.anchored_start else None
    masses: list[list[float] | None] = []
    for component in components:
        if first is None:
            masses.append(None)
            continue
        counts = [component.prefix_count(first[:j]) for j in range(len(first) + 1)] + [0]
        size = component.hi - component.lo
        masses.append([(counts[j] - counts[j + 1]) / size for j in range(len(first) + 1)])
    candidates = []
    for length in sorted({c.length for c in components}):
        members = [(c, m) for c, m in zip(components, masses, strict=True) if c.length == length]
        weight = sum(c.weight for c, _ in members)
        if first is None:
            if weight < NEGLIGIBLE_SHARE:
                continue
            first_masses = None
        else:
            first_masses = tuple(
                sum((c.weight * m[j] for c, m in members), 0.0) / weight  # type: ignore[index]  # with `first`, every m is a list
                for j in range(len(first) + 1)
            )
            if not any(first_masses):
                continue
        candidates.append((length, weight, members, first_masses))
    if first is not None:
        # A length whose share of every anchored outcome (the first term taking j) is negligible is left out:
        # btc's rare short bodies (many leading zero bytes) matter only to patterns like '^1111'.
        totals = [
            sum((w * m[j] for _, w, _, m in candidates), 0.0)  # type: ignore[index]  # with `first`, every m is set
            for j in range(len(first) + 1)
        ]
        candidates = [
            (length, weight, members, m)
            for length, weight, members, m in candidates
            if any(weight * m[j] >= NEGLIGIBLE_SHARE * totals[j] > 0 for j in range(len(first) + 1))  # type: ignore[index]  # as above
        ]
    return [
        LengthClass(length, weight, _marginals(pattern.format_id, length), first_masses)
        for length, weight, _, first_masses in candidates
    ]


@cache  # a few lengths per format
def _marginals(format_id: str, length: int) -> tuple[dict[str, float], ...]:
    """Each position's character distribution over all bodies of this length (the format's components mixed)."""
    members = [c for c in body_components(format_id) if c.length == length]
    weight = sum(c.weight for c in members)
    marginals = []
    for position in range(length):
        mixed: dict[str, float] = defaultdict(float)
        for c in members:
            for char, p in c.position_distribution(position).items():
                mixed[char] += c.weight * p / weight
        marginals.append(dict(mixed))
    return tuple(marginals)
