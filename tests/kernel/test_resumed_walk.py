"""Consecutive launches of one pull resume each work item's walk from its kept centre.

The first launch of a pull computes every item's first centre by a scalar
multiplication and keeps it; the next launches move the kept centres by one affine
addition (WalkState, kernel_plan.py; vk_first_centre, grind.cuh). The answers must not
change: checked against the python reference on small windows, and against fresh
backends (every centre multiplied afresh) on windows of many items.
"""

from __future__ import annotations

import coincurve
import pytest

from gpu_worker.formats import CURVE_ORDER
from gpu_worker.grinders.native import POINTS_PER_ITEM, NativeBackend
from gpu_worker.grinders.python import scan_range
from gpu_worker.kernel_plan import ScanParams, ScanWindow, WalkState

from .test_native_vs_python import STARTS, _plan


def test_small_windows_forward_backward_and_again_match_the_reference() -> None:
    backend = NativeBackend(threads=1)
    plan = _plan("btc", "^Lo v", "insensitive", False, STARTS[2], top=30)
    for first, count in ((0, 1200), (1200, 1200), (601, 1111), (601, 1111), (5000, 900)):
        assert backend.scan(plan, first, count) == scan_range(plan, first, count), (first, count)
    other = _plan("trx", "ab", "insensitive", False, STARTS[1], top=30)  # another pull: multiplies afresh
    assert backend.scan(other, 1200, 1200) == scan_range(other, 1200, 1200)
    split = _plan("eth", "^be e", "insensitive", False, STARTS[2], split=True)
    for first in (0, 700, 1400):
        assert backend.scan(split, first, 700) == scan_range(split, first, 700)


@pytest.mark.timeout(600)  # ~1.5 M keys hashed on the CPU: 27 s on a quiet box, 120 s on this one when loaded
def test_many_items_resumed_equal_fresh_multiplications() -> None:
    resumed = NativeBackend(threads=2)
    plan = _plan("btc", "^Ab c", "insensitive", False, STARTS[3], top=40)
    keys = 6 * POINTS_PER_ITEM * 5 + 6 * 700  # five whole items and part of a sixth
    for step in range(3):
        fresh = NativeBackend(threads=2)
        first = step * keys
        got = resumed.scan(plan, first, keys)
        assert got == fresh.scan(plan, first, keys) and len(got) == 40


def test_walk_state_moves_kept_centres_by_the_points_between_windows() -> None:
    walk = WalkState(slots=4)
    start = 0x1234567
    params = ScanParams(points_per_item=1024, n_items=6)
    walk.prepare(params, start, None, ScanWindow.of(0, 6 * 5000, 6))
    assert (params.state_items, params.resume_items) == (4, 0)  # the first launch multiplies
    params = ScanParams(points_per_item=1024, n_items=3)
    walk.prepare(params, start, None, ScanWindow.of(6 * 5000, 6 * 3000, 6))
    assert (params.state_items, params.resume_items, params.resume_moves) == (3, 3, 1)
    moved = coincurve.PublicKey.from_secret((5000).to_bytes(32, "big")).point()
    assert (params.resume_jump.x.v[0], params.resume_jump.y.v[3]) == (moved[0] & (2**64 - 1), moved[1] >> 192)
    params = ScanParams(points_per_item=1024, n_items=3)
    walk.prepare(params, start, None, ScanWindow.of(0, 6 * 3000, 6))  # backwards: moved by -5000
    back = coincurve.PublicKey.from_secret((CURVE_ORDER - 5000).to_bytes(32, "big")).point()
    assert params.resume_moves == 1 and params.resume_jump.x.v[0] == back[0] & (2**64 - 1)
    params = ScanParams(points_per_item=2048, n_items=3)  # another item size: multiply afresh
    walk.prepare(params, start, None, ScanWindow.of(0, 6 * 3000, 6))
    assert params.resume_items == 0
    walk.forget()
    params = ScanParams(points_per_item=2048, n_items=3)
    walk.prepare(params, start, None, ScanWindow.of(0, 6 * 3000, 6))
    assert params.resume_items == 0
