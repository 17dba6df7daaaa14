"""The native build of the kernel gives exactly the python reference's answers, key for key.

Same start scalar, same key range, same plan: the candidate lists must be
identical (every format; anchored and unanchored; fuzzy and exact case;
split-key; thresholds; best-of-budget ties; a full buffer; a walk too close to
n for the affine formulas).
"""

from __future__ import annotations

import secrets
from dataclasses import replace

import coincurve
import pytest

from gpu_worker.formats import CURVE_ORDER
from gpu_worker.grinders.base import Backend, ScanPlan, grind
from gpu_worker.grinders.native import NativeBackend
from gpu_worker.grinders.python import PythonBackend, scan_range
from gpu_worker.job import GrindJob, GrindResult

STARTS = [1, 0x1234567, CURVE_ORDER // 3, 0xA5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5]
SPLIT_SECRET = 0xC0FFEE1234567890C0FFEE1234567890C0FFEE1234567890C0FFEE123456789
SPLIT_PUBKEY = coincurve.PublicKey.from_secret(SPLIT_SECRET.to_bytes(32, "big")).format().hex()

CASES = [
    # (format, pattern, case, fuzzy)
    ("btc", "^Lov", "insensitive", False),
    ("btc", "ab cd", "insensitive", False),
    ("btc", "^1a", "exact", False),
    ("btc", "Z k$", "exact", False),
    ("did", "^Mx", "exact", False),
    ("did", "l0 ve", "insensitive", True),
    ("eth", "^dead", "insensitive", False),
    ("eth", "c0 fe$", "insensitive", True),
    ("trx", "^R", "exact", False),
    ("trx", "^Ru st", "insensitive", False),
    ("trx", "7e st", "exact", True),
]


def _plan(
    format_id: str,
    text: str,
    case: str,
    fuzzy: bool,
    start: int,
    *,
    min_score: int = 0,
    top: int = 25,
    split: bool = False,
) -> ScanPlan:
    job = GrindJob.parse(
        {
            "v": 1,
            "format": format_id,
            "pattern": text,
            "case": case,
            "fuzzy": fuzzy,
            "budget": 10**9,
            "top": top,
            "split_pubkey": SPLIT_PUBKEY if split else None,
        }
    )
    return replace(ScanPlan.from_job(job, start), min_score=min_score)


@pytest.mark.parametrize(("format_id", "text", "case", "fuzzy"), CASES)
def test_scan_equals_reference(
    native_backend: NativeBackend, format_id: str, text: str, case: str, fuzzy: bool
) -> None:
    for start in STARTS[1:3]:
        plan = _plan(format_id, text, case, fuzzy, start)
        # Odd first key and length: partial points at both ends.
        assert native_backend.scan(plan, 7, 1201) == scan_range(plan, 7, 1201)


@pytest.mark.parametrize("format_id", ["btc", "did", "eth", "trx"])
def test_thresholds_and_the_range_filter(native_backend: NativeBackend, format_id: str) -> None:
    text = {"btc": "^Lov e", "did": "^Mxy z", "eth": "^abc d", "trx": "^Rab c"}[format_id]
    for min_score in (1, 2, 3):
        plan = _plan(format_id, text, "insensitive", False, STARTS[3], min_score=min_score, top=100)
        assert native_backend.scan(plan, 0, 3000) == scan_range(plan, 0, 3000)
    nothing = _plan(format_id, text, "insensitive", False, STARTS[3], min_score=99)
    assert native_backend.scan(nothing, 0, 600) == []


@pytest.mark.parametrize(
    ("text", "case", "min_score"),
    [
        ("ab", "insensitive", 2),  # about one key in 26 has it, a sixth of those in the checksum's last digits
        ("Ab", "exact", 1),
        ("9zk", "insensitive", 2),
        ("Zk$", "exact", 1),
        ("vanikey", "insensitive", 0),  # a pull's rising threshold: the thread's best so far
        ("vanikey", "insensitive", 7),  # an order: the checksum bound rules out nearly every key
    ],
)
def test_single_term_btc_patterns(native_backend: NativeBackend, text: str, case: str, min_score: int) -> None:
    """Single-term btc patterns, where the host may skip a key's checksum (its bound: test_primitives.py)."""
    plan = _plan("btc", text, case, False, STARTS[1], min_score=min_score, top=100 if min_score else 3)
    assert native_backend.scan(plan, 0, 3000) == scan_range(plan, 0, 3000)


@pytest.mark.parametrize("format_id", ["btc", "did", "eth", "trx"])
def test_split_key_mode(native_backend: NativeBackend, format_id: str) -> None:
    text = {"btc": "^Q a", "did": "^N", "eth": "^b e", "trx": "^Ra"}[format_id]
    plan = _plan(format_id, text, "insensitive", False, STARTS[2], split=True)
    assert native_backend.scan(plan, 3, 700) == scan_range(plan, 3, 700)


def test_best_of_budget_ties_go_to_the_lowest_key_index(native_backend: NativeBackend) -> None:
    # One hex character: about one key in sixteen scores 1, so ties are everywhere.
    plan = _plan("eth", "e", "insensitive", False, STARTS[1], top=1)
    best = native_backend.scan(plan, 0, 1800)
    assert best == scan_range(plan, 0, 1800)
    assert len(best) == 1 and best[0].score == 1
    top = replace(plan, max_candidates=7)
    assert native_backend.scan(top, 0, 1800) == scan_range(top, 0, 1800)


def test_a_full_candidate_buffer_still_gives_the_exact_answer() -> None:
    small = NativeBackend(capacity=8)
    plan = _plan("btc", "ab", "insensitive", False, STARTS[1], top=40)
    assert small.scan(plan, 0, 1500) == scan_range(plan, 0, 1500)
    everything = replace(plan, max_candidates=2000)
    assert small.scan(everything, 0, 300) == scan_range(everything, 0, 300)


def test_a_walk_that_would_wrap_past_n_uses_the_reference() -> None:
    backend = NativeBackend(threads=1)
    plan = _plan("trx", "^Rab c", "insensitive", False, CURVE_ORDER - 900)
    assert backend.scan(plan, 0, 600) == scan_range(plan, 0, 600)


def _jobs() -> list[dict[str, object]]:
    return [
        {"v": 1, "format": "btc", "pattern": "^Ki ng", "budget": 4000, "top": 3},
        {"v": 1, "format": "eth", "pattern": "^b", "budget": 6000, "stop": "full"},
        {"v": 1, "format": "did", "pattern": "^N", "case": "exact", "budget": 5000, "stop": "full", "top": 2},
        {
            "v": 1,
            "format": "trx",
            "pattern": "ab cd",
            "fuzzy": True,
            "budget": 3000,
            "top": 2,
            "split_pubkey": SPLIT_PUBKEY,
        },
        {"v": 1, "format": "eth", "pattern": "fffffff", "budget": 1200, "stop": "full"},  # budget runs out first
    ]


def assert_grinds_like_the_reference(backend: Backend, job: GrindJob) -> GrindResult:
    """The whole job on `backend`, from a random start, gives the python reference's result; returns it."""
    start = secrets.randbelow(CURVE_ORDER // 2) + 1
    reference = PythonBackend(processes=1)
    try:
        expected = grind(job, reference, start_scalar=start)
    finally:
        reference.close()
    got = grind(job, backend, start_scalar=start)
    assert got.checked == expected.checked
    assert got.results == expected.results, f"start scalar {start:#x}"
    return got


@pytest.mark.parametrize("job_data", _jobs(), ids=lambda j: f"{j['format']}-{j['pattern']}-{j.get('stop', 'budget')}")
def test_whole_jobs_give_the_same_result(native_backend: NativeBackend, job_data: dict[str, object]) -> None:
    job = GrindJob.parse(job_data)
    got = assert_grinds_like_the_reference(native_backend, job)
    if job.stop == "full" and got.results and got.results[0].full:
        assert got.checked < job.budget
