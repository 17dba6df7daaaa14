"""The sampling check: bodies drawn the way each format builds them, and the model measured against them.

Neither model is checked by itself: tests/engine/test_odds*.py and
benchmarks/odds_bound.py compare every tail probability with enough expected
hits to the frequency measured on sampled bodies (docs/odds.md, "Error bounds").
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import base58

from ..formats import FIELD_PRIME
from ..patterns import Pattern, score
from .rarity import Odds


def sampled_body(format_id: str, rng: random.Random) -> str:
    """A body built the way the format builds it, from a uniform hash or x-coordinate."""
    if format_id == "btc":
        return base58.b58encode_check(b"\x00" + rng.randbytes(20)).decode()[1:]
    if format_id == "trx":
        return base58.b58encode_check(b"\x41" + rng.randbytes(20)).decode()[1:]
    if format_id == "did":
        x = rng.randrange(FIELD_PRIME).to_bytes(32, "big")
        return base58.b58encode(b"\xe7\x01" + bytes([rng.choice((2, 3))]) + x).decode()[4:]
    return rng.randbytes(20).hex()


@dataclass(frozen=True)
class SampledScore:
    """One score's tail: hits the model expects among the sampled bodies, and how many scored at least that."""

    score: int
    expected: float
    measured: int

    @property
    def error(self) -> float:
        """Relative error of the model against the sample (sampling noise is about 1 / sqrt(expected))."""
        return self.expected / self.measured - 1 if self.measured else float("inf")


def against_sample(pattern: Pattern, model: Odds, bodies: list[str], *, at_least: float = 500) -> list[SampledScore]:
    """Every score s >= 1 whose tail P(score >= s) the model expects at least `at_least` times in `bodies`."""
    counts = [0] * (pattern.max_score + 2)
    for body in bodies:
        counts[score(pattern, body)] += 1
    rows = []
    for s in range(1, pattern.max_score + 1):
        expected = model.p_at_least[s] * len(bodies)
        if expected >= at_least:
            rows.append(SampledScore(s, expected, sum(counts[s:])))
    return rows
