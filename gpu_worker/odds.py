"""The odds model: how likely one random key is to score at least s, and what a pull's best is worth.

`odds(pattern)` gives P(score >= s) for every s and P(full match), for one
random key, computed rather than sampled:

- A body is drawn from its format's mixture of `BodyComponent`s
  (gpu_worker.positions): fixed length within a component, leading characters
  skewed by the numeric range. Components of the same body length are merged
  position by position, each length is computed on its own, and the results
  are mixed by weight.
- A '^'-anchored first term is exact: P(body starts with these characters) is
  an interval count on each component's number range.
- Everything else is a dynamic programme over body positions, each position
  drawn from its length's exact marginal distribution (independent across
  positions; only the first two or three positions of a base58 body are
  measurably non-uniform, and those are what anchored terms read). The
  programme simulates the score rule itself on all bodies at once
  (`_ScoreModel`): the rule needs lookahead, so every term's search runs
  speculatively and restarts whenever the previous term's best grows. For
  patterns with many short terms, whose simulation has too many states, a
  term-by-term approximation takes over (`_TermByTermModel`): exact for
  full matches, within a few percent elsewhere.

Rarity of a pull's best key (DESIGN.md, "Odds and rarity"): X = 1 / P(the
best of N keys scores >= s) = 1 / (1 - (1 - P(score >= s))^N); tiers by X
alone (a full match is a badge beside the tier, never a tier of its own).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from .formats import get_format
from .patterns import Pattern, char_classes
from .positions import body_components

# Body lengths below this share of the probability are left out (unanchored
# patterns only; an anchored start weighs each length exactly).
NEGLIGIBLE_SHARE = 1e-6
# Past this many simulation states at one position (many short terms), the
# model switches to the term-by-term approximation (`_TermByTermModel`).
MAX_STATES = 4_000


@dataclass(frozen=True)
class Odds:
    p_full: float  # P(one random key matches fully)
    p_at_least: tuple[float, ...]  # index s: P(score >= s), s = 0..max_score
    expected_keys: float  # 1 / p_full: keys to grind, on average, for a full match

    @property
    def max_score(self) -> int:
        return len(self.p_at_least) - 1


class Tier(str, Enum):
    COMMON = "Common"
    UNCOMMON = "Uncommon"
    RARE = "Rare"
    EPIC = "Epic"
    LEGENDARY = "Legendary"
    MYTHIC = "Mythic"


# Lowest "1 in X pulls" for each tier, rarest first.
TIER_THRESHOLDS: tuple[tuple[float, Tier], ...] = (
    (10_000.0, Tier.MYTHIC),
    (1000.0, Tier.LEGENDARY),
    (100.0, Tier.EPIC),
    (10.0, Tier.RARE),
    (3.0, Tier.UNCOMMON),
    (0.0, Tier.COMMON),
)


@dataclass(frozen=True)
class Rarity:
    tier: Tier
    one_in_pulls: float  # X: pulls it takes, on average, for a best this good (inf: never)


@dataclass(frozen=True)
class ScoreRarity:
    """One row of `rarity_table`: what a pull's best scoring `score` would be worth."""

    score: int
    p_at_least: float  # one key
    p_best_at_least: float  # best of the pull's keys
    one_in_pulls: float
    tier: Tier


def odds(pattern: Pattern) -> Odds:
    """The model's odds for one random key of the pattern's format (cached per pattern)."""
    return _odds(pattern)


@lru_cache(maxsize=512)
def _odds(pattern: Pattern) -> Odds:
    exact = [0.0] * (pattern.max_score + 1)
    model = _ScoreModel(pattern)
    bodies = _length_classes(pattern)
    try:
        distributions = [model.distribution(body) for body in bodies]
    except _TooManyStates:
        distributions = [_TermByTermModel(model, body).distribution() for body in bodies]
    for body, distribution in zip(bodies, distributions):
        for s, p in enumerate(distribution):
            exact[s] += body.weight * p
    at_least = [0.0] * (pattern.max_score + 1)
    running = 0.0
    for s in range(pattern.max_score, -1, -1):
        running += exact[s]
        at_least[s] = min(1.0, running)
    at_least[0] = 1.0
    p_full = at_least[-1]
    return Odds(p_full, tuple(at_least), 1.0 / p_full if p_full > 0 else math.inf)


def p_full_in(odds: Odds, keys: int) -> float:
    """P(at least one full match among `keys` random keys)."""
    return _p_any(odds.p_full, keys)


