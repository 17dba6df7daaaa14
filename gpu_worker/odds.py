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
import threading
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

import numpy as np

from .formats import get_format
from .patterns import Pattern, char_classes
from .positions import body_components

# Body lengths below this share of the probability are left out (for an
# anchored start: below this share of every way the first term can start).
NEGLIGIBLE_SHARE = 1e-6
# The exact simulation's work limit, in transitions followed (a new one, worked
# out and memoised, counts STEP_WORK per term it walks): about 20 ms on a 2-core
# dev box. Past it (many or long terms) the model switches to the term-by-term
# `_ChainModel`.
MAX_WORK = 20_000
STEP_WORK = 4
# The chain model's budget, in (start, set, edge, position) steps over all its
# terms (tens of ms); a term over its share of what is left drops its guards,
# then merges exclusion sets. A term's automaton keeps at most this many states.
CHAIN_WORK = 12_000_000
MAX_EXCLUSION_SETS = 8
MAX_SEARCH_STATES = 200


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
    """The model's odds for one random key of the pattern's format (cached per pattern, LRU)."""
    known = cached_odds(pattern)
    if known is None:
        known = _odds(pattern)
        remember_odds(pattern, known)
    return known


def cached_odds(pattern: Pattern) -> Odds | None:
    """The odds if this process has them (no computing)."""
    key = _cache_key(pattern)
    with _CACHE_LOCK:
        known = _CACHE.get(key)
        if known is not None:
            _CACHE.move_to_end(key)
        return known


def remember_odds(pattern: Pattern, known: Odds) -> None:
    """Keep odds computed elsewhere (bot.odds_cache computes them in a worker process)."""
    key = _cache_key(pattern)
    with _CACHE_LOCK:
        _CACHE[key] = known
        _CACHE.move_to_end(key)
        while len(_CACHE) > ODDS_CACHE_SIZE:
            _CACHE.popitem(last=False)


def _cache_key(pattern: Pattern) -> _PatternKey:
    """What makes two patterns equal, without the Pattern itself: a Pattern carries its compiled regular
    expressions (two per character), about 5 KB, and a full cache of Pattern keys held some 10 MB."""
    return (pattern.format_id, pattern.text, pattern.terms, pattern.anchored_start, pattern.anchored_end,
            pattern.case_insensitive, pattern.fuzzy)


def clear_odds_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


# Patterns' odds, least recently used first: bounded, shared by every thread of the process.
ODDS_CACHE_SIZE = 2048
_PatternKey = tuple[str, str, tuple[str, ...], bool, bool, bool, bool]
_CACHE: OrderedDict[_PatternKey, Odds] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _odds(pattern: Pattern) -> Odds:
    exact = [0.0] * (pattern.max_score + 1)
    model = _ScoreModel(pattern)
    bodies = _length_classes(pattern)
    if len(pattern.terms) == 1:  # one term: the chain model is exact (below MAX_SEARCH_STATES) and cheaper
        exact = _ChainModel(model, bodies).distribution()
    else:
        try:
            for body in bodies:
                for s, p in enumerate(model.distribution(body)):
                    exact[s] += body.weight * p
        except _TooManyStates:
            exact = _ChainModel(model, bodies).distribution()
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
    candidates = []
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
        candidates.append((length, weight, members, first_masses))
    if first is not None:
        # A length whose share of every anchored outcome (the first term taking j) is negligible is left out:
        # btc's rare short bodies (many leading zero bytes) matter only to patterns like '^1111'.
        totals = [sum(w * m[j] for _, w, _, m in candidates) for j in range(len(first) + 1)]  # type: ignore[index]
        candidates = [
            (length, weight, members, m)
            for length, weight, members, m in candidates
            if any(weight * m[j] >= NEGLIGIBLE_SHARE * totals[j] > 0 for j in range(len(first) + 1))  # type: ignore[index]
        ]
    return [
        _LengthClass(length, weight, _marginals(pattern.format_id, length), first_masses)
        for length, weight, _, first_masses in candidates
    ]


