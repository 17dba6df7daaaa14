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
  patterns whose simulation costs too much (many or long terms: the states
  multiply), a term-by-term model in numpy takes over (`_ChainModel`): exact
  for full matches, within a few percent elsewhere, a few tens of ms at worst.

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

import numpy as np

from .formats import get_format
from .patterns import Pattern, char_classes
from .positions import body_components

# Body lengths below this share of the probability are left out (unanchored
# patterns only; an anchored start weighs each length exactly).
NEGLIGIBLE_SHARE = 1e-6
# The exact simulation's work limit, in transitions followed (a new one, worked
# out and memoised, counts STEP_WORK): about 30 ms on a 2-core dev box. Past it
# (many or long terms) the model switches to the term-by-term `_ChainModel`.
MAX_WORK = 30_000
STEP_WORK = 8


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
        distributions = [_ChainModel(model, body).distribution() for body in bodies]
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
        self.work = 0  # transitions followed, new ones weighted by STEP_WORK: bounded by MAX_WORK
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
            frontier = defaultdict(float)
            for excluded, batch in batches.items():
                groups = self._group_probabilities(body.marginals[position], excluded)
                self.work += len(batch) * len(groups)
                if self.work > MAX_WORK:
                    raise _TooManyStates
                for state, p in batch.items():
                    if not state[1] and not self.end_length:
                        final[state[0]] += p  # every term settled
                        continue
                    for g, pg in groups:
                        key = (state, g, left)
                        successor = self._memo.get(key)
                        if successor is None:
                            successor = self._memo[key] = self._step(state, g, left)
                            self.work += STEP_WORK
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


class _ChainModel:
    """The fallback for patterns whose exact simulation is too big: terms one at a time, in numpy.

    From each start position, the distribution of (the longest prefix of a term
    found, where its first occurrence ends) is exact, and the next term starts
    after it. What a term's search implies about the rest of the body is kept
    when the term found nothing at all (its first character never appears
    again: later positions are drawn without those characters, exactly) and
    dropped otherwise (a longer prefix never appears later: a weak condition),
    which leaves full matches exact and partial scores within a few percent
    (tests/engine/test_odds.py checks it against the exact simulation and
    against sampled bodies). Every start position is computed at once, and so
    is every set of excluded characters, so the cost is a few numpy calls per
    body position and term.
    """

    def __init__(self, model: _ScoreModel, body: _LengthClass) -> None:
        self.model = model
        self.length = body.length
        self.first_term_masses = body.first_term_masses
        groups = len(model.group_chars)
        # probability[q, g]: P(body[q] is in group g)
        self.probability = np.array(
            [[sum(body.marginals[q].get(c, 0.0) for c in chars) for chars in model.group_chars] for q in range(self.length)]
        ).reshape(self.length, groups)
        self.first_groups = [sum(1 << g for g in range(groups) if masks[g] & 1) for masks in model.masks]

    def _conditioned(self, excluded: list[int]) -> np.ndarray:
        """P(body[q] in group g | no excluded group at q), shape (len(excluded), length, groups)."""
        groups = self.probability.shape[1]
        keep = np.array([[not (e >> g & 1) for g in range(groups)] for e in excluded], dtype=float)
        kept = self.probability[None, :, :] * keep[:, None, :]
        total = kept.sum(axis=2, keepdims=True)
        return np.divide(kept, total, out=np.zeros_like(kept), where=total > 0)

    def distribution(self) -> list[float]:
        model, length, top = self.model, self.length, self.model.max_score
        frontier: dict[int, np.ndarray] = {0: np.zeros((top + 1, length + 1))}  # excluded -> P[score, next position]
        if self.first_term_masses is None:
            frontier[0][0, 0] = 1.0
        else:
            for j, mass in enumerate(self.first_term_masses):
                frontier[0][j, j] += mass
        for t in model.chain_terms:
            frontier = self._merged(frontier, t)
            excluded = list(frontier)
            outcomes = _TermSearch(model.masks[t], model.lengths[t], length).outcomes(self._conditioned(excluded))
            following: dict[int, np.ndarray] = defaultdict(lambda: np.zeros((top + 1, length + 1)))
            for i, e in enumerate(excluded):
                # taken[score, j, after] = sum over starts of frontier[score, start] * outcomes[start, j, after]
                taken = np.tensordot(frontier[e], outcomes[i], axes=(1, 0))
                for j in range(1, taken.shape[1]):
                    following[e][j:] += taken[: top + 1 - j, j]
                following[e | self.first_groups[t]] += frontier[e] * np.diagonal(outcomes[i][:, 0, :])[None, :]
            frontier = following
        final = np.zeros(top + 1)
        for e, at in frontier.items():
            if model.end_length:
                runs = self._end_runs(self._conditioned([e])[0])  # [start, run]
                at_end = at @ runs  # [score, run]
                for run in range(runs.shape[1]):
                    final[run:] += at_end[: top + 1 - run, run]
            else:
                final += at.sum(axis=1)
        return final.tolist()

    def _merged(self, frontier: dict[int, np.ndarray], t: int) -> dict[int, np.ndarray]:
        """Exclusion sets that differ only in characters no term from t on looks for, merged.

        Such characters matter only through their share of each position (the
        rest is renormalised), so sets with the same relevant part and the same
        share of the body's uniform middle are merged; they differ only in the
        few skewed leading positions.
        """
        if len(frontier) == 1:
            return frontier
        relevant = 0
        for masks in self.model.masks[t:]:
            relevant |= sum(1 << g for g, m in enumerate(masks) if m)
        middle = self.probability[-1]
        merged: dict[tuple[int, float], int] = {}
        out: dict[int, np.ndarray] = {}
        for e, at in frontier.items():
            key = (e & relevant, round(sum(middle[g] for g in range(len(middle)) if (e & ~relevant) >> g & 1), 9))
            representative = merged.setdefault(key, e)
            if representative in out:
                out[representative] = out[representative] + at
            else:
                out[representative] = at
        return out

    def _end_runs(self, probability: np.ndarray) -> np.ndarray:
        """P(the '$' term, searched from each start, ends the body with a suffix of each length)."""
        model, length, end = self.model, self.length, self.model.end_length
        fits = np.zeros(end + 1)  # fits[k]: P(body[length - k] fits the term's character k from the end)
        for k in range(1, min(end, length) + 1):
            aligned = end - k
            fits[k] = sum(probability[length - k, g] for g, m in enumerate(model.masks[-1]) if m >> aligned & 1)
        runs = np.zeros((length + 1, end + 1))
        for start in range(length + 1):
            cap = min(end, length - start)
            matched = 1.0
            for r in range(cap):
                runs[start, r] = matched * (1.0 - fits[r + 1])
                matched *= fits[r + 1]
            runs[start, cap] = matched
        return runs


