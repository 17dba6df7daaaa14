"""The reference grinder and the session: equal to brute force over the same key indices."""

from __future__ import annotations

import itertools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import coincurve
import pytest

from gpu_worker.errors import VanikeysError
from gpu_worker.formats import CURVE_ORDER, FORMATS
from gpu_worker.grinders import GrindSession, ScanPlan, best_candidates, get_backend, grind
from gpu_worker.grinders.python import MIN_KEYS_PER_PROCESS, PythonBackend, scan_range, split_range
from gpu_worker.job import GrindJob
from gpu_worker.keyspace import Candidate, secret_for
from gpu_worker.patterns import score

START = 0x1D2C3B4A5968778695A4B3C2D1E0F00112233445566778899AABBCCDDEEFF00


def make_job(**fields: object) -> GrindJob:
    return GrindJob.parse({"v": 1, **fields})


def brute_force(job: GrindJob, start: int, n_keys: int) -> list[tuple[int, str, str, int]]:
    """(key index, secret hex, identifier, score) for every key, by one scalar multiplication each."""
    fmt = job.address_format
    pattern = job.compiled()
    split = job.split_point
    rows = []
    for i in range(n_keys):
        secret = secret_for(start, i, split is not None)
        point = coincurve.PublicKey.from_secret(secret.to_bytes(32, "big"))
        if split is not None:
            point = coincurve.PublicKey.combine_keys([split, point])
        identifier = fmt.identifier(point)
        rows.append((i, f"{secret:064x}", identifier, score(pattern, fmt.body(identifier))))
    return rows


def expected_top(rows: list[tuple[int, str, str, int]], top: int) -> list[tuple[str, str, int]]:
    ranked = sorted(rows, key=lambda row: (-row[3], row[0]))[:top]
    return [(secret, identifier, s) for _, secret, identifier, s in ranked]


PATTERNS = {"btc": "ab c", "did": "Xy z", "eth": "ab c", "trx": "ab c"}


@pytest.mark.parametrize("format_id", sorted(FORMATS))
def test_pull_equals_brute_force_over_the_same_keys(format_id: str) -> None:
    job = make_job(format=format_id, pattern=PATTERNS[format_id], budget=45, top=4)
    result = grind(job, PythonBackend(processes=1), start_scalar=START)
    assert result.checked == 45 and result.backend == "python"
    got = [(hit.secret, hit.identifier, hit.score) for hit in result.results]
    assert got == expected_top(brute_force(job, START, 45), 4)
    assert all(hit.secret_kind == "private_key" for hit in result.results)
    assert all(hit.full == (hit.score == job.compiled().max_score) for hit in result.results)


def test_ties_go_to_the_lowest_key_index() -> None:
    # One hex character: most addresses contain it, so many keys tie at the full score.
    job = make_job(format="eth", pattern="7", budget=30, top=3)
    rows = brute_force(job, START, 30)
    full_rows = [row for row in rows if row[3] == 1]
    assert len(full_rows) > 3, "the pattern must produce ties for this test to mean anything"
    result = grind(job, PythonBackend(processes=1), start_scalar=START)
    assert [hit.secret for hit in result.results] == [row[1] for row in full_rows[:3]]


def test_steps_of_any_size_give_the_same_answer() -> None:
    job = make_job(format="btc", pattern="kz zk", budget=50, top=3)
    whole = GrindSession(job, PythonBackend(processes=1), start_scalar=START)
    whole.step(50)
    pieces = GrindSession(job, PythonBackend(processes=1), start_scalar=START)
    for size in (1, 5, 7, 11, 13, 100):  # cuts fall inside points (6 keys each)
        before = pieces.checked
        pieces.step(size)
        assert pieces.checked == min(50, before + size)
    assert pieces.done and whole.done
    assert pieces.result().results == whole.result().results


