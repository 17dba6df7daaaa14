"""The chain model: terms one at a time, in numpy, for patterns past the exact model's budget (docs/odds.md)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .bodies import LengthClass
from .exact import ScoreModel
from .term_search import Guard, SearchTooBig, TermSearch

# The model's budget, in (pair, start, edge, position) steps over all its terms; a term over its share of what
# is left drops its guards, then merges exclusion sets. Measured on 82 patterns (docs/odds.md): 6 M kept the
# worst case to 88 ms of CPU but let 'Lo?e' x8 drop its guards (tails 3-5x too likely, 288% error); 12 M:
# 118 ms worst, 12% from 24 M; 24 M: 151 ms worst.
CHAIN_WORK = 12_000_000
# Exclusion sets carried into a term (many short terms sharing characters); past it only the next term's
# characters keep sets apart. Measured: 4 sets 36% error against 16, 8 sets 22%, 16 a p50 of 19.6 ms against 15.9.
MAX_EXCLUSION_SETS = 8


# A frontier key: (excluded groups, guard); the guard as in term_search.Guard.
_ChainKey = tuple[int, Guard]


class ChainModel:
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

    def __init__(self, model: ScoreModel, bodies: list[LengthClass]) -> None:
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
        normalised: np.ndarray = np.divide(kept, total, out=np.zeros_like(kept), where=total > 0)
        return normalised.reshape(-1, self.length, groups)

    def _guarded_lengths(self, t: int) -> frozenset[int]:
        """The j for which term t taking j constrains term t + 1: its first j + 1 characters fit inside term t + 1."""
        masks, chain = self.masks, self.model.chain_terms
        if t + 1 not in chain:
            return frozenset()
        this, following = masks[t], masks[t + 1]
        span = self.model.lengths[t + 1]

        def fits(i: int, k: int) -> bool:
            return any(m >> i & 1 and n >> k & 1 for m, n in zip(this, following, strict=True))

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
                    (
                        b * len(excluded) + excluded.index(e),
                        guards.index((0, 0) if guard is None else (guard[0] + 1, guard[1])),
                    )
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
                        search = TermSearch(
                            self.masks[t], model.lengths[t], self._guarded_lengths(t), guard_masks, guards, max_states
                        )
                    except SearchTooBig:
                        continue  # over the share: the next level drops the guards, then merges exclusion sets
                    model.searches[search_key] = search
                work = len(pairs) * len(starts) * len(search.source) * (length - starts[0])
                if work <= share:
                    break
            if keys:
                assert search is not None  # the last level builds its search uncapped
                budget -= work
                outcomes = search.outcomes(self._conditioned(excluded), pairs, starts)  # [pair, start, kind, end]
                nothing_kind = search.kinds.index((0, None))
                for i, (e, guard) in enumerate(keys):
                    at = frontier[(e, guard)][:, :, starts]
                    found = outcomes[i * count : (i + 1) * count]
                    # taken[body, score, kind, after] =
                    #     sum over starts of at[., score, start] * found[., start, kind, after]
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
        per_score: list[float] = (self.weights @ final).tolist()
        return per_score

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
        representatives: dict[tuple[int, float, Guard], _ChainKey] = {}
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
        length, end = self.length, self.model.end_length
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