def p_best_at_least(odds: Odds, score: int, keys: int) -> float:
    """P(the best of `keys` random keys scores at least `score`)."""
    if score <= 0:
        return 1.0
    if score > odds.max_score:
        return 0.0
    return _p_any(odds.p_at_least[score], keys)


def one_in_pulls(odds: Odds, score: int, pull_keys: int) -> float:
    """X: how many pulls of `pull_keys` keys it takes, on average, for a best of at least `score`."""
    p = p_best_at_least(odds, score, pull_keys)
    return 1.0 / p if p > 0 else math.inf


def tier_for(one_in: float) -> Tier:
    """The tier of a result that takes `one_in` pulls on average (DESIGN.md: by that figure alone)."""
    return next(tier for threshold, tier in TIER_THRESHOLDS if one_in >= threshold)


def rarity(odds: Odds, score: int, pull_keys: int) -> Rarity:
    """The rarity of a pull of `pull_keys` keys whose best key scored `score`."""
    x = one_in_pulls(odds, score, pull_keys)
    return Rarity(tier_for(x), x)


def rarity_table(odds: Odds, pull_keys: int) -> list[ScoreRarity]:
    """For every score 0..max_score: its odds, and its worth as the best of a pull (for `vanikeys odds`)."""
    rows = []
    for s in range(odds.max_score + 1):
        r = rarity(odds, s, pull_keys)
        rows.append(ScoreRarity(s, odds.p_at_least[s], p_best_at_least(odds, s, pull_keys), r.one_in_pulls, r.tier))
    return rows


def _p_any(p: float, keys: int) -> float:
    """1 - (1 - p)^keys, accurate for tiny p and huge keys."""
    if keys <= 0 or p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    return -math.expm1(keys * math.log1p(-p))


@dataclass(frozen=True)
class _LengthClass:
    """All bodies of one length, merged: position marginals and first-term guess masses are mixtures."""

    length: int
    weight: float
    marginals: tuple[dict[str, float], ...]
    first_term_masses: tuple[float, ...] | None  # P(an anchored first term takes exactly j), given this length


def _length_classes(pattern: Pattern) -> list[_LengthClass]:
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
    classes = []
    for length in sorted({c.length for c in components}):
        members = [(c, m) for c, m in zip(components, masses) if c.length == length]
        weight = sum(c.weight for c, _ in members)
        if first is None:
            if weight < NEGLIGIBLE_SHARE:
                continue
            first_masses = None
        else:
            first_masses = tuple(
                sum(c.weight * m[j] for c, m in members) / weight for j in range(len(first) + 1)  # type: ignore[index]
            )
            if not any(first_masses):
                continue
        marginals = []
        for position in range(length):
            mixed: dict[str, float] = defaultdict(float)
            for c, _ in members:
                for char, p in c.position_distribution(position).items():
                    mixed[char] += c.weight * p / weight
            marginals.append(dict(mixed))
        classes.append(_LengthClass(length, weight, tuple(marginals), first_masses))
    return classes


# A state of the simulation, before reading the next position:
#   (placed, chain, run)
# placed  score of the leading terms already settled for good
# chain   for each term not yet settled, in order: (best, mask), the longest
#         prefix of it seen since its search began, and the bitap mask of
#         its prefixes matching right now. A term's search begins right after
#         the previous term's best first appeared, so when a term's best
#         grows, every later term starts afresh.
# run     for a '$' last term: how many of the latest positions, all in the
#         term's final window and after its search began, matched it
_State = tuple[int, tuple[tuple[int, int], ...], int]


