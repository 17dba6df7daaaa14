"""The cuda backend gives the python reference's answers, key for key (skipped without CuPy and a GPU).

The same comparisons as test_native_vs_python.py, on the device. Run them on a
GPU machine with scripts/gpu_check.sh.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import replace

import pytest

from gpu_worker.formats import CURVE_ORDER
from gpu_worker.grinders.cuda import gpu_present
from gpu_worker.grinders.python import scan_range
from gpu_worker.job import GrindJob

from .test_native_vs_python import CASES, STARTS, _jobs, _plan, assert_grinds_like_the_reference

# scripts/gpu_check.sh sets VANIKEYS_REQUIRE_GPU=1: there a missing GPU is a failure, not a skip.
REQUIRED = os.environ.get("VANIKEYS_REQUIRE_GPU") == "1"
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not REQUIRED and not gpu_present(), reason="needs an NVIDIA GPU and CuPy (pip install 'vanikeys[gpu]')"
    ),
]


@pytest.fixture(scope="module")
def cuda_backend() -> Iterator[object]:
    from gpu_worker.grinders.cuda import CudaBackend

    backend = CudaBackend()
    yield backend
    backend.close()


@pytest.mark.parametrize(("format_id", "text", "case", "fuzzy"), CASES)
def test_scan_equals_reference(cuda_backend, format_id: str, text: str, case: str, fuzzy: bool) -> None:  # type: ignore[no-untyped-def]
    for start in STARTS:
        plan = _plan(format_id, text, case, fuzzy, start)
        assert cuda_backend.scan(plan, 7, 1201) == scan_range(plan, 7, 1201)


@pytest.mark.parametrize("format_id", ["btc", "did", "eth", "trx"])
def test_thresholds_split_key_and_a_large_scan(cuda_backend, format_id: str) -> None:  # type: ignore[no-untyped-def]
    text = {"btc": "^Lov e", "did": "^Mxy z", "eth": "^abc d", "trx": "^Rab c"}[format_id]
    for min_score in (1, 2, 3):
        plan = _plan(format_id, text, "insensitive", False, STARTS[3], min_score=min_score, top=100)
        assert cuda_backend.scan(plan, 0, 3000) == scan_range(plan, 0, 3000)
    split = _plan(format_id, text, "insensitive", False, STARTS[2], split=True)
    assert cuda_backend.scan(split, 3, 700) == scan_range(split, 3, 700)
    # Many threads, many groups each: spot-check the best of a 20M-key scan against the reference.
    wide = _plan(format_id, text, "insensitive", False, secrets.randbelow(CURVE_ORDER // 2) + 1, top=3)
    best = cuda_backend.scan(wide, 0, 20_000_000)
    assert len(best) == 3
    for candidate in best:
        assert scan_range(replace(wide, max_candidates=1), candidate.key_index, 1) == [candidate]


def test_ties_and_a_full_buffer() -> None:
    from gpu_worker.grinders.cuda import CudaBackend

    small = CudaBackend(capacity=8)
    try:
        plan = _plan("eth", "e", "insensitive", False, STARTS[1], top=1)
        assert small.scan(plan, 0, 1800) == scan_range(plan, 0, 1800)
        many = _plan("btc", "ab", "insensitive", False, STARTS[1], top=40)
        assert small.scan(many, 0, 1500) == scan_range(many, 0, 1500)
    finally:
        small.close()


@pytest.mark.parametrize("job_data", _jobs(), ids=lambda j: f"{j['format']}-{j['pattern']}-{j.get('stop', 'budget')}")
def test_whole_jobs_give_the_same_result(cuda_backend, job_data: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    assert_grinds_like_the_reference(cuda_backend, GrindJob.parse(job_data))