def test_stop_full_stops_at_the_first_full_match_and_counts_keys_to_it() -> None:
    job = make_job(format="eth", pattern="^a", budget=600, stop="full", top=2)
    rows = brute_force(job, START, 600)
    first_full = next(row for row in rows if row[3] == 1)
    session = GrindSession(job, PythonBackend(processes=1), start_scalar=START)
    while not session.done:
        session.step(250)  # the match falls inside a step: the session must cut there
    result = session.result()
    assert session.found_full
    assert result.checked == first_full[0] + 1
    assert result.results[0].secret == first_full[1] and result.results[0].full
    # The runner-up is the best key before the match, not one after it.
    assert [hit.secret for hit in result.results] == [s for s, _, _ in expected_top(rows[: first_full[0] + 1], 2)]


def test_a_pull_whose_top_k_are_all_full_still_checks_its_whole_budget() -> None:
    # A pull is `budget` keys on every backend, so the bot can check a worker's count exactly
    # (bot/grinding/verification.py); full matches end only stop="full" jobs early.
    job = make_job(format="eth", pattern="7", budget=3000, top=2)  # nearly every key matches fully
    session = GrindSession(job, PythonBackend(processes=1), start_scalar=START)
    session.step(10)
    assert all(c.score == job.compiled().max_score for c in session.best) and not session.done
    while not session.done:
        session.step(1000)
    result = session.result()
    assert result.checked == 3000 and all(hit.full for hit in result.results)
    assert [(h.secret, h.identifier, h.score) for h in result.results] == expected_top(brute_force(job, START, 3000), 2)


def test_stop_full_without_a_match_runs_the_budget_and_returns_the_best() -> None:
    job = make_job(format="btc", pattern="^zzzz", budget=24, stop="full")
    result = grind(job, PythonBackend(processes=1), start_scalar=START)
    assert result.checked == 24 and not result.found_full
    assert [(h.secret, h.identifier, h.score) for h in result.results] == expected_top(brute_force(job, START, 24), 1)


def test_time_limit_ends_a_job_early_with_what_it_checked() -> None:
    job = make_job(format="btc", pattern="^Love", budget=10_000_000, time_limit_s=0.05)
    began = time.monotonic()
    result = grind(job, PythonBackend(processes=1), start_scalar=START)
    assert time.monotonic() - began < 5
    assert 0 < result.checked < job.budget and len(result.results) == 1


def test_min_score_rises_as_the_top_k_fills() -> None:
    seen: list[int] = []

    @dataclass
    class Recording:
        inner: PythonBackend = field(default_factory=lambda: PythonBackend(processes=1))
        name: str = "python"
        device: str = "recording"

        def scan(self, plan: ScanPlan, first_key: int, n_keys: int) -> list[Candidate]:
            seen.append(plan.min_score)
            return self.inner.scan(plan, first_key, n_keys)

        def close(self) -> None:
            self.inner.close()

    job = make_job(format="btc", pattern="abc", budget=60, top=2)
    session = GrindSession(job, Recording(), start_scalar=START)
    for _ in range(6):
        session.step(10)
    assert seen[0] == 0
    best = session.best
    assert seen[-1] == best[-1].score + 1 > 0


@dataclass
class LyingBackend:
    """A faulty or hostile backend: the session and verification must not pass its claims on."""

    report: list[Candidate]
    name: str = "liar"
    device: str = "nowhere"

    def scan(self, plan: ScanPlan, first_key: int, n_keys: int) -> list[Candidate]:
        return list(self.report)

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    "report",
    [
        [Candidate(key_index=10, score=1)],  # past the scanned range
        [Candidate(key_index=-1, score=1)],  # before it
        [Candidate(key_index=3, score=4)],  # more than the pattern's 3 characters
        [Candidate(key_index=3, score=1), Candidate(key_index=3, score=1)],  # one key twice
    ],
)
def test_a_backend_reporting_keys_it_was_not_asked_for_is_refused(report: list[Candidate]) -> None:
    job = make_job(format="btc", pattern="abc", budget=10, top=2)
    session = GrindSession(job, LyingBackend(report), start_scalar=START)
    with pytest.raises(VanikeysError) as caught:
        session.step(10)
    assert caught.value.code == "verification_failed"


