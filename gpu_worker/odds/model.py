"""Which model computes a pattern's odds (docs/odds.md, "Choosing the model")."""

from __future__ import annotations

import math

from ..patterns import Pattern
from .bodies import length_classes
from .chain import ChainModel
from .exact import ScoreModel, TooManyStates
from .rarity import Odds


def compute(pattern: Pattern) -> Odds:
    """P(score >= s) for every s, uncached: the exact simulation where it fits its budget, else the chain model."""
    exact = [0.0] * (pattern.max_score + 1)
    model = ScoreModel(pattern)
    bodies = length_classes(pattern)
    if len(pattern.terms) == 1:  # one term: the chain model is exact (no partial match dropped) and cheaper
        exact = ChainModel(model, bodies).distribution()
    else:
        try:
            for body in bodies:
                for s, p in enumerate(model.distribution(body)):
                    exact[s] += body.weight * p
        except TooManyStates:
            exact = ChainModel(model, bodies).distribution()
    at_least = [0.0] * (pattern.max_score + 1)
    running = 0.0
    for s in range(pattern.max_score, -1, -1):
        running += exact[s]
        at_least[s] = min(1.0, running)
    at_least[0] = 1.0
    p_full = at_least[-1]
    return Odds(p_full, tuple(at_least), 1.0 / p_full if p_full > 0 else math.inf)
