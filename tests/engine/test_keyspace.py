"""The canonical enumeration: six keys per point, consistent scalars and points."""

from __future__ import annotations

import coincurve
from hypothesis import given, settings, strategies as st

from gpu_worker.formats import CURVE_ORDER, FIELD_PRIME, public_point
from gpu_worker.keyspace import (
    BETA,
    LAMBDA,
    Candidate,
    apply_variant_to_point,
    draw_start_scalar,
    secret_for,
)


def test_endomorphism_constants() -> None:
    assert pow(LAMBDA, 3, CURVE_ORDER) == 1 and LAMBDA != 1
    assert pow(BETA, 3, FIELD_PRIME) == 1 and BETA != 1
    x, y = public_point(1)
    assert public_point(LAMBDA) == (BETA * x % FIELD_PRIME, y)


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=1, max_value=CURVE_ORDER - 1 - (1 << 20)), st.integers(min_value=0, max_value=1 << 20))
def test_every_variant_secret_derives_its_point(start: int, key_index: int) -> None:
    secret = secret_for(start, key_index, split=False)
    base = public_point(start + key_index // 6)
    assert public_point(secret) == apply_variant_to_point(*base, key_index % 6)


def test_six_distinct_keys_per_point_and_split_mode_walks_points() -> None:
    start = draw_start_scalar()
    six = {secret_for(start, i, split=False) for i in range(6)}
    assert len(six) == 6 and secret_for(start, 6, split=False) == start + 1
    assert [secret_for(start, i, split=True) for i in range(3)] == [start, start + 1, start + 2]


def test_split_offsets_add_to_the_users_key() -> None:
    d = 0xC0FFEE
    q = coincurve.PublicKey.from_secret(d.to_bytes(32, "big"))
    start = draw_start_scalar()
    k = secret_for(start, 5, split=True)
    walked = coincurve.PublicKey.combine_keys([q, coincurve.PublicKey.from_secret(k.to_bytes(32, "big"))])
    assert walked.point() == public_point((d + k) % CURVE_ORDER)


def test_start_scalars_are_fresh_and_in_range() -> None:
    starts = {draw_start_scalar() for _ in range(100)}
    assert len(starts) == 100
    assert all(1 <= s < CURVE_ORDER - (1 << 64) for s in starts)
    assert max(starts).bit_length() > 250  # drawn from the full 256-bit range


def test_candidate_rank_orders_best_first() -> None:
    found = [Candidate(7, 3), Candidate(2, 3), Candidate(9, 5), Candidate(1, 0)]
    assert sorted(found, key=lambda c: c.rank) == [Candidate(9, 5), Candidate(2, 3), Candidate(7, 3), Candidate(1, 0)]
