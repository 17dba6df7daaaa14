"""A 10-pull through the in-process client: every pull checks its whole budget and the bot accepts it.

The load benchmark found native 10-pulls refunded as worker faults ("claims 151552 keys for 10
whole pulls of 16384"): a pull whose best hit was already a full match ended early, so the job's
key count fell short of pulls x budget. Easy patterns below make such early matches certain.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

from bot.grinder import InProcessGrindingClient
from bot.grinding import GrindingError
from bot.grinding.verification import verified_result
from gpu_worker.errors import VanikeysError
from gpu_worker.grinders import GrindSession, ScanPlan, get_backend, grind
from gpu_worker.grinders.python import scan_range
from gpu_worker.job import GrindJob
from gpu_worker.keyspace import Candidate
from gpu_worker.odds import odds


def ten_pull(budget: int, pattern: str) -> GrindJob:
    return GrindJob.parse({"v": 1, "format": "eth", "pattern": pattern, "budget": budget, "pulls": 10})


def native_available() -> bool:
    try:
        get_backend("native").close()
    except VanikeysError:
        return False
    return True


async def run_through_client(client: InProcessGrindingClient, job: GrindJob) -> object:
    try:
        job_id = await client.submit(job)
        return await client.wait(job_id, job)  # wait() is where the bot's verification runs
    finally:
        await client.close()


NATIVE = pytest.mark.skipif(not native_available(), reason="no C++ compiler for the native kernel")


# Budgets above the first step (4096 keys) and not powers of two; "a" gives a full match in
# almost every pull's first step, "abc" in some.
@pytest.mark.parametrize(
    ("backend", "budget", "pattern"),
    [
        pytest.param("python", 4500, "a", id="python-a"),
        pytest.param("native", 10007, "a", id="native-a", marks=NATIVE),
        pytest.param("native", 10007, "abc", id="native-abc", marks=NATIVE),
    ],
)
async def test_a_ten_pull_is_accepted_with_ten_whole_budgets(backend: str, budget: int, pattern: str) -> None:
    job = ten_pull(budget, pattern)
    result = await run_through_client(InProcessGrindingClient(backend), job)
    assert result.backend == backend
    assert len(result.results) == 10
    assert result.checked == 10 * budget
    if pattern == "a":
        assert sum(hit.full for hit in result.results) >= 9
    verified_result(job, result, source="test")  # the same check again, explicitly: no fault


def test_a_pull_checks_its_whole_budget_after_a_full_match() -> None:
    job = GrindJob.parse({"v": 1, "format": "eth", "pattern": "a", "budget": 5000})
    result = grind(job, "python")
    assert result.results[0].full
    assert result.checked == 5000


@pytest.mark.parametrize("short_by", [1, 5000])
def test_a_ten_pull_claiming_fewer_keys_than_its_pulls_is_a_fault(short_by: int) -> None:
    job = ten_pull(5000, "a")
    whole = grind(job.model_copy(update={"pulls": 1}), "python")
    claimed = whole.model_copy(update={"checked": 10 * 5000 - short_by, "results": whole.results * 10})
    with pytest.raises(GrindingError) as caught:
        verified_result(job, claimed, source="test")
    assert caught.value.code == "worker_fault"


class GatedBackend:
    """The python reference scan, held until the test opens the gate: grinds that occupy their threads."""

    name = "python"
    device = "CPU x1 (gated)"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.scanning = threading.Semaphore(0)

    def scan(self, plan: ScanPlan, first_key: int, n_keys: int) -> list[Candidate]:
        self.scanning.release()
        if not self.gate.wait(timeout=30):
            raise RuntimeError("the test never opened the gate")
        return scan_range(plan, first_key, n_keys)

    def close(self) -> None:
        self.gate.set()

    async def scans_started(self, count: int, *, within_s: float) -> None:
        """Polled, not awaited in a thread: the default executor's threads may all be taken."""
        deadline = time.monotonic() + within_s
        while count:
            if self.scanning.acquire(blocking=False):
                count -= 1
            elif time.monotonic() > deadline:
                pytest.fail("the grinds never reached the engine", pytrace=False)
            else:
                await asyncio.sleep(0.01)


async def test_short_work_on_the_default_executor_never_waits_behind_grinds() -> None:
    client = InProcessGrindingClient("python", grind_threads=2)
    engine = GatedBackend()
    client._engine = engine  # the engine the client would load, replaced by one the test can hold
    job = GrindJob.parse({"v": 1, "format": "eth", "pattern": "abc", "budget": 600})
    # More grinds than the default executor has threads: before grinds had their own executor,
    # these held every default thread and the odds below waited for them.
    default_threads = min(32, (os.cpu_count() or 1) + 4)
    try:
        ids = [await client.submit(job) for _ in range(default_threads + 2)]
        await engine.scans_started(2, within_s=10)  # both grind threads are inside a scan
        pattern = job.compiled()
        try:
            figures = await asyncio.wait_for(asyncio.to_thread(odds, pattern), timeout=20)
        except TimeoutError:
            pytest.fail("the odds waited behind grind steps on the default executor", pytrace=False)
        assert figures is not None
        assert not engine.gate.is_set()  # the odds came back while the grinds were still held
        engine.gate.set()
        results = [await client.wait(job_id, job) for job_id in ids]
        assert all(result.checked == 600 and len(result.results) == 1 for result in results)
    finally:
        engine.gate.set()
        await client.close()


def test_a_grind_session_counts_what_it_scanned_with_steps_that_are_powers_of_two() -> None:
    job = GrindJob.parse({"v": 1, "format": "eth", "pattern": "a", "budget": 5000})
    session = GrindSession(job, get_backend("python"))
    try:
        for size in (4096, 4096):  # the second step is capped at the 904 keys the budget has left
            session.step(size)
        assert session.done and session.checked == 5000
    finally:
        session.backend.close()