class _ScoreModel:
    """P(score == s) for bodies of one length, by simulating the greedy rule on every body at once.

    The greedy rule needs lookahead (a term takes its longest prefix found
    anywhere later), so the simulation runs every term's search speculatively:
    term t + 1 is searched from where term t's best so far ended, and restarted
    whenever that best grows. At the end each term's best is exactly what the
    rule gives it. Transitions are memoised and shared across body lengths.
    """

    def __init__(self, pattern: Pattern) -> None:
        self.classes = char_classes(pattern)
        self.lengths = [len(term) for term in self.classes]
        self.anchored_end = pattern.anchored_end
        self.first_searched = 1 if pattern.anchored_start else 0
        # The chain covers the searched terms; a '$' last term is the run instead.
        self.chain_terms = list(range(self.first_searched, len(self.classes) - (1 if self.anchored_end else 0)))
        self.end_length = self.lengths[-1] if self.anchored_end else 0
        self.max_score = pattern.max_score
        # Transitions depend on the positions left only when few are left.
        self.horizon = max(self.lengths) + 2
        self._memo: dict[tuple[_State, int, int], _State | int] = {}
        self._group_characters(get_format(pattern.format_id).alphabet)

    def _group_characters(self, alphabet: str) -> None:
        """Characters the pattern cannot tell apart share a group; masks[t][g] says where group g fits term t."""
        groups: dict[tuple[int, ...], list[str]] = {}
        for char in alphabet:
            signature = tuple(
                sum(1 << q for q, accepted in enumerate(term) if char in accepted) for term in self.classes
            )
            groups.setdefault(signature, []).append(char)
        self.group_chars = list(groups.values())
        self.masks = [[signature[t] for signature in groups] for t in range(len(self.classes))]

    def _group_probabilities(
        self, distribution: dict[str, float], excluded: frozenset[str] = frozenset()
    ) -> list[tuple[int, float]]:
        probabilities = []
        for g, chars in enumerate(self.group_chars):
            p = sum(distribution.get(c, 0.0) for c in chars if c not in excluded)
            if p > 0:
                probabilities.append((g, p))
        if excluded:  # conditioned on not being excluded
            total = sum(p for _, p in probabilities)
            probabilities = [(g, p / total) for g, p in probabilities]
        return probabilities

    def _fresh(self, placed: int) -> _State:
        return self._settle(placed, tuple((0, 0) for _ in self.chain_terms), 0)

    def _settle(self, placed: int, chain: tuple[tuple[int, int], ...], run: int) -> _State:
        """Move leading terms that can grow no more into `placed`."""
        offset = len(self.chain_terms) - len(chain)
        while chain and chain[0][0] == self.lengths[self.chain_terms[offset]]:
            placed += chain[0][0]
            chain = chain[1:]
            offset += 1
        return (placed, chain, run)

    def distribution(self, body: _LengthClass) -> list[float]:
        final = [0.0] * (self.max_score + 1)
        length = body.length
        # Starting states per position, each with the characters excluded at that position.
        starts: dict[int, list[tuple[_State, float, frozenset[str]]]] = defaultdict(list)
        if body.first_term_masses is None:
            starts[0].append((self._fresh(0), 1.0, frozenset()))
        else:
            first = self.classes[0]
            for j, mass in enumerate(body.first_term_masses):
                if mass > 0:
                    excluded = first[j] if j < len(first) else frozenset()
                    starts[j].append((self._fresh(j), mass, excluded))
        frontier: dict[_State, float] = {}
        for position in range(length + 1):
            batches: dict[frozenset[str], dict[_State, float]] = defaultdict(dict)
            if frontier:
                batches[frozenset()] = frontier
            for state, mass, excluded in starts.get(position, ()):
                batch = batches[excluded]
                batch[state] = batch.get(state, 0.0) + mass
            if position == length:
                for batch in batches.values():
                    for state, p in batch.items():
                        final[self._score(state)] += p
                break
            left = min(length - position, self.horizon)
            if sum(len(batch) for batch in batches.values()) > MAX_STATES:
                raise _TooManyStates
            frontier = defaultdict(float)
            for excluded, batch in batches.items():
                groups = self._group_probabilities(body.marginals[position], excluded)
                for state, p in batch.items():
                    if not state[1] and not self.end_length:
                        final[state[0]] += p  # every term settled
                        continue
                    for g, pg in groups:
                        key = (state, g, left)
                        successor = self._memo.get(key)
                        if successor is None:
                            successor = self._memo[key] = self._step(state, g, left)
                        frontier[successor] += p * pg
        return final

    def _score(self, state: _State) -> int:
        placed, chain, run = state
        return placed + sum(best for best, _ in chain) + run

    def _step(self, state: _State, g: int, left: int) -> _State:
        """The state after reading a character of group g, with `left` positions to go (this one included)."""
        placed, chain, run = state
        new_chain = []
        restarted = False
        for (best, mask), t in zip(chain, self.chain_terms[len(self.chain_terms) - len(chain) :]):
            if restarted:
                new_chain.append((0, 0))
                continue
            length = self.lengths[t]
            mask = ((mask << 1) | 1) & self.masks[t][g]
            grown = mask.bit_length()
            if grown > best:
                best = grown
                restarted = True  # later terms search afresh from the next position
            # Partial matches too short to beat `best` before the body ends are dead weight.
            need = best + 1 - (left - 1)
            if need > 0:
                mask &= ~((1 << (need - 1)) - 1)
            new_chain.append((best, 0 if best == length else mask))
        if self.end_length:
            if restarted:
                run = 0
            else:
                aligned = self.end_length - left  # index in the '$' term of this position, if in its window
                if aligned >= 0:
                    run = run + 1 if self.masks[-1][g] >> aligned & 1 else 0
        return self._settle(placed, tuple(new_chain), run)