@lru_cache(maxsize=None)  # a few lengths per format
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
        self.work = 0  # transitions followed, new ones weighted by step_work: bounded by MAX_WORK
        self.step_work = STEP_WORK * (len(self.chain_terms) + 1)
        self.searches: dict[tuple, _TermSearch] = {}  # the chain model's automata, shared by body lengths
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
                            self.work += self.step_work
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


class _SearchTooBig(Exception):
    """A term search with more states than its caller's share of the work allows, even keeping one partial match."""


# A chain-model frontier key: (excluded groups, guard). The guard, None or
# (j, mask): the previous term took j characters (short of all of them), so its
# first j + 1 never appear from here on; mask: its bitap state here.
_Guard = tuple[int, int] | None
_ChainKey = tuple[int, _Guard]


class _ChainModel:
    """The fallback for patterns whose exact simulation is too big: terms one at a time, in numpy.

    From each start position, the distribution of (the longest prefix of a term
    found, where its first occurrence ends) is exact, and the next term starts
    after it. What a term's search implies about the rest of the body (a longer
    prefix of it never appears there) is kept:
    - exactly when the term found nothing at all: its first character never
      appears again, so later positions are drawn without those characters;
    - for the next term, when the longer prefix could lie inside that term
      (repeated terms, 'Love Love'): its search runs beside a guard that
      rejects bodies where the prefix appears, conditioned on the guard;
    - not otherwise (a weak condition: the prefix cannot lie inside the next
      term's match, only overlap its edges).
    Full matches are exact and partial scores within a few percent
    (tests/engine/test_odds.py checks it against the exact simulation and
    against sampled bodies). Every start position, set of excluded characters
    and guard state is computed at once: a few numpy calls per body position
    and term.
    """

    def __init__(self, model: _ScoreModel, bodies: list[_LengthClass]) -> None:
        self.model = model
        # Every body length at once: shorter bodies are padded at the front with a
        # character no term accepts (the extra group `pad`), and start after it.
        self.length = max(body.length for body in bodies)
        self.weights = np.array([body.weight for body in bodies])
        self.bodies = bodies
        self.pads = [self.length - body.length for body in bodies]
        pad = len(model.group_chars)
        self.masks = [list(masks) + [0] for masks in model.masks]
        # probability[body, q, g]: P(body[q] is in group g)
        self.probability = np.zeros((len(bodies), self.length, pad + 1))
        group_of = {c: g for g, chars in enumerate(model.group_chars) for c in chars}
        for b, body in enumerate(bodies):
            self.probability[b, : self.pads[b], pad] = 1.0
            for q, marginal in enumerate(body.marginals):
                row = self.probability[b, self.pads[b] + q]
                for char, p in marginal.items():
                    row[group_of[char]] += p
        self.first_groups = [sum(1 << g for g, m in enumerate(masks) if m & 1) for masks in self.masks]

    def _conditioned(self, excluded: list[int]) -> np.ndarray:
        """P(body[q] in group g | no excluded group at q), shape (bodies * len(excluded), length, groups)."""
        groups = self.probability.shape[2]
        keep = np.array([[not (e >> g & 1) for g in range(groups)] for e in excluded], dtype=float)
        kept = self.probability[:, None, :, :] * keep[None, :, None, :]
        total = kept.sum(axis=3, keepdims=True)
        kept = np.divide(kept, total, out=np.zeros_like(kept), where=total > 0)
        return kept.reshape(-1, self.length, groups)

    def _guarded_lengths(self, t: int) -> frozenset[int]:
        """The j for which term t taking j constrains term t + 1: its first j + 1 characters fit inside term t + 1."""
        masks, chain = self.masks, self.model.chain_terms
        if t + 1 not in chain:
            return frozenset()
        this, following = masks[t], masks[t + 1]
        span = self.model.lengths[t + 1]

        def fits(i: int, k: int) -> bool:
            return any(m >> i & 1 and n >> k & 1 for m, n in zip(this, following))

        return frozenset(
            j
            for j in range(1, self.model.lengths[t])
            if any(all(fits(i, offset + i) for i in range(j + 1)) for offset in range(span - j))
        )

    def distribution(self) -> list[float]:
        """P(score == s), mixed over the body lengths by weight."""
        model, length, top, count = self.model, self.length, self.model.max_score, len(self.bodies)
        start = np.zeros((count, top + 1, length + 1))  # P[body, score, next position]
        for b, body in enumerate(self.bodies):
            if body.first_term_masses is None:
                start[b, 0, self.pads[b]] = 1.0
            else:
                for j, mass in enumerate(body.first_term_masses):
                    start[b, j, self.pads[b] + j] += mass
        frontier: dict[_ChainKey, np.ndarray] = {(0, None): start}
        previous = None
        budget = CHAIN_WORK
        for n, t in enumerate(model.chain_terms):
            share = budget / (len(model.chain_terms) - n)
            frontier = self._merged(frontier, t)
            if len({e for e, _ in frontier}) > MAX_EXCLUSION_SETS:  # many short terms sharing characters
                frontier = self._merged(frontier, t, horizon=1)
            following: dict[_ChainKey, np.ndarray] = defaultdict(lambda: np.zeros((count, top + 1, length + 1)))
            for level in range(3):  # over budget: drop the guards, then merge every exclusion set by share
                if level == 1:
                    frontier = self._merged(frontier, t, guards=False)
                elif level == 2:
                    frontier = self._merged(frontier, t, guards=False, relevant_only=False)
                keys = [key for key, at in frontier.items() if at.any()]
                if not keys:
                    break
                excluded = sorted({e for e, _ in keys})
                # Each guard as (characters guarded, bitap state): (0, 0) for none.
                guards = sorted({(0, 0) if guard is None else (guard[0] + 1, guard[1]) for _, guard in keys})
                starts = np.flatnonzero(sum(frontier[key].any(axis=(0, 1)) for key in keys))  # where the term may start
                pairs = [
                    (b * len(excluded) + excluded.index(e), guards.index((0, 0) if guard is None else (guard[0] + 1, guard[1])))
                    for e, guard in keys
                    for b in range(count)
                ]
                # Every state but the initial ones has an edge into it, so a search with more states than this
                # is over the share whatever it turns out to be: its automaton stops building there.
                per_edge = len(pairs) * len(starts) * (length - starts[0])
                max_states = None if level == 2 else int(share // per_edge) + len(guards)
                search_key = (t, tuple(guards))
                search = model.searches.get(search_key)
                if search is None:
                    guard_masks = self.masks[previous] if previous is not None else [0] * len(self.masks[t])
                    try:
                        search = _TermSearch(
                            self.masks[t], model.lengths[t], self._guarded_lengths(t), guard_masks, guards, max_states
                        )
                    except _SearchTooBig:
                        continue  # over the share: the next level drops the guards, then merges exclusion sets
                    model.searches[search_key] = search
                work = len(pairs) * len(starts) * len(search.source) * (length - starts[0])
                if work <= share:
                    break
            if keys:
                budget -= work
                outcomes = search.outcomes(self._conditioned(excluded), pairs, starts)  # [pair, start, kind, end]
                nothing_kind = search.kinds.index((0, None))
                for i, (e, guard) in enumerate(keys):
                    at = frontier[(e, guard)][:, :, starts]
                    found = outcomes[i * count : (i + 1) * count]
                    # taken[body, score, kind, after] = sum over starts of at[., score, start] * found[., start, kind, after]
                    taken = np.einsum("bcs,bske->bcke", at, found)
                    for kind, (j, next_guard) in enumerate(search.kinds):
                        if j == 0:
                            continue
                        following[(e, next_guard)][:, j:] += taken[:, : top + 1 - j, kind]
                    nothing = found[:, np.arange(len(starts)), nothing_kind, starts]  # [body, start]
                    following[(e | self.first_groups[t], None)][:, :, starts] += at * nothing[:, None, :]
            frontier = following
            previous = t
        final = np.zeros((count, top + 1))
        for (e, _), at in frontier.items():
            if model.end_length:
                conditioned = self._conditioned([e])
                runs = np.stack([self._end_runs(conditioned[b]) for b in range(count)])  # [body, start, run]
                at_end = np.einsum("bcs,bsr->bcr", at, runs)  # [body, score, run]
                for run in range(runs.shape[2]):
                    final[:, run:] += at_end[:, : top + 1 - run, run]
            else:
                final += at.sum(axis=2)
        return (self.weights @ final).tolist()

    def _merged(
        self,
        frontier: dict[_ChainKey, np.ndarray],
        t: int,
        *,
        guards: bool = True,
        relevant_only: bool = True,
        horizon: int | None = None,
    ) -> dict[_ChainKey, np.ndarray]:
        """Exclusion sets that differ only in characters no term from t on looks for, merged.

        With `horizon`, only the next `horizon` terms count (past MAX_EXCLUSION_SETS sets).

        Such characters matter only through their share of each position (the
        rest is renormalised), so sets with the same relevant part and the same
        share of the body's uniform middle are merged; they differ only in the
        few skewed leading positions.
        """
        if len(frontier) == 1 and guards:
            return frontier
        relevant = 0
        for masks in self.masks[t : None if horizon is None else t + horizon]:
            wildcards = -1  # the '?' positions: every character fits them, so excluding one changes nothing there
            for m in masks[:-1]:
                wildcards &= m
            relevant |= sum(1 << g for g, m in enumerate(masks) if m != wildcards)
        if not relevant_only:
            relevant = 0
        middle = self.probability[0, -1]
        representatives: dict[tuple[int, float, _Guard], _ChainKey] = {}
        out: dict[_ChainKey, np.ndarray] = {}
        for (e, guard), at in frontier.items():
            share = round(sum(middle[g] for g in range(len(middle)) if (e & ~relevant) >> g & 1), 9)
            if not guards:
                guard = None
            key = representatives.setdefault((e & relevant, share, guard), (e, guard))
            out[key] = out[key] + at if key in out else at
        return out

    def _end_runs(self, probability: np.ndarray) -> np.ndarray:
        """P(the '$' term, searched from each start, ends the body with a suffix of each length)."""
        model, length, end = self.model, self.length, self.model.end_length
        fits = np.zeros(end + 1)  # fits[k]: P(body[length - k] fits the term's character k from the end)
        for k in range(1, min(end, length) + 1):
            aligned = end - k
            fits[k] = sum(probability[length - k, g] for g, m in enumerate(self.masks[-1]) if m >> aligned & 1)
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
    """One term's search from every start position: P(it takes j, its first occurrence ends at e).

    With a guard (the previous term's characters and how many of them must
    never appear together), bodies where they do are rejected and the rest
    renormalised: the search conditioned on the guard holding.
    """

    def __init__(
        self,
        masks: list[int],
        term_length: int,
        guarded: frozenset[int],
        guard_masks: list[int],
        guards: list[tuple[int, int]],
        max_states: int | None = None,
    ) -> None:
        """_SearchTooBig if even keeping one partial match it has more than `max_states` states."""
        self.term_length = term_length
        groups = len(masks)
        # Groups the pattern's two terms cannot tell apart move together.
        signatures: dict[tuple[int, int], list[int]] = defaultdict(list)
        for g in range(groups):
            signatures[(masks[g], guard_masks[g])].append(g)
        # One partial match kept first: it bounds the states ((length + 1)^2 unguarded), and where it never
        # had to drop one (terms without repeats or '?') it is already exact. Otherwise the most exact that
        # fits MAX_SEARCH_STATES; building one stops as soon as it has too many states.
        one = self._automaton(masks, term_length, signatures, guards, 1, max_states)
        if one is None:
            raise _SearchTooBig
        built: tuple | None = None
        if one[2]:
            for partials in (None, 3, 2):
                built = self._automaton(masks, term_length, signatures, guards, partials, MAX_SEARCH_STATES)
                if built is not None:
                    break
        index, edges, _ = built or one
        self.initial = [index[(0, 0, guard_length, held)] for guard_length, held in guards]
        self.states = len(index)
        state_best = np.zeros(self.states, dtype=np.int64)
        kind_of_state = []
        kind_index: dict[tuple[int, _Guard], int] = {(0, None): 0}
        for (best, mask, _, _), i in sorted(index.items(), key=lambda item: item[1]):
            state_best[i] = best
            kind = (best, (best, mask & ((1 << best) - 1)) if best in guarded else None)
            kind_of_state.append(kind_index.setdefault(kind, len(kind_index)))
        self.kinds: list[tuple[int, _Guard]] = list(kind_index)
        pairs = sorted(edges)
        self.source = np.array([s for s, _ in pairs], dtype=np.int64).reshape(-1)
        self.target = np.array([t for _, t in pairs], dtype=np.int64).reshape(-1)
        self.member = np.zeros((len(pairs), groups))  # member[edge, g]: group g takes that edge
        rows = [i for i, pair in enumerate(pairs) for _ in edges[pair]]
        self.member[rows, [g for pair in pairs for g in edges[pair]]] = 1.0
        self.grows = state_best[self.target] > state_best[self.source]
        self.kind_of_target = np.array(kind_of_state, dtype=np.int64)[self.target]
        self.walks_on = state_best[self.target] < term_length  # after a full match only its P(no growth) matters

    @staticmethod
    def _automaton(
        masks: list[int],
        term_length: int,
        signatures: dict[tuple[int, int], list[int]],
        guards: list[tuple[int, int]],
        partials: int | None,
        limit: int | None,
    ) -> tuple[dict[tuple[int, int, int, int], int], dict[tuple[int, int], list[int]], bool] | None:
        """States (best, bitap mask, guard length, guard mask) and edges, from each guard's start.

        The third element: whether a partial match was dropped (with `partials`).
        None as soon as there are more than `limit` states: a term with a long run of '?' has
        one bitap mask per subset of its partial matches (2^run), so building the automaton
        in full just to count them took seconds and gigabytes.

        With `partials`, only that many of the longest partial matches are kept
        (terms with many '?' or repeats have too many masks otherwise): a match
        starting inside a longer one that then fails is missed, which puts
        partial scores slightly low.
        """
        index: dict[tuple[int, int, int, int], int] = {}
        queue = []
        for guard_length, held in guards:
            key = (0, 0, guard_length, held)
            if key not in index:
                index[key] = len(index)
                queue.append(key)
        edges: dict[tuple[int, int], list[int]] = defaultdict(list)  # (source, target) -> groups
        dropped = False
        # What reading each group does depends on the state's best only through max(best, ...): worked out
        # once per (mask, guard) and grouped by outcome, a state walks a few moves instead of every group.
        moves: dict[tuple[int, int, int, bool], list[tuple[int, int, int, list[int]]]] = {}

        def moves_from(mask: int, guard_length: int, held: int, full: bool) -> list[tuple[int, int, int, list[int]]]:
            nonlocal dropped
            grouped: dict[tuple[int, int, int], list[int]] = defaultdict(list)
            for (fit, guard_fit), members in signatures.items():
                new_held = ((held << 1) | 1) & guard_fit if guard_length else 0
                if guard_length and new_held >> (guard_length - 1) & 1:
                    continue  # the guarded characters appeared: rejected
                if full:
                    new_mask, grown = 0, 0  # full: only the guard still reads the body
                else:
                    new_mask = ((mask << 1) | 1) & fit
                    grown = new_mask.bit_length()
                    if grown == term_length:
                        new_mask = 0
                    elif partials is not None:
                        while bin(new_mask).count("1") > partials:
                            new_mask &= new_mask - 1  # drop the shortest partial match
                            dropped = True
                grouped[(new_mask, grown, new_held)].extend(members)
            return [(m, g, h, members) for (m, g, h), members in grouped.items()]

        while queue:
            best, mask, guard_length, held = queue.pop()
            source = index[(best, mask, guard_length, held)]
            full = best == term_length
            at = (mask, guard_length, held, full)
            if at not in moves:
                moves[at] = moves_from(*at)
            for new_mask, grown, new_held, members in moves[at]:
                key = (max(best, grown), new_mask, guard_length, new_held)
                if key not in index:
                    if len(index) == limit:
                        return None
                    index[key] = len(index)
                    queue.append(key)
                edges[(source, index[key])].extend(members)
        return index, edges, dropped

    def outcomes(self, probability: np.ndarray, pairs: list[tuple[int, int]], starts: np.ndarray) -> np.ndarray:
        """[pair, start, kind, end] for each (set of probabilities, guard) pair and each of `starts` (ascending).

        Normalised over (kind, end): conditioned on the guard holding.
        """
        sets, length, states = probability.shape[0], probability.shape[1], self.states
        # Small products in einsum and bincount, not BLAS: OpenBLAS threads on a busy
        # 2-core machine made a 30 x 26 x 1500 product take 20 ms instead of 0.2.
        edge_p = np.einsum("sqg,eg->sqe", probability, self.member)  # [set, q, edge]
        keeps = ~self.grows
        keep_p, keep_targets = edge_p[:, :, keeps], self.target[keeps]
        keep_rows = (np.arange(sets)[:, None] * states + self.source[keeps][None, :]).ravel()
        # no_growth[set, q, state]: P(the term grows no more and the guard holds, from position q on)
        no_growth = np.ones((sets, length + 1, states))
        for q in range(length - 1, -1, -1):
            values = keep_p[:, q] * no_growth[:, q + 1, keep_targets]
            no_growth[:, q] = np.bincount(keep_rows, weights=values.ravel(), minlength=sets * states).reshape(sets, states)
        kinds, count, width = len(self.kinds), len(starts), len(pairs)
        pair_sets = np.array([p for p, _ in pairs])
        pair_initial = np.array([self.initial[g] for _, g in pairs])
        pair_edge_p, pair_no_growth = edge_p[pair_sets], no_growth[pair_sets]  # [pair, q, edge], [pair, q, state]
        outcomes = np.zeros((count, width, kinds, length + 1))  # start-major: the rows begun so far come first
        for k, start in enumerate(starts):
            outcomes[k, :, 0, start] = pair_no_growth[np.arange(width), start, pair_initial]
        grow, walk = np.flatnonzero(self.grows), np.flatnonzero(self.walks_on)
        grow_sources, walk_sources = self.source[grow], self.source[walk]
        # Per pair and position, all at once: P(an edge that grows the term, then no more growth), and P(each
        # edge that walks on); the scatter indices for every row, of which each position takes a prefix.
        grow_p = pair_edge_p[:, :, grow] * pair_no_growth[:, 1:, self.target[grow]]  # [pair, q, grow edge]
        walk_p = pair_edge_p[:, :, walk]  # [pair, q, walk edge]
        all_rows = np.arange(count * width)
        grow_index = ((all_rows * kinds)[:, None] + self.kind_of_target[grow][None, :]).ravel()
        walk_index = ((all_rows * states)[:, None] + self.target[walk][None, :]).ravel()
        walking = np.zeros((count, width, states))  # before reading position q
        begun = 0
        for q in range(int(starts[0]), length):
            while begun < count and starts[begun] == q:
                walking[begun, np.arange(width), pair_initial] = 1.0
                begun += 1
            rows = begun * width
            won = walking[:begun, :, grow_sources] * grow_p[None, :, q, :]  # [start, pair, grow edge]
            outcomes[:begun, :, :, q + 1] += np.bincount(
                grow_index[: rows * len(grow)], weights=won.ravel(), minlength=rows * kinds
            ).reshape(begun, width, kinds)
            moving = walking[:begun, :, walk_sources] * walk_p[None, :, q, :]  # [start, pair, walk edge]
            walking[:begun] = np.bincount(
                walk_index[: rows * len(walk)], weights=moving.ravel(), minlength=rows * states
            ).reshape(begun, width, states)
        outcomes = np.moveaxis(outcomes, 1, 0)
        total = outcomes.sum(axis=(2, 3), keepdims=True)
        return np.divide(outcomes, total, out=np.zeros_like(outcomes), where=total > 0)
