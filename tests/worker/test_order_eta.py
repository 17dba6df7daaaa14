"""An order's speed and ETA come from measured rates, never from a chunk's start-up sample.

Seen in the community trial: a Discord order's first estimate said "689 keys/s, ETA 1.8 h" and settled at
3.4 min. A chunk's first report averages over its start-up (the worker loading, the first small step); the
rate it then grinds at shows between its reports.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest

from bot.grinding import OrderPolicy, OrderProgress, orders
from bot.grinding.model import GrindProgress
from gpu_worker.job import GrindJob, GrindResult

JOB = GrindJob.parse({"v": 1, "format": "btc", "pattern": "^abcd", "budget": 1, "stop": "full"})
STEADY = 22_000.0  # keys/s the chunk grinds at once started
EXPECTED = STEADY * 204  # about 3.4 minutes of work at that rate
POLICY = OrderPolicy(chunk_seconds=60.0, initial_rate=STEADY, max_parallel=1)


class ScriptedChunks:
    """Chunks that report what the script says, then run until cancelled."""

    durable = False

    def __init__(self, script: list[GrindProgress]) -> None:
        self.script = script
        self.ids = itertools.count(1)
        self.reported = asyncio.Event()

    async def submit(self, job: GrindJob) -> str:
        return f"chunk-{next(self.ids)}"

    async def wait(self, job_id: str, job: GrindJob, on_progress=None) -> GrindResult:  # type: ignore[no-untyped-def]
        for progress in self.script:
            await on_progress(progress)
        self.reported.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def cancel(self, job_id: str) -> None:
        return None


async def progress_of(script: list[GrindProgress]) -> list[OrderProgress]:
    runner = ScriptedChunks(script)
    reports: list[OrderProgress] = []
    task = asyncio.create_task(orders.run_order(runner, JOB, EXPECTED, POLICY, reports.append))
    await asyncio.wait_for(runner.reported.wait(), 10)
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return reports


@pytest.fixture(autouse=True)
def every_report(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orders, "PROGRESS_INTERVAL_S", 0.0)


async def test_the_start_up_sample_gives_no_eta_and_the_measured_rate_does() -> None:
    start_up = GrindProgress(checked=689, rate=689.0, elapsed_s=1.0)  # the first report: mostly start-up
    steady = GrindProgress(checked=689 + int(2 * STEADY), rate=14_900.0, elapsed_s=3.0)
    reports = await progress_of([start_up, steady])

    shown = [(r.rate, r.eta_s) for r in reports]
    assert all(rate == 0 and eta is None for rate, eta in shown[:-1]), f"an estimate before a measurement: {shown}"
    rate, eta = shown[-1]
    assert rate == pytest.approx(STEADY)
    assert eta is not None and 180 < eta < 230, "about 3.4 minutes, not hours"


async def test_a_lone_start_up_sample_is_never_quoted() -> None:
    reports = await progress_of([GrindProgress(checked=689, rate=689.0, elapsed_s=1.0)])
    assert reports and all(r.rate == 0 and r.eta_s is None for r in reports)


async def test_without_the_workers_clock_the_rate_is_timed_between_reports() -> None:
    class Paced(ScriptedChunks):
        async def wait(self, job_id: str, job: GrindJob, on_progress=None) -> GrindResult:  # type: ignore[no-untyped-def]
            await on_progress(GrindProgress(checked=10, rate=10.0))
            await asyncio.sleep(0.2)
            await on_progress(GrindProgress(checked=10 + 4_400, rate=5_000.0))
            self.reported.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    runner = Paced([])
    reports: list[OrderProgress] = []
    task = asyncio.create_task(orders.run_order(runner, JOB, EXPECTED, POLICY, reports.append))
    await asyncio.wait_for(runner.reported.wait(), 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert reports[-2].rate == 0 and reports[-2].eta_s is None
    assert 0 < reports[-1].rate <= 4_400 / 0.2 * 1.01, "timed on the bot's clock: at most the keys over 0.2 s"