def test_a_backend_inflating_a_score_fails_verification() -> None:
    job = make_job(format="btc", pattern="^zzzz", budget=10)
    true_scores = {row[0]: row[3] for row in brute_force(job, START, 10)}
    session = GrindSession(job, LyingBackend([Candidate(key_index=3, score=true_scores[3] + 1)]), start_scalar=START)
    session.step(10)
    with pytest.raises(VanikeysError) as caught:
        session.result()
    assert caught.value.code == "verification_failed"


def test_every_job_draws_a_fresh_start() -> None:
    job = make_job(format="eth", pattern="ab", budget=6)
    first = grind(job, PythonBackend(processes=1)).results[0].secret
    second = grind(job, PythonBackend(processes=1)).results[0].secret
    assert first != second


def test_test_only_start_scalar_cannot_wrap_past_the_group_order() -> None:
    job = make_job(format="eth", pattern="ab", budget=60)
    with pytest.raises(ValueError):
        GrindSession(job, PythonBackend(processes=1), start_scalar=CURVE_ORDER - 5)


def test_process_pool_matches_one_process_from_several_threads_and_shuts_down() -> None:
    plans = [
        ScanPlan.from_job(make_job(format="trx", pattern="Tr x", budget=1 << 20, top=5), START),
        ScanPlan.from_job(make_job(format="eth", pattern="ab cd", budget=1 << 20, top=3), START + 99),
    ]
    n_keys = 8_500
    backend = PythonBackend(processes=2)
    try:
        with ThreadPoolExecutor(max_workers=2) as threads:  # sessions may share one backend
            pooled = list(threads.map(lambda plan: backend.scan(plan, 7, n_keys), plans))
        pool = backend._pool
        assert pool is not None, "scans this large run on the pool"
        workers = list(pool._processes.values())
        assert len(workers) == 2
    finally:
        backend.close()
    for plan, found in zip(plans, pooled, strict=False):
        assert found == best_candidates(scan_range(plan, 7, n_keys), plan.max_candidates)
    assert all(not worker.is_alive() for worker in workers)


def test_split_range_covers_the_range_once_at_point_boundaries() -> None:
    pieces = split_range(7, 1000, 3, 6)
    assert pieces[0][0] == 7 and sum(count for _, count in pieces) == 1000
    assert all(a + n == b for (a, n), (b, _) in itertools.pairwise(pieces))
    assert all(first % 6 == 0 for first, _ in pieces[1:])


def test_a_scan_with_an_unreachable_min_score_reports_nothing() -> None:
    job = make_job(format="btc", pattern="ab", budget=12)
    plan = ScanPlan.from_job(job, START)
    assert scan_range(replace(plan, min_score=3), 0, 12) == []


def test_backend_selection() -> None:
    python = get_backend("python")
    assert python.name == "python"
    python.close()
    with pytest.raises(VanikeysError) as caught:
        get_backend("quantum")
    assert caught.value.code == "backend_unavailable" and "python" in str(caught.value)


def test_cpu_cores_sets_the_processes_and_threads_of_a_cpu_grind(monkeypatch: pytest.MonkeyPatch) -> None:
    from gpu_worker.config_fields import ConfigError
    from gpu_worker.grinders import native, python

    monkeypatch.delenv("VANIKEYS_CPU_CORES", raising=False)
    assert python.load_backend().processes == (os.cpu_count() or 1)
    monkeypatch.setenv("VANIKEYS_CPU_CORES", "1")
    with python.load_backend() as one:
        assert one.processes == 1
        plan = ScanPlan.from_job(GrindJob.parse({"v": 1, "format": "btc", "pattern": "^zz", "budget": 1}), 12345)
        keys = 3 * MIN_KEYS_PER_PROCESS  # a pool's worth of work for two cores or more
        assert one.scan(plan, 0, keys) == scan_range(plan, 0, keys)
        assert one._pool is None
    if native.compiler() is not None:
        assert native.load_backend().threads == 1
    monkeypatch.setenv("VANIKEYS_CPU_CORES", "0")
    with pytest.raises(ConfigError, match="VANIKEYS_CPU_CORES"):
        python.load_backend()