class _TermSearch:
    """One term's search from every start position: P(it takes j, its first occurrence ends at e)."""

    def __init__(self, masks: list[int], term_length: int, body_length: int) -> None:
        self.term_length, self.body_length = term_length, body_length
        self.groups = len(masks)
        index: dict[tuple[int, int], int] = {(0, 0): 0}
        queue = [(0, 0)]
        fits = sorted(set(masks))
        edges: dict[tuple[int, int], list[int]] = {}  # (source, target or -1 for full) -> groups
        while queue:
            best, mask = queue.pop()
            source = index[(best, mask)]
            for fit in fits:
                new_mask = ((mask << 1) | 1) & fit
                new_best = max(best, new_mask.bit_length())
                if new_best == term_length:
                    target = -1 - new_best  # full: nothing left to grow
                else:
                    key = (new_best, new_mask)
                    if key not in index:
                        index[key] = len(index)
                        queue.append(key)
                    target = index[key]
                edges.setdefault((source, target), []).extend(g for g, m in enumerate(masks) if m == fit)
        self.states = len(index)
        best_of = np.zeros(self.states, dtype=np.int64)
        for (best, _), i in index.items():
            best_of[i] = best
        pairs = sorted(edges)
        self.source = np.array([s for s, _ in pairs], dtype=np.int64)
        target = np.array([t for _, t in pairs], dtype=np.int64)
        self.member = np.zeros((len(pairs), self.groups))  # member[edge, g]: group g takes that edge
        for i, pair in enumerate(pairs):
            self.member[i, edges[pair]] = 1.0
        full = target < 0
        taken = np.where(full, -1 - target, best_of[np.where(full, 0, target)])
        self.grows = taken > best_of[self.source]
        self.taken = taken
        self.full = full
        self.target = np.where(full, self.states, target)  # index `states`: a full state, P(no growth) = 1

    def outcomes(self, probability: np.ndarray) -> np.ndarray:
        """[excluded, start, j, end] for the given per-position group probabilities [excluded, q, g]."""
        sets, length, states = probability.shape[0], self.body_length, self.states
        edge_p = probability @ self.member.T  # [set, q, edge]
        no_growth = np.ones((sets, length + 1, states + 1))
        keeps = ~self.grows
        keep_sources = np.zeros((int(keeps.sum()), states))
        keep_sources[np.arange(keep_sources.shape[0]), self.source[keeps]] = 1.0
        keep_p, keep_targets = edge_p[:, :, keeps], self.target[keeps]
        for q in range(length - 1, -1, -1):
            no_growth[:, q, :states] = (keep_p[:, q] * no_growth[:, q + 1, keep_targets]) @ keep_sources
        outcomes = np.zeros((sets, length + 1, self.term_length + 1, length + 1))
        starts = np.arange(length + 1)
        outcomes[:, starts, 0, starts] = no_growth[:, :, 0]
        grow = np.flatnonzero(self.grows)
        stay = np.flatnonzero(~self.full)
        taken_one_hot = np.zeros((len(grow), self.term_length + 1))
        taken_one_hot[np.arange(len(grow)), self.taken[grow]] = 1.0
        walking = np.zeros((sets, length + 1, states))  # [set, start, state] before reading position q
        rows = (np.arange(sets)[:, None] * (length + 1) + starts[None, :]).reshape(-1, 1) * states
        for q in range(length):
            walking[:, q, 0] = 1.0
            moving = walking[:, :, self.source] * edge_p[:, q, None, :]  # [set, start, edge]
            won = moving[:, :, grow] * no_growth[:, q + 1][:, None, self.target[grow]]
            outcomes[:, :, :, q + 1] += won @ taken_one_hot
            flat = (rows + self.target[stay][None, :]).ravel()
            walking = np.bincount(flat, weights=moving[:, :, stay].reshape(-1), minlength=sets * (length + 1) * states)
            walking = walking.reshape(sets, length + 1, states)
        return outcomes
