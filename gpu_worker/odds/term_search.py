"""One term's search from every start position, as an automaton over bitap masks (docs/odds.md)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

# States of a term's automaton that keeps more than one partial match; past it the longest 3, 2, then 1 are
# kept. Measured on 82 patterns (docs/odds.md): 800 states took the worst case to 283 ms of CPU (the bound is
# 300); 200: 128 ms, 75% off 800 on one pattern's tail (long '?' runs), within the sampled checks.
MAX_SEARCH_STATES = 200

# A chain-model guard, None or (j, mask): the previous term took j characters
# (short of all of them), so its first j + 1 never appear from here on; mask:
# its bitap state here.
Guard = tuple[int, int] | None


class SearchTooBig(Exception):
    """A term search with more states than its caller's share of the work allows, even keeping one partial match."""


class TermSearch:
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
        """SearchTooBig if even keeping one partial match it has more than `max_states` states."""
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
            raise SearchTooBig
        built: tuple[dict[tuple[int, int, int, int], int], dict[tuple[int, int], list[int]], bool] | None = None
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
        kind_index: dict[tuple[int, Guard], int] = {(0, None): 0}
        for (best, mask, _, _), i in sorted(index.items(), key=lambda item: item[1]):
            state_best[i] = best
            kind = (best, (best, mask & ((1 << best) - 1)) if best in guarded else None)
            kind_of_state.append(kind_index.setdefault(kind, len(kind_index)))
        self.kinds: list[tuple[int, Guard]] = list(kind_index)
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
                        while new_mask.bit_count() > partials:
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
            no_growth[:, q] = np.bincount(keep_rows, weights=values.ravel(), minlength=sets * states).reshape(
                sets, states
            )
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
        normalised: np.ndarray = np.divide(outcomes, total, out=np.zeros_like(outcomes), where=total > 0)
        return normalised
