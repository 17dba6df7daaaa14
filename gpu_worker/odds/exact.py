"""The exact model: the greedy score rule simulated on every body at once (docs/odds.md, "The exact model")."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from ..formats import get_format
from ..patterns import Pattern, char_classes
from .bodies import LengthClass

if TYPE_CHECKING:
    from .term_search import TermSearch

# The simulation's budget, in transitions followed; a new one (worked out and memoised) counts STEP_WORK
# per term it walks, about what working one out costs in memo hits. Past it the chain model takes over.
# Measured on 82 patterns (docs/odds.md, "The chain model"): 5,000 put 10% error on a tail (the chain model
# answering patterns the simulation would have); 20,000 0.7% at a p50 of 15 ms; 80,000 a p50 of 36 ms.
MAX_WORK = 20_000
STEP_WORK = 4


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


class ScoreModel:
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
        self._memo: dict[tuple[_State, int, int], _State] = {}
        self.work = 0  # transitions followed, new ones weighted by step_work: bounded by MAX_WORK
        self.step_work = STEP_WORK * (len(self.chain_terms) + 1)
        self.searches: dict[
            tuple[int, tuple[tuple[int, int], ...]], TermSearch
        ] = {}  # the chain model's automata, shared by body lengths
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

    def distribution(self, body: LengthClass) -> list[float]:
        """P(score = s) for s = 0..max_score over bodies of this length class, exactly, by walking the automaton.

        TooManyStates when the walk would exceed MAX_WORK transitions (the caller falls back to the chain model).
        """
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
                    raise TooManyStates
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
        for (best, mask), t in zip(chain, self.chain_terms[len(self.chain_terms) - len(chain) :], strict=True):
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


class TooManyStates(Exception):
    """The exact model would need more than MAX_WORK transitions for this pattern."""

    pass