class _TooManyStates(Exception):
    pass


class _TermByTermModel:
    """The fallback for patterns whose exact simulation has too many states (many short terms).

    Terms are taken one at a time: from each start position, the distribution
    of (the longest prefix found, where its first occurrence ends) is exact,
    and the next term starts after it; what that first search implies about
    the rest of the body (a longer prefix never appears there) is ignored,
    which puts partial scores a few percent low (4% at worst on the test
    patterns) and leaves full matches exact.
    """

    def __init__(self, model: _ScoreModel, body: _LengthClass) -> None:
        self.model = model
        self.body = body
        # Per term, characters that fit the same places in it are one group: (fit mask, P) per position.
        self.fits: list[list[list[tuple[int, float]]]] = []
        for t in range(len(model.classes)):
            per_position = []
            for position in range(body.length):
                merged: dict[int, float] = defaultdict(float)
                for g, pg in model._group_probabilities(body.marginals[position]):
                    merged[model.masks[t][g]] += pg
                per_position.append(list(merged.items()))
            self.fits.append(per_position)
        self._no_growth: dict[tuple[int, int, int, int], float] = {}
        self._outcomes: dict[tuple[int, int], dict[tuple[int, int], float]] = {}

    def distribution(self) -> list[float]:
        model = self.model
        frontier: dict[tuple[int, int], float] = defaultdict(float)  # (score, next position) -> P
        if self.body.first_term_masses is None:
            frontier[(0, 0)] = 1.0
        else:
            for j, mass in enumerate(self.body.first_term_masses):
                if mass > 0:
                    frontier[(j, j)] += mass
        for t in model.chain_terms:
            following: dict[tuple[int, int], float] = defaultdict(float)
            for (score, start), p in frontier.items():
                for (taken, after), q in self._term_outcomes(t, start).items():
                    following[(score + taken, after)] += p * q
            frontier = following
        final = [0.0] * (model.max_score + 1)
        for (score, start), p in frontier.items():
            if model.end_length:
                for run, q in self._end_run(start).items():
                    final[score + run] += p * q
            else:
                final[score] += p
        return final

    def _term_outcomes(self, t: int, start: int) -> dict[tuple[int, int], float]:
        """P(term t, searched from `start`, takes j and its first occurrence ends before position `after`)."""
        key = (t, start)
        if key not in self._outcomes:
            self._outcomes[key] = self._search(t, start)
        return self._outcomes[key]

    def _search(self, t: int, start: int) -> dict[tuple[int, int], float]:
        fits, length = self.fits[t], self.body.length
        outcomes: dict[tuple[int, int], float] = defaultdict(float)
        outcomes[(0, start)] = self._never_grows(t, start, 0, 0)
        states: dict[tuple[int, int], float] = {(0, 0): 1.0}  # (best, mask) -> P
        for position in range(start, length):
            following: dict[tuple[int, int], float] = defaultdict(float)
            for (best, mask), p in states.items():
                for fit, pg in fits[position]:
                    new_mask = ((mask << 1) | 1) & fit
                    grown = new_mask.bit_length()
                    if grown > best:
                        outcomes[(grown, position + 1)] += p * pg * self._never_grows(t, position + 1, grown, new_mask)
                    following[(max(best, grown), new_mask)] += p * pg
            states = following
        return outcomes

    def _never_grows(self, t: int, position: int, best: int, mask: int) -> float:
        """P(no prefix of term t longer than `best` ends at or after `position`, given the current mask)."""
        key = (t, position, best, mask)
        if key in self._no_growth:
            return self._no_growth[key]
        if position == self.body.length or best == self.model.lengths[t]:
            return 1.0
        total = 0.0
        for fit, pg in self.fits[t][position]:
            new_mask = ((mask << 1) | 1) & fit
            if new_mask.bit_length() <= best:
                total += pg * self._never_grows(t, position + 1, best, new_mask)
        self._no_growth[key] = total
        return total

    def _end_run(self, start: int) -> dict[int, float]:
        """P(the '$' term, searched from `start`, ends the body with a suffix of each length)."""
        model, length = self.model, self.body.length
        runs: dict[int, float] = {0: 1.0}
        for position in range(start, length):
            aligned = model.end_length - (length - position)
            if aligned < 0:
                continue
            following: dict[int, float] = defaultdict(float)
            for run, p in runs.items():
                for fit, pg in self.fits[-1][position]:
                    following[run + 1 if fit >> aligned & 1 else 0] += p * pg
            runs = following
        return runs
